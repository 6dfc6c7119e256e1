"""The report's attribution sections: shares as percentages, what the shares cannot place, the per-clip
faithfulness check in plain words, and a frame's expression label against the vision verdict."""

from __future__ import annotations

import numpy as np

from clmer.explain.charts import MODALITIES
from clmer.explain.charts import esc as _esc
from clmer.explain.charts import fmt as _fmt
from clmer.explain.charts import num as _num


def pct(share) -> str:
    """A share of the decision as a whole percentage ("31 %"), or n/a."""
    if share is None or not np.isfinite(_num(share, float("nan"))):
        return "n/a"
    return f"{100 * _num(share):.0f} %"


_UNITS = {"text": ("word", "words"), "audio": ("audio span", "audio spans"), "vision": ("frame", "frames")}


def support_note(doc: dict) -> str:
    attribution = doc.get("attribution") or {}
    notes = []
    if attribution.get("supported") is False:
        notes.append("No modality moved the decision towards the predicted class: it is what the model answers "
                     "with no input at all, and every modality pulled away from it (see the signed values).")
    for m, left in (attribution.get("unplaced") or {}).items():
        if _num(left) >= 0.005:
            what = "the clip's overall voice measures" if m == "audio" else "the modality as a whole"
            notes.append(f"{pct(left)} of the decision ({_esc(m)}) lies in {what}, not in any single "
                         f"{_UNITS.get(m, (m, m))[0]}.")
    return "".join(f'<p class="muted support-note">{n}</p>' for n in notes)


def faithfulness(doc: dict) -> str:
    """Plain sentences: what removing the top items does to the prediction, against random items."""
    faith = doc.get("faithfulness") or {}
    polarity = _esc((doc.get("prediction") or {}).get("polarity", "predicted"))
    lines = []
    for m in MODALITIES:
        c = faith.get(m)
        if not isinstance(c, dict):
            continue
        k = int(_num(c.get("k"), 0))
        unit = _UNITS[m][0] if k == 1 else _UNITS[m][1]
        if c.get("better_than_random"):
            verdict = "better than random"
        elif m in (faith.get("flagged") or []):
            verdict = "<b>no better than random for this clip</b>"
        else:
            verdict = "no better than random, but this modality has no share of the decision"
        lines.append(f"<li>{_esc(m)}: removing the top {k} {unit} lowers the {polarity} probability from "
                     f"{_fmt(c.get('p_full'))} to {_fmt(c.get('p_without_top'))} ({k} random {unit}: to "
                     f"{_fmt(c.get('p_without_random'))}); keeping only them gives {_fmt(c.get('p_only_top'))}. "
                     f"In log-odds: {_fmt(c.get('comprehensiveness'), 2)} vs {_fmt(c.get('random_comprehensiveness'), 2)}"
                     f" for random: {verdict}.</li>")
    if not lines:
        return '<p class="empty">no faithfulness check (too few items)</p>'
    return f'<ul id="faithfulness">{"".join(lines)}</ul>'




def cue_note(kf: dict, doc: dict) -> str:
    """Says so when the frame's expression label and the vision pathway's own verdict disagree."""
    if kf.get("cue_agrees") is not False:
        return ""
    verdict = ((doc.get("decision_path") or {}).get("modality_verdicts") or {}).get("vision") or {}
    own = max(verdict, key=lambda c: _num(verdict[c])) if verdict else "n/a"
    return (f'<br><span class="cue-note">the expression label reads {_esc(kf.get("cue_polarity"))}, the vision '
            f"pathway's own verdict is {_esc(own)} {_fmt(verdict.get(own))}: the model reads the whole frame's "
            "embedding, not this label</span>")

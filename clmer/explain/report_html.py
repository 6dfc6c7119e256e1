"""One self-contained HTML page per clip, next to its explanation JSON.

The page is a single file that works offline from ``file://``: inline CSS, hand-written inline
SVG plots, key-frame thumbnails embedded as base64 PNG (faces blurred first, see
:mod:`clmer.explain.privacy`), and one tiny inline script. A Content-Security-Policy forbids every
network load and every script except that one (by hash), so even a missed escape could not run
anything or call home. All text taken from the explanation document is HTML-escaped anyway.

Plots, each with a stable id: ``plot-shares`` (policy weights next to Shapley values),
``plot-audio`` (key audio spans on a time axis, emotion2vec cues) and ``plot-frames`` (the key
frames' thumbnails with time, score and top SigLIP cue).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import os
from pathlib import Path

import numpy as np

from clmer.atomic import write_bytes
from clmer.explain import fonts
from clmer.explain.charts import (AGAINST, CLASS_COLOURS, CLASSES, EVIDENCE_COLOURS, MODALITIES,  # noqa: F401
                                  MODALITY_COLOURS, SUPPORT, audio_chart, shares_chart)
from clmer.explain.charts import esc as _esc
from clmer.explain.charts import fmt as _fmt
from clmer.explain.charts import num as _num
from clmer.explain.charts import rect as _rect
from clmer.explain.charts import svg as _svg
from clmer.explain.charts import text as _text
from clmer.explain.report_attribution import cue_note, faithfulness, pct, support_note
from clmer.explain.thumbnails import THUMB_PX, Thumbnail, make_thumbnail, make_thumbnails  # noqa: F401  (re-exported)

# Marks the page as rendered once all three plots exist, so a browser test can tell the page's
# script ran to the end without an exception. The CSP below allows exactly this script (by hash).
PAGE_SCRIPT = (
    '(function(){var ids=["plot-shares","plot-audio","plot-frames"];'
    'var ok=ids.every(function(id){var el=document.getElementById(id);'
    'return el!==null&&el.querySelector("svg *, img, .empty")!==null;});'
    'document.body.dataset.rendered=ok?"ok":"incomplete";})();'
)
_SCRIPT_HASH = base64.b64encode(hashlib.sha256(PAGE_SCRIPT.encode("utf-8")).digest()).decode("ascii")
# font-src data: lets the page carry its own CJK glyphs (clmer.explain.fonts); nothing is fetched.
CSP = (f"default-src 'none'; img-src data:; font-src data:; style-src 'unsafe-inline'; "
       f"script-src 'sha256-{_SCRIPT_HASH}'; base-uri 'none'; form-action 'none'")

CSS = """
body{font:14px/1.45 "CLMER CJK",system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","Noto Sans CJK SC",sans-serif;
margin:0 auto;max-width:1100px;padding:16px 24px;color:#222;background:#fafafa}
h1{font-size:22px;margin:4px 0 8px}h2{font-size:17px;margin:22px 0 8px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:6px 0}td,th{border:1px solid #ddd;padding:3px 8px;text-align:left;
vertical-align:top}th{background:#f0f0f0}.num{text-align:right;font-variant-numeric:tabular-nums}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;color:#fff;font-weight:600}
.transcript{background:#fff;border:1px solid #ddd;padding:8px 10px;white-space:pre-wrap;word-break:break-word}
mark{border-radius:3px;padding:0 1px;color:inherit}
figure{margin:8px 0;background:#fff;border:1px solid #ddd;padding:8px}figcaption{color:#555;font-size:12px}
.empty{color:#777;font-style:italic;padding:12px}.strip{display:flex;flex-wrap:wrap;gap:10px}
.frame{margin:0;border:1px solid #ddd;padding:6px;background:#fff;width:172px}
.frame img{display:block;max-width:160px;height:auto;image-rendering:auto}
.cuebar{display:inline-block;height:9px;background:#e69f00;vertical-align:middle}
.warn{background:#fff4e0;border:1px solid #f0c27b;padding:6px 10px}
details pre,.reason{white-space:pre-wrap;word-break:break-word;background:#fff;border:1px solid #ddd;padding:8px}
.muted{color:#777}figure svg{max-width:100%;height:auto}
"""


def _empty(message: str) -> str:
    return f'<p class="empty">{_esc(message)}</p>'


# -- sections -----------------------------------------------------------------------------------


def _probabilities(probs: dict) -> str:
    cells = "".join(
        f'<td class="num"><span class="cuebar" style="width:{60 * _num(probs.get(c)):.0f}px;'
        f'background:{CLASS_COLOURS[c]}"></span> {_fmt(probs.get(c))}</td>' for c in CLASSES)
    return "<table><tr>" + "".join(f"<th>{c}</th>" for c in CLASSES) + f"</tr><tr>{cells}</tr></table>"


def _encoders(encoders: dict) -> str:
    rows = "".join(f"<tr><td>{_esc(role)}</td><td>{_esc(e.get('name') if isinstance(e, dict) else e)}</td>"
                   f"<td>{_esc(e.get('revision', '') if isinstance(e, dict) else '')}</td></tr>"
                   for role, e in encoders.items())
    return f'<table id="encoders"><tr><th>role</th><th>model</th><th>revision</th></tr>{rows}</table>'


_MODEL_LABELS = {"uri": "model URI", "alias": "alias", "version": "version", "run_id": "MLflow run id",
                 "profile": "profile", "corpus": "trained on", "corpus_digest": "corpus digest"}


def _model_info(model: dict) -> str:
    """The model as a reader needs it: where it came from (URI, alias, version, run) and its encoders
    as a table; anything else as short text."""
    if not model:
        return '<p class="muted">no model information</p>'
    rows = []
    for key in list(_MODEL_LABELS) + [k for k in model if k not in _MODEL_LABELS]:
        if key not in model or model[key] in (None, ""):
            continue
        value = model[key]
        if key == "encoders" and isinstance(value, dict):
            cell = _encoders(value)
        else:
            shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
            cell = _esc(shown if len(shown) <= 400 else shown[:400] + "…")
        rows.append(f"<tr><th>{_esc(_MODEL_LABELS.get(key, key))}</th><td>{cell}</td></tr>")
    return '<table id="model-info">' + "".join(rows) + "</table>"


def _provenance(doc: dict) -> str:
    """One line: when it was scored and by which model (alias, version, run)."""
    model = doc.get("model") or {}
    who = " ".join(p for p in (f"@{model['alias']}" if model.get("alias") else "",
                               f"v{model['version']}" if model.get("version") else "",
                               f"run {model['run_id']}" if model.get("run_id") else "") if p) or "n/a"
    return f'{_esc(doc.get("scored_at") or "n/a")} <span class="muted">by model</span> {_esc(who)}'


def _profile_warning(doc: dict) -> str:
    if (doc.get("model") or {}).get("profile") != "tiny":
        return ""
    return ('<p class="warn" id="tiny-profile">This model uses the <b>tiny</b> profile: its encoders have random '
            "weights, so its predictions and explanations mean nothing. Use the small or full profile.</p>")


def _header(doc: dict) -> str:
    pred = doc.get("prediction") or {}
    polarity = str(pred.get("polarity", "n/a"))
    colour = CLASS_COLOURS.get(polarity, "#555")
    present = doc.get("present") or {}
    mods = ", ".join(m for m in MODALITIES if present.get(m)) or "none"
    rows = [("clip", _esc(doc.get("clip"))), ("file", _esc(doc.get("file"))),
            ("language", _esc(doc.get("language") or "unknown")), ("modalities present", _esc(mods)),
            ("prediction", f'<span class="badge" style="background:{colour}">{_esc(polarity)}</span> '
                           f"confidence {_fmt(pred.get('confidence'))}, regression {_fmt(pred.get('regression'))}"),
            ("class probabilities", _probabilities(pred.get("probabilities") or {})),
            ("scored", _provenance(doc))]
    table = "<table>" + "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows) + "</table>"
    return (f"<header><h1>CLMER explanation: {_esc(doc.get('clip'))}</h1>{table}"
            f"<h2>Transcript</h2>{_transcript(doc)}<h2>Model</h2>{_model_info(doc.get('model') or {})}</header>")


def _word_spans(transcript: str, words: list[dict]) -> list[tuple[int, int, dict]]:
    """Non-overlapping (start, end, word) spans in the transcript; offsets are trusted only if they match."""
    spans = []
    for w in words:
        word = str(w.get("word", ""))
        start, end = int(_num(w.get("start_char"), -1)), int(_num(w.get("end_char"), -1))
        if not (0 <= start < end <= len(transcript) and transcript[start:end] == word):
            start = transcript.find(word) if word else -1
            end = start + len(word)
        if start >= 0 and all(end <= s or start >= e for s, e, _ in spans):
            spans.append((start, end, w))
    return sorted(spans, key=lambda s: s[0])


def _mark(word: dict, text: str, top: float) -> str:
    score = _num(word.get("score"))
    strength = min(1.0, abs(score) / top)
    # evidence colours (indigo supports, sand against), light enough to keep the text readable
    rgb, alpha = ("51,34,136", 0.12 + 0.33 * strength) if score >= 0 else ("221,204,119", 0.3 + 0.6 * strength)
    return (f'<mark style="background:rgba({rgb},{alpha:.2f})" title="score {_esc(_fmt(score, 4))}">'
            f"{_esc(text)}</mark>")


def _transcript(doc: dict) -> str:
    text = str(doc.get("transcript") or "")
    if not text:
        return _empty("no transcript")
    words = (doc.get("item_attributions") or {}).get("text") or doc.get("top_words") or []
    top = max([abs(_num(w.get("score"))) for w in words] + [1e-9])
    parts, pos = [], 0
    for start, end, word in _word_spans(text, words):
        parts += [_esc(text[pos:start]), _mark(word, text[start:end], top)]
        pos = end
    parts.append(_esc(text[pos:]))
    return f'<div class="transcript" id="transcript">{"".join(parts)}</div>'


def _top_words(doc: dict) -> str:
    words = doc.get("top_words") or []
    if not words:
        return _empty("no key words (no text, or no attribution)")
    rows = "".join(f'<tr><td>{_esc(w.get("word"))}</td><td class="num">{pct(w.get("share"))}</td>'
                   f'<td class="num">{_fmt(w.get("score"), 4)}</td>'
                   f'<td class="num">{_esc(w.get("start_char"))}–{_esc(w.get("end_char"))}</td></tr>' for w in words)
    return ('<table id="top-words"><tr><th>word</th><th>share of the decision</th><th>score (log-odds)</th>'
            f'<th>chars</th></tr>{rows}</table><p class="muted">Function words ("the", "was") are not listed here; '
            "the JSON keeps every word's attribution.</p>")


def _weights_line(doc: dict) -> str:
    weights = doc.get("fusion_weights") or {}
    return ", ".join(f"{_esc(m)} {_fmt(weights.get(m))}" for m in MODALITIES if m in weights) or "n/a"


def _prosody(prosody: dict) -> str:
    rows = "".join(f'<tr><td>{_esc(name.replace("_", " "))}</td><td class="num">{_fmt(v.get("value"))}</td>'
                   f'<td class="num">{_fmt(v.get("z"), 2)}</td><td>{_esc(v.get("words"))}</td></tr>'
                   for name, v in prosody.items())
    return ('<table id="prosody"><tr><th>eGeMAPS measure</th><th>value</th><th>z vs training set</th><th>in words</th>'
            f"</tr>{rows}</table>")


def _audio_cues(cues: dict) -> str:
    if not cues:
        return _empty("no emotion2vec cues")
    items = sorted(cues.items(), key=lambda kv: -_num(kv[1]))
    rows = "".join(f'<tr><td>{_esc(k)}</td><td class="num"><span class="cuebar" '
                   f'style="width:{100 * min(1.0, max(0.0, _num(v))):.0f}px"></span> {_fmt(v)}</td></tr>'
                   for k, v in items)
    return f'<table id="audio-cues"><tr><th>emotion2vec cue</th><th>score</th></tr>{rows}</table>'


def _audio_section(doc: dict) -> str:
    spans, cues = doc.get("audio_spans") or [], doc.get("audio_cues") or {}
    has_audio = (doc.get("present") or {}).get("audio", True)
    if spans:
        times = [kf.get("time") for kf in doc.get("key_frames") or []]
        curve = (doc.get("item_attributions") or {}).get("audio") or spans
        plot = audio_chart(curve, times) + (
            "<figcaption>Every 1 s of audio, the three key spans numbered: how much the predicted class's log-odds fall when the "
            "span is removed from the model's input (y axis). Above zero the span supported the prediction, "
            "below it spoke against it.</figcaption>" + _span_table(spans))
    else:
        plot = _empty("no audio track" if not has_audio else "no key audio spans")
    if doc.get("prosody"):
        return f'<figure id="plot-audio">{plot}</figure><h3>Prosody</h3>{_prosody(doc["prosody"])}'
    return (f'<figure id="plot-audio">{plot}</figure>'
            f"<h3>emotion2vec cues</h3>{_audio_cues(cues)}")


def _span_table(spans: list[dict]) -> str:
    rows = "".join(f'<tr><td class="num">{_fmt(sp.get("start"), 2)}–{_fmt(sp.get("end"), 2)} s</td>'
                   f'<td class="num">{pct(sp.get("share"))}</td></tr>' for sp in spans)
    return f'<table id="audio-spans"><tr><th>span</th><th>share of the decision</th></tr>{rows}</table>'


def _frame_card(kf: dict, thumb: Thumbnail | None, blur: bool, doc: dict | None = None) -> str:
    cues = kf.get("cues") or {}
    best = max(cues.items(), key=lambda kv: _num(kv[1]), default=None)
    cue = f"{best[0]} ({_fmt(best[1])})" if best else "no expression cues"
    raw_index = kf.get("index")
    index = _esc(raw_index)
    if thumb is not None:
        b64 = base64.b64encode(thumb.png).decode("ascii")
        privacy = ("faces blurred: whole frame" if thumb.blur.get("whole_image_blurred")
                   else f"faces blurred: {thumb.blur.get('faces', 0)}") if blur else "not blurred (blur off)"
        image = (f'<img src="data:image/png;base64,{b64}" width="{thumb.width}" height="{thumb.height}" '
                 f'alt="key frame {index}">')
    else:
        privacy = "image not supplied"
        image = _svg(160, 90, f"key frame {raw_index} (no image)",
                     [_rect(0, 0, 160, 90, "#eee"), _text(80, 50, "no image", "middle", 12, "#777")])
    return (f'<figure class="frame">{image}<figcaption>frame {index} at {_fmt(kf.get("time"), 2)} s<br>'
            f'{pct(kf.get("share"))} of the decision (log-odds {_fmt(kf.get("score"), 4)}), '
            f'attention {_fmt(kf.get("attention"))}<br>'
            f"top cue: {_esc(cue)}{cue_note(kf, doc or {})}<br><span class=\"muted\">{_esc(privacy)}</span>"
            "</figcaption></figure>")


def _frames_section(doc: dict, thumbs: dict[int, Thumbnail], blur: bool) -> str:
    frames = doc.get("key_frames") or []
    if not frames:
        has_video = (doc.get("present") or {}).get("vision", True)
        return f'<figure id="plot-frames">{_empty("no video track" if not has_video else "no frames")}</figure>'
    cards = "".join(_frame_card(kf, thumbs.get(int(_num(kf.get("index"), -1))), blur, doc) for kf in frames)
    return (f'<figure id="plot-frames"><div class="strip">{cards}</div><figcaption>Key frames, most decisive '
            "first (log-odds: how far the predicted class's log-odds fall when the frame is removed from the "
            "model's input).</figcaption></figure>")


def _decision_path(doc: dict) -> str:
    path = doc.get("decision_path") or {}
    feats, verdicts = path.get("features") or {}, path.get("modality_verdicts") or {}
    logits, weights = path.get("policy_logits") or {}, path.get("weights") or {}
    rows = []
    for m in MODALITIES:
        f = feats.get(m) or {}
        v = verdicts.get(m) or {}
        verdict = max(v.items(), key=lambda kv: _num(kv[1]))[0] if v else "—"
        probs = ", ".join(f"{c[:3]} {_fmt(v.get(c), 2)}" for c in CLASSES if c in v)
        rows.append(f"<tr><td>{m}</td><td class=\"num\">{_esc(f.get('items', '—'))} × {_esc(f.get('dim', '—'))}</td>"
                    f"<td>{_esc(verdict)} <span class=\"muted\">{_esc(probs)}</span></td>"
                    f'<td class="num">{_fmt(logits.get(m))}</td><td class="num">{_fmt(weights.get(m))}</td></tr>')
    head = ("<tr><th>modality</th><th>features (items × dim)</th><th>own verdict</th><th>policy logit</th>"
            "<th>weight</th></tr>")
    fused = (f"<p>fused vector norm {_fmt(path.get('fused_norm'))} → class probabilities</p>"
             f"{_probabilities(path.get('class_probabilities') or {})}")
    return f'<table id="decision-path">{head}{"".join(rows)}</table>{fused}'


def _reasoning(doc: dict) -> str:
    reasoning = doc.get("reasoning")
    if not reasoning:
        return _empty("no reasoning text")
    lm = reasoning.get("lm") or {}
    if reasoning.get("source") == "lm":
        origin = f"written by the language model {_esc(lm.get('model', ''))}; it passed the format and grounding checks"
    elif lm.get("error"):
        origin = f"grounded template (the language model failed: {_esc(lm['error'])})"
    elif lm:
        checks = lm.get("checks") or {}
        origin = (f"grounded template (the language model {_esc(lm.get('model', ''))}'s text failed its checks: "
                  f"format {_esc(checks.get('format'))}, grounding {_esc(checks.get('grounding'))}, "
                  f"answer is the prediction {_esc(checks.get('answer_is_prediction'))})")
    else:
        origin = "grounded template (no language model is configured for this model)"
    think, answer = str(reasoning.get("think") or ""), str(reasoning.get("answer") or "")
    body = (f'<div class="reason" id="reasoning-text">{_esc(think)}</div><p>answer: <b>{_esc(answer)}</b></p>'
            if think else _empty("no reasoning text"))
    attempt = (f"<details><summary>the language model's text</summary><pre>{_esc(lm['text'])}</pre></details>"
               if reasoning.get("source") != "lm" and lm.get("text") else "")
    return f'<p class="muted">{origin}</p>' + body + attempt


def _warnings(doc: dict) -> str:
    warnings, status = doc.get("warnings") or [], doc.get("status")
    if not warnings and status in (None, "ok"):
        return ""
    items = "".join(f"<li>{_esc(w)}</li>" for w in warnings)
    return (f'<section class="warn" id="warnings"><strong>status: {_esc(status or "n/a")}</strong>'
            f"{f'<ul>{items}</ul>' if items else ''}</section>")


# -- page ---------------------------------------------------------------------------------------


def _page(doc: dict, thumbs: dict[int, Thumbnail], blur: bool) -> str:
    sections = [
        _profile_warning(doc), _warnings(doc), _header(doc),
        "<h2>Modality shares</h2>",
        f'<figure id="plot-shares">{shares_chart(doc)}<figcaption>Left: each modality\'s share of the decision '
        "(its Shapley value for the predicted class's log-odds, normalised over the modalities that support it; "
        "a modality that spoke against the decision gets 0). Right: the exact, signed Shapley values. The "
        "policy's fusion weights (how the modality vectors were mixed, which is not the same as what mattered): "
        f"{_weights_line(doc)}</figcaption></figure>{support_note(doc)}",
        "<h2>Audio timeline</h2>", _audio_section(doc),
        "<h2>Key frames</h2>", _frames_section(doc, thumbs, blur),
        "<h2>Key words</h2>", _top_words(doc),
        "<h2>Is this explanation faithful?</h2>", faithfulness(doc),
        "<h2>Decision path</h2>", _decision_path(doc),
        "<h2>Reasoning</h2>", _reasoning(doc),
    ]
    body = "\n".join(s for s in sections if s)
    title = f"CLMER – {_esc(doc.get('clip'))}"
    face, embedded = fonts.font_face_css(title + body)
    if not embedded:
        body = ('<p class="muted" id="font-note">Chinese characters use this computer\'s fonts: no CJK font was '
                "available when the page was written (pip install noto-cjk-sans-otc).</p>\n") + body
    lang = "zh-Hans" if doc.get("language") == "zh" else "en"
    return (f'<!DOCTYPE html>\n<html lang="{lang}"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
            '<meta name="referrer" content="no-referrer">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{title}</title><style>{face}{CSS}</style></head>\n<body>\n"
            + body + f"\n<script>{PAGE_SCRIPT}</script>\n</body></html>\n")


def render_html(doc: dict, frames: dict[int, np.ndarray] | None = None, blur: bool = True) -> str:
    """The self-contained HTML page for one explanation document.

    `frames` maps key_frames' `index` to the RGB frame; their thumbnails are face-blurred unless
    blur=False (config ``scoring.blur_faces``).
    """
    return _page(doc, make_thumbnails(doc, frames, blur), blur)


# -- files --------------------------------------------------------------------------------------


def write_report(doc: dict, out_dir: Path, stem: str, frames: dict | None = None,
                 blur: bool = True) -> tuple[Path, Path]:
    """Write `<stem>.json` and `<stem>.html` (and, with frames, `<stem>_frames/*.png`) atomically.

    The thumbnails' paths, relative to out_dir, go into key_frames[i]["thumbnail"] of the JSON
    written; the caller's `doc` is not modified. Returns (json_path, html_path).
    """
    if not stem or stem in (".", "..") or "/" in stem or "\\" in stem or os.sep in stem:
        raise ValueError(f"stem must be a plain file name, got {stem!r}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    doc = copy.deepcopy(doc)
    thumbs = make_thumbnails(doc, frames, blur)
    if thumbs:
        (out_dir / f"{stem}_frames").mkdir(exist_ok=True)
    for kf in doc.get("key_frames") or []:
        thumb = thumbs.get(int(_num(kf.get("index"), -1)))
        if thumb is not None:
            rel = f"{stem}_frames/frame_{int(kf['index']):05d}.png"
            write_bytes(out_dir / rel, thumb.png)
            kf["thumbnail"] = rel
    json_path, html_path = out_dir / f"{stem}.json", out_dir / f"{stem}.html"
    write_bytes(json_path, (json.dumps(doc, ensure_ascii=False, indent=2) + "\n").encode("utf-8"))
    write_bytes(html_path, _page(doc, thumbs, blur).encode("utf-8"))
    return json_path, html_path

"""Do the readable cues agree with the verdict they are shown next to?

A key frame shows the expression classifier's labels ("neutral .91"), but the fusion model reads the
frame's embedding, not that label, and its own vision verdict can be "negative .99". A reader must
not be left to reconcile the two: each key frame says which polarity its top label stands for and
whether the vision pathway's own verdict agrees, and the report says so in words when it does not.
"""

from __future__ import annotations

from clmer.data.labels import CLASSES

# expression labels of the face classifiers (FER-style and the SigLIP prompts) -> polarity
EXPRESSION_POLARITY = {
    "happy": "positive", "happiness": "positive", "smiling": "positive",
    "sad": "negative", "sadness": "negative", "angry": "negative", "anger": "negative", "fear": "negative",
    "fearful": "negative", "disgust": "negative", "disgusted": "negative", "contempt": "negative",
    "neutral": "neutral", "surprise": "neutral", "surprised": "neutral",
}


def cue_polarity(cues: dict) -> tuple[str | None, str | None]:
    """(top label, the polarity it stands for) of one frame's expression cues; None when unknown."""
    if not cues:
        return None, None
    label = max(cues, key=lambda k: cues[k])
    return label, EXPRESSION_POLARITY.get(str(label).lower())


def mark_agreement(frames: list[dict], vision_verdict: dict | None) -> list[dict]:
    """Key frames with `cue_polarity` and `cue_agrees` (with the vision pathway's own verdict)."""
    verdict = max(vision_verdict, key=vision_verdict.get) if vision_verdict else None
    out = []
    for f in frames:
        label, polarity = cue_polarity(f.get("cues") or {})
        agrees = None if polarity is None or verdict not in CLASSES else polarity == verdict
        out.append({**f, "cue_polarity": polarity, "cue_agrees": agrees})
    return out

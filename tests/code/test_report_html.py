"""The per-clip HTML page and the report writer (fast; the browser test is tests/e2e/test_report_browser.py)."""

from __future__ import annotations

import base64
import copy
import io
import json
import os
import re

import numpy as np
import pytest

from clmer.explain.clip import validate_explanation
from clmer.explain.report_html import render_html, write_report
from tests.e2e.browser import ElementIndex

HOSTILE_SCRIPT = "<script>alert(1)</script>"
HOSTILE_CSV = "\"=cmd|' /C calc'!A0\""
HOSTILE_ATTR = '" onmouseover="alert(2)'
PLOTS = ("plot-shares", "plot-audio", "plot-frames")
DATA_PNG = "data:image/png;base64,"


def _words(transcript: str, scored: dict[str, float]) -> list[dict]:
    out = []
    for word, score in scored.items():
        start = transcript.find(word)
        if start >= 0:
                out.append({"word": word, "start_char": start, "end_char": start + len(word), "score": score})
    return out


def sample_doc(transcript: str = "I really love this wonderful sunny day, but the traffic was awful.") -> dict:
    """A realistic explanation document, shaped like clmer.explain.clip.explain_clip's output."""
    probs = {"negative": 0.08, "neutral": 0.17, "positive": 0.75}
    return {
        "schema_version": "2.0", "clip": "video_0001/0003", "file": "Raw/video_0001/0003.mp4",
        "language": "en", "transcript": transcript,
        "prediction": {"polarity": "positive", "confidence": 0.75, "probabilities": probs, "regression": 0.62},
        "present": {"text": True, "audio": True, "vision": True},
        "modality_shares": {"text": 0.72, "audio": 0.0, "vision": 0.28},
        "shapley": {"text": 0.31, "audio": -0.04, "vision": 0.12},
        "fusion_weights": {"text": 0.52, "audio": 0.21, "vision": 0.27},
        "top_words": _words(transcript, {"love": 0.21, "wonderful": 0.14, "awful": -0.09}),
        "audio_spans": [{"start": 1.0, "end": 2.0, "score": 0.12}, {"start": 2.5, "end": 3.5, "score": 0.05},
                        {"start": 0.0, "end": 1.0, "score": -0.02}],
        "audio_cues": {"happy": 0.71, "neutral": 0.2, "sad": 0.05, "angry": 0.04},
        "key_frames": [
            {"index": 4, "time": 1.6, "score": 0.09, "attention": 0.31, "cues": {"smiling face": 0.62, "frowning face": 0.1}},
            {"index": 1, "time": 0.4, "score": 0.03, "attention": 0.22, "cues": {"smiling face": 0.4, "frowning face": 0.3}},
            {"index": 7, "time": 2.8, "score": -0.01, "attention": 0.1, "cues": {}},
        ],
        "decision_path": {
            "features": {"text": {"items": 16, "dim": 768, "present": True},
                         "audio": {"items": 40, "dim": 768, "present": True},
                         "vision": {"items": 8, "dim": 768, "present": True}},
            "modality_verdicts": {"text": {"negative": 0.1, "neutral": 0.2, "positive": 0.7},
                                  "audio": {"negative": 0.3, "neutral": 0.4, "positive": 0.3},
                                  "vision": {"negative": 0.2, "neutral": 0.2, "positive": 0.6}},
            "policy_logits": {"text": 1.2, "audio": 0.3, "vision": 0.55},
            "weights": {"text": 0.52, "audio": 0.21, "vision": 0.27},
            "fused_norm": 3.4, "class_probabilities": probs,
        },
        "reasoning": {"text": "The speaker says they love the day and smiles.", "source": "lm",
                      "status": "ok", "think": "words: love, wonderful", "answer": "positive",
                      "lm": {"model": "tiny-explainer"}},
        "model": {"uri": "models:/clmer@champion", "alias": "champion", "version": "3", "run_id": "abc123",
                  "profile": "tiny", "fusion": "policy",
                  "encoders": {"text": {"name": "tiny-bert", "revision": "r1"}, "audio": {"name": "tiny-e2v", "revision": "r2"}}},
        "scored_at": "2026-11-25T02:14:07Z",
    }


def sample_frames() -> dict[int, np.ndarray]:
    """Key frames 4 (a real face: scikit-image's astronaut) and 1 (no face); frame 7 is not supplied."""
    import cv2
    from skimage import data

    face = cv2.resize(data.astronaut(), (256, 256), interpolation=cv2.INTER_AREA)
    ramp = np.linspace(0, 255, 256, dtype=np.float32)
    plain = np.stack([np.tile(ramp, (192, 1)), np.tile(ramp[::-1], (192, 1)), np.full((192, 256), 90.0)], -1)
    plain[60:120, 100:160] = 255
    return {4: face, 1: plain.astype(np.uint8)}


def hostile_doc() -> dict:
    """Every free-text field carries markup, quotes and a spreadsheet formula."""
    bad = f"{HOSTILE_SCRIPT} {HOSTILE_CSV} {HOSTILE_ATTR}"
    doc = sample_doc(f"It was fine {HOSTILE_SCRIPT} and then {HOSTILE_CSV} & more {HOSTILE_ATTR} <b>bold</b>")
    doc["top_words"] = _words(doc["transcript"], {"fine": 0.2, "alert": 0.1, "cmd": -0.05})
    doc["clip"], doc["file"] = bad, f"Raw/{bad}.mp4"
    doc["audio_cues"] = {bad: 0.5}
    doc["key_frames"][0]["cues"] = {bad: 0.9}
    doc["model"] = {bad: bad, "nested": {"x": bad}}
    # source and answer are enums in the schema; every free-text field carries the attack
    doc["reasoning"] = {"text": bad, "source": "lm", "status": "ok", "think": bad, "answer": "positive",
                        "lm": {"model": bad, "text": bad}}
    doc["status"], doc["warnings"] = "partial", [bad]
    return doc


def empty_doc() -> dict:
    doc = sample_doc()
    doc["present"].update(audio=False, vision=False)
    doc.update(audio_spans=[], audio_cues={}, key_frames=[])
    doc["reasoning"] = {"text": "<think>words</think><answer>positive</answer>", "source": "template", "status": "ok",
                        "think": "words", "answer": "positive"}
    return doc


def embedded_pngs(page: str) -> list[np.ndarray]:
    from PIL import Image

    blobs = re.findall(re.escape(DATA_PNG) + r"([A-Za-z0-9+/=]+)", page)
    return [np.asarray(Image.open(io.BytesIO(base64.b64decode(b))).convert("RGB")) for b in blobs]


@pytest.mark.parametrize("make", [sample_doc, hostile_doc, empty_doc])
def test_fixtures_follow_the_schema(make):
    validate_explanation(make())


def test_page_has_three_drawn_plots_and_the_facts():
    doc = sample_doc()
    page = render_html(doc)
    index = ElementIndex(page)
    for plot in PLOTS:
        assert plot in index.descendants, plot
    assert index.descendants["plot-shares"].count("rect") == 6  # a share and a Shapley bar per modality
    assert index.descendants["plot-audio"].count("rect") == 3  # one bar per key span
    assert index.descendants["plot-frames"].count("svg") == 3  # no frames given: placeholders
    assert page.startswith("<!DOCTYPE html>") and '<meta charset="utf-8">' in page
    for fact in ("video_0001/0003", "Raw/video_0001/0003.mp4", "positive", "0.750", "tiny-explainer",
                 "words: love, wonderful", "happy", "smiling face (0.620)", "abc123",
                 "2026-11-25T02:14:07Z", "@champion v3 run abc123"):
        assert fact in page, fact
    assert "decision-path" in index.descendants and "top-words" in index.descendants


def test_top_words_are_highlighted_in_the_transcript():
    index = ElementIndex(render_html(sample_doc()))
    assert index.descendants["transcript"].count("mark") == 3
    marks = [a for t, a in index.tags if t == "mark"]
    assert marks[0]["title"] == "score 0.2100" and "51,34,136" in marks[0]["style"]  # supports: indigo
    assert "221,204,119" in marks[2]["style"]  # 'awful' spoke against: sand


def test_chinese_transcript_offsets():
    text = "今天我非常开心，天气很好。"
    doc = sample_doc(text)
    doc["language"] = "zh"
    doc["top_words"] = _words(text, {"开心": 0.3, "很": 0.01})
    validate_explanation(doc)
    page = render_html(doc)
    assert 'title="score 0.3000">开心</mark>' in page


def test_everything_from_the_doc_is_escaped():
    page = render_html(hostile_doc(), sample_frames())
    index = ElementIndex(page)
    scripts = [t for t, _ in index.tags if t == "script"]
    assert len(scripts) == 1  # ours, nothing injected
    assert HOSTILE_SCRIPT not in page and "<b>bold</b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert HOSTILE_CSV not in page and "&quot;=cmd|&#x27; /C calc&#x27;!A0&quot;" in page
    for tag, attrs in index.tags:  # no event handler attribute slipped in through a quote
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
    for plot in PLOTS:
        assert plot in index.descendants
    assert "warnings" in index.descendants and "partial" in page


def test_page_is_self_contained():
    page = render_html(sample_doc(), sample_frames())
    urls = set(re.findall(r"https?://[^\s\"'<>)]+", page))
    assert urls <= {"http://www.w3.org/2000/svg"}  # the SVG namespace name, never fetched
    index = ElementIndex(page)
    for tag, attrs in index.tags:
        for name in ("src", "href"):
            assert attrs.get(name, DATA_PNG).startswith(DATA_PNG), (tag, attrs)
    assert not any(t in ("link", "iframe", "object", "embed") for t, _ in index.tags)
    csp = next(a["content"] for t, a in index.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy")
    assert "default-src 'none'" in csp and "unsafe-inline'" not in csp.split("script-src")[1]


def test_thumbnails_are_embedded_small_and_blurred():
    from clmer.explain.privacy import detect_faces

    frames = sample_frames()
    assert detect_faces(frames[4])  # the face is there before
    page = render_html(sample_doc(), frames)
    images = embedded_pngs(page)
    assert len(images) == 2  # frames 4 and 1; frame 7 has a placeholder
    assert all(max(img.shape[:2]) <= 160 for img in images)
    assert all(detect_faces(img) == [] for img in images)
    assert "faces blurred: 1" in page and "faces blurred: whole frame" in page
    assert ElementIndex(page).descendants["plot-frames"].count("img") == 2

    raw = embedded_pngs(render_html(sample_doc(), frames, blur=False))
    assert len(detect_faces(raw[0])) == 1  # same thumbnail unblurred: the face is recognisable
    assert "not blurred (blur off)" in render_html(sample_doc(), frames, blur=False)


def test_empty_modalities_say_so():
    page = render_html(empty_doc())
    index = ElementIndex(page)
    assert "no audio track" in page and "no video track" in page and "no emotion2vec cues" in page
    assert "grounded template" in page
    assert index.descendants["plot-audio"] == ["p"] and index.descendants["plot-frames"] == ["p"]
    assert index.descendants["plot-shares"].count("rect") == 6

    doc = empty_doc()
    doc["present"].update(audio=True, vision=True)
    page = render_html(doc)
    assert "no key audio spans" in page and "no frames" in page


def test_reasoning_says_where_its_text_came_from():
    doc = sample_doc()
    assert "written by the language model tiny-explainer" in render_html(doc)
    template = {"text": "<think>t</think><answer>positive</answer>", "source": "template", "status": "ok",
                "think": "the words decide", "answer": "positive"}
    doc["reasoning"] = template | {"lm": {"error": "OSError: no weights"}}
    assert "the language model failed: OSError: no weights" in render_html(doc)
    doc["reasoning"] = template | {"lm": {"model": "SmolLM2", "text": "<think>bad</think>",
                                          "checks": {"format": False, "grounding": 0.0, "answer_is_prediction": False}}}
    page = render_html(doc)
    assert "failed its checks" in page and "&lt;think&gt;bad&lt;/think&gt;" in page  # the LM's text, escaped
    doc["reasoning"] = template
    assert "no language model is configured" in render_html(doc) and "the words decide" in render_html(doc)


def test_non_finite_and_missing_numbers_do_not_break_the_page():
    doc = sample_doc()
    doc["shapley"] = {"text": float("nan"), "audio": float("inf"), "vision": 0.0}
    doc["audio_spans"][0]["score"] = float("nan")
    doc["key_frames"][0].pop("attention")
    page = render_html(doc)
    assert "n/a" in page and ">nan<" not in page.lower() and "inf<" not in page.lower()


def test_write_report_writes_both_files_and_thumbnails(tmp_path):
    doc = sample_doc("Zoë said “great” — 很好")
    doc["top_words"] = _words(doc["transcript"], {"great": 0.2})
    before = copy.deepcopy(doc)
    json_path, html_path = write_report(doc, tmp_path / "out", "video_0001-0003", sample_frames())
    assert doc == before  # the caller's dict is untouched
    assert json_path == tmp_path / "out" / "video_0001-0003.json" and html_path.suffix == ".html"
    text = json_path.read_text(encoding="utf-8")
    assert "Zoë said “great” — 很好" in text and text.startswith('{\n  "schema_version"')  # ensure_ascii=False, indent 2
    written = json.loads(text)
    validate_explanation(written)
    thumbs = {kf["index"]: kf.get("thumbnail") for kf in written["key_frames"]}
    assert thumbs == {4: "video_0001-0003_frames/frame_00004.png", 1: "video_0001-0003_frames/frame_00001.png", 7: None}
    for rel in filter(None, thumbs.values()):
        assert (json_path.parent / rel).read_bytes().startswith(b"\x89PNG")
    page = html_path.read_text(encoding="utf-8")
    assert page.count(DATA_PNG) == 2 and 'data-rendered' not in page  # the script sets it at load time
    assert not [p for p in (tmp_path / "out").rglob("*.tmp")]


def test_write_report_without_frames(tmp_path):
    json_path, html_path = write_report(sample_doc(), tmp_path, "clip")
    assert json_path.exists() and html_path.exists()
    assert not (tmp_path / "clip_frames").exists()
    assert all("thumbnail" not in kf for kf in json.loads(json_path.read_text())["key_frames"])


def test_write_is_atomic(tmp_path, monkeypatch):
    json_path, html_path = write_report(sample_doc(), tmp_path, "clip")
    old = html_path.read_text(encoding="utf-8")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    doc = sample_doc()
    doc["transcript"] = "changed"
    doc["top_words"] = []
    with pytest.raises(OSError, match="disk full"):
        write_report(doc, tmp_path, "clip")
    assert html_path.read_text(encoding="utf-8") == old  # the old page is intact, never half-written
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.html", "clip.json"]  # no temp files left


@pytest.mark.parametrize("stem", ["", "..", "a/b", "../x"])
def test_write_report_rejects_path_stems(tmp_path, stem):
    with pytest.raises(ValueError):
        write_report(sample_doc(), tmp_path, stem)


def test_page_names_every_plot_once():
    page = render_html(sample_doc())
    for plot in PLOTS:
        assert page.count(f'id="{plot}"') == 1


# -- what a person sees: colours, model table, axes, provenance, Chinese glyphs --------------------


def _fills(index: ElementIndex, page: str, plot: str) -> set[str]:
    """Fill colours of the data rects inside one plot's figure."""
    figure = page[page.index(f'id="{plot}"'):]
    figure = figure[:figure.index("</figure>")]
    return set(re.findall(r'<rect [^>]*fill="(#[0-9a-f]{6})"', figure))


def test_colours_mean_one_thing():
    from clmer.explain.charts import CLASS_COLOURS, EVIDENCE_COLOURS, MODALITY_COLOURS

    families = [set(CLASS_COLOURS.values()), set(MODALITY_COLOURS.values()), set(EVIDENCE_COLOURS.values())]
    assert sum(len(f) for f in families) == len(set().union(*families))  # disjoint: no colour in two families
    page = render_html(sample_doc())
    index = ElementIndex(page)
    evidence, modality = set(EVIDENCE_COLOURS.values()), set(MODALITY_COLOURS.values())
    assert _fills(index, page, "plot-shares") == modality | evidence  # share bars | Shapley bars
    assert _fills(index, page, "plot-audio") == evidence  # spans of both signs
    assert "supports the prediction" in page and "speaks against it" in page  # the legend says which is which


def test_encoders_are_a_table_not_json():
    page = render_html(sample_doc())
    index = ElementIndex(page)
    assert index.descendants["encoders"].count("tr") == 3  # header + text + audio
    assert "tiny-bert" in page and "r1" in page
    assert "{&quot;" not in page and '{"name"' not in page  # no JSON blob anywhere in the page


def test_audio_timeline_has_a_y_scale():
    page = render_html(sample_doc())
    figure = page[page.index('id="plot-audio"'):]
    figure = figure[:figure.index("</figure>")]
    labels = re.findall(r'<text [^>]*text-anchor="end"[^>]*>([^<]+)</text>', figure)
    assert "0" in labels and "+0.1" in labels  # spans score 0.12, 0.05, -0.02: ticks round and cover them
    assert any(label.startswith("-") for label in labels)  # the span that spoke against sits below zero
    assert "Δ log-odds" in figure  # the scale the explanation is measured on (was Δp before log-odds)


def test_scored_at_alias_and_run_id_in_page():
    doc = sample_doc()
    page = render_html(doc)
    assert "2026-11-25T02:14:07Z" in page and "@champion v3 run abc123" in page
    assert "models:/clmer@champion" in page and "MLflow run id" in page
    validate_explanation(doc)


def _embedded_font(page: str):
    from fontTools.ttLib import TTFont

    blob = re.search(r"url\(data:font/otf;base64,([A-Za-z0-9+/=]+)\)", page)
    return None if blob is None else TTFont(io.BytesIO(base64.b64decode(blob[1])))


def test_chinese_glyphs_are_embedded_in_the_page():
    from clmer.explain.fonts import find_cjk_font

    if find_cjk_font() is None:
        pytest.skip("no CJK font here (the noto-cjk-sans-otc dependency is missing)")
    text = "今天我非常开心，天气很好。"
    doc = sample_doc(text)
    doc["language"], doc["top_words"] = "zh", _words(text, {"开心": 0.3})
    page = render_html(doc)
    font = _embedded_font(page)
    assert font is not None
    cmap = font.getBestCmap()
    assert all(ord(c) in cmap for c in text)  # every character of the transcript, punctuation included
    assert len(cmap) < 60 and len(page) < 120_000  # a subset: only what the page uses
    assert '<html lang="zh-Hans">' in page and "font-src data:" in page
    assert _embedded_font(render_html(sample_doc())) is None  # English only: nothing embedded


def test_missing_cjk_font_is_said(monkeypatch):
    from clmer.explain import fonts

    monkeypatch.setattr(fonts, "find_cjk_font", lambda: None)
    page = render_html(sample_doc("很好"))
    assert 'id="font-note"' in page and _embedded_font(page) is None
    assert 'id="font-note"' not in render_html(sample_doc())

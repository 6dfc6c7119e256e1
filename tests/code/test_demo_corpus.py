"""The demo corpus: real, playable, bilingual, balanced, deterministic; speakers, sentences and their
translations disjoint across splits; per-modality labels that follow the documented rule.

These render with eSpeak NG (tests/conftest.py sets CLMER_DEMO_SPEECH); Kokoro's speech is tested in
tests/model/test_kokoro_speech.py."""

import numpy as np
import pandas as pd

from clmer.data import media
from clmer.data.corpus import read_corpus
from clmer.synthetic.demo_corpus import ClipSpec, make_demo_corpus, render_clip
from clmer.synthetic.sentence_bank import HELD_OUT, SENTENCES, emotion_words
from clmer.synthetic.world_plan import overall, plan_world, polarity


def test_sentence_bank_has_30_distinct_per_language_and_polarity_and_its_emotion_words():
    for lang in ("zh", "en"):
        for pol in ("negative", "neutral", "positive"):
            assert len(set(SENTENCES[lang][pol])) >= 30, (lang, pol)
            assert not set(HELD_OUT[lang][pol]) & set(SENTENCES[lang][pol])
            for bank in (SENTENCES, HELD_OUT):
                for s in bank[lang][pol]:
                    words = emotion_words(s, lang)
                    assert bool(words) == (pol != "neutral"), (lang, pol, s, words)
                    assert all(w in s for w in words)


def _index(lang: str, text: str) -> tuple[str, int]:
    for pol, sentences in SENTENCES[lang].items():
        if text in sentences:
            return pol, sentences.index(text)
    raise AssertionError(f"{text!r} is not in the {lang} bank")


def test_world_plan_splits_are_speaker_sentence_and_translation_disjoint_and_balanced():
    plans = plan_world(192, seed=5)
    frame = pd.DataFrame([p.row() | {"noisy": p.noisy} for p in plans])
    assert frame["speaker"].nunique() >= 12 and set(frame["language"]) == {"zh", "en"}
    assert not set(frame.loc[frame.language == "zh", "speaker"]) & set(frame.loc[frame.language == "en", "speaker"])
    assert frame.groupby("speaker")["mode"].nunique().max() == 1  # a speaker lives in one split
    assert set(frame["mode"]) == {"train", "valid", "test"}
    spoken = frame[frame["text"] != ""]
    # A translation pair (same bank index, same polarity) never straddles two splits, in either language.
    pair_modes = spoken.apply(lambda r: _index(r.language, r.text), axis=1).to_frame("pair").assign(mode=spoken["mode"])
    assert pair_modes.groupby("pair")["mode"].nunique().max() == 1
    for mode, part in frame.groupby("mode"):
        counts = part["label"].map(polarity).value_counts()
        assert counts.max() - counts.min() <= 2, (mode, counts.to_dict())  # balanced by class, noise included
    rule = frame.apply(lambda r: overall(r.label_T, r.label_A, r.label_V), axis=1)
    assert (rule[~frame["noisy"]] == frame.loc[~frame["noisy"], "label"]).all()
    assert 0.05 <= frame["noisy"].mean() <= 0.10
    assert (rule[frame["noisy"]].map(polarity) != frame.loc[frame["noisy"], "label"].map(polarity)).all()
    assert 0.15 <= (frame["variant"] == "mixed").mean() <= 0.35
    assert set(frame["variant"]) == {"all", "mixed", "text", "audio", "vision"}
    near = (frame["label"].abs() > 0.1) & (frame["label"].abs() < 0.3)
    assert near.mean() > 0.2  # many magnitudes just past the thresholds
    carriers = frame[frame["variant"].isin(["text", "audio", "vision"])]
    for _, r in carriers.iterrows():
        per = {"text": r.label_T, "audio": r.label_A, "vision": r.label_V}
        assert polarity(per[r.variant]) != 0 and all(v == 0 for k, v in per.items() if k != r.variant)
    mixed = frame[frame["variant"] == "mixed"]
    assert (mixed.apply(lambda r: len({polarity(v) for v in (r.label_T, r.label_A, r.label_V)}), axis=1) > 1).all()


def test_held_out_plan_speaks_only_held_out_sentences_with_new_speakers():
    plans = plan_world(6, seed=1000, variant_fraction=0.0, held_out=True)
    held = {s for lang in HELD_OUT for pol in HELD_OUT[lang].values() for s in pol}
    assert all(p.text in held for p in plans if p.speech)
    assert all("_new" in p.speaker.id for p in plans)


def test_demo_corpus_is_valid_balanced_and_playable(demo_corpus):
    c = read_corpus(demo_corpus)  # strict: raises on any bad row
    m = c.manifest
    assert len(m) == 12 and c.flavour == "chsims2"
    assert set(m["language"]) == {"zh", "en"}
    assert set(m["polarity"]) == {-1, 0, 1}
    counts = m.groupby("polarity").size()
    assert counts.max() - counts.min() <= 2
    raw = pd.read_csv(demo_corpus / "label.csv", keep_default_na=False, dtype={"clip_id": str})
    assert {"speaker", "variant", "emotion_words", "label_T", "label_A", "label_V"} <= set(raw.columns)
    world = pd.read_csv(demo_corpus / "world.csv", dtype={"clip_id": str})
    assert (world["engine"] == "espeak").all()
    merged = raw.merge(world[["video_id", "clip_id", "noisy"]], on=["video_id", "clip_id"])
    clean = merged[~merged["noisy"]]
    assert (clean.apply(lambda r: overall(r.label_T, r.label_A, r.label_V), axis=1) == clean["label"]).all()
    assert raw.groupby("speaker")["mode"].nunique().max() == 1
    for _, row in m.iterrows():
        d = media.decode(c.media_file(row))
        assert d.missing == [] and 3.0 <= d.duration_s <= 8.2
        assert d.probe.video_codec == "h264" and d.probe.audio_codec == "aac"
        assert len(d.frames) >= 2


def _pitch_spread(audio: np.ndarray, sr: int) -> float:
    import parselmouth

    f0 = parselmouth.Sound(audio.astype(np.float64), sampling_frequency=sr).to_pitch().selected_array["frequency"]
    f0 = f0[f0 > 0]
    return float(np.std(12 * np.log2(f0 / np.median(f0))))


def test_voice_and_face_change_from_the_speakers_own_baseline(tmp_path):
    def spec(**kw):
        base = dict(text="会议明天早上九点开始。", language="zh", text_valence=0, audio_valence=0, face_valence=0,
                    style_seed=4, lead_in=0.5, noise_seed=1, duration_s=6.0)
        return ClipSpec(**(base | kw))

    facts, decoded = {}, {}
    for name, v in {"neg": -1.0, "pos": 1.0}.items():
        facts[name] = render_clip(spec(audio_valence=v, face_valence=v), tmp_path / f"{name}.mp4")
        decoded[name] = media.decode(tmp_path / f"{name}.mp4")
    spread = {}
    for name, d in decoded.items():
        sr, f = d.sample_rate, facts[name]
        speech = d.audio[int(f["speech_start_s"] * sr): int(f["speech_end_s"] * sr)]
        assert np.sqrt(np.mean(speech ** 2)) > 10 * np.sqrt(np.mean(d.audio[: int(0.3 * sr)] ** 2))  # someone speaks
        half = len(speech) // 2  # the emotion sets in after the speaker's neutral lead-in
        spread[name] = _pitch_spread(speech[half:], sr)
    assert spread["pos"] > spread["neg"] * 1.3, spread  # Mandarin valence: a livelier pitch range
    assert facts["pos"]["duration_s"] == facts["neg"]["duration_s"] == 6.0  # duration says nothing
    first = np.abs(decoded["pos"].frames[0].astype(int) - decoded["neg"].frames[0].astype(int)).mean()
    last = np.abs(decoded["pos"].frames[-1].astype(int) - decoded["neg"].frames[-1].astype(int)).mean()
    assert first < 2.0 < last  # both start from the same resting face; the expressions then part


def test_same_seed_same_corpus(tmp_path):
    a = make_demo_corpus(tmp_path / "a", n=6, seed=7)
    b = make_demo_corpus(tmp_path / "b", n=6, seed=7)
    pd.testing.assert_frame_equal(a, b)
    for rel in a.apply(lambda r: f"Raw/{r.video_id}/{r.clip_id}.mp4", axis=1):
        da = media.decode(tmp_path / "a" / rel)
        db = media.decode(tmp_path / "b" / rel)
        assert np.array_equal(da.frames[0], db.frames[0])
        assert np.allclose(da.audio, db.audio)
    c = make_demo_corpus(tmp_path / "c", n=6, seed=8)
    assert not a["text"].equals(c["text"])

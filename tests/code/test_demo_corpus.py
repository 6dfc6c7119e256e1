"""The demo corpus: real, playable, bilingual, balanced, deterministic, with carriers marked."""


import numpy as np
import pandas as pd

from clmer.data import media
from clmer.data.corpus import read_corpus
from clmer.synthetic.demo_corpus import ClipSpec, make_demo_corpus, render_clip
from clmer.synthetic.sentence_bank import SENTENCES


def test_sentence_bank_has_30_distinct_per_language_and_polarity():
    for lang in ("zh", "en"):
        for pol in ("negative", "neutral", "positive"):
            assert len(set(SENTENCES[lang][pol])) >= 30, (lang, pol)


def test_demo_corpus_is_valid_balanced_and_playable(demo_corpus):
    c = read_corpus(demo_corpus)  # strict: raises on any bad row
    m = c.manifest
    assert len(m) == 12 and c.flavour == "chsims2"
    assert set(m["language"]) == {"zh", "en"}
    assert set(m["polarity"]) == {-1, 0, 1}
    counts = m.groupby("polarity").size()
    assert counts.max() - counts.min() <= 1
    # Single-modality variants: only the carrier's label is non-zero, and it equals the label.
    for _, row in m[m["variant"] != "all"].iterrows():
        per = {"text": row["label_T"], "audio": row["label_A"], "vision": row["label_V"]}
        assert per[row["variant"]] == row["label"] != 0
        assert all(v == 0 for k, v in per.items() if k != row["variant"])
    for _, row in m.iterrows():
        d = media.decode(c.media_file(row))
        assert d.missing == [] and 3.0 <= d.duration_s <= 8.2
        assert d.probe.video_codec == "h264" and d.probe.audio_codec == "aac"
        assert len(d.frames) >= 2


def test_voice_and_face_follow_the_label(tmp_path):
    def spec(**kw):
        base = dict(text="The meeting starts at nine tomorrow morning.", language="en", text_valence=0,
                    audio_valence=0, face_valence=0, style_seed=1, lead_in=0.5, noise_seed=1)
        return ClipSpec(**(base | kw))

    facts = {}
    decoded = {}
    for name, kw in {"neg": dict(audio_valence=-1, face_valence=-1), "pos": dict(audio_valence=1, face_valence=1)}.items():
        facts[name] = render_clip(spec(**kw), tmp_path / f"{name}.mp4")
        decoded[name] = media.decode(tmp_path / f"{name}.mp4")
    for name, d in decoded.items():
        sr, f = d.sample_rate, facts[name]
        speech = d.audio[int(f["speech_start_s"] * sr): int(f["speech_end_s"] * sr)]
        silence = d.audio[: int(0.3 * sr)]
        assert np.sqrt(np.mean(speech ** 2)) > 10 * np.sqrt(np.mean(silence ** 2))  # someone speaks
    # Happier voices are faster and louder.
    assert facts["pos"]["speech_end_s"] - facts["pos"]["speech_start_s"] < facts["neg"]["speech_end_s"] - facts["neg"]["speech_start_s"]
    rms = {k: np.sqrt(np.mean(d.audio ** 2)) for k, d in decoded.items()}
    assert rms["pos"] > rms["neg"]
    # Same speaker and look, different expression: the frames differ where the face is.
    assert np.abs(decoded["pos"].frames[0].astype(int) - decoded["neg"].frames[0].astype(int)).mean() > 0.5


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

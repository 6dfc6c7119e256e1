"""Behavioural tests on a model trained on the demo corpus (tiny profile): it learns, it is invariant
to re-encoding, it moves the right way when one modality changes, it survives missing modalities,
its attributions find the carrier, and training resumes from a checkpoint."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from clmer.data import media
from clmer import pipeline
from clmer.model.dataset import load_feature_set
from clmer.synthetic.demo_corpus import ClipSpec, render_clip
from clmer.features.extract import ClipJob, extract_chunk
from clmer.features.feature_store import FeatureStore
from clmer.model.train import load_model, predict
from clmer.synthetic.video_writer import write_video

pytestmark = pytest.mark.slow


def _predict_files(trained_demo, jobs):
    settings = trained_demo["settings"]
    model, doc = load_model(trained_demo["model_dir"])
    frame = extract_chunk(jobs, settings)
    data = load_feature_set(frame, FeatureStore(settings.paths.feature_store), dims=doc["dims"])
    return predict(model, data, "cpu"), data


def test_train_then_evaluate_beats_majority(trained_demo, tmp_path):
    s = trained_demo["settings"]
    path = pipeline.evaluate(trained_demo["model_dir"], trained_demo["corpus"], trained_demo["features"], s, tmp_path,
                             split="test")
    report = json.loads(path.read_text())
    for split in ("all", "zh", "en"):
        entry = report["splits"][split]
        # the demo corpus is CH-SIMS-shaped: CH-SIMS's own regression metrics (MOSEI's are tested in tests/code)
        for key in ("war", "uar", "macro_f1", "mae", "corr", "acc2", "acc3", "acc5", "f1", "confusion"):
            assert key in entry["model"], key
        assert "acc7" not in entry["model"]  # CH-SIMS defines no Acc-7
        assert {"majority", "chance", "single_modality"} <= set(entry)
        assert set(entry["single_modality"]) == {"text", "audio", "vision"}
    allm = report["splits"]["all"]
    assert allm["model"]["war"] > allm["majority"]["war"]
    f = report["faithfulness"]
    for key in ("weight_shapley_spearman", "deletion_top_weight_hurts_most", "variant_top_shapley_is_carrier"):
        assert key in f
    table = pd.read_csv(tmp_path / "evaluation.csv")
    assert {"WAR", "UAR", "macro_F1", "MAE", "corr", "acc2", "acc3", "acc5", "f1"} <= set(table.columns)


def _spec(text="The meeting starts at nine tomorrow morning.", audio=0.0, face=0.0, seed=3):
    return ClipSpec(text=text, language="en", text_valence=0.0, audio_valence=audio, face_valence=face,
                    style_seed=seed, voice_variant="m1", lead_in=0.5, noise_seed=seed)


def test_invariance_same_clip_re_encoded(trained_demo, tmp_path):
    original = tmp_path / "clip.mp4"
    render_clip(_spec(audio=0.8, face=0.8), original)
    d = media.decode(original)
    # Same content, another container and audio rate: decode every frame, re-encode as mkv.
    reenc = write_video(tmp_path / "clip.mkv", (np.asarray(f) for f in _all_frames(original)), fps=10,
                        audio=d.audio, sample_rate=16000)
    pred, _ = _predict_files(trained_demo, [ClipJob("a", str(original), transcript="The meeting starts at nine tomorrow morning.", language="en"),
                                            ClipJob("b", str(reenc), transcript="The meeting starts at nine tomorrow morning.", language="en")])
    assert pred["probs"].argmax(1)[0] == pred["probs"].argmax(1)[1]
    assert np.abs(pred["probs"][0] - pred["probs"][1]).max() < 0.1


def _all_frames(path):
    import av

    with av.open(str(path)) as c:
        for f in c.decode(video=0):
            yield f.to_ndarray(format="rgb24")


def test_direction_negative_audio_moves_toward_negative(trained_demo, tmp_path):
    text = "The meeting starts at nine tomorrow morning."
    jobs = []
    for name, audio in (("pos", 0.9), ("neg", -0.9)):
        path = tmp_path / f"{name}.mp4"
        render_clip(_spec(text=text, audio=audio, face=0.0), path)
        jobs.append(ClipJob(name, str(path), transcript=text, language="en"))
    pred, _ = _predict_files(trained_demo, jobs)
    p_neg = pred["probs"][:, 0]
    assert p_neg[1] > p_neg[0], pred["probs"]


def test_missing_modalities_still_predict(trained_demo, tmp_path):
    src = tmp_path / "full.mp4"
    render_clip(_spec(audio=0.5, face=0.5), src)
    d = media.decode(src)
    audio_only = write_video(tmp_path / "audio_only.mp4", None, audio=d.audio, sample_rate=16000)
    video_only = write_video(tmp_path / "video_only.mp4", (f for f in _all_frames(src)), fps=10)
    text = "The meeting starts at nine tomorrow morning."
    jobs = [ClipJob("audio_only", str(audio_only), transcript=text, language="en"),
            ClipJob("video_only", str(video_only), transcript=text, language="en")]
    pred, data = _predict_files(trained_demo, jobs)
    present = np.stack([c.present for c in data.clips])
    assert present.tolist() == [[True, True, False], [True, False, True]]
    assert np.allclose(pred["probs"].sum(1), 1.0)
    assert pred["weights"][0][2] == 0 and pred["weights"][1][1] == 0  # absent: weight 0, not a zero-filled input
    assert np.all(pred["weights"][0][:2] > 0) and np.all(pred["weights"][1][[0, 2]] > 0)


def test_training_resumes_from_checkpoint(trained_demo, tmp_path):
    from clmer.pipeline import load_splits
    from clmer.model.train import CHECKPOINT, train

    s = trained_demo["settings"].model_copy(deep=True)
    s.train.warmup_epochs, s.train.rl_epochs, s.train.checkpoint_every, s.train.patience = 4, 2, 2, 50
    splits = load_splits(trained_demo["corpus"], trained_demo["features"], s)
    full = train(splits["train"], splits["valid"], s, tmp_path / "full")
    # Stop after epoch 2 of warm-up (checkpoint at epoch 1), then resume.
    s_short = s.model_copy(deep=True)
    s_short.train.warmup_epochs, s_short.train.rl_epochs = 2, 0
    train(splits["train"], splits["valid"], s_short, tmp_path / "resumed")
    ckpt = torch.load(tmp_path / "resumed" / CHECKPOINT, weights_only=True) if (tmp_path / "resumed" / CHECKPOINT).exists() else None
    assert ckpt is None  # a finished run removes its checkpoint
    # A real interruption: write a checkpoint at epoch 1, then resume the 4+2 epoch run from it.
    _interrupt_after(splits, s, tmp_path / "resumed2", stop_epoch=1)
    resumed = train(splits["train"], splits["valid"], s, tmp_path / "resumed2", resume=True)
    assert [r["epoch"] for r in resumed.history if r["stage"] == "warmup"] == [0, 1, 2, 3]
    for a, b in zip(full.model.state_dict().values(), resumed.model.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-5)


def _interrupt_after(splits, settings, out, stop_epoch):
    from clmer.model import train as train_mod

    original = train_mod.validation_score

    def boom(model, data, device):
        result = original(model, data, device)
        boom.calls += 1
        if boom.calls > stop_epoch + 1:
            raise KeyboardInterrupt
        return result

    boom.calls = 0
    train_mod.validation_score = boom
    try:
        train_mod.train(splits["train"], splits["valid"], settings, out)
    except KeyboardInterrupt:
        pass
    finally:
        train_mod.validation_score = original
    assert (out / train_mod.CHECKPOINT).exists()

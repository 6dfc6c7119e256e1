"""The policy stage's data discipline and the alignment losses, on made-up stored features (fast)."""

import numpy as np
import pytest

from tests.helpers import synthetic_feature_set

pytestmark = pytest.mark.filterwarnings("ignore")


def _settings(tmp_path, **train):
    from clmer.config import load_settings

    base = {"warmup_epochs": 6, "rl_epochs": 2, "patience": 6, "batch_size": 16, "device": "cpu"}
    return load_settings(None, {"paths": {"runs": str(tmp_path)}, "train": base | train,
                                "fusion": {"d_model": 16, "pool_hidden": 8, "policy_hidden": 16}})


def test_calibration_clips_are_whole_videos_the_warmup_never_sees(tmp_path, monkeypatch):
    from clmer.model import policy_stage, train

    data = synthetic_feature_set(96)
    valid = synthetic_feature_set(24, seed=1, mode="valid")
    s = _settings(tmp_path, policy_stage="rlvr", calibration_fraction=0.25)
    fit, calib = policy_stage.split_calibration(data, s.train)
    assert set(fit.frame["video_id"]).isdisjoint(calib.frame["video_id"])  # a speaker's clips stay together
    assert 0.2 <= len(calib) / len(data) <= 0.35 and len(fit) + len(calib) == len(data)

    seen = {}
    real_warmup, real_stage = train._warmup, policy_stage.run_policy_stage

    def spy_warmup(model, train_set, *args, **kwargs):
        seen["warmup"] = set(train_set.frame["clip"])
        return real_warmup(model, train_set, *args, **kwargs)

    def spy_stage(model, calib_set, *args, **kwargs):
        seen["rewards"] = set(calib_set.frame["clip"])
        return real_stage(model, calib_set, *args, **kwargs)

    monkeypatch.setattr(train, "_warmup", spy_warmup)
    monkeypatch.setattr(policy_stage, "run_policy_stage", spy_stage)
    result = train.train(data, valid, s, tmp_path / "run")
    assert seen["warmup"] and seen["rewards"]
    assert seen["warmup"].isdisjoint(seen["rewards"])  # no reward is computed on a clip the heads fitted
    assert set(result.calib_clips) == seen["rewards"] and set(result.fit_clips) == seen["warmup"]
    assert any(r["stage"] == "rlvr" for r in result.history)


def test_without_a_policy_stage_the_warmup_uses_every_training_clip(tmp_path):
    from clmer.model.train import train

    data = synthetic_feature_set(60)
    result = train(data, synthetic_feature_set(24, seed=1, mode="valid"), _settings(tmp_path, policy_stage="none"),
                   tmp_path / "run")
    assert len(result.fit_clips) == 60 and result.calib_clips == []


def test_supcon_is_zero_on_one_language_and_acts_with_the_other_languages_unlabelled_clips(tmp_path):
    from clmer.model.train import train

    zh = synthetic_feature_set(60, languages=("zh",))
    en = synthetic_feature_set(60, seed=2, languages=("en",))
    valid = synthetic_feature_set(24, seed=1, languages=("zh",), mode="valid")
    s = _settings(tmp_path, policy_stage="none", pseudo_label_after=0, pseudo_label_threshold=0.34)
    alone = train(zh, valid, s, tmp_path / "alone")
    assert all(r.get("train_supcon", 0.0) == 0.0 for r in alone.history if r["stage"] == "warmup")
    assert all("train_lang_adv" not in r for r in alone.history)  # one language: nothing to be adversarial about
    adapted = train(zh, valid, s, tmp_path / "adapted", unlabeled=en)
    warm = [r for r in adapted.history if r["stage"] == "warmup"]
    assert np.mean([r["train_supcon"] for r in warm]) > 0
    assert all(r["train_lang_adv"] > 0 and r["train_coral"] >= 0 for r in warm)


def test_gate_baseline_trains_only_the_policy(tmp_path):
    import torch

    from clmer.model.supervised_gate import GateTrainer
    from clmer.model.train import train

    data = synthetic_feature_set(48)
    result = train(data, synthetic_feature_set(12, seed=1, mode="valid"), _settings(tmp_path, policy_stage="none"),
                   tmp_path / "run")
    model = result.model
    frozen = {k: v.clone() for k, v in model.state_dict().items() if not k.startswith("policy.")}
    policy = {k: v.clone() for k, v in model.policy.state_dict().items()}
    gate = GateTrainer(model, _settings(tmp_path).train, torch.Generator().manual_seed(0))
    stats = gate.step(data.batch(range(16)))
    assert np.isfinite(stats["gate_loss"])
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in frozen.items())
    assert any(not torch.equal(v, model.policy.state_dict()[k]) for k, v in policy.items())

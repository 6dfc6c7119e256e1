"""Issue 27: modality weights that name the modality that decided. Logit fusion makes w_m l_m the
decision's exact additive decomposition; the RL data, advantages and rewards are checked on
hand-made tensors."""

import pytest
import torch

from clmer.config import FusionConfig
from clmer.model.fusion import FusionModel

DIMS = {"text": (6, 0), "audio": (5, 7), "vision": (4, 0)}


def fake_batch(b=8, seed=0, present=None, y=None):
    g = torch.Generator().manual_seed(seed)
    batch = {}
    for m, (ds, dg) in DIMS.items():
        batch[m] = torch.randn(b, 5, ds, generator=g)
        batch[f"{m}_mask"] = torch.ones(b, 5, dtype=torch.bool)
        batch[f"{m}_count"] = torch.full((b,), 5.0)
        batch[f"{m}_extra"] = torch.randn(b, dg, generator=g)
    batch["present"] = torch.ones(b, 3, dtype=torch.bool) if present is None else present
    batch["y"] = torch.randint(0, 3, (b,), generator=g) if y is None else y
    return batch


def small_model(combine="logits", seed=0):
    torch.manual_seed(seed)
    model = FusionModel(DIMS, FusionConfig(d_model=16, pool_hidden=8, policy_hidden=16, fusion_combine=combine))
    model.fit_normalizers(fake_batch(32, seed=5))
    return model.eval()


def test_logit_fusion_is_the_weighted_sum_of_the_unimodal_logits():
    model = small_model("logits")
    present = torch.tensor([[1, 1, 1]] * 4 + [[1, 0, 1]] * 2 + [[0, 1, 0]] * 2, dtype=torch.bool)
    batch = fake_batch(8, seed=1, present=present)
    with torch.no_grad():
        out = model(batch)
        unimodal = model.classifier(out["h"])  # (B, 3, C): each modality's own logits
        expected = (out["weights"].unsqueeze(-1) * unimodal).sum(1)
        assert torch.allclose(out["logits"], expected, atol=1e-6)
        # The contributions are the decomposition: they sum to the logits, and an absent modality adds 0.
        parts = model.logit_contributions(out["h"], out["weights"])
        assert torch.allclose(parts.sum(1), out["logits"], atol=1e-6)
        assert torch.all(parts[4:6, 1] == 0) and torch.all(parts[6:, [0, 2]] == 0)
        # Sampled weightings (G, B, 3) broadcast over the same vectors, as RL scores them.
        w = torch.softmax(torch.randn(5, 8, 3), -1) * present
        w = w / w.sum(-1, keepdim=True)
        grouped = model.heads(out["h"], w)["logits"]
        assert grouped.shape == (5, 8, 3)
        assert torch.allclose(grouped[3], (w[3].unsqueeze(-1) * unimodal).sum(1), atol=1e-6)


def test_hidden_fusion_is_not_the_weighted_sum_of_logits():
    # The default fusion classifies the weighted vector; the classifier is not linear, so the same
    # identity fails there (otherwise the new setting would change nothing).
    model = small_model("hidden")
    batch = fake_batch(8, seed=1)
    with torch.no_grad():
        out = model(batch)
        expected = (out["weights"].unsqueeze(-1) * model.classifier(out["h"])).sum(1)
        assert not torch.allclose(out["logits"], expected, atol=1e-3)
        assert torch.allclose(out["logits"], model.classifier(out["fused"]), atol=1e-6)


def test_fusion_combine_is_a_checked_setting():
    with pytest.raises(ValueError):
        FusionConfig(fusion_combine="product")
    assert FusionConfig.model_fields["fusion_combine"].description


# --- RL data and advantages ---------------------------------------------------------------------

def test_advantages_are_centred_not_divided_by_the_group_std():
    from clmer.model.rlvr import group_advantages

    r = torch.tensor([[0.500, 1.0], [0.501, 0.0], [0.499, 1.0], [0.500, 0.0]])  # (G=4, B=2)
    a = group_advantages(r)
    assert torch.allclose(a, r - r.mean(0), atol=1e-7)
    assert a[:, 0].abs().max() < 2e-3  # likelihood noise stays noise-sized (GRPO's std made it +-1.4)
    assert group_advantages(r, "std")[:, 0].abs().max() > 1.0
    with pytest.raises(ValueError):
        group_advantages(r, "max")


def test_log_odds_reward_on_hand_made_logits():
    from clmer.model.rewards import log_odds

    logits = torch.log(torch.tensor([[0.5, 0.25, 0.25], [0.5, 0.25, 0.25], [0.9, 0.05, 0.05]]))
    y = torch.tensor([0, 1, 0])
    lo = log_odds(logits, y)
    assert lo.tolist() == pytest.approx([0.0, float(torch.log(torch.tensor(1 / 3))), float(torch.log(torch.tensor(9.0)))],
                                        abs=1e-5)
    # Saturated: probability cannot tell 1 - 1e-9 from 1 - 1e-12; log-odds can, and the clip bounds it.
    sat = torch.tensor([[30.0, 0.0, 0.0], [40.0, 0.0, 0.0], [-40.0, 0.0, 0.0]])
    raw = log_odds(sat, torch.tensor([0, 0, 0]))
    assert raw[1] > raw[0] + 9 and torch.isfinite(raw).all()
    assert log_odds(sat, torch.tensor([0, 0, 0]), clip=5.0).tolist() == pytest.approx([5.0, 5.0, -5.0])
    grouped = log_odds(logits.expand(4, -1, -1), y)  # (G, B, C) samples against (B,) labels
    assert grouped.shape == (4, 3) and torch.allclose(grouped[2], lo)


def test_training_swaps_are_blind_to_the_label_and_evaluation_swaps_are_not():
    from clmer.model.corruption import corrupt_batch

    swap = {"text": ("swap",), "audio": ("swap",), "vision": ("swap",)}
    batch = fake_batch(12, seed=4, y=torch.tensor([0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2]))
    same = {"any": 0, "other_label": 0}
    for partners in same:
        for seed in range(5):
            out, _ = corrupt_batch(batch, torch.Generator().manual_seed(seed), 1.0, modality=0, kinds=swap,
                                   partners=partners)
            for i in range(12):
                donor = next(j for j in range(12) if torch.equal(out["text"][i], batch["text"][j]))
                assert donor != i
                same[partners] += int(batch["y"][donor] == batch["y"][i])
    assert same["other_label"] == 0
    assert same["any"] > 0  # 3 of the 11 other clips share the label: about 16 of 60 swaps
    with pytest.raises(ValueError):
        corrupt_batch(batch, torch.Generator(), 1.0, partners="same_label")


def test_policy_stage_defaults_mix_clean_clips_and_drop_the_entropy_bonus():
    from clmer.config import TrainConfig

    cfg = TrainConfig()
    assert 0.3 <= cfg.corrupt_fraction <= 0.7 and cfg.entropy_bonus == 0.0 and cfg.advantage_scale == "none"


# --- faithful-weight reward ---------------------------------------------------------------------

class FirstThree(torch.nn.Module):
    """A classifier whose logits are the vector's first three numbers: each modality's verdict is
    written by hand."""

    def forward(self, h):
        return h[..., :3]


def hand_made_model():
    model = FusionModel(DIMS, FusionConfig(d_model=8, pool_hidden=8, policy_hidden=8, fusion_combine="logits"))
    model.classifier = FirstThree()
    with torch.no_grad():  # the policy's mean is 0 everywhere: equal weights over what is present
        model.policy.net[-1].weight.zero_()
        model.policy.net[-1].bias.zero_()
    return model.eval()


def test_faithful_weight_reward_names_the_modality_that_decided():
    from clmer.model.rewards import faithfulness_reward
    from clmer.model.rlvr import removal_drops

    model = hand_made_model()
    verdicts = torch.tensor([
        [[4.0, 0, 0], [0, 0, 0], [0, 0, 0.5]],     # text alone says negative: text decided
        [[0.3, 0, 0], [0, 5.0, 0], [0, 0, 0.3]],   # audio alone says neutral: audio decided
        [[0, 0, 1.0], [0, 0, 1.0], [0, 0, 3.0]],   # all positive, vision most: vision decided
        [[2.0, 0, 0], [0, 0, 0], [0, 0, 0]],       # vision absent (its verdict would look decisive)
    ])
    verdicts[3, 2] = torch.tensor([0, 0, 9.0])
    h = torch.zeros(4, 3, 8)
    h[..., :3] = verdicts
    present = torch.tensor([[1, 1, 1], [1, 1, 1], [1, 1, 1], [1, 1, 0]], dtype=torch.bool)
    drops = removal_drops(model, h, torch.zeros(4, 3, 2), present)
    assert drops.argmax(-1).tolist() == [0, 1, 2, 0]
    assert drops[3, 2] == float("-inf")
    # The reward is 1 exactly where the top sampled weight falls on that modality.
    w = torch.tensor([[[0.6, 0.2, 0.2], [0.2, 0.6, 0.2], [0.2, 0.2, 0.6], [0.6, 0.4, 0.0]],
                      [[0.2, 0.6, 0.2], [0.6, 0.2, 0.2], [0.6, 0.2, 0.2], [0.4, 0.6, 0.0]]])  # (G=2, B=4, 3)
    assert faithfulness_reward(w, drops, present).tolist() == [[1, 1, 1, 1], [0, 0, 0, 0]]


def test_faithful_weight_reward_explains_the_predicted_class_not_the_gold_one():
    from clmer.model.rlvr import removal_drops

    # Text says negative, audio positive, vision weakly negative: the model predicts negative, and text
    # decided it. Against the gold label (positive) the "most important" modality would be audio.
    model = hand_made_model()
    h = torch.zeros(1, 3, 8)
    h[0, :, :3] = torch.tensor([[3.0, 0, 0], [0, 0, 2.0], [0.5, 0, 0]])
    present = torch.ones(1, 3, dtype=torch.bool)
    stats = torch.zeros(1, 3, 2)
    assert removal_drops(model, h, stats, present).argmax(-1).item() == 0
    assert removal_drops(model, h, stats, present, target=torch.tensor([2])).argmax(-1).item() == 1


def test_rewards_are_computed_only_on_calibration_clips(tmp_path, monkeypatch):
    """Every batch the RL step scores holds calibration clips only: no reward on a clip the heads fitted."""
    from clmer.config import load_settings
    from clmer.model import policy_stage, rlvr, train
    from tests.helpers import synthetic_feature_set

    data = synthetic_feature_set(72)
    valid = synthetic_feature_set(24, seed=1, mode="valid")
    s = load_settings(None, {"paths": {"runs": str(tmp_path)},
                             "train": {"warmup_epochs": 3, "rl_epochs": 2, "patience": 3, "batch_size": 16,
                                       "device": "cpu", "policy_stage": "rlvr", "reward_faithfulness": 1.0},
                             "fusion": {"d_model": 16, "pool_hidden": 8, "policy_hidden": 16,
                                        "fusion_combine": "logits"}})
    seen, scored = {}, []
    real_stage, real_step = policy_stage.run_policy_stage, rlvr.PolicyTrainer.step

    def spy_stage(model, calib_set, *args, **kwargs):
        seen["calib"] = calib_set
        return real_stage(model, calib_set, *args, **kwargs)

    def spy_step(self, batch):
        scored.append(batch["text"].clone())
        return real_step(self, batch)

    monkeypatch.setattr(policy_stage, "run_policy_stage", spy_stage)
    monkeypatch.setattr(rlvr.PolicyTrainer, "step", spy_step)
    result = train.train(data, valid, s, tmp_path / "run")
    calib = seen["calib"].batch(list(range(len(seen["calib"]))), "cpu")["text"]
    fit_clips = set(result.fit_clips)
    fit = data.subset(data.frame["clip"].isin(fit_clips).to_numpy())
    fitted = fit.batch(list(range(len(fit))), "cpu")["text"]
    assert scored and set(result.calib_clips).isdisjoint(fit_clips)
    for batch_text in scored:
        for row in batch_text:
            assert any(torch.equal(row, c) for c in calib)  # a calibration clip ...
            assert not any(torch.equal(row, f) for f in fitted)  # ... and never one the heads fitted
    assert any(r.get("train_reward_faithfulness", 0) > 0 for r in result.history if r["stage"] == "rlvr")


# --- the ablation -------------------------------------------------------------------------------

def test_ablation_runs_the_named_variants_with_the_carrier_columns(tmp_path):
    from clmer.config import load_settings
    from clmer.model import ablation
    from tests.helpers import synthetic_feature_set

    train_set = synthetic_feature_set(60)
    test = synthetic_feature_set(18, seed=2, mode="test")
    test.frame["variant"] = ["text", "audio", "vision"] * 6  # made-up carriers: the columns must be filled
    s = load_settings(None, {"paths": {"runs": str(tmp_path)},
                             "train": {"warmup_epochs": 2, "rl_epochs": 1, "patience": 2, "batch_size": 16,
                                       "device": "cpu"},
                             "fusion": {"d_model": 16, "pool_hidden": 8, "policy_hidden": 16}})
    names = ["warm-up only", "late fusion", "RLVR + faithful-weight reward, logit fusion"]
    splits = {"train": train_set, "valid": synthetic_feature_set(18, seed=1, mode="valid"), "test": test}
    rows = ablation.run_seed(splits, s, 0, tmp_path / "abl", names=names)
    assert [r["variant"] for r in rows] == names
    rl = rows[-1]
    for column in ("clean_war", "clean_uar", "corrupted_war", "carrier_by_weight", "carrier_by_share",
                   "carrier_by_share_correct", "carrier_clip_war", "audio_carrier_war"):
        assert 0.0 <= rl[column] <= 1.0, column
    assert "carrier_by_weight" not in rows[1]  # late fusion has no weights
    with pytest.raises(ValueError, match="unknown ablation variant"):
        ablation.run_seed(splits, s, 0, tmp_path / "abl", names=["RLVR++"])
    with pytest.raises(ValueError, match="warm-up only"):
        ablation.run_seed(splits, s, 0, tmp_path / "abl", names=["late fusion"])

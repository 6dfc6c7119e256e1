"""RLVR does what it promises: rewards right on hand-made cases (accuracy, reliability, faithfulness),
per-group advantages, a policy step changes the weights and only them, the KL to the reference is zero
at the start, corruptions are what they say, and occluding every item of a modality is removing it."""

import pytest
import torch

from clmer.config import FusionConfig, TrainConfig
from clmer.model.corruption import corrupt_batch
from clmer.model.fusion import FusionModel, masked_softmax
from clmer.model.rewards import accuracy_reward, faithfulness_reward, likelihood_reward, log_odds, reliability_reward
from clmer.model.rlvr import PolicyTrainer, clipped_objective, group_advantages, kl_k3, removal_drops

DIMS = {"text": (6, 0), "audio": (5, 7), "vision": (4, 0)}


def fake_batch(b=8, seed=0, present=None):
    g = torch.Generator().manual_seed(seed)
    batch = {}
    for m, (ds, dg) in DIMS.items():
        batch[m] = torch.randn(b, 5, ds, generator=g)
        batch[f"{m}_mask"] = torch.ones(b, 5, dtype=torch.bool)
        batch[f"{m}_count"] = torch.full((b,), 5.0)
        batch[f"{m}_extra"] = torch.randn(b, dg, generator=g)
    batch["present"] = torch.ones(b, 3, dtype=torch.bool) if present is None else present
    batch["y"] = torch.randint(0, 3, (b,), generator=g)
    return batch


def small_model(mode="policy"):
    torch.manual_seed(0)
    model = FusionModel(DIMS, FusionConfig(d_model=16, pool_hidden=8, policy_hidden=16, fusion_mode=mode))
    model.fit_normalizers(fake_batch(32, seed=5))
    return model.eval()


def test_accuracy_and_likelihood_rewards():
    logits = torch.tensor([[[2.0, 0, 0], [0, 0, 3.0]]])  # (G=1, B=2, C)
    assert accuracy_reward(logits, torch.tensor([0, 1])).tolist() == [[1.0, 0.0]]
    lik = likelihood_reward(logits, torch.tensor([0, 1]))
    assert lik[0, 0] == pytest.approx(torch.softmax(logits[0, 0], -1)[0].item())


def test_reliability_reward_hand_cases():
    weights = torch.tensor([[0.2, 0.5, 0.3],    # audio corrupted, weight .5 > fair 1/3   -> 0
                            [0.2, 0.3, 0.5],    # audio corrupted, weight .3 <= 1/3        -> 1
                            [0.6, 0.4, 0.0],    # text corrupted, two present: .6 > 1/2   -> 0
                            [0.5, 0.5, 0.0],    # text corrupted, exactly its fair share  -> 1
                            [0.9, 0.05, 0.05]])  # nothing corrupted                      -> 0 (no signal)
    corrupted = torch.tensor([1, 1, 0, 0, -1])
    present = torch.tensor([[1, 1, 1], [1, 1, 1], [1, 1, 0], [1, 1, 0], [1, 1, 1]], dtype=torch.bool)
    assert reliability_reward(weights, corrupted, present).tolist() == [0.0, 1.0, 0.0, 1.0, 0.0]
    grouped = reliability_reward(weights.expand(4, -1, -1), corrupted, present)  # (G, B, 3) samples
    assert grouped.shape == (4, 5) and grouped[2].tolist() == [0.0, 1.0, 0.0, 1.0, 0.0]


def test_faithfulness_reward_hand_cases():
    # drops when removing text/audio/vision: text hurts most | audio hurts most | tie | single modality
    drops = torch.tensor([[0.7, 0.1, 0.05], [0.1, 0.8, 0.05], [0.4, 0.4, 0.0], [0.6, float("-inf"), float("-inf")]])
    weights = torch.tensor([[0.6, 0.3, 0.1], [0.6, 0.3, 0.1], [0.1, 0.8, 0.1], [1.0, 0.0, 0.0]])
    present = torch.tensor([[1, 1, 1], [1, 1, 1], [1, 1, 1], [1, 0, 0]], dtype=torch.bool)
    assert faithfulness_reward(weights, drops, present).tolist() == [1.0, 0.0, 1.0, 1.0]


def test_faithfulness_ignores_absent_modalities():
    drops = torch.tensor([[0.4, 0.0, 5.0]])  # vision "removal" would look huge, but vision is absent
    weights = torch.tensor([[0.7, 0.3, 0.0]])
    present = torch.tensor([[1, 1, 0]], dtype=torch.bool)
    assert faithfulness_reward(weights, drops, present).tolist() == [1.0]


def test_removal_uses_the_evaluations_semantics():
    model = small_model()
    batch = fake_batch(6, seed=2)
    with torch.no_grad():
        h, _, stats = model.encode(batch)
        drops = removal_drops(model, h, stats, batch["present"])
        predicted = model(batch)["logits"].argmax(-1)
        for m in range(3):  # log-odds of the predicted class: all - modality m absent, the policy re-weighting the rest
            present = batch["present"].clone()
            present[:, m] = False
            full = log_odds(model(batch)["logits"], predicted)
            without = log_odds(model(batch, present=present)["logits"], predicted)
            assert torch.allclose(drops[:, m], full - without, atol=1e-5)


def test_group_advantages_are_normalised_per_clip_when_asked():
    r = torch.tensor([[1.0, 0.0, 2.0], [0.0, 0.0, 2.0], [1.0, 0.0, 2.0], [0.0, 0.0, 2.0]])  # (G=4, B=3)
    a = group_advantages(r, "std")
    assert torch.allclose(a.mean(0), torch.zeros(3), atol=1e-6)
    assert torch.allclose(a[:, 0].std(unbiased=False), torch.tensor(1.0), atol=1e-3)
    assert torch.all(a[:, 1] == 0) and torch.all(a[:, 2] == 0)  # no signal when every sample agrees


def test_kl_k3_and_clipping():
    lp = torch.tensor([-1.0, -2.0])
    assert torch.all(kl_k3(lp, lp) == 0)
    assert torch.all(kl_k3(lp, lp + 0.5) > 0)
    adv = torch.tensor([1.0, -1.0])
    obj = clipped_objective(torch.log(torch.tensor([2.0, 2.0])), torch.zeros(2), adv, 0.2)
    assert obj.tolist() == pytest.approx([1.2, -2.0])


def test_policy_step_changes_weights_and_kl_starts_at_zero():
    model = small_model()
    trainer = PolicyTrainer(model, TrainConfig(group_size=8, rl_lr=0.05, rl_inner_steps=1),
                            torch.Generator().manual_seed(0))
    batch = fake_batch(16, seed=1)
    before = model(batch)["weights"].detach().clone()
    frozen = {k: v.clone() for k, v in model.state_dict().items() if not k.startswith("policy.")}
    stats = trainer.step(batch)
    assert stats["kl"] == pytest.approx(0.0, abs=1e-7)  # first inner step: policy == reference
    assert 0.0 <= stats["reward_reliability"] <= 1.0  # half of the clips had a modality corrupted
    after = model(batch)["weights"].detach()
    assert not torch.allclose(before, after)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in frozen.items())
    assert trainer.step(batch)["kl"] > 0


def test_corruption_changes_only_the_corrupted_modality_of_the_marked_clips():
    batch = fake_batch(12, seed=3)
    out, corrupted = corrupt_batch(batch, torch.Generator().manual_seed(1), 0.5)
    assert (corrupted >= 0).any() and (corrupted < 0).any()
    names = ("text", "audio", "vision")
    for i in range(12):
        for m, name in enumerate(names):
            changed = not torch.equal(out[name][i], batch[name][i]) or not torch.equal(out[f"{name}_extra"][i],
                                                                                      batch[f"{name}_extra"][i])
            assert changed == (int(corrupted[i]) == m), (i, name)
    assert torch.equal(batch["text"], fake_batch(12, seed=3)["text"])  # the input batch is left alone


def test_swap_takes_the_modality_of_a_clip_with_another_label():
    batch = fake_batch(10, seed=4)
    out, corrupted = corrupt_batch(batch, torch.Generator().manual_seed(2), 1.0, modality=0,
                                   kinds={"text": ("swap",), "audio": ("swap",), "vision": ("swap",)},
                                   partners="other_label")  # evaluation's swaps: conflicting evidence
    for i in range(10):
        donors = [j for j in range(10) if torch.equal(out["text"][i], batch["text"][j])]
        assert donors and all(batch["y"][j] != batch["y"][i] for j in donors)


def test_occluding_every_item_of_a_modality_equals_removing_it():
    model = small_model()
    batch = fake_batch(6, seed=7)
    for m, name in enumerate(("text", "audio", "vision")):
        occluded = dict(batch)
        occluded[f"{name}_mask"] = torch.zeros_like(batch[f"{name}_mask"])
        present = batch["present"].clone()
        present[:, m] = False
        a, b = model(occluded), model(batch, present=present)
        assert torch.allclose(a["logits"], b["logits"], atol=1e-6)
        assert torch.all(a["weights"][:, m] == 0)


def test_partial_occlusion_also_removes_the_items_share_of_the_utterance_values():
    model = small_model()
    batch = fake_batch(2, seed=8)
    half = dict(batch)
    half["audio_mask"] = batch["audio_mask"].clone()
    half["audio_mask"][:, 3:] = False
    with torch.no_grad():
        enc = model.encoders["audio"]
        h_half, _, _ = enc(half["audio"], half["audio_mask"], half["audio_count"], half["audio_extra"])
        h_noextra, _, _ = enc(half["audio"], half["audio_mask"], half["audio_count"], torch.zeros_like(half["audio_extra"]))
    assert not torch.allclose(h_half, h_noextra)  # the extras still count, at 3/5 of their weight


def test_absent_modality_is_masked_not_zero_filled():
    model = small_model()
    present = torch.tensor([[1, 0, 1]] * 4, dtype=torch.bool)
    batch = fake_batch(4, present=present)
    out = model(batch)
    assert torch.all(out["weights"][:, 1] == 0)
    assert torch.allclose(out["weights"].sum(-1), torch.ones(4))
    # What is in the absent modality's tensors cannot change the prediction.
    other = dict(batch)
    other["audio"] = torch.randn_like(batch["audio"]) * 100
    other["audio_extra"] = torch.randn_like(batch["audio_extra"]) * 100
    assert torch.allclose(model(other)["logits"], out["logits"], atol=1e-5)
    w = masked_softmax(torch.tensor([[5.0, 1.0, 1.0]]), torch.tensor([[0, 1, 1]], dtype=torch.bool))
    assert w.tolist()[0] == pytest.approx([0.0, 0.5, 0.5])


def test_concat_fusion_ignores_absent_modalities_too():
    model = small_model("concat")
    present = torch.tensor([[1, 0, 1]] * 3, dtype=torch.bool)
    batch = fake_batch(3, present=present)
    other = dict(batch)
    other["audio"] = torch.randn_like(batch["audio"]) * 100
    assert torch.allclose(model(other)["logits"], model(batch)["logits"], atol=1e-5)

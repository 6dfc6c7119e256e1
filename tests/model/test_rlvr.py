"""RLVR does what it promises: rewards right on hand-made cases, per-group advantages,
a policy step changes the weights, and the KL to the reference is zero at the start."""

import pytest
import torch

from clmer.config import FusionConfig, TrainConfig
from clmer.model.fusion import FusionModel, masked_softmax
from clmer.model.rewards import accuracy_reward, faithfulness_reward
from clmer.model.rlvr import PolicyTrainer, clipped_objective, group_advantages, kl_k3

DIMS = {"text": (6, 6), "audio": (5, 7), "vision": (4, 9)}


def fake_batch(b=8, seed=0, present=None):
    g = torch.Generator().manual_seed(seed)
    batch = {}
    for m, (ds, dg) in DIMS.items():
        batch[m] = torch.randn(b, 5, ds, generator=g)
        batch[f"{m}_mask"] = torch.ones(b, 5, dtype=torch.bool)
        batch[f"{m}_global"] = torch.randn(b, dg, generator=g)
    batch["present"] = torch.ones(b, 3, dtype=torch.bool) if present is None else present
    batch["y"] = torch.randint(0, 3, (b,), generator=g)
    return batch


def test_accuracy_reward():
    logits = torch.tensor([[[2.0, 0, 0], [0, 0, 3.0]]])  # (G=1, B=2, C)
    assert accuracy_reward(logits, torch.tensor([0, 1])).tolist() == [[1.0, 0.0]]


def test_faithfulness_reward_hand_cases():
    p_full = torch.tensor([0.9, 0.9, 0.9, 0.9])
    # drops when removing text/audio/vision:      text hurts most  | audio hurts most | tie | single modality
    p_without = torch.tensor([[0.2, 0.8, 0.85], [0.8, 0.1, 0.85], [0.5, 0.5, 0.9], [0.3, 0.9, 0.9]])
    weights = torch.tensor([[0.6, 0.3, 0.1], [0.6, 0.3, 0.1], [0.1, 0.8, 0.1], [1.0, 0.0, 0.0]])
    present = torch.tensor([[1, 1, 1], [1, 1, 1], [1, 1, 1], [1, 0, 0]], dtype=torch.bool)
    r = faithfulness_reward(p_full, p_without, weights, present)
    assert r.tolist() == [1.0, 0.0, 1.0, 1.0]  # top weight on text: right, wrong; tie counts; single is trivial


def test_faithfulness_ignores_absent_modalities():
    p_full = torch.tensor([0.9])
    p_without = torch.tensor([[0.5, 0.9, 0.0]])  # vision "removal" would look huge, but vision is absent
    weights = torch.tensor([[0.7, 0.3, 0.0]])
    present = torch.tensor([[1, 1, 0]], dtype=torch.bool)
    assert faithfulness_reward(p_full, p_without, weights, present).tolist() == [1.0]


def test_group_advantages_are_normalised_per_clip():
    r = torch.tensor([[1.0, 0.0, 2.0], [0.0, 0.0, 2.0], [1.0, 0.0, 2.0], [0.0, 0.0, 2.0]])  # (G=4, B=3)
    a = group_advantages(r)
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
    torch.manual_seed(0)
    model = FusionModel(DIMS, FusionConfig(d_model=16, pool_hidden=8, policy_hidden=16))
    model.fit_normalizers(fake_batch(32, seed=5))
    trainer = PolicyTrainer(model, TrainConfig(group_size=8, rl_lr=0.05, rl_inner_steps=1))
    batch = fake_batch(16, seed=1)
    before = model(batch)["weights"].detach().clone()
    encoder_before = {k: v.clone() for k, v in model.encoders.state_dict().items()}
    stats = trainer.step(batch)
    assert stats["kl"] == pytest.approx(0.0, abs=1e-7)  # first inner step: policy == reference
    after = model(batch)["weights"].detach()
    assert not torch.allclose(before, after)
    assert all(torch.equal(v, model.encoders.state_dict()[k]) for k, v in encoder_before.items())
    second = trainer.step(batch)
    assert second["kl"] > 0


def test_absent_modality_is_masked_not_zero_filled():
    torch.manual_seed(0)
    model = FusionModel(DIMS, FusionConfig(d_model=16, pool_hidden=8, policy_hidden=16)).eval()
    present = torch.tensor([[1, 0, 1]] * 4, dtype=torch.bool)
    batch = fake_batch(4, present=present)
    out = model(batch)
    assert torch.all(out["weights"][:, 1] == 0)
    assert torch.allclose(out["weights"].sum(-1), torch.ones(4))
    # What is in the absent modality's tensors cannot change the prediction.
    other = dict(batch)
    other["audio"] = torch.randn_like(batch["audio"]) * 100
    other["audio_global"] = torch.randn_like(batch["audio_global"]) * 100
    assert torch.allclose(model(other)["logits"], out["logits"], atol=1e-5)
    w = masked_softmax(torch.tensor([[5.0, 1.0, 1.0]]), torch.tensor([[0, 1, 1]], dtype=torch.bool))
    assert w.tolist()[0] == pytest.approx([0.0, 0.5, 0.5])

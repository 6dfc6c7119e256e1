"""The reasoning LM on a tiny random Qwen2 built here: constrained decoding writes the facts by
construction, CTranslate2 reproduces the trained model's greedy output, and SFT then GRPO steps move
the reward (resumably, within their budgets)."""

import re

import pytest
from safetensors.torch import load_file

from clmer.config import load_settings
from clmer.explain import reasoning
from clmer.explain.reasoning_prompts import facts
from clmer.explain.reasoning_rewards import QUOTE, decisive_ok, parse
from tests.code.test_reasoning_template import CASES

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def lm_store(tmp_path_factory):
    """A model store holding `tiny-lm`: a tiny random Qwen2 whose logits are large enough to train."""
    from clmer.features.model_store import ModelStore
    from clmer.synthetic.tiny.explainer import build_tiny_explainer

    root = tmp_path_factory.mktemp("lm_store")
    store = ModelStore(root / "models")
    path = build_tiny_explainer(store.path_for("tiny-lm"), seed=3, init_std=0.5)
    store.register("tiny-lm", path, "explainer", source="built locally (random)")
    return root


def _settings(root, **reasoning_cfg):
    cfg = {"runtime": "transformers", "generate_max_new_tokens": 24, "enabled": "on"} | reasoning_cfg
    return load_settings(None, {"paths": {"home": str(root), "model_store": str(root / "models")},
                                "models": {"explainer": "tiny-lm"}, "reasoning": cfg})


def test_constrained_decoding_writes_the_facts_by_construction(lm_store):
    explainer = reasoning.Explainer("tiny-lm", settings=_settings(lm_store))
    fs = [facts(d) for d in CASES]
    together = explainer.compose(fs)
    for f, c in zip(fs, together):
        think, answer = parse(c.text)
        assert think is not None and answer == f["polarity"]  # format and answer: by construction
        assert decisive_ok(think, f["shares"])
        written = reasoning.written_part(c, f)
        assert not re.search(r"\d|%|<|>", written), written  # the LM states no number and opens no tag
        assert all(q in f["words"] for q in QUOTE.findall(think))  # every quote is a top word
        assert c.lm_tokens == sum(c.mask) and len(c.mask) == len(c.completion_ids)
    alone = [explainer.compose([f])[0] for f in fs]
    assert [c.completion_ids for c in alone] == [c.completion_ids for c in together]  # batching changes nothing


def test_ctranslate2_reproduces_the_trained_models_greedy_output(lm_store, tmp_path):
    from clmer.explain.reasoning_train import train

    s = _settings(lm_store, sft_steps=3, max_steps=0, sft_learning_rate=1e-2)
    train(CASES[:2], lm_store / "models" / "tiny-lm", s, tmp_path / "adapter", base_name="tiny-lm")
    fs = [facts(d) for d in CASES]
    trained = reasoning.Explainer(tmp_path / "adapter", settings=s).compose(fs)
    s32 = _settings(lm_store, runtime="ctranslate2", ct2_compute_type="float32")
    converted = reasoning.Explainer(tmp_path / "adapter", settings=s32)
    assert converted.runtime.name == "ctranslate2-float32"
    assert [c.completion_ids for c in converted.compose(fs)] == [c.completion_ids for c in trained]
    assert any((lm_store / "models" / ".runtime").glob("*-float32/model.bin"))  # converted once, cached
    int8 = reasoning.Explainer(tmp_path / "adapter", settings=_settings(lm_store, runtime="ctranslate2"))
    assert all(parse(c.text)[1] == f["polarity"] for c, f in zip(int8.compose(fs), fs))


def test_sft_then_grpo_steps_move_the_reward_and_resume(lm_store, tmp_path):
    from clmer.explain.reasoning_train import train, work_dir

    # enough SFT for a random LM to copy its grounded targets (60 steps at rank 8 did not move the reward)
    s = _settings(lm_store, sft_steps=150, lora_rank=16, sft_phrasings=1, sft_learning_rate=1e-2, max_steps=2,
                  num_generations=4, learning_rate=1e-2, checkpoint_every=1, temperature=1.2)
    docs = CASES[:2]  # one English, one Chinese clip
    before = reasoning.measure(reasoning.Explainer("tiny-lm", settings=s), docs)
    logged = []
    out = tmp_path / "explainer"
    stats = train(docs, lm_store / "models" / "tiny-lm", s, out, log=logged.append, base_name="tiny-lm")
    assert stats["stages"] == ["sft", "grpo"] and stats["grpo"]["steps"] == 2
    losses = [h["loss"] for h in stats["sft"]["history"]]
    assert sum(losses[-5:]) < 0.5 * sum(losses[:5])  # SFT fits its grounded targets
    after_sft = reasoning.measure(reasoning.Explainer(tmp_path / "explainer-sft", settings=s), docs)
    mean = lambda m: sum(v["mean_reward"] * v["clips"] for v in m.values() if isinstance(v, dict))  # noqa: E731
    assert mean(after_sft) > mean(before), (before, after_sft)
    grpo = [r for r in logged if r.get("stage") == "grpo" and "reward" in r]
    assert len(grpo) == 2 and min(float(r["frac_reward_zero_std"]) for r in grpo) < 1.0  # some group had a gradient
    sft_b = load_file(str(tmp_path / "explainer-sft" / "adapter_model.safetensors"))
    final_b = load_file(str(out / "adapter_model.safetensors"))
    assert any((final_b[k] - v).abs().sum() > 0 for k, v in sft_b.items() if "lora_B" in k)  # GRPO moved it
    after = reasoning.measure(reasoning.Explainer(out, settings=s), docs)
    assert mean(after) > mean(before)

    # resumable: the same call again finds both stages' checkpoints and adds no step beyond the budgets
    again = train(docs, lm_store / "models" / "tiny-lm", s, out, base_name="tiny-lm")
    assert "sft" not in again["stages"] and again["grpo"]["resumed"] and again["grpo"]["steps"] == 2
    assert work_dir(out).is_dir()

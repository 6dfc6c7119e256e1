"""The reasoning LM in the pipeline: SFT and GRPO steps change its LoRA adapter, scoring uses the adapter
(its base resolved through the model store, run on CTranslate2), registration ships it, and every report
carries a reasoning text (the template when there is no LM or its text fails a check, which is named)."""

import json
import shutil
from pathlib import Path

import pytest
from safetensors.torch import load_file

from clmer import pipeline
from clmer.config import load_settings
from clmer.explain import reasoning
from tests.conftest import with_local_mlflow

pytestmark = pytest.mark.slow


def test_sft_and_grpo_steps_change_the_adapter_and_scoring_uses_it(trained_demo, tmp_path):
    s = trained_demo["settings"].model_copy(deep=True)
    s.reasoning.sft_steps, s.reasoning.max_steps, s.reasoning.num_generations, s.reasoning.prompts_per_step = 2, 2, 2, 1
    s.reasoning.generate_max_new_tokens, s.reasoning.max_examples, s.reasoning.eval_examples = 16, 8, 2
    s.reasoning.learning_rate = s.reasoning.sft_learning_rate = 1e-2
    train_dir = tmp_path / "train"
    shutil.copytree(trained_demo["work"] / "train", train_dir, ignore=shutil.ignore_patterns("explainer", "reasoning.json"))
    logged = []
    explainer_dir = pipeline.train_reasoning(train_dir, trained_demo["corpus"], trained_demo["features"], s,
                                             log=logged.append)
    adapter = load_file(str(explainer_dir / "adapter_model.safetensors"))
    lora_b = [v for k, v in adapter.items() if "lora_B" in k]
    assert lora_b and any(v.abs().sum() > 0 for v in lora_b)  # LoRA's B starts at zero: the steps moved it
    meta = json.loads((explainer_dir / reasoning.ADAPTER_META).read_text())
    assert meta["base_name"] == "tiny-explainer" and "base_path" not in meta  # named, not a machine path
    assert not (explainer_dir / "model.safetensors").exists()  # the adapter only: never a copy of the LM
    doc = json.loads((train_dir / "reasoning.json").read_text())
    assert doc["stages"] == ["sft", "grpo"] and doc["steps"] == 4 and meta["stages"] == ["sft", "grpo"]
    before = doc["held_out"]["before"]
    assert before["clips"] == 2 and any(k.endswith("_accepted") for k in before) and "seconds_per_report" in before
    assert len(doc["samples"]) == 2 and all(x["template"].startswith("<think>") for x in doc["samples"])
    assert any(r.get("reward") is not None for r in logged) and any(r.get("stage") == "sft" for r in logged)

    from clmer.serving.scoring import Scorer

    scorer = Scorer(train_dir / "model", s)
    assert scorer.explainer_dir == explainer_dir
    row = next(scorer.extract(_jobs(trained_demo, 1)).itertuples())
    out = scorer.explain_row(row)["reasoning"]
    assert out["status"] == "ok" and out["source"] in ("lm", "template") and out["think"]
    assert out["lm"]["model"] == "explainer" and out["lm"]["runtime"] == "ctranslate2-int8"
    assert out["source"] == "lm" or out["rejected"]  # a rejected text names the checks it failed

    # registration logs the explainer's numbers and ships the adapter (a few files, never the LM) with the model
    import mlflow
    from mlflow import MlflowClient

    s = with_local_mlflow(s, tmp_path)
    ev = pipeline.evaluate(train_dir / "model", trained_demo["corpus"], trained_demo["features"], s, tmp_path / "eval")
    reg = pipeline.register(train_dir, ev, trained_demo["corpus"], s)
    metrics = MlflowClient(s.mlflow.tracking_uri).get_run(reg["run_id"]).data.metrics
    assert metrics["explainer/steps"] == 4 and metrics["explainer/seconds_per_step"] > 0
    assert {"explainer/before_clips", "explainer/after_seconds_per_report", "explainer/loss_sft"} <= set(metrics)
    assert any(k.startswith("explainer/after_") and k.endswith("_accepted") for k in metrics)
    mlflow.set_tracking_uri(s.mlflow.tracking_uri)
    local = mlflow.artifacts.download_artifacts(f"{reg['model_uri']}", dst_path=str(tmp_path / "dl"))
    shipped = next(Path(local).rglob(reasoning.ADAPTER_META)).parent
    assert (shipped / "adapter_model.safetensors").exists() and not (shipped / "model.safetensors").exists()


def test_without_an_lm_every_report_carries_the_template(trained_demo):
    from clmer.serving.scoring import Scorer

    scorer = Scorer(trained_demo["model_dir"], trained_demo["settings"])
    assert scorer.explainer_dir is None and not reasoning.enabled(trained_demo["settings"])  # tiny LM: random
    row = next(scorer.extract(_jobs(trained_demo, 1)).itertuples())
    doc = scorer.explain_row(row)
    assert doc["reasoning"]["source"] == "template" and doc["reasoning"]["status"] == "ok"
    assert doc["reasoning"]["answer"] == doc["prediction"]["polarity"]


def test_a_broken_explainer_falls_back_to_the_template(trained_demo, tmp_path):
    from clmer.serving.scoring import Scorer

    scorer = Scorer(trained_demo["model_dir"], trained_demo["settings"])
    broken = tmp_path / "explainer"
    broken.mkdir()
    (broken / "config.json").write_text("{not json")
    scorer.explainer_dir = broken
    row = next(scorer.extract(_jobs(trained_demo, 1)).itertuples())
    doc = scorer.explain_row(row)
    assert doc["reasoning"]["source"] == "template" and "error" in doc["reasoning"]["lm"]
    assert doc["prediction"]["polarity"]


def test_enabled_follows_config(tiny_settings):
    assert reasoning.enabled(load_settings(None, {"reasoning": {"enabled": "off"}})) is False
    assert reasoning.enabled(load_settings(None, {"reasoning": {"enabled": "on"}})) is True
    assert reasoning.enabled(tiny_settings) is False  # auto: the tiny LM has random weights


def _jobs(trained_demo, n):
    from clmer.data.corpus import read_corpus
    from clmer.features.extract import jobs_from_manifest

    c = read_corpus(trained_demo["corpus"])
    return jobs_from_manifest(trained_demo["corpus"], c.manifest.head(n))


def test_a_bf16_checkpoint_is_trained_with_float32_master_weights(tiny_settings, tmp_path):
    """transformers 5 loads a bf16 checkpoint in bf16, where most AdamW updates round to nothing; the
    explainer is loaded in float32 whatever the checkpoint, so every trainable weight moves."""
    import torch
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from clmer.explain.reasoning_train import train
    from clmer.features.encoders import model_ref
    from tests.code.test_reasoning_template import CASES

    base = model_ref("explainer", tiny_settings)
    bf16_dir = tmp_path / "bf16-explainer"
    AutoModelForCausalLM.from_pretrained(str(base.path), dtype=torch.bfloat16).save_pretrained(bf16_dir)
    AutoTokenizer.from_pretrained(str(base.path)).save_pretrained(bf16_dir)
    tokenizer, model, _ = reasoning.load_lm(bf16_dir)
    assert all(p.dtype == torch.float32 for p in model.parameters())
    s = tiny_settings.model_copy(deep=True)
    s.reasoning.sft_steps, s.reasoning.max_steps, s.reasoning.sft_learning_rate = 2, 0, 1e-2
    train(CASES[:2], bf16_dir, s, tmp_path / "adapter", base_name="bf16-explainer")
    adapter = load_file(str(tmp_path / "adapter" / "adapter_model.safetensors"))
    lora_b = [v for k, v in adapter.items() if "lora_B" in k]
    assert lora_b and all(v.abs().sum() > 0 for v in lora_b)

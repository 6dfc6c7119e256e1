"""The reasoning explainer: a few trl GRPO steps on the tiny model change its parameters, its outputs
are parsed, and scoring writes reasoning when the model carries an explainer and says so when not."""

import json
import shutil

import pytest
from safetensors.torch import load_file

from clmer import pipeline
from clmer.explain import reasoning
from clmer.config import load_settings

pytestmark = pytest.mark.slow


def test_grpo_steps_change_the_explainer_and_scoring_uses_it(trained_demo, tmp_path):
    s = trained_demo["settings"].model_copy(deep=True)
    s.reasoning.max_steps, s.reasoning.num_generations, s.reasoning.batch_size = 3, 4, 1
    s.reasoning.max_completion_length, s.reasoning.max_examples = 24, 8
    s.reasoning.learning_rate = 1e-3
    train_dir = tmp_path / "train"
    shutil.copytree(trained_demo["work"] / "train" / "model", train_dir / "model")
    base = s.paths.resolved_model_store() / "tiny-explainer"
    logged = []
    explainer_dir = pipeline.train_reasoning(train_dir, trained_demo["corpus"], trained_demo["features"], s,
                                             log=logged.append, samples=3)
    before = load_file(str(base / "model.safetensors"))
    after = load_file(str(explainer_dir / "model.safetensors"))
    changed = [k for k in before if not (before[k] == after[k]).all()]
    assert changed, "GRPO steps left every parameter as it was"
    doc = json.loads((train_dir / "reasoning.json").read_text())
    rewards = [h["reward"] for h in doc["history"]]
    assert len(rewards) == 3 and doc["steps_per_second"] > 0
    # A reward that varies within groups is what gives a gradient (the length reward does here).
    assert any(h.get("reward_std", h.get("rewards/length_reward/std", 0)) > 0 for h in doc["history"])
    assert len(doc["samples"]) == 3 and all("parsed" in x for x in doc["samples"])
    assert any(r.get("reward") is not None for r in logged)

    from clmer.serving.scoring import Scorer

    scorer = Scorer(train_dir / "model", s)
    assert scorer.explainer_dir == explainer_dir
    row = next(scorer.extract(_jobs(trained_demo, 1)).itertuples())
    out = scorer.explain_row(row)["reasoning"]
    assert out["source"].startswith("explainer") and out["status"] in ("ok", "unparsed")
    assert isinstance(out["text"], str)
    parsed = reasoning.parse(out["text"])
    assert (parsed[0] is not None) == (out["status"] == "ok")


def test_scoring_without_an_explainer_says_so(trained_demo):
    from clmer.serving.scoring import Scorer

    scorer = Scorer(trained_demo["model_dir"], trained_demo["settings"])
    assert scorer.explainer_dir is None
    row = next(scorer.extract(_jobs(trained_demo, 1)).itertuples())
    doc = scorer.explain_row(row)
    assert doc["reasoning"]["status"] == "absent" and "no reasoning explainer" in doc["reasoning"]["think"]
    assert doc["prediction"]["polarity"]  # everything else is still there


def test_a_broken_explainer_fails_softly(trained_demo, tmp_path):
    from clmer.serving.scoring import Scorer

    scorer = Scorer(trained_demo["model_dir"], trained_demo["settings"])
    broken = tmp_path / "explainer"
    broken.mkdir()
    (broken / "config.json").write_text("{not json")
    scorer.explainer_dir = broken
    row = next(scorer.extract(_jobs(trained_demo, 1)).itertuples())
    doc = scorer.explain_row(row)
    assert doc["reasoning"]["status"] == "failed" and doc["prediction"]["polarity"]


def test_enabled_follows_config():
    s = load_settings(None, {"reasoning": {"enabled": "off"}})
    assert reasoning.enabled(s) is False
    s = load_settings(None, {"reasoning": {"enabled": "on"}})
    assert reasoning.enabled(s) is True


def _jobs(trained_demo, n):
    from clmer.data.corpus import read_corpus
    from clmer.features.extract import jobs_from_manifest

    c = read_corpus(trained_demo["corpus"])
    return jobs_from_manifest(trained_demo["corpus"], c.manifest.head(n))

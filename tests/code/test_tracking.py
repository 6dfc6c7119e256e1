"""What reviewers see in MLflow, without training anything: the experiment opens on its runs,
benchmark runs are named per seed and last as long as their training, the fingerprint that stops
re-registering the same model, and the gate's description."""

from __future__ import annotations

import time

import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient

from clmer.config import load_settings
from clmer.serving import registry
from clmer.serving.tracking import EXPERIMENT_TAGS, configure


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return tmp_path_factory.mktemp("mlflow")  # one SQLite store for the module: creating one takes seconds


@pytest.fixture()
def settings(store):
    s = load_settings(None, {"mlflow": {"tracking_uri": f"sqlite:///{store / 'mlflow.db'}",
                                        "artifact_location": str(store / "artifacts"), "experiment": "clmer-test"}})
    yield s
    mlflow.set_tracking_uri(None)


def test_experiment_opens_on_training_runs(settings):
    experiment = configure(settings)
    client = MlflowClient()
    assert client.get_experiment(experiment).tags["mlflow.experimentKind"] == "custom_model_development"
    assert EXPERIMENT_TAGS["mlflow.experimentKind"] == "custom_model_development"

    old = client.create_experiment("made-before")  # an experiment from before the tags existed gets them
    settings.mlflow.experiment = "made-before"
    assert configure(settings) == old
    assert client.get_experiment(old).tags["mlflow.experimentKind"] == "custom_model_development"

    client.set_experiment_tag(old, "mlflow.experimentKind", "genai_development")  # a choice made in the UI stays
    configure(settings)
    assert client.get_experiment(old).tags["mlflow.experimentKind"] == "genai_development"


def test_benchmark_runs_are_named_per_seed_and_cover_training(settings):
    from clmer.benchmark import BenchmarkResult, _log_to_mlflow

    t0 = time.time() - 600
    raw = pd.DataFrame([{"split": "all", "system": "model", "n": 40, "WAR": 0.6 + 0.1 * k, "UAR": 0.5, "seed": k}
                        for k in range(2)])
    result = BenchmarkResult(raw={"in-language": raw},
                             timing={"start": t0, "seed0": (t0, t0 + 200), "seed1": (t0 + 200, t0 + 450)})
    _log_to_mlflow(result, settings, "chsims2", seeds=2)
    runs = {r.info.run_name: r for r in MlflowClient().search_runs([configure(settings)])}
    assert set(runs) == {"benchmark-chsims2", "benchmark-chsims2-seed0", "benchmark-chsims2-seed1"}
    parent, seed1 = runs["benchmark-chsims2"], runs["benchmark-chsims2-seed1"]
    assert seed1.data.tags["mlflow.parentRunId"] == parent.info.run_id
    assert seed1.data.metrics["all/model/WAR"] == pytest.approx(0.7)
    assert (seed1.info.end_time - seed1.info.start_time) == pytest.approx(250_000, abs=1)
    assert parent.info.start_time == int(t0 * 1000) and parent.info.end_time - parent.info.start_time >= 600_000


def _corpus(root, label: str = "0.5"):
    (root / "Raw" / "v1").mkdir(parents=True)
    (root / "Raw" / "v1" / "c1.mp4").write_bytes(b"not really a video")
    (root / "label.csv").write_text(f"video_id,clip_id,text,label,annotation,mode\nv1,c1,hello,{label},Positive,train\n")
    return root


def test_fingerprint_changes_with_data_and_training_config_only(tmp_path, settings):
    corpus = _corpus(tmp_path / "corpus")
    first = registry.training_fingerprint(corpus, settings)
    assert registry.training_fingerprint(corpus, settings) == first  # stable

    moved = settings.model_copy(deep=True)
    moved.paths.runs, moved.models.device, moved.train.device = tmp_path / "elsewhere", "cpu", "cpu"
    assert registry.training_fingerprint(corpus, moved)["digest"] == first["digest"]  # where and on what: same

    lr = settings.model_copy(deep=True)
    lr.train.lr = settings.train.lr * 2
    changed = registry.training_fingerprint(corpus, lr)
    assert changed["config"] != first["config"] and changed["data"] == first["data"]

    other = registry.training_fingerprint(_corpus(tmp_path / "corpus2", "-0.5"), settings)
    assert other["data"] != first["data"] and other["digest"] != first["digest"]


def test_training_run_folder_changes_with_features_and_code(tmp_path, settings, monkeypatch):
    """A finished run in the same folder is reused, so the folder name must change when the code does
    (it once hashed the package version, which stays 0.1.0 across code changes)."""
    from clmer.pipeline import training_run_key

    corpus = _corpus(tmp_path / "corpus")
    features = tmp_path / "features.parquet"
    features.write_bytes(b"table one")
    key = training_run_key(corpus, features, settings)
    assert training_run_key(corpus, features, settings) == key
    monkeypatch.setattr(registry, "code_digest", lambda: "another commit")
    assert training_run_key(corpus, features, settings) != key
    monkeypatch.undo()
    features.write_bytes(b"table two")
    assert training_run_key(corpus, features, settings) != key


def test_version_with_fingerprint_finds_the_matching_version(settings):
    configure(settings)
    client = MlflowClient()
    client.create_registered_model(settings.mlflow.model_name)
    for digest in ("aaa", "bbb"):
        v = client.create_model_version(settings.mlflow.model_name, "file:///nowhere", tags={registry.FINGERPRINT_TAG: digest})
        assert v.version
    assert str(registry.version_with_fingerprint("bbb", settings).version) == "2"
    assert registry.version_with_fingerprint("ccc", settings) is None


def test_description_carries_the_decision_and_numbers():
    text = registry.describe("kept champion v1: challenger does not beat it on WAR and UAR", "test", "demo",
                             {"war": 0.61, "uar": 0.6, "n": 40}, {"war": 0.7, "uar": 0.69, "n": 40}, "1")
    assert text.startswith("**kept champion v1")
    assert "| this version (challenger) | 0.6100 | 0.6000 | 40 |" in text and "| champion v1 | 0.7000 | 0.6900 | 40 |" in text

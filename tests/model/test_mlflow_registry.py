"""MLflow: a training run logs what people review; the champion loads offline in a fresh process
and predicts; a worse run becomes challenger and leaves the champion where it was."""

import json
from pathlib import Path

import mlflow
import pytest
from mlflow import MlflowClient

from clmer import pipeline
from tests.conftest import run_offline, with_local_mlflow

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def registered(trained_demo, tmp_path_factory):
    work = tmp_path_factory.mktemp("mlflow")
    s = with_local_mlflow(trained_demo["settings"], work)
    ev = pipeline.evaluate(trained_demo["model_dir"], trained_demo["corpus"], trained_demo["features"], s, work / "eval")
    first = pipeline.register(trained_demo["work"] / "train", ev, trained_demo["corpus"], s)
    return {"settings": s, "first": first, "work": work, "eval": ev, "train_dir": trained_demo["work"] / "train",
            "corpus_name": trained_demo["corpus"].name}


def test_run_logs_params_metrics_figures_lineage_and_model(registered):
    s, first = registered["settings"], registered["first"]
    mlflow.set_tracking_uri(s.mlflow.tracking_uri)
    client = MlflowClient()
    run = client.get_run(first["run_id"])
    assert run.data.params["train.lr"] == str(s.train.lr) and "fusion.d_model" in run.data.params
    assert not any(k.startswith("paths.home") for k in run.data.params)
    assert "test/all/war" in run.data.metrics and "test/all/majority_war" in run.data.metrics
    assert "test/faithfulness/weight_shapley_spearman" in run.data.metrics
    history = client.get_metric_history(first["run_id"], "warmup/train_ce")
    assert len(history) >= 2 and [m.step for m in history] == sorted(m.step for m in history)
    assert client.get_metric_history(first["run_id"], "rlvr/train_reward")  # the RL stage is named rlvr in history.json
    artifacts = {a.path for a in client.list_artifacts(first["run_id"], "figures")}
    assert {"figures/confusion_all.png", "figures/modality_shares.png", "figures/reward_curves.png"} <= artifacts
    assert {a.path for a in client.list_artifacts(first["run_id"], "evaluation")} >= {"evaluation/evaluation.json"}
    inputs = run.inputs.dataset_inputs
    assert inputs and inputs[0].dataset.digest and inputs[0].tags[0].value == "training"
    assert run.data.tags["corpus.digest"].startswith(inputs[0].dataset.digest)
    model = mlflow.models.get_model_info(first["model_uri"])
    assert model.signature.inputs.input_names()[0] == "video_path"
    assert model.saved_input_example_info is not None
    # what a reviewer sees: a readable name, a duration that covers training, the runs view
    assert run.info.run_name.startswith(f"train-{registered['corpus_name']}-20")
    trained = json.loads((registered["train_dir"] / "model" / "model.json").read_text())["train"]
    assert run.info.start_time == int(trained["started_at"] * 1000)
    assert (run.info.end_time - run.info.start_time) / 1000 >= trained["seconds"]
    assert client.get_experiment(run.info.experiment_id).tags["mlflow.experimentKind"] == "custom_model_development"
    assert run.data.tags["clmer.fingerprint.digest"] and run.data.metrics["train/seconds"] == trained["seconds"]


def test_first_version_is_champion_and_loads_offline_in_a_fresh_process(registered, trained_demo):
    s, first = registered["settings"], registered["first"]
    assert first["promoted"] and first["version"] == "1"
    clip = next((trained_demo["corpus"] / "Raw").rglob("*.mp4"))
    code = f"""
import json, mlflow, pandas as pd
mlflow.set_tracking_uri({s.mlflow.tracking_uri!r})
m = mlflow.pyfunc.load_model("models:/clmer@champion")
out = m.predict(pd.DataFrame({{"video_path": [{str(clip)!r}, "missing.mp4"]}}))
print(json.dumps(out.to_dict(orient="records"), default=str))
"""
    env = {"CLMER_HOME": str(s.paths.home), "CLMER_MODEL_STORE": str(s.paths.model_store),
           "CLMER_FEATURE_STORE": str(registered["work"] / "fs_offline")}
    proc, attempts = run_offline(code, env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert attempts == []  # not even an attempt to reach the network
    rows = json.loads(proc.stdout.strip().splitlines()[-1])
    assert rows[0]["status"] in ("ok", "partial") and rows[0]["polarity"] in ("negative", "neutral", "positive")
    assert abs(rows[0]["p_negative"] + rows[0]["p_neutral"] + rows[0]["p_positive"] - 1) < 1e-5
    assert rows[1]["status"] == "failed" and "does not exist" in rows[1]["error"]


def test_worse_run_becomes_challenger_and_champion_stays(registered, trained_demo, tmp_path):
    s = registered["settings"].model_copy(deep=True)
    s.train.warmup_epochs, s.train.rl_epochs = 0, 0  # an untrained model: worse by construction
    train_dir = tmp_path / "worse"
    model_dir = pipeline.train(trained_demo["corpus"], trained_demo["features"], s, train_dir)
    ev = pipeline.evaluate(model_dir, trained_demo["corpus"], trained_demo["features"], s, tmp_path / "eval")
    second = pipeline.register(train_dir, ev, trained_demo["corpus"], s)
    client = MlflowClient(s.mlflow.tracking_uri)
    assert second["version"] == "2" and not second["promoted"]
    assert str(client.get_model_version_by_alias("clmer", "champion").version) == "1"
    assert str(client.get_model_version_by_alias("clmer", "challenger").version) == "2"
    tags = client.get_model_version("clmer", "2").tags
    assert tags["decision"].startswith("kept champion v1")
    assert {"challenger.war", "challenger.uar", "champion.war", "champion.uar", "eval.split"} <= set(tags)
    assert tags["eval.split"] == "valid"  # models are gated on validation; test is only reported
    assert float(tags["champion.war"]) >= float(tags["challenger.war"]) or float(tags["champion.uar"]) >= float(tags["challenger.uar"])
    description = client.get_model_version("clmer", "2").description
    assert description.startswith("**kept champion v1") and f"| {float(tags['challenger.war']):.4f} |" in description
    assert "| champion v1 |" in description


def test_same_data_code_and_config_register_no_new_version(registered, trained_demo):
    """Registering the first training again (same corpus, code, settings) adds nothing."""
    s = registered["settings"]
    client = MlflowClient(s.mlflow.tracking_uri)
    before = len(client.search_model_versions("name='clmer'"))
    runs_before = len(client.search_runs([registered["first"]["experiment_id"]]))
    again = pipeline.register(trained_demo["work"] / "train", registered["eval"], trained_demo["corpus"], s)
    assert again["unchanged"] and again["version"] == "1" and not again["promoted"]
    assert again["decision"].startswith("unchanged: data, code and config match v1")
    assert len(client.search_model_versions("name='clmer'")) == before
    assert len(client.search_runs([registered["first"]["experiment_id"]])) == runs_before  # no run logged either
    assert client.get_model_version("clmer", "1").description.startswith("**promoted: no champion yet")


def test_a_champion_this_machine_cannot_score_is_replaced_and_the_version_says_why(trained_demo, tmp_path):
    """A champion whose encoders this machine no longer gives (an upgraded extractor) cannot be scored: the gate
    promotes the challenger instead of failing the registration, and names the reason."""
    import shutil

    from clmer.serving.registry import register_and_gate
    from clmer.serving.tracking import log_training_run

    s = with_local_mlflow(trained_demo["settings"], tmp_path / "mlflow")
    corpus = trained_demo["corpus"]
    ev = pipeline.evaluate(trained_demo["model_dir"], corpus, trained_demo["features"], s, tmp_path / "eval")
    old_train = tmp_path / "old-train"
    shutil.copytree(trained_demo["work"] / "train", old_train)
    doc_path = old_train / "model" / "model.json"
    doc = json.loads(doc_path.read_text())
    role = next(iter(doc["encoders"]))
    doc["encoders"][role]["config_hash"] = "0" * 16  # as an older extractor would have recorded it
    doc_path.write_text(json.dumps(doc))
    example = next((corpus / "Raw").rglob("*.mp4"))
    old = log_training_run(old_train, ev, corpus, s, example)
    first = register_and_gate(old["model_uri"], trained_demo["model_dir"], corpus, s)
    assert first["promoted"] and first["version"] == "1"
    second = pipeline.register(trained_demo["work"] / "train", ev, corpus, s)
    assert second["promoted"] and second["version"] == "2"
    assert second["decision"].startswith("promoted: champion v1 cannot be scored on this machine")
    assert role in second["decision"] and second["champion"] is None
    client = MlflowClient(s.mlflow.tracking_uri)
    assert str(client.get_model_version_by_alias("clmer", "champion").version) == "2"
    assert client.get_model_version("clmer", "2").tags["champion.unscoreable"].startswith("the model was trained")


def test_a_line_added_to_the_stored_model_code_is_refused_before_it_runs(registered, tmp_path, monkeypatch):
    """Issue 30 row 2: a writer of the artifact store appends code to the logged model's mlflow_model.py;
    loading the champion refuses it, names the file, and the line never runs."""
    from clmer.serving.signing import ModelIntegrityError

    s = registered["settings"]
    # the pyfunc builds its scorer from the environment's settings: this session's tiny model store
    for key, value in {"CLMER_HOME": s.paths.home, "CLMER_MODEL_STORE": s.paths.model_store,
                       "CLMER_FEATURE_STORE": tmp_path / "features"}.items():
        monkeypatch.setenv(key, str(value))
    stored = sorted(Path(s.mlflow.artifact_location).rglob("mlflow_model.py"))
    assert stored, "the logged model keeps its code in the artifact store"
    marker = tmp_path / "RAN"
    original = {p: p.read_bytes() for p in stored}
    try:
        for p in stored:
            p.write_bytes(original[p] + f"\nopen({str(marker)!r}, 'w').write('x')\n".encode())
        with pytest.raises(ModelIntegrityError, match=r"not the ones registered \(changed: .*mlflow_model.py"):
            pipeline.load_scorer("models:/clmer@champion", s)
        assert not marker.exists()
    finally:
        for p, data in original.items():
            p.write_bytes(data)
    scorer = pipeline.load_scorer("models:/clmer@champion", s)  # as registered: loads
    mlflow.set_tracking_uri(s.mlflow.tracking_uri)
    assert scorer.model_version == str(MlflowClient().get_model_version_by_alias("clmer", "champion").version)

"""Drift monitoring across real servers: a version registered on an MLflow server carries its reference profile;
two score-drop flow runs on a Prefect server (clips like the training ones, then dark, noisy, one-language ones)
leave their artifacts, their MLflow runs with the report's metrics, and a state that says "Drift" for the
second; the drop that makes drift persist starts the nightly deployment early; `clmer status` reads the last
verdict; a nightly after persisting drift registers without promoting.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from tests.conftest import ROOT, flow_env, free_port, running_server, with_local_mlflow

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

DEPLOY = """
import asyncio
from prefect.client.orchestration import get_client

async def main():
    async with get_client() as client:
        flow_id = await client.create_flow_from_name("nightly-retrain")
        print(await client.create_deployment(flow_id=flow_id, name="nightly-retrain",
                                             entrypoint="flows/nightly.py:nightly_retrain"))
asyncio.run(main())
"""


@pytest.fixture(scope="module")
def stack(trained_demo, prefect_api, tmp_path_factory):
    """An MLflow server; the session's demo model registered on it (a copy of its folder: the reference profile
    is written beside the weights); a nightly-retrain deployment; two drops scored by the flow."""
    from clmer import pipeline
    from clmer.ops.prefect_api import PrefectAPI
    from clmer.synthetic.shift import shift_clip

    work, port = tmp_path_factory.mktemp("drift"), free_port()
    s = with_local_mlflow(trained_demo["settings"], work)
    cmd = [str(Path(sys.executable).parent / "mlflow"), "server", "--backend-store-uri", s.mlflow.tracking_uri,
           "--artifacts-destination", s.mlflow.artifact_location, "--host", "127.0.0.1", "--port", str(port),
           "--workers", "1"]
    url = f"http://127.0.0.1:{port}"
    with running_server("mlflow", cmd, dict(os.environ) | {"MLFLOW_ENABLE_TELEMETRY": "false"}, work / "logs", port,
                        f"{url}/health"):
        s.mlflow.tracking_uri = url
        s.reasoning.enabled = "off"
        s.drift.reference_max_clips = 40
        train_dir = work / "train"
        shutil.copytree(Path(trained_demo["model_dir"]).parent, train_dir)
        evaluation = pipeline.evaluate(train_dir / "model", trained_demo["corpus"], trained_demo["features"], s,
                                       work / "eval")
        registration = pipeline.register(train_dir, evaluation, trained_demo["corpus"], s)

        labels = pd.read_csv(trained_demo["corpus"] / "label.csv", dtype={"clip_id": str})
        test = labels[labels["mode"] == "test"]  # clips the model never trained on
        zh = test[test["language"] == "zh"].head(8)
        # the in-distribution drop is spread over the other test clips: eight consecutive ones are a few speakers'
        # runs, not a sample of the training distribution (benchmarks/drift_false_alarms.py: 12.5 % alarms there)
        rest = test.drop(zh.index)
        rest = rest.iloc[np.linspace(0, len(rest) - 1, 8).round().astype(int)]
        assert len(zh) == len(rest) == 8
        drops = {"in": work / "drop_in", "shifted": work / "drop_shifted"}
        for name, rows in (("in", rest), ("shifted", zh)):
            drops[name].mkdir()
            for i, r in enumerate(rows.itertuples()):
                src = trained_demo["corpus"] / "Raw" / r.video_id / f"{r.clip_id}.mp4"
                if name == "in":
                    shutil.copy(src, drops[name] / f"clip_{i}.mp4")
                else:
                    shift_clip(src, drops[name] / f"dark_{i}.mp4", snr_db=0.0, brightness=0.15, seed=i)
        env = flow_env(s, prefect_api, work / "features") | {"MLFLOW_TRACKING_URI": url,
                                                            "MLFLOW_ENABLE_TELEMETRY": "false"}
        deploy = subprocess.run([sys.executable, "-c", DEPLOY], env=env, cwd=ROOT, capture_output=True, text=True,
                                timeout=300)
        assert deploy.returncode == 0, deploy.stderr[-3000:]
        config = work / "drift.yaml"
        config.write_text("drift:\n  on_persist: retrain\n  persist_drops: 1\n  reference_max_clips: 40\n"
                          "reasoning:\n  enabled: 'off'\n")
        outs = {}
        for name in ("in", "shifted"):
            outs[name] = work / f"out_{name}"
            proc = subprocess.run([sys.executable, "-m", "flows.score_drop", str(drops[name]), "--model",
                                   "models:/clmer@champion", "--out", str(outs[name]), "--config", str(config)],
                                  env=env, cwd=ROOT, capture_output=True, text=True, timeout=900)
            assert proc.returncode == 0, proc.stderr[-4000:]
        s.drift.on_persist, s.drift.persist_drops = "hold", 1
        yield {"settings": s, "url": url, "registration": registration, "drops": drops, "outs": outs,
               "api": PrefectAPI(prefect_api["url"], auth_string=""), "work": work, "trained": trained_demo,
               "evaluation": evaluation}


def _drop_runs(stack) -> dict:
    client = MlflowClient(stack["url"])
    exp = client.get_experiment_by_name(stack["settings"].drift.experiment)
    runs = client.search_runs([exp.experiment_id], order_by=["attributes.start_time ASC"])
    return {("in" if r.data.tags["clmer.drop"].endswith("drop_in") else "shifted"): r for r in runs}


def test_the_registered_version_carries_its_reference_profile(stack):
    import mlflow

    s, version = stack["settings"], stack["registration"]["version"]
    mv = MlflowClient(stack["url"]).get_model_version(s.mlflow.model_name, version)
    assert mv.tags["drift.reference.clips"] == str(json.loads(
        (stack["work"] / "train" / "model" / "drift_reference.json").read_text())["n_clips"])
    assert mv.tags["drift.reference"].startswith(mv.tags["drift.reference.clips"] + " clips")
    mlflow.set_tracking_uri(stack["url"])
    local = Path(mlflow.artifacts.download_artifacts(f"models:/{s.mlflow.model_name}/{version}",
                                                     dst_path=str(stack["work"] / "download")))
    profile = json.loads(next(local.rglob("drift_reference.json")).read_text())
    assert profile["n_clips"] == int(mv.tags["drift.reference.clips"]) and profile["vectors"]["vision_embedding"]
    assert sum(v is not None for v in profile["values"]["brightness"]) == profile["n_clips"]


def test_each_drop_has_its_mlflow_run_with_the_reports_numbers(stack):
    runs = _drop_runs(stack)
    assert set(runs) == {"in", "shifted"}
    for name, run in runs.items():
        report = json.loads((stack["outs"][name] / "Test_Supplements" / "drift_report.json").read_text())
        tags, metrics = run.data.tags, run.data.metrics
        assert tags["clmer.model_version"] == stack["registration"]["version"] and tags["clmer.model_name"] == "clmer"
        assert tags["drift.verdict"] == report["verdict"] and report["mlflow_run_id"] == run.info.run_id
        assert metrics["drift/n_clips"] == 8 and "drift/all/brightness/effect" in metrics
        brightness = next(x for x in report["analyses"][0]["statistics"] if x["name"] == "brightness")
        assert metrics["drift/all/brightness/effect"] == pytest.approx(brightness["effect"])
        files = {a.path for a in MlflowClient(stack["url"]).list_artifacts(run.info.run_id, "drift")}
        assert files == {"drift/drift_report.json", "drift/drop_summary.html"}
        assert (stack["outs"][name] / "Test_Supplements" / "drop_summary.html").read_text().count('class="stat"') > 10
    assert runs["shifted"].data.tags["drift.verdict"] == "drift" and "vision" in runs["shifted"].data.tags["drift.moved"]
    assert runs["shifted"].data.metrics["drift/verdict"] == 2 and runs["shifted"].data.metrics["drift/streak"] == 1
    assert runs["in"].data.tags["drift.verdict"] != "drift"


def test_the_flow_runs_show_their_verdict_and_artifacts(stack):
    api, runs = stack["api"], _drop_runs(stack)
    for name, run in runs.items():
        flow_run = api.call(f"/flow_runs/{run.data.tags['prefect.flow_run.id']}")
        keys = {a["key"] for a in api.call("/artifacts/filter", {"artifacts": {"flow_run_id": {"any_": [flow_run["id"]]}}})}
        assert {"drift-summary", "drift-report", "score-drop-summary"} <= keys
        message = flow_run["state"]["message"]
        if name == "shifted":
            assert flow_run["state_type"] == "COMPLETED" and flow_run["state_name"] == "Drift"
            assert message.startswith("drift: ") and "vision" in message and "started early" in message
        else:
            assert flow_run["state_name"] == "Completed" and "; drift " in message
    summary = api.call("/artifacts/filter", {"artifacts": {"key": {"any_": ["drift-summary"]},
                                                           "flow_run_id": {"any_": [runs["shifted"].data.tags[
                                                               "prefect.flow_run.id"]]}}})[0]
    assert summary["data"].startswith("# Drift: ") and "MLflow run" in summary["data"]


def test_persisting_drift_started_the_nightly_early(stack):
    api = stack["api"]
    deployment = api.deployments(["nightly-retrain"])["nightly-retrain"]
    early = api.flow_runs([deployment["id"]])
    assert len(early) == 1 and "clmer-drift" in early[0]["tags"]


def test_status_shows_the_last_verdict(stack):
    from clmer.ops.auth import Auth
    from clmer.ops.status import last_drift

    line = last_drift(stack["url"], stack["settings"].drift.experiment, Auth(False, {}))
    assert line.startswith("drift: ") and "drop_shifted, model v1" in line
    assert last_drift(stack["url"], "no-such-experiment", Auth(False, {})) == "no drop scored yet"


def test_a_nightly_after_persisting_drift_registers_without_promoting(stack):
    from clmer.serving.drift_tracking import hold_reason
    from clmer.serving.registry import register_and_gate

    s = stack["settings"]
    reason = hold_reason(s)
    assert reason.startswith("held: drift persisted over 1 drops scored by champion v1")
    client = MlflowClient(stack["url"])
    client.delete_registered_model_alias(s.mlflow.model_name, "champion")  # the gate alone would now promote
    try:
        out = register_and_gate(stack["registration"]["model_uri"], stack["work"] / "train" / "model",
                                stack["trained"]["corpus"], s, hold=reason)
        assert not out["promoted"] and out["decision"] == f"{reason} (the gate said: promoted: no champion yet)"
        assert client.get_model_version(s.mlflow.model_name, out["version"]).tags["decision"].startswith("held: ")
        assert "champion" not in client.get_registered_model(s.mlflow.model_name).aliases
    finally:
        client.set_registered_model_alias(s.mlflow.model_name, "champion", "1")

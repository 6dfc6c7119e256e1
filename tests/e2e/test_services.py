"""End to end on real servers, all on 127.0.0.1: Prefect server + process worker, MLflow server, moto's
S3 server. Deploys prefect.yaml, runs nightly-retrain on a small demo corpus, drops videos into the
watched folder and an S3 prefix, and checks that scoring ran once per drop and wrote everything."""

import hashlib
import json
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import boto3
import pandas as pd
import pytest
import yaml

from clmer.serving import services
from clmer.config import load_settings
from tests.conftest import free_port

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def _api(url: str, path: str, body: dict) -> list:
    req = urllib.request.Request(f"{url}{path}", data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


def _runs(api: str, deployment_name: str) -> list[dict]:
    deps = _api(api, "/deployments/filter", {"deployments": {"name": {"any_": [deployment_name]}}})
    if not deps:
        return []
    return _api(api, "/flow_runs/filter", {"flow_runs": {"deployment_id": {"any_": [deps[0]["id"]]}}})


def _wait_runs(api: str, deployment: str, n: int, seconds: float) -> list[dict]:
    deadline = time.monotonic() + seconds
    runs = []
    while time.monotonic() < deadline:
        runs = _runs(api, deployment)
        done = [r for r in runs if r["state_type"] in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED")]
        if len(done) >= n and len(done) == len(runs):
            return runs
        time.sleep(2)
    raise AssertionError(f"{deployment}: expected {n} finished runs, got {[(r['name'], r['state_type']) for r in runs]}")


def _digest(out: Path) -> dict:
    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(out.rglob("*"))
            if p.is_file() and ".staging" not in p.parts}


@pytest.fixture(scope="module")
def stack(tiny_home, moto_s3, tmp_path_factory):
    from clmer.synthetic.demo_corpus import make_demo_corpus

    work = tmp_path_factory.mktemp("stack")
    corpus = work / "corpus"
    make_demo_corpus(corpus, n=48, seed=5)
    cfg = {
        "paths": {"home": str(tiny_home), "model_store": str(tiny_home / "models"),
                  "feature_store": str(work / "features"), "runs": str(work / "runs")},
        "models": {"profile": "tiny"},
        "train": {"warmup_epochs": 8, "rl_epochs": 2, "patience": 8},
        "scoring": {"out_dir": str(work / "out"), "settle_seconds": 2.0},
        "serve": {"prefect_port": free_port(), "mlflow_port": free_port(), "run_dir": str(work / "run"),
                  "watch_folders": [str(work / "Test_Data")], "watch_s3": ["s3://clmer-test/drops"],
                  "corpus": str(corpus), "work_pool": "clmer-e2e", "worker_poll_seconds": 1.0,
                  "mlflow_backend_store": f"sqlite:///{work / 'mlflow.db'}", "mlflow_artifacts": str(work / "artifacts")},
    }
    config = work / "clmer.yaml"
    config.write_text(yaml.safe_dump(cfg))
    settings = load_settings(config)
    (work / "Test_Data").mkdir()
    env = {"CLMER_CONFIG": str(config), "PREFECT_HOME": str(work / "prefect"), "CLMER_HOME": str(tiny_home)}
    info = services.serve(settings, extra_env=env)
    api = f"{info['prefect_ui']}/api"
    yield {"settings": settings, "api": api, "work": work, "corpus": corpus, "env": env, "info": info}
    stopped = services.stop(settings)
    assert set(stopped) == {"watcher", "worker", "mlflow", "prefect-server"}
    for name in ("watcher", "worker", "mlflow", "prefect-server"):
        assert not (work / "run" / f"{name}.pid").exists()


def _prefect(stack, *args, timeout=900) -> subprocess.CompletedProcess:
    env = services._env(stack["settings"], stack["env"])
    return subprocess.run([str(Path(sys.executable).parent / "prefect"), *args], env=env, capture_output=True, text=True,
                          timeout=timeout, cwd=services.PROJECT)


def test_nightly_then_drops_scored_once_each(stack):
    s, api, work = stack["settings"], stack["api"], stack["work"]
    # 1. nightly-retrain through the worker, as the cron schedule would run it
    proc = _prefect(stack, "deployment", "run", "nightly-retrain/nightly-retrain", "--watch")
    assert "Completed" in proc.stdout, proc.stdout[-3000:] + proc.stderr[-3000:]
    from mlflow import MlflowClient

    client = MlflowClient(f"http://{s.serve.host}:{s.serve.mlflow_port}")
    champion = client.get_model_version_by_alias("clmer", "champion")
    run = client.get_run(champion.run_id)
    assert run.data.metrics["test/all/war"] > 0 and "decision" in champion.tags
    schedules = _api(api, "/deployments/filter", {"deployments": {"name": {"any_": ["nightly-retrain"]}}})[0]["schedules"]
    assert schedules[0]["schedule"]["cron"] == "0 2 * * *" and schedules[0]["schedule"]["timezone"] == "UTC"

    # 2. a folder drop (two clips and a corrupt file) and an S3 drop (two clips)
    clips = sorted((stack["corpus"] / "Raw").rglob("*.mp4"))[:4]
    drop = work / "Test_Data"
    shutil.copy(clips[0], drop / "clip_a.mp4")
    shutil.copy(clips[1], drop / "clip_b.mp4")
    (drop / "corrupt.mp4").write_bytes(b"\x00" * 4096)
    s3 = boto3.client("s3")
    for c in clips[2:]:
        s3.upload_file(str(c), "clmer-test", f"drops/{c.parent.name}_{c.name}")
    s3.put_object(Bucket="clmer-test", Key="drops/../../escape.mp4", Body=clips[0].read_bytes())  # hostile key
    runs = _wait_runs(api, "score-drop", 2, 420)
    assert len(runs) == 2 and all(r["state_type"] == "COMPLETED" for r in runs), runs
    assert {r["parameters"]["drop"] for r in runs} == {str(drop), "s3://clmer-test/drops"}

    out = Path(s.scoring.out_dir)
    table = pd.read_csv(out / "Test_Results" / "combined_results.csv")
    assert len(table) == 6
    assert table.set_index("file").loc["corrupt.mp4", "status"] == "failed"
    assert table.set_index("file").loc["../../escape.mp4", "error"].startswith("refused")
    ok = table[table["status"] != "failed"]
    assert len(ok) == 4 and set(ok["model_version"].astype(str)) == {str(champion.version)}
    for stem in ok["video_id"]:
        assert (out / "Test_Supplements" / "video_emotion_results" / f"{stem}.json").exists()
        assert (out / "Test_Supplements" / "video_emotion_results" / f"{stem}.html").exists()
    assert len(pd.read_csv(out / "Test_Supplements" / "transcription_results.csv")) == 6
    assert (out / "Test_Supplements" / "transcription_log.txt").read_text().count("\n") == 6
    assert not list(Path(s.scoring.out_dir).parent.glob("escape.mp4"))  # nothing written outside

    # 3. the same drop again (a manual re-run) changes nothing
    before = _digest(out)
    params = json.dumps({"drop": str(drop)})
    proc = _prefect(stack, "deployment", "run", "score-drop/score-drop", "--params", params, "--watch")
    assert "Completed" in proc.stdout, proc.stdout[-2000:]
    assert _digest(out) == before
    time.sleep(s.scoring.settle_seconds + 4)  # the watcher saw nothing new: no further runs
    assert len(_runs(api, "score-drop")) == 3

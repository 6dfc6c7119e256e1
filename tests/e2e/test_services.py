"""End to end on real servers, all on 127.0.0.1, with logins on: Prefect server (basic auth) + process
worker, MLflow server (basic-auth app: admin, the pipeline's writer, a read-only analyst), moto's S3
server. Deploys prefect.yaml, runs nightly-retrain on a small demo corpus, drops videos into the watched
folder and an S3 prefix, and checks that scoring ran once per drop and wrote everything; then stops the
stack in the middle of a drop and checks the next serve scores it, every file once; and that no
password appears in any file the stack wrote."""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import boto3
import pandas as pd
import pytest
import yaml

from clmer.config import load_settings
from clmer.ops import auth, services
from tests.conftest import ROOT, free_port

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

# sentinel secrets: each must appear nowhere the stack writes (logs, outputs, MLflow, Prefect's database)
SECRETS = {auth.PREFECT_AUTH: "clmer:SENTINEL-PREFECT-8d1f0c", auth.WRITER_USER: "clmer-pipeline",
           auth.WRITER_PASSWORD: "SENTINEL-WRITER-4b7e2a", auth.ADMIN_PASSWORD: "SENTINEL-ADMIN-9c3d5e",
           auth.FLASK_KEY: "SENTINEL-FLASK-KEY-6f2a1b", auth.ANALYST_USER: "analyst",
           auth.ANALYST_PASSWORD: "SENTINEL-ANALYST-2e8c4d"}
PASSWORDS = [v for k, v in SECRETS.items() if "SENTINEL" in v] + [SECRETS[auth.PREFECT_AUTH].split(":", 1)[1]]


def _api(stack, path: str, body: dict) -> list:
    req = urllib.request.Request(f"{stack['api']}{path}", data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json", "Authorization": stack["prefect_auth"]})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


def _runs(stack, deployment_name: str) -> list[dict]:
    deps = _api(stack, "/deployments/filter", {"deployments": {"name": {"any_": [deployment_name]}}})
    if not deps:
        return []
    return _api(stack, "/flow_runs/filter", {"flow_runs": {"deployment_id": {"any_": [deps[0]["id"]]}}})


def _wait_runs(stack, deployment: str, n: int, seconds: float) -> list[dict]:
    deadline = time.monotonic() + seconds
    runs = []
    while time.monotonic() < deadline:
        runs = _runs(stack, deployment)
        done = [r for r in runs if r["state_type"] in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED")]
        if len(done) >= n and len(done) == len(runs):
            return runs
        time.sleep(2)
    raise AssertionError(f"{deployment}: expected {n} finished runs, got {[(r['name'], r['state_type']) for r in runs]}")


def _artifacts(stack, run_id: str) -> dict[str, dict]:
    return {a["key"]: a for a in _api(stack, "/artifacts/filter", {"artifacts": {"flow_run_id": {"any_": [run_id]}}})}


def _digest(out: Path) -> dict:
    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(out.rglob("*"))
            if p.is_file() and ".staging" not in p.parts}


@pytest.fixture(scope="module")
def stack(tiny_home, moto_s3, tmp_path_factory):
    from clmer.synthetic.demo_corpus import make_demo_corpus

    work = tmp_path_factory.mktemp("stack")
    corpus = work / "corpus"
    make_demo_corpus(corpus, n=48, seed=5)
    secrets = work / "secrets" / "clmer.env"
    secrets.parent.mkdir()
    secrets.write_text("".join(f"{k}={v}\n" for k, v in SECRETS.items()))
    secrets.chmod(0o600)
    cfg = {
        "paths": {"home": str(tiny_home), "model_store": str(tiny_home / "models"),
                  "feature_store": str(work / "features"), "runs": str(work / "runs")},
        "models": {"profile": "tiny"},
        "train": {"warmup_epochs": 8, "rl_epochs": 2, "patience": 8},
        "scoring": {"out_dir": str(work / "out"), "settle_seconds": 2.0},
        "serve": {"prefect_port": free_port(), "mlflow_port": free_port(), "run_dir": str(work / "run"),
                  "watch_folders": [str(work / "Test_Data")], "watch_s3": ["s3://clmer-test/drops"],
                  "corpus": str(corpus), "work_pool": "clmer-e2e", "worker_poll_seconds": 1.0,
                  "mlflow_backend_store": f"sqlite:///{work / 'mlflow.db'}", "mlflow_artifacts": str(work / "artifacts"),
                  "mlflow_auth_store": f"sqlite:///{work / 'mlflow_auth.db'}", "auth": True,
                  "secrets_file": str(secrets), "drop_run_grace_s": 60},
    }
    config = work / "clmer.yaml"
    config.write_text(yaml.safe_dump(cfg))
    settings = load_settings(config)
    (work / "Test_Data").mkdir()
    env = {"CLMER_CONFIG": str(config), "PREFECT_HOME": str(work / "prefect"), "CLMER_HOME": str(tiny_home),
           "PYTHONPATH": str(ROOT)}
    saved = {k: os.environ.pop(k, None) for k in auth.KNOWN}  # the secrets come from the file alone
    t0 = time.monotonic()
    info = services.serve(settings, extra_env=env)
    print(f"serve with logins: ready in {time.monotonic() - t0:.1f} s, health {info['health_s']}")
    stack = {"settings": settings, "api": info["prefect_api"], "work": work, "corpus": corpus, "env": env,
             "info": info, "config": config, "mlflow": info["mlflow_ui"],
             "prefect_auth": auth.basic_header(*SECRETS[auth.PREFECT_AUTH].split(":", 1))}
    yield stack
    stopped = services.stop(settings)
    assert set(stopped) == {"watcher", "worker", "mlflow", "prefect-server"}
    for name in ("watcher", "worker", "mlflow", "prefect-server"):
        assert not (work / "run" / f"{name}.pid").exists()
    for k, v in saved.items():
        os.environ.pop(k, None)
        if v is not None:
            os.environ[k] = v


def _as(user_key: str, password_key: str):
    """An MLflow client logged in as one of the accounts (MlflowClient reads the two variables)."""
    os.environ["MLFLOW_TRACKING_USERNAME"] = SECRETS[user_key]
    os.environ["MLFLOW_TRACKING_PASSWORD"] = SECRETS[password_key]


def _prefect(stack, *args, timeout=900) -> subprocess.CompletedProcess:
    s = stack["settings"]
    env = services._env(s, stack["env"], auth.resolve(s))
    return subprocess.run([str(Path(sys.executable).parent / "prefect"), *args], env=env, capture_output=True, text=True,
                          timeout=timeout, cwd=services.PROJECT)


def test_unauthenticated_requests_get_401_on_both_servers(stack):
    wrong = auth.basic_header("clmer", "not-the-password")
    for url, body in ((f"{stack['api']}/flow_runs/filter", b"{}"), (f"{stack['mlflow']}/api/2.0/mlflow/experiments/search"
                                                                      "?max_results=5", None)):
        for header in ({}, {"Authorization": wrong}):
            req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"} | header)
            with pytest.raises(urllib.error.HTTPError) as err:
                urllib.request.urlopen(req, timeout=10)
            assert err.value.code == 401, url
    for health in (f"{stack['api']}/health", f"{stack['mlflow']}/health"):  # probes stay open
        assert urllib.request.urlopen(health, timeout=10).status == 200


def test_prefect_ui_asks_its_api_at_a_relative_url(stack):
    """Not at 127.0.0.1 (each teammate's own machine once the stack listens beyond loopback)."""
    with urllib.request.urlopen(f"{stack['info']['prefect_ui']}/ui-settings", timeout=30) as resp:
        assert json.loads(resp.read())["api_url"] == "/api"


def test_mlflow_server_runs_without_the_job_runner(stack):
    """MLflow's job runner (huey consumer processes, ~1.3 GB idle) serves no CLMER job."""
    import psutil

    from clmer.ops import processes

    pid = processes.read_pid(stack["work"] / "run", "mlflow")
    family = [psutil.Process(pid)] + psutil.Process(pid).children(recursive=True)
    commands = [" ".join(p.cmdline()) for p in family]
    assert any("mlflow" in c and "server" in c for c in commands), commands
    assert not any("huey" in c for c in commands), commands


def test_nightly_then_drops_scored_once_each(stack):
    s, work = stack["settings"], stack["work"]
    # 1. nightly-retrain through the worker, as the cron schedule would run it
    proc = _prefect(stack, "deployment", "run", "nightly-retrain/nightly-retrain", "--watch")
    assert "Completed" in proc.stdout, proc.stdout[-3000:] + proc.stderr[-3000:]
    from mlflow import MlflowClient

    _as(auth.WRITER_USER, auth.WRITER_PASSWORD)
    client = MlflowClient(stack["mlflow"])
    champion = client.get_model_version_by_alias("clmer", "champion")
    run = client.get_run(champion.run_id)
    assert run.data.metrics["test/all/war"] > 0 and "decision" in champion.tags
    deployment = _api(stack, "/deployments/filter", {"deployments": {"name": {"any_": ["nightly-retrain"]}}})[0]
    assert deployment["schedules"][0]["schedule"]["cron"] == "0 2 * * *"
    nightly = [r for r in _runs(stack, "nightly-retrain") if r["state_type"] == "COMPLETED"][0]
    gate = _artifacts(stack, nightly["id"])["nightly-gate"]["data"]
    assert "challenger" in gate and f"#/models/clmer/versions/{champion.version}" in gate and champion.run_id in gate

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
    runs = _wait_runs(stack, "score-drop", 2, 420)
    assert len(runs) == 2 and all(r["state_type"] == "COMPLETED" for r in runs), runs
    assert {r["parameters"]["drop"] for r in runs} == {str(drop), "s3://clmer-test/drops"}
    # a drop with failed files says so: Completed, named Partial, with a message; artifacts on every run
    for r in runs:
        assert r["state_name"] == "Partial" and "failed" in r["state"]["message"], r["state"]
        arts = _artifacts(stack, r["id"])
        assert {"score-drop-summary", "score-drop-results"} <= set(arts)
        assert "combined_results.csv" in arts["score-drop-summary"]["data"]
        assert any(row["status"] == "failed" for row in json.loads(arts["score-drop-results"]["data"]))

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
    assert len(_runs(stack, "score-drop")) == 3
    state = json.loads((work / "run" / "watcher_state.json").read_text())
    assert {e["status"] for e in state.values()} == {"done"}


def test_each_server_process_holds_only_its_own_secrets(stack):
    """Issue 30 row 13, on the running stack: the Prefect server has no MLflow password, the MLflow server no
    Prefect login (read from the processes' own environments)."""
    from clmer.ops import processes

    run = stack["work"] / "run"
    for name, absent in (("prefect-server", (auth.WRITER_PASSWORD, auth.ADMIN_PASSWORD)),
                         ("mlflow", (auth.PREFECT_AUTH, auth.WRITER_PASSWORD))):
        pid = processes.running(run, name)
        assert pid, name
        environ = Path(f"/proc/{pid}/environ").read_bytes()
        for key in absent:
            assert SECRETS[key].encode() not in environ, (name, key)


def test_analyst_reads_the_champion_but_cannot_move_it(stack):
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    _as(auth.ANALYST_USER, auth.ANALYST_PASSWORD)
    try:
        client = MlflowClient(stack["mlflow"])
        champion = client.get_model_version_by_alias("clmer", "champion")
        assert client.get_run(champion.run_id).data.metrics
        with pytest.raises(MlflowException) as err:
            client.set_registered_model_alias("clmer", "champion", "1")
        assert "403" in str(err.value) or "PERMISSION_DENIED" in str(err.value)
        with pytest.raises(MlflowException) as err:
            client.create_model_version("clmer", f"runs:/{champion.run_id}/model", champion.run_id)
        assert "403" in str(err.value) or "PERMISSION_DENIED" in str(err.value)
    finally:
        _as(auth.WRITER_USER, auth.WRITER_PASSWORD)
    # and from another process: models:/clmer@champion loads with the analyst's read-only login
    code = "import mlflow; m = mlflow.pyfunc.load_model('models:/clmer@champion'); print('LOADED', type(m).__name__)"
    env = dict(os.environ) | {"MLFLOW_TRACKING_URI": stack["mlflow"], "MLFLOW_TRACKING_USERNAME": SECRETS[auth.ANALYST_USER],
                              "MLFLOW_TRACKING_PASSWORD": SECRETS[auth.ANALYST_PASSWORD], "PYTHONPATH": str(ROOT),
                              "CLMER_HOME": stack["env"]["CLMER_HOME"]}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert "LOADED" in proc.stdout, proc.stderr[-2000:]


def test_scoring_with_a_model_never_registered_says_what_to_do(stack):
    """With logins on, MLflow answers a missing model with 403 or 404: either way one line that says
    what to do, exit 1."""
    clip = next((stack["corpus"] / "Raw").rglob("*.mp4"))
    env = dict(os.environ) | {"PYTHONPATH": str(ROOT), "MLFLOW_TRACKING_URI": stack["mlflow"],
                              "MLFLOW_TRACKING_USERNAME": SECRETS[auth.WRITER_USER],
                              "MLFLOW_TRACKING_PASSWORD": SECRETS[auth.WRITER_PASSWORD]}
    proc = subprocess.run([sys.executable, "-m", "clmer.cli", "--config", str(stack["config"]), "score", str(clip),
                           "--model", "models:/never-registered@champion", "--out", str(stack["work"] / "nope")],
                          env=env, capture_output=True, text=True, timeout=300, cwd=ROOT)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 1 and len(lines) == 1, proc.stderr[-3000:]
    assert "no registered model to use" in lines[0] or "does not exist yet" in lines[0], lines[0]
    assert not any(p in proc.stderr + proc.stdout for p in PASSWORDS)


def test_status_lists_services_champion_nightly_and_last_drop(stack):
    env = dict(os.environ) | {"PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "clmer.cli", "--config", str(stack["config"]), "status"], env=env,
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    assert text.count("pid ") == 4 and "logins: on" in text and "profile: tiny" in text
    assert "champion: clmer v" in text and "nightly-retrain" in text and "Completed" in text and "score-drop" in text


def test_a_drop_in_flight_at_stop_is_scored_after_the_next_serve(stack):
    s, work = stack["settings"], stack["work"]
    drop = work / "Test_Data"
    new = sorted((stack["corpus"] / "Raw").rglob("*.mp4"))[10:18]
    started = time.monotonic()
    for i, clip in enumerate(new):
        shutil.copy(clip, drop / f"late_{i}.mp4")
    known = {r["id"] for r in _runs(stack, "score-drop")}
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        fresh = [r for r in _runs(stack, "score-drop") if r["id"] not in known]
        if fresh and fresh[0]["state_type"] == "RUNNING":
            break
        time.sleep(0.5)
    else:
        raise AssertionError("the new drop never started scoring")
    time.sleep(4)  # in the middle of scoring
    t = time.monotonic()
    services.stop(s)
    stop_s = time.monotonic() - t
    t = time.monotonic()
    info = services.serve(s, extra_env=stack["env"])
    serve_s = time.monotonic() - t
    runs = _runs(stack, "score-drop")
    orphan = [r for r in runs if r["id"] == fresh[0]["id"]][0]
    # the drop gets another run: resent by the recovery, unless the watcher had already queued one (a later
    # file of the drop settled while the first run was scoring); that queued run then does the work
    after = [r for r in runs if r["id"] not in known | {orphan["id"]}]
    assert info["recovered"]["resent"] in ([str(drop)], []) and after, (info["recovered"],
                                                                          [(r["name"], r["state_type"]) for r in runs])
    # crashed either by the worker's own signal handling (when the stop's SIGTERM reached the flow run in
    # time) or by serve's recovery (when it did not): never left RUNNING; the drop is resent in both cases
    message = orphan["state"]["message"] or ""
    assert orphan["state_type"] == "CRASHED" and ("orphaned" in message or "termination signal" in message), message
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        state = json.loads((work / "run" / "watcher_state.json").read_text())
        if state[str(drop)]["status"] == "done":
            break
        time.sleep(1)
    else:
        raise AssertionError(f"the watcher never saw the drop scored: {state}")
    out = Path(s.scoring.out_dir)
    table = pd.read_csv(out / "Test_Results" / "combined_results.csv")
    assert not table.duplicated(["drop", "file"]).any() and len(table) == 6 + len(new)
    assert set(table[table["file"].str.startswith("late_")]["status"]) <= {"ok", "partial"}
    log = (out / "Test_Supplements" / "transcription_log.txt").read_text()
    assert all(log.count(f"/late_{i}.mp4\t") == 1 for i in range(len(new)))  # every file scored once
    time.sleep(s.scoring.settle_seconds + 4)
    assert all(r["state_type"] in ("COMPLETED", "CRASHED") for r in _runs(stack, "score-drop"))
    print(f"in-flight drop: stop {stop_s:.1f} s, serve again {serve_s:.1f} s (recovery included), "
          f"drop scored {time.monotonic() - started:.0f} s after it arrived")


def test_no_password_appears_anywhere_the_stack_wrote(stack):
    """Logs, outputs, run folders, MLflow's store and artifacts, Prefect's database: every file under the
    stack's folder except the secrets file itself."""
    secrets_file = stack["work"] / "secrets" / "clmer.env"
    checked = 0
    for path in stack["work"].rglob("*"):
        if path.is_file() and path != secrets_file:
            data = path.read_bytes()
            checked += 1
            for secret in PASSWORDS:
                assert secret.encode() not in data, (path, secret[:12])
    assert checked > 50
    from mlflow import MlflowClient

    client = MlflowClient(stack["mlflow"])
    for run in client.search_runs([e.experiment_id for e in client.search_experiments()]):
        blob = json.dumps(run.data.params) + json.dumps(run.data.tags)
        assert not any(secret in blob for secret in PASSWORDS)

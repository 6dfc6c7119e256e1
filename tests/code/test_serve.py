"""`clmer serve` before anything starts: ports, logins, secrets files, pid files, restarts on changed
settings, and the watcher that records a drop as done only when its run completed."""

import os
import socket
import subprocess
import sys
import time

import pytest

from clmer.config import load_settings
from clmer.ops import auth, processes, services
from tests.conftest import ROOT

SENTINELS = {auth.PREFECT_AUTH: "pipeline:SENTINEL-PREFECT-1a2b", auth.WRITER_USER: "clmer-pipeline",
             auth.WRITER_PASSWORD: "SENTINEL-WRITER-3c4d", auth.ADMIN_PASSWORD: "SENTINEL-ADMIN-5e6f",
             auth.FLASK_KEY: "SENTINEL-FLASK-7a8b"}


def _settings(tmp_path, **serve):
    return load_settings(None, {"serve": {"run_dir": str(tmp_path / "run")} | serve})


@pytest.fixture
def clean_env(monkeypatch):
    for name in auth.KNOWN + (auth.SECRETS_FILE,):
        monkeypatch.delenv(name, raising=False)


def test_a_taken_port_fails_before_anything_starts_naming_port_and_holder(tmp_path, clean_env):
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        s = _settings(tmp_path, prefect_port=port, mlflow_port=port + 1 if port < 65000 else port - 1)
        with pytest.raises(processes.ServiceError) as err:
            services.serve(s, watcher=False)
    text = str(err.value)
    assert f"port {port}" in text and f"pid {os.getpid()}" in text and "serve.prefect_port" in text
    assert not list((tmp_path / "run").glob("*.pid"))  # nothing was started


def test_non_loopback_without_auth_is_refused_naming_the_settings(tmp_path, clean_env):
    with pytest.raises(auth.AuthError) as err:
        services.serve(_settings(tmp_path, host="0.0.0.0"), watcher=False)
    text = str(err.value)
    assert "serve.auth" in text and all(name in text for name in auth.REQUIRED)
    assert not list((tmp_path / "run").glob("*.pid"))


def test_serve_cli_refuses_an_open_bind_in_one_line(tmp_path, clean_env):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("serve:\n  host: 0.0.0.0\n")
    env = dict(os.environ) | {"PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "clmer.cli", "--config", str(cfg), "serve"], capture_output=True,
                          text=True, env=env, cwd=tmp_path, timeout=120)
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: serve.host=0.0.0.0") and "Traceback" not in proc.stderr + proc.stdout


def test_auth_on_names_exactly_the_missing_secrets(tmp_path, clean_env, monkeypatch):
    monkeypatch.setenv(auth.PREFECT_AUTH, SENTINELS[auth.PREFECT_AUTH])
    with pytest.raises(auth.AuthError) as err:
        auth.resolve(_settings(tmp_path, auth=True))
    text = str(err.value)
    assert auth.PREFECT_AUTH not in text and auth.WRITER_PASSWORD in text and auth.FLASK_KEY in text
    assert "SENTINEL" not in text


def test_secrets_file_must_be_private_and_the_environment_wins(tmp_path, clean_env, monkeypatch):
    path = tmp_path / "secrets.env"
    path.write_text("".join(f"export {k}='{v}'\n" for k, v in SENTINELS.items()) + "# comment\nOTHER=x\n")
    path.chmod(0o644)
    s = _settings(tmp_path, auth=True, secrets_file=str(path))
    with pytest.raises(auth.AuthError, match="chmod 600"):
        auth.resolve(s)
    path.chmod(0o600)
    monkeypatch.setenv(auth.WRITER_USER, "from-env")
    a = auth.resolve(s)
    assert a.enabled and a.secrets[auth.WRITER_USER] == "from-env" and "OTHER" not in a.secrets
    assert a.secrets[auth.ADMIN_PASSWORD] == SENTINELS[auth.ADMIN_PASSWORD]
    assert "SENTINEL" not in repr(a)
    client = a.client_env()
    assert set(client) == {auth.PREFECT_AUTH, auth.WRITER_USER, auth.WRITER_PASSWORD}
    assert a.prefect_server_env() == {auth.PREFECT_SERVER_AUTH: SENTINELS[auth.PREFECT_AUTH]}


def test_clients_never_get_server_secrets(tmp_path, clean_env, monkeypatch):
    for k, v in SENTINELS.items():
        monkeypatch.setenv(k, v)
    s = _settings(tmp_path, auth=True)
    env = services._env(s, None, auth.resolve(s))
    assert auth.ADMIN_PASSWORD not in env and auth.FLASK_KEY not in env and auth.PREFECT_SERVER_AUTH not in env
    assert env[auth.PREFECT_AUTH] == SENTINELS[auth.PREFECT_AUTH] and env["CLMER_PROFILE"] == s.models.profile


def test_links_people_click_use_the_public_urls(tmp_path, clean_env, monkeypatch):
    from clmer.serving.tracking import ui_base

    monkeypatch.delenv("PREFECT_UI_URL", raising=False)
    local = _settings(tmp_path, host="0.0.0.0")
    assert services.public_urls(local) == {"prefect_ui": "http://127.0.0.1:4200", "mlflow_ui": "http://127.0.0.1:5000"}
    assert "PREFECT_UI_URL" not in services._env(local)  # Prefect derives it from PREFECT_API_URL
    s = load_settings(None, {"serve": {"run_dir": str(tmp_path / "run"), "prefect_public_url": "https://prefect.lab/",
                                       "mlflow_public_url": "https://mlflow.lab"},
                             "mlflow": {"tracking_uri": "http://writer:SENTINEL-PW@127.0.0.1:5000"}})
    assert services.public_urls(s) == {"prefect_ui": "https://prefect.lab", "mlflow_ui": "https://mlflow.lab"}
    env = services._env(s)
    assert env["PREFECT_UI_URL"] == "https://prefect.lab" and env["PREFECT_API_URL"] == "http://127.0.0.1:4200/api"
    assert ui_base(s) == "https://mlflow.lab"
    s.serve.mlflow_public_url = None  # the tracking server itself, never its credentials
    assert ui_base(s) == "http://127.0.0.1:5000"
    s.mlflow.tracking_uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert ui_base(s) is None  # a local store has no UI to link to
    s.serve.mlflow_public_url = "https://mlflow.lab"
    assert ui_base(s) is None  # nor does the public server have its runs


def test_health_answered_by_another_process_is_refused_naming_it(tmp_path):
    """A leftover server on the port answers /health; the service this serve started listens nowhere."""
    from tests.conftest import free_port

    port = free_port()
    foreign = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"], cwd=tmp_path,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ours = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        for _ in range(100):
            if processes.port_holder(port):
                break
            time.sleep(0.1)
        with pytest.raises(processes.ServiceError) as err:
            processes.wait_healthy(f"http://127.0.0.1:{port}/", ours.pid, port, 30, "mlflow", tmp_path)
        text = str(err.value)
        assert f"pid {foreign.pid}" in text and f"not from the mlflow this serve started (pid {ours.pid})" in text
        assert f"free port {port}" in text
    finally:
        for p in (foreign, ours):
            p.kill()
            p.wait()


def test_exports_point_the_clis_at_this_stack_without_secrets(tmp_path, clean_env, monkeypatch):
    for k, v in SENTINELS.items():
        monkeypatch.setenv(k, v)
    s = _settings(tmp_path, auth=True, prefect_port=4301, mlflow_port=5001)
    a = auth.resolve(s)
    env = services._env(s, {"PREFECT_HOME": str(tmp_path / "prefect")}, a)
    line = services.exports(s, env, a)
    assert line.startswith(f"export PREFECT_API_URL=http://127.0.0.1:4301/api PREFECT_HOME={tmp_path / 'prefect'} "
                           "MLFLOW_TRACKING_URI=http://127.0.0.1:5001")
    assert auth.PREFECT_AUTH in line and not any(v in line for v in SENTINELS.values())


def test_prefect_ui_asks_its_api_relative_to_where_it_was_opened():
    assert services._prefect_server_env({"PREFECT_API_URL": "http://127.0.0.1:4200/api"})["PREFECT_UI_API_URL"] == "/api"
    assert services._prefect_server_env({"PREFECT_UI_API_URL": "/prefect/api"})["PREFECT_UI_API_URL"] == "/prefect/api"


def test_the_watcher_takes_every_default_from_the_settings(tmp_path, monkeypatch):
    """The systemd unit starts the watcher without serve: its defaults must be the settings', not copies."""
    import yaml

    from flows.watcher import options

    config = tmp_path / "clmer.yaml"
    config.write_text(yaml.safe_dump({"serve": {"watch_folders": ["incoming"], "watch_s3": ["s3://b/in"],
                                                "watch_interval_s": 7.5, "drop_attempts": 5, "drop_run_grace_s": 30,
                                                "run_dir": str(tmp_path / "run")},
                                      "scoring": {"settle_seconds": 11, "out_dir": str(tmp_path / "out")}}))
    monkeypatch.setenv("CLMER_CONFIG", str(config))
    args = options([])
    assert (args.folder, args.s3, args.interval, args.attempts, args.grace, args.settle) == (
        ["incoming"], ["s3://b/in"], 7.5, 5, 30.0, 11.0)
    assert args.state == tmp_path / "run" / "watcher_state.json" and args.exclude == [str(tmp_path / "out")]
    given = options(["--config", str(config), "--s3", "s3://other/x", "--attempts", "2"])
    assert (given.folder, given.s3, given.attempts) == ([], ["s3://other/x"], 2)  # --s3 alone: S3 only
    config.write_text(yaml.safe_dump({"serve": {"watch_folders": [], "watch_s3": []}}))
    with pytest.raises(SystemExit):  # watching nothing is an error, not a silent idle loop
        options(["--config", str(config)])


def test_serve_hands_its_config_file_to_the_services(tmp_path, monkeypatch):
    """`clmer --config F serve`: the worker's flows and the watcher read F (via CLMER_CONFIG)."""
    import yaml
    from typer.testing import CliRunner

    from clmer import pipeline
    from clmer.cli import app

    config = tmp_path / "clmer.yaml"
    config.write_text(yaml.safe_dump({"mlflow": {"model_name": "team-model"}}))
    seen = {}
    monkeypatch.setattr(pipeline, "prepare_profile", lambda cfg: (cfg, "profile: tiny"))
    monkeypatch.setattr(services, "serve", lambda cfg, extra_env=None, **kw: seen.update(env=extra_env, cfg=cfg) or {
        "recovered": {"crashed": [], "resent": []}, "prefect_ui": "u", "mlflow_ui": "m", "auth": False,
        "run_dir": "r", "seconds": 1, "exports": "export X=1"})
    result = CliRunner().invoke(app, ["--config", str(config), "serve", "--no-watcher"])
    assert result.exit_code == 0, result.output
    assert seen["env"] == {"CLMER_CONFIG": str(config.resolve())} and seen["cfg"].mlflow.model_name == "team-model"


def test_pid_files_end_with_a_newline_and_stop_ends_the_whole_family(tmp_path):
    run = tmp_path / "run"
    # a child in a session of its own, as a Prefect worker starts each flow run
    code = ("import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'], "
            "start_new_session=True); time.sleep(60)")
    pid = processes.start("worker", [sys.executable, "-c", code], dict(os.environ), run, tmp_path)
    assert (run / "worker.pid").read_text() == f"{pid}\n"
    import psutil

    deadline = time.monotonic() + 10
    while not psutil.Process(pid).children() and time.monotonic() < deadline:
        time.sleep(0.1)
    child = psutil.Process(pid).children()[0]
    assert processes.stop(run, "worker", timeout=5)
    assert not processes.alive(pid) and not child.is_running() or child.status() == psutil.STATUS_ZOMBIE
    assert not (run / "worker.pid").exists()


def test_changed_settings_restart_the_runners_only(tmp_path):
    run = tmp_path / "run"
    for name in ("worker", "watcher", "mlflow"):
        processes.start(name, [sys.executable, "-c", "import time; time.sleep(60)"], dict(os.environ), run, tmp_path)
    (run / services.STATE).write_text('{"servers": "a", "runners": "b"}\n')
    try:
        assert services._restart_changed(run, {"servers": "a", "runners": "b"}, print) == []
        stopped = services._restart_changed(run, {"servers": "a", "runners": "c"}, print)
        assert sorted(stopped) == ["watcher", "worker"] and processes.running(run, "mlflow")
    finally:
        processes.stop(run, "mlflow", 5)


def test_watcher_marks_a_drop_done_only_when_its_run_completed(tmp_path):
    from flows.watcher import Watcher

    folder = tmp_path / "Test_Data"
    folder.mkdir()
    (folder / "a.mp4").write_bytes(b"1")
    sent, runs, clock = [], [], [1000.0]
    w = Watcher([str(folder)], 0.0, tmp_path / "state.json", emit=lambda *a: sent.append(a),
                runs=lambda uri, since: list(runs), attempts=3, grace=30, clock=lambda: clock[0])
    w.poll(), w.poll()
    assert len(sent) == 1 and w.state[str(folder)]["status"] == "sent"
    runs.append({"state_type": "RUNNING"})
    w.poll()
    assert len(sent) == 1  # still running: wait
    runs[:] = [{"state_type": "CRASHED"}]  # `clmer stop` in the middle of scoring
    w.poll()
    assert len(sent) == 2 and w.state[str(folder)]["attempts"] == 2
    runs[:] = []
    clock[0] += 10
    w.poll()
    assert len(sent) == 2  # no run yet, within the grace time
    clock[0] += 30
    w.poll()
    assert len(sent) == 3  # the event was lost: sent again
    runs[:] = [{"state_type": "COMPLETED"}]
    w.poll()
    restarted = Watcher([str(folder)], 0.0, tmp_path / "state.json", emit=lambda *a: sent.append(a),
                        runs=lambda uri, since: [], clock=lambda: clock[0] + 1000)
    restarted.poll(), restarted.poll()
    assert restarted.state[str(folder)]["status"] == "done" and len(sent) == 3


def test_watcher_gives_up_after_its_attempts(tmp_path):
    from flows.watcher import Watcher

    folder = tmp_path / "d"
    folder.mkdir()
    (folder / "a.mp4").write_bytes(b"1")
    sent = []
    w = Watcher([str(folder)], 0.0, tmp_path / "s.json", emit=lambda *a: sent.append(a),
                runs=lambda uri, since: [{"state_type": "FAILED"}], attempts=2, grace=0)
    for _ in range(6):
        w.poll()
    assert len(sent) == 2 and w.state[str(folder)]["status"] == "gave_up"


class _FakeAPI:
    """The four Prefect REST calls recovery makes, on a list of runs."""

    def __init__(self, runs):
        self.runs, self.states, self.created = runs, {}, []

    def deployments(self, names=None):
        deps = {"score-drop": {"id": "d1", "work_pool_name": "pool"}, "nightly-retrain": {"id": "d2", "work_pool_name": "pool"}}
        return {k: v for k, v in deps.items() if not names or k in names}

    def flow_runs(self, ids, states=None, limit=200):
        return [r for r in self.runs if r["deployment_id"] in ids and (not states or r["state_type"] in states)]

    def set_state(self, run_id, state_type, name, message):
        self.states[run_id] = (state_type, message)
        next(r for r in self.runs if r["id"] == run_id)["state_type"] = state_type

    def create_run(self, deployment_id, parameters, tags=None):
        self.created.append((deployment_id, parameters))


def test_recovery_crashes_orphans_and_resends_only_their_drops():
    from clmer.ops.recovery import recover

    runs = [  # newest first, as the API sorts them
        {"id": "r1", "name": "a", "deployment_id": "d1", "state_type": "RUNNING", "parameters": {"drop": "/in/x"}},
        {"id": "r2", "name": "b", "deployment_id": "d1", "state_type": "COMPLETED", "parameters": {"drop": "/in/y"}},
        {"id": "r3", "name": "c", "deployment_id": "d1", "state_type": "CRASHED", "parameters": {"drop": "/in/y"}},
        {"id": "r4", "name": "d", "deployment_id": "d2", "state_type": "PENDING", "parameters": {"corpus": "/c"}},
        {"id": "r5", "name": "e", "deployment_id": "d1", "state_type": "FAILED", "parameters": {"drop": "/in/z"}},
    ]
    api = _FakeAPI(runs)
    out = recover(api, "pool")
    assert sorted(out["crashed"]) == ["a", "d"] and all("orphaned" in m for _, m in api.states.values())
    assert out["resent"] == ["/in/x"] and api.created == [("d1", {"drop": "/in/x"})]  # y completed later; z failed


def test_each_server_gets_none_of_the_secrets_it_does_not_need():
    """Issue 30 row 13: the Prefect server held the MLflow writer password, the MLflow server the Prefect login."""
    from clmer.ops import auth

    env = {k: f"value-of-{k}" for k in auth.KNOWN + (auth.PREFECT_SERVER_AUTH, auth.REGISTRY_KEY)} | {"PATH": "/bin"}
    prefect = auth.server_env(env, "prefect-server")
    assert not {auth.WRITER_PASSWORD, auth.ANALYST_PASSWORD, auth.ADMIN_PASSWORD, auth.FLASK_KEY, auth.REGISTRY_KEY} & set(prefect)
    mlflow = auth.server_env(env, "mlflow")
    assert not {auth.PREFECT_AUTH, auth.PREFECT_SERVER_AUTH, auth.WRITER_PASSWORD, auth.REGISTRY_KEY} & set(mlflow)
    assert prefect["PATH"] == mlflow["PATH"] == "/bin"

"""The team setup on real servers, on 127.0.0.1: the MLflow server on PostgreSQL (Debian's postgresql,
started here in a temp folder) with its artifacts on the S3 API (moto's server), and feature extraction
on a local Ray cluster through prefect-ray. deployments/README.md says what this covers."""

import glob
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import ROOT, free_port

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def _skip_or_fail(why: str) -> None:
    """CI sets CLMER_REQUIRE_TEAM_SERVERS: there a missing server is a failure, not a skip."""
    if os.environ.get("CLMER_REQUIRE_TEAM_SERVERS"):
        pytest.fail(why)
    pytest.skip(why)


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name) or sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found if isinstance(found, str) else (found[-1] if found else None)


@pytest.fixture(scope="module")
def postgres():
    """A throwaway PostgreSQL server on 127.0.0.1 (as the `postgres` user when we are root: it refuses root)."""
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not initdb or not pg_ctl:
        _skip_or_fail("PostgreSQL is not installed (`make test` installs Debian's postgresql as root)")
    from clmer.scratch import outer_tmp

    # outside a CLMER private temp folder (mode 0700, which an earlier in-process CLI test may have set up):
    # the postgres user must reach it
    base = Path(tempfile.mkdtemp(prefix="clmer-pg-", dir=outer_tmp()))
    data = base / "data"
    as_root = os.geteuid() == 0
    run_as = ["runuser", "-u", "postgres", "--"] if as_root else []
    if as_root:
        shutil.chown(base, "postgres")
    port = free_port()
    subprocess.run(run_as + [initdb, "-D", str(data), "-U", "clmer", "--auth=trust", "-E", "UTF8"], check=True,
                   capture_output=True, timeout=120)
    opts = f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={data}"
    subprocess.run(run_as + [pg_ctl, "-D", str(data), "-o", opts, "-l", str(base / "server.log"), "-w", "start"],
                   check=True, capture_output=True, timeout=120)
    try:
        subprocess.run([_pg_bin("createdb") or "createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "clmer", "mlflow"],
                       check=True, capture_output=True, timeout=60)
        yield {"uri": f"postgresql+psycopg://clmer@127.0.0.1:{port}/mlflow", "port": port}
    finally:
        subprocess.run(run_as + [pg_ctl, "-D", str(data), "-m", "immediate", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def mlflow_on_postgres_and_s3(postgres, moto_s3, tmp_path_factory):
    """mlflow/server.sh, as a team runs it: Postgres backend store, artifacts proxied to S3."""
    from clmer.ops import processes

    run = tmp_path_factory.mktemp("mlflow_team")
    port = free_port()
    env = dict(os.environ) | {"MLFLOW_BACKEND_STORE_URI": postgres["uri"],
                              "MLFLOW_ARTIFACTS_DESTINATION": "s3://clmer-test/mlflow-artifacts",
                              "MLFLOW_S3_ENDPOINT_URL": moto_s3, "MLFLOW_HOST": "127.0.0.1", "MLFLOW_PORT": str(port),
                              "PYTHON": sys.executable}
    t = time.monotonic()
    pid = processes.start("mlflow", ["bash", str(ROOT / "mlflow" / "server.sh")], env, run, ROOT)
    processes.wait_healthy(f"http://127.0.0.1:{port}/health", pid, port, 180, "mlflow", run)
    print(f"MLflow on Postgres + S3 healthy in {time.monotonic() - t:.1f} s")
    yield {"uri": f"http://127.0.0.1:{port}", "postgres": postgres}
    processes.stop(run, "mlflow", 20)


def test_train_register_gate_and_load_the_champion_elsewhere(trained_demo, mlflow_on_postgres_and_s3, tmp_path):
    import boto3

    from clmer import pipeline

    s = trained_demo["settings"].model_copy(deep=True)
    s.mlflow.tracking_uri = mlflow_on_postgres_and_s3["uri"]
    s.mlflow.experiment = "clmer-team"
    ev = pipeline.evaluate(trained_demo["model_dir"], trained_demo["corpus"], trained_demo["features"], s, tmp_path / "ev")
    first = pipeline.register(trained_demo["work"] / "train", ev, trained_demo["corpus"], s)
    again = pipeline.register(trained_demo["work"] / "train", ev, trained_demo["corpus"], s)
    assert again["unchanged"] and again["version"] == "1"  # same data, code and config: nothing new registered
    s2 = s.model_copy(deep=True)
    s2.train.seed += 1  # another config, the same numbers: registered, and the gate keeps the champion
    second = pipeline.register(trained_demo["work"] / "train", ev, trained_demo["corpus"], s2)
    assert first["promoted"] and first["version"] == "1"
    assert not second["promoted"] and second["decision"].startswith("kept champion v1")  # equal is not better
    from mlflow import MlflowClient

    client = MlflowClient(mlflow_on_postgres_and_s3["uri"])
    assert client.get_model_version_by_alias("clmer", "champion").version == "1"
    assert client.get_model_version("clmer", "2").tags["decision"] == second["decision"]
    # the rows are in Postgres, the files in S3
    port = mlflow_on_postgres_and_s3["postgres"]["port"]
    psql = subprocess.run([_pg_bin("psql") or "psql", "-h", "127.0.0.1", "-p", str(port), "-U", "clmer", "-d", "mlflow",
                           "-tAc", "select count(*) from model_versions"], capture_output=True, text=True, timeout=30)
    assert psql.stdout.strip() == "2", psql.stderr
    keys = [o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket="clmer-test", Prefix="mlflow-artifacts/")
            .get("Contents", [])]
    assert any(k.endswith("fusion.safetensors") for k in keys) and any(k.endswith("MLmodel") for k in keys)

    # another process, which knows only the server's address, loads and runs the champion
    clip = next((trained_demo["corpus"] / "Raw").rglob("*.mp4"))
    code = ("import mlflow, pandas as pd; m = mlflow.pyfunc.load_model('models:/clmer@champion'); "
            f"print('STATUS', m.predict(pd.DataFrame({{'video_path': [{str(clip)!r}]}}))['status'].iloc[0])")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}  # artifacts come through the server
    env |= {"MLFLOW_TRACKING_URI": mlflow_on_postgres_and_s3["uri"], "PYTHONPATH": str(ROOT),
            "CLMER_HOME": str(s.paths.home), "CLMER_MODEL_STORE": str(s.paths.model_store),
            "CLMER_FEATURE_STORE": str(tmp_path / "fs")}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert "STATUS ok" in proc.stdout or "STATUS partial" in proc.stdout, proc.stderr[-3000:]


def test_extract_flow_on_a_local_ray_cluster(demo_corpus, tiny_settings, tmp_path, monkeypatch):
    try:
        import prefect_ray  # noqa: F401
    except ImportError:
        _skip_or_fail("extraction on Ray needs `pip install clmer[ray]`")
    import yaml

    from flows import extract as extract_flow_module

    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect"))
    monkeypatch.setenv("PYTHONPATH", str(ROOT))  # Ray's worker processes import flows/ and clmer/ from here
    monkeypatch.delenv("RAY_ADDRESS", raising=False)  # a local cluster, started (and ended) by the task runner
    # Ray turns on token auth and saves the token as ~/.ray/auth_token: a home of the test's own, not the user's
    (tmp_path / "home").mkdir()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    cfg = tmp_path / "clmer.yaml"
    cfg.write_text(yaml.safe_dump(tiny_settings.model_dump(mode="json") | {
        "extract": tiny_settings.extract.model_dump(mode="json") | {"task_runner": "ray", "max_workers": 2, "chunk_size": 4}}))
    t = time.monotonic()
    path = extract_flow_module.extract_on_runner(str(demo_corpus), str(tmp_path / "run"), str(cfg), {})
    frame = pd.read_parquet(path)
    assert len(frame) == 12 and (frame["status"] == "ok").all()
    assert len(list((tmp_path / "run" / "chunks").glob("chunk-*.parquet"))) == 3  # one Ray task per chunk of 4
    print(f"extraction on Ray: 12 clips in {time.monotonic() - t:.1f} s (cluster start included)")

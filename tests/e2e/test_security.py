"""Security: no network at training or scoring, safe model formats only, limits, and credentials (S3
keys and the stack's logins) that never reach outputs, logs or MLflow. The same with a whole stack
running, logins on: tests/e2e/test_services.py."""

import json
import os
import pickle
import shutil
from pathlib import Path

import pytest
import torch

from tests.conftest import run_offline, with_local_mlflow

pytestmark = pytest.mark.slow


def test_training_registering_and_scoring_make_no_network_connection(trained_demo, tmp_path):
    s = trained_demo["settings"]
    clip = next((trained_demo["corpus"] / "Raw").rglob("*.mp4"))
    drop = tmp_path / "drop"
    drop.mkdir()
    shutil.copy(clip, drop / "a.mp4")
    code = f"""
from clmer import pipeline
from clmer.config import load_settings
from clmer.serving.drop_scoring import score_drop
s = load_settings(None, {{"models": {{"profile": "tiny"}}, "train": {{"warmup_epochs": 3, "rl_epochs": 1}},
    "paths": {{"runs": {str(tmp_path / 'runs')!r}}},
    "mlflow": {{"tracking_uri": "sqlite:///{tmp_path / 'mlflow.db'}", "artifact_location": {str(tmp_path / 'art')!r}}}}})
corpus, features = {str(trained_demo['corpus'])!r}, {str(trained_demo['features'])!r}
model_dir = pipeline.train(corpus, features, s, {str(tmp_path / 'train')!r})
ev = pipeline.evaluate(model_dir, corpus, features, s, {str(tmp_path / 'eval')!r})
reg = pipeline.register({str(tmp_path / 'train')!r}, ev, corpus, s)
scorer = pipeline.load_scorer("models:/clmer@champion", s)
print(score_drop({str(drop)!r}, scorer, {str(tmp_path / 'out')!r}, scorer.settings)["status_counts"])
"""
    env = {"CLMER_HOME": str(s.paths.home), "CLMER_MODEL_STORE": str(s.paths.model_store),
           "CLMER_FEATURE_STORE": str(s.paths.feature_store)}
    proc, attempts = run_offline(code, env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert attempts == [], attempts
    assert "ok" in proc.stdout or "partial" in proc.stdout


def test_the_guard_works_and_only_models_pull_uses_the_network(tmp_path):
    code = ("from clmer.features.model_store import ModelStore; from clmer.features.hub_pull import pull; "
            "pull(ModelStore(%r), 'emotion2vec_plus_base', 'audio')" % str(tmp_path))
    proc, attempts = run_offline(code)
    assert proc.returncode != 0 and attempts, "the network guard must see the hub request"
    assert any("huggingface" in a for a in attempts)


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch PWNED_BY_PICKLE",))


def test_models_load_only_from_safe_formats(tiny_home, tmp_path, monkeypatch):
    """A model.pt carrying a pickled payload is refused (weights_only loads), and nothing runs."""
    monkeypatch.chdir(tmp_path)
    evil = tmp_path / "evil-emotion2vec"
    shutil.copytree(tiny_home / "models" / "tiny-emotion2vec", evil)
    with open(evil / "model.pt", "wb") as fh:
        pickle.dump({"weights": _Evil()}, fh)
    with pytest.raises(Exception):
        torch.load(evil / "model.pt", map_location="cpu", weights_only=True)
    from funasr import AutoModel

    try:
        AutoModel(model=str(evil), device="cpu", disable_update=True, log_level="ERROR")
    except Exception:
        pass  # refusing is the right outcome; what matters is that the payload never ran
    assert not (tmp_path / "PWNED_BY_PICKLE").exists()
    # Our own checkpoints are loaded weights-only too.
    from clmer.model.checkpoint import load_checkpoint

    bad = tmp_path / "checkpoint.pt"
    with open(bad, "wb") as fh:
        pickle.dump({"model": _Evil()}, fh)
    with pytest.raises(Exception):
        load_checkpoint(bad)
    assert not (tmp_path / "PWNED_BY_PICKLE").exists()


def test_registered_model_is_code_not_pickle(trained_demo, tmp_path):
    from clmer.serving.tracking import _log_model  # noqa: F401  (the pyfunc is logged from clmer/serving/mlflow_model.py)

    import mlflow

    s = with_local_mlflow(trained_demo["settings"], tmp_path)
    from clmer.serving.tracking import configure

    experiment = configure(s)
    clip = next((trained_demo["corpus"] / "Raw").rglob("*.mp4"))
    with mlflow.start_run(experiment_id=experiment) as run:  # not the default experiment: it writes to ./mlruns
        info = _log_model(trained_demo["model_dir"], clip, run.info.run_id, {})
    local = Path(mlflow.artifacts.download_artifacts(info.model_uri, dst_path=str(tmp_path / "dl")))
    files = {p.name for p in local.rglob("*")}
    assert "mlflow_model.py" in files and "fusion.safetensors" in files
    assert not any(name.endswith((".pkl", ".pickle")) for name in files)


def test_per_file_time_limit_fails_the_file_cleanly(trained_demo, tmp_path):
    from clmer.features.extract import ClipJob, extract_chunk

    s = trained_demo["settings"].model_copy(deep=True)
    s.limits.per_file_timeout_s = 0.0
    s.paths.feature_store = str(tmp_path / "fs")
    clip = next((trained_demo["corpus"] / "Raw").rglob("*.mp4"))
    row = extract_chunk([ClipJob("c", str(clip))], s).iloc[0]
    assert row["status"] == "failed" and "per-file time limit" in row["error"]
    s.limits.max_file_bytes = 10
    row = extract_chunk([ClipJob("c", str(clip))], s).iloc[0]
    assert row["status"] == "failed" and "over the limit" in row["error"]


def test_credentials_never_reach_outputs_logs_or_mlflow(trained_demo, moto_s3, tmp_path, monkeypatch, caplog):
    import boto3

    from clmer import pipeline
    from clmer.serving.drop_scoring import score_drop

    from clmer.config import flatten
    from clmer.ops import auth

    secret = "SENTINEL-SECRET-9f8e7d"
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)  # moto accepts any key
    logins = {auth.PREFECT_AUTH: "clmer:SENTINEL-PREFECT-0a1b2c", auth.WRITER_PASSWORD: "SENTINEL-WRITER-3d4e5f",
              auth.ADMIN_PASSWORD: "SENTINEL-ADMIN-6a7b8c", auth.FLASK_KEY: "SENTINEL-FLASK-9d0e1f",
              auth.ANALYST_PASSWORD: "SENTINEL-ANALYST-2a3b4c"}
    for name, value in logins.items():  # the logins of a team stack, as a worker's environment holds them
        monkeypatch.setenv(name, value)
    secrets = [secret] + [v.split(":", 1)[-1] for v in logins.values()]
    boto3.client("s3").upload_file(str(next((trained_demo["corpus"] / "Raw").rglob("*.mp4"))), "clmer-test", "creds/a.mp4")
    s = with_local_mlflow(trained_demo["settings"], tmp_path)
    ev = pipeline.evaluate(trained_demo["model_dir"], trained_demo["corpus"], trained_demo["features"], s, tmp_path / "ev")
    reg = pipeline.register(trained_demo["work"] / "train", ev, trained_demo["corpus"], s)
    scorer = pipeline.load_scorer(str(trained_demo["model_dir"]), s)
    summary = score_drop("s3://clmer-test/creds", scorer, tmp_path / "out", scorer.settings)
    assert summary["status_counts"]
    from mlflow import MlflowClient

    run = MlflowClient(s.mlflow.tracking_uri).get_run(reg["run_id"])
    version = MlflowClient(s.mlflow.tracking_uri).get_model_version(reg["name"], reg["version"])
    logged = json.dumps(run.data.params) + json.dumps(run.data.tags) + json.dumps(version.tags)
    settings_text = json.dumps(flatten(s), default=str)
    for value in secrets:
        assert value not in logged and value not in settings_text and value not in caplog.text
        for path in tmp_path.rglob("*"):
            if path.is_file():
                assert value.encode() not in path.read_bytes(), path


def test_row5_s3_object_over_the_size_limit_is_never_downloaded_and_downloads_stream(moto_s3, tmp_path):
    """Issue 30 row 5: an object over max_file_bytes was read whole into memory before its size was
    checked. Now the listing's size refuses it unread, and what is downloaded streams to staging."""
    import tracemalloc

    import boto3

    from clmer.config import load_settings
    from clmer.data.files import RefusedInput
    from clmer.serving.drops import DropFile, S3Drop
    from tests.code.test_hostile_drops import by_rel, run
    from tests.helpers import small_video

    clip = small_video(tmp_path / "good.mp4", seconds=1.0)
    s3 = boto3.client("s3")
    big = os.urandom(8 * 1024 * 1024)
    s3.put_object(Bucket="clmer-test", Key="row5/big.mp4", Body=big)
    s3.upload_file(str(clip), "clmer-test", "row5/small.mp4")
    settings = load_settings()
    settings.limits.max_file_bytes = 2 * 1024 * 1024
    fetched = []
    session = boto3._get_default_session()

    def seen(params, **kw):
        fetched.append(params["Key"])

    session.events.register("provide-client-params.s3.GetObject", seen)
    try:
        items = by_rel(run("s3://clmer-test/row5", tmp_path / "out", settings)["plan"])
    finally:
        session.events.unregister("provide-client-params.s3.GetObject", seen)
    assert fetched == ["row5/small.mp4"] and items["small.mp4"].error is None
    assert items["big.mp4"].error == (f"big.mp4: {len(big)} bytes, over the {2 * 1024 * 1024}-byte limit "
                                      "(limits.max_file_bytes); not read")

    drop, staging = S3Drop("s3://clmer-test/row5"), tmp_path / "staging"
    etag = s3.head_object(Bucket="clmer-test", Key="row5/big.mp4")["ETag"].strip('"')
    with pytest.raises(RefusedInput, match="grew past the 2097152-byte limit while downloading"):
        drop.local_path(DropFile("big.mp4", 100, etag), staging, 2 * 1024 * 1024)  # replaced since it was listed
    assert not staging.exists() or not any(staging.iterdir())  # no partial copy left
    tracemalloc.start()
    try:
        path, _ = drop.local_path(DropFile("big.mp4", len(big), etag), staging)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert path.read_bytes() == big and peak < len(big) // 2, peak  # streamed, never whole in memory

"""Credentials in URIs never reach MLflow params or printed output (issue 15 row 11)."""

from __future__ import annotations

import pytest

from clmer.config import load_settings, redact_uri, split_credentials

SECRET = "hunter2-s3cr3t"


@pytest.mark.parametrize("uri", [f"http://alice:{SECRET}@mlflow.example:5000", f"postgresql://bob:{SECRET}@db/mlflow",
                                 f"https://h/p?token={SECRET}&x=1", f"s3://b/p?X-Amz-Signature={SECRET}"])
def test_redact_strips_the_secret(uri):
    assert SECRET not in redact_uri(uri) and "***" in redact_uri(uri)


def test_plain_uris_are_unchanged():
    for uri in ("sqlite:///mlflow/mlflow.db", "http://127.0.0.1:5000", "s3://bucket/prefix", "not a uri"):
        assert redact_uri(uri) == uri


def test_run_params_carry_no_password(monkeypatch):
    from clmer.serving.tracking import run_params

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://alice:{SECRET}@mlflow.example:5000")
    params = run_params(load_settings(None, {"serve": {"mlflow_backend_store": f"postgresql://u:{SECRET}@db/m"}}))
    assert params["mlflow.tracking_uri"] == "http://***@mlflow.example:5000"
    assert not [k for k, v in params.items() if SECRET in str(v)]


def test_configure_moves_http_credentials_out_of_the_uri(monkeypatch):
    """MLflow prints its tracking URI ("View run at ..."): the URI it is given holds no password."""
    import mlflow

    from clmer.serving import tracking

    monkeypatch.delenv("MLFLOW_TRACKING_USERNAME", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_PASSWORD", raising=False)
    monkeypatch.setattr(tracking, "_experiment_id", lambda settings, uri: "0")  # no server to reach
    before = mlflow.get_tracking_uri()
    try:
        tracking.configure(load_settings(None, {"mlflow": {"tracking_uri": f"http://alice:{SECRET}@127.0.0.1:9"}}))
        assert SECRET not in mlflow.get_tracking_uri()
        import os

        assert os.environ["MLFLOW_TRACKING_USERNAME"] == "alice" and os.environ["MLFLOW_TRACKING_PASSWORD"] == SECRET
    finally:
        mlflow.set_tracking_uri(before)
    assert split_credentials("sqlite:///x.db") == ("sqlite:///x.db", None, None)

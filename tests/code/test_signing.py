"""Registered models load only as they were registered (issue 30 row 2): every artifact's sha256 is signed
with the registry key at registration and checked before loading; a changed file, removed tags, another key
or an MLflow URI without a registration are refused with a message that says which and why. A real MLflow
registry (SQLite), no training: the version's files are a small folder."""

from __future__ import annotations

import os
import stat

import mlflow
import pytest
from mlflow import MlflowClient

from clmer import pipeline
from clmer.config import load_settings
from clmer.serving import signing
from clmer.serving.tracking import configure


@pytest.fixture()
def registered(tmp_path, monkeypatch):
    monkeypatch.delenv(signing.KEY_ENV, raising=False)
    s = load_settings(None, {"paths": {"home": str(tmp_path / "home")},
                             "mlflow": {"tracking_uri": f"sqlite:///{tmp_path / 'mlflow.db'}",
                                        "artifact_location": str(tmp_path / "artifacts"), "experiment": "signing"}})
    model = tmp_path / "version_files"
    (model / "code").mkdir(parents=True)
    (model / "MLmodel").write_text("flavors: {}\n")
    (model / "code" / "mlflow_model.py").write_text("print('the registered code')\n")
    configure(s)
    client = MlflowClient()
    client.create_registered_model("clmer")
    version = client.create_model_version("clmer", str(model)).version
    signing.sign_version("clmer", str(version), s, tmp_path / "signing")
    yield {"settings": s, "version": str(version), "files": model, "tmp": tmp_path}
    mlflow.set_tracking_uri(None)


def test_a_signed_version_downloads_and_its_key_file_is_private(registered):
    s = registered["settings"]
    local = signing.verified_download("clmer", registered["version"], s, registered["tmp"] / "dl")
    assert (local / "code" / "mlflow_model.py").read_text() == "print('the registered code')\n"
    key_file = s.paths.home / signing.KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    tags = MlflowClient().get_model_version("clmer", registered["version"]).tags
    assert set(tags) >= {signing.DIGEST_TAG, signing.SIGNATURE_TAG, signing.FILES_TAG}


def test_one_line_added_to_the_stored_code_is_refused_naming_the_file(registered):
    (registered["files"] / "code" / "mlflow_model.py").write_text("print('the registered code')\nimport os\n")
    dest = registered["tmp"] / "dl"
    with pytest.raises(signing.ModelIntegrityError, match=r"not the ones registered \(changed: code/mlflow_model.py\)"):
        signing.verified_download("clmer", registered["version"], registered["settings"], dest)
    assert not dest.exists()  # nothing of the changed copy is left to load


def test_a_new_file_is_refused_too(registered):
    (registered["files"] / "code" / "extra.py").write_text("import os\n")
    with pytest.raises(signing.ModelIntegrityError, match=r"changed: code/extra.py"):
        signing.verified_download("clmer", registered["version"], registered["settings"], registered["tmp"] / "dl")


def test_removed_tags_and_rewritten_digests_are_refused(registered):
    client, v = MlflowClient(), registered["version"]
    client.set_model_version_tag("clmer", v, signing.DIGEST_TAG, "0" * 64)  # a writer rewrites the digest
    with pytest.raises(signing.ModelIntegrityError, match="signature of its artifact digest does not match"):
        signing.verified_download("clmer", v, registered["settings"], registered["tmp"] / "dl")
    client.delete_model_version_tag("clmer", v, signing.DIGEST_TAG)
    with pytest.raises(signing.ModelIntegrityError, match="carries no signed artifact digest"):
        signing.verified_download("clmer", v, registered["settings"], registered["tmp"] / "dl")


def test_another_key_does_not_verify_and_no_key_says_what_to_set(registered, monkeypatch):
    monkeypatch.setenv(signing.KEY_ENV, "a key this registry never used")
    with pytest.raises(signing.ModelIntegrityError, match="does not match this registry key"):
        signing.verified_download("clmer", registered["version"], registered["settings"], registered["tmp"] / "dl")
    monkeypatch.delenv(signing.KEY_ENV)
    os.unlink(registered["settings"].paths.home / signing.KEY_FILE)
    with pytest.raises(signing.ModelIntegrityError, match=f"no registry key to verify it with: set {signing.KEY_ENV}"):
        signing.verified_download("clmer", registered["version"], registered["settings"], registered["tmp"] / "dl")


def test_the_signature_binds_name_and_version():
    digest = "ab" * 32
    assert signing.signature(b"k", "clmer", "1", digest) != signing.signature(b"k", "clmer", "2", digest)
    assert signing.signature(b"k", "clmer", "1", digest) != signing.signature(b"k", "other", "1", digest)


@pytest.mark.parametrize("uri", ["runs:/0123abcd/model", "mlflow-artifacts:/1/abc/artifacts/model", "s3://b/model"])
def test_uris_without_a_registration_are_refused(uri):
    with pytest.raises(ValueError, match="only a registered version"):
        pipeline.load_scorer(uri)

"""Round 3's red-team rows (issue 30), one test per row, named for it: each failed before its fix."""

from __future__ import annotations

import pytest

from tests.code.test_cli import _clmer


@pytest.mark.parametrize("name", [".", "", "..", "../x", ".hidden", "a\\b"])
def test_row4_models_add_refuses_names_that_are_not_one_plain_folder(tmp_path, name):
    home, source = tmp_path / "home", tmp_path / "src"
    store = home / "models"
    (store / "kept").mkdir(parents=True)
    (store / "kept" / "weights.bin").write_bytes(b"w")
    (home / "keep.txt").write_text("parent's data")
    source.mkdir()
    (source / "config.json").write_text("{}")
    out = _clmer(["models", "add", name, str(source), "--role", "text"], tmp_path,
                 CLMER_HOME=str(home), CLMER_MODEL_STORE=str(store))
    assert out.returncode != 0 and "model name" in out.stderr + out.stdout, out.stdout + out.stderr
    assert (store / "kept" / "weights.bin").read_bytes() == b"w" and (home / "keep.txt").exists()


def test_row4_a_plain_org_name_still_goes_in(tmp_path):
    from clmer.features.model_store import ModelStore

    source = tmp_path / "src"
    source.mkdir()
    (source / "config.json").write_text("{}")
    path = ModelStore(tmp_path / "models").add("org/model", source, "text")
    assert path == tmp_path / "models" / "org--model" and (path / "config.json").exists()

"""The CLI: every sub-command has --help; validate's exit code tells usable from unusable."""

import subprocess
import sys

import pytest

from typer.testing import CliRunner

from clmer.cli import app
from tests.helpers import sims_rows, write_mmsa

runner = CliRunner()


def _commands(group=app):
    import typer.main

    click_app = typer.main.get_command(group)
    out = []

    def walk(cmd, path):
        for name, sub in getattr(cmd, "commands", {}).items():
            out.append(path + [name])
            walk(sub, path + [name])

    walk(click_app, [])
    return out


def test_every_subcommand_has_help():
    commands = _commands()
    assert ["validate"] in commands and ["demo-data"] in commands
    for cmd in commands:
        result = runner.invoke(app, cmd + ["--help"])
        assert result.exit_code == 0, (cmd, result.output)
        assert "Usage" in result.output


def test_cli_starts_fast_without_heavy_imports():
    code = "import sys, clmer.cli; bad = [m for m in ('torch', 'mlflow', 'prefect', 'funasr', 'great_expectations', 'transformers') if m in sys.modules]; print(bad)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


def test_validate_passes_demo_and_fails_bad_corpus_naming_all_three(demo_corpus, tmp_path):
    ok = runner.invoke(app, ["validate", str(demo_corpus), "--out", str(tmp_path / "ok")])
    assert ok.exit_code == 0, ok.output
    assert (tmp_path / "ok" / "manifest.parquet").exists()
    assert (tmp_path / "ok" / "data_docs" / "index.html").exists()

    rows = sims_rows() + [
        {"video_id": "v1", "clip_id": "0005", "text": "leak", "label": 0.0, "mode": "test"},
        {"video_id": "v5", "clip_id": "0001", "text": "range", "label": -1.5, "mode": "train"},
        {"video_id": "v6", "clip_id": "0001", "text": "missing", "label": 0.2, "mode": "train"},
    ]
    media_keys = {(r["video_id"], r["clip_id"]) for r in rows} - {("v6", "0001")}
    root = write_mmsa(tmp_path / "bad", rows, media_for=media_keys)
    bad = runner.invoke(app, ["validate", str(root), "--out", str(tmp_path / "badrun")])
    assert bad.exit_code == 1
    out = bad.output
    assert "split leakage" in out and "outside [-1, 1]" in out and "missing media file Raw/v6/0001" in out
    import pandas as pd

    q = pd.read_csv(tmp_path / "badrun" / "quarantine.csv")
    assert {"v1", "v5", "v6"} <= set(q["video_id"])


def _clmer(args, tmp_path, **env):
    import os

    from tests.conftest import ROOT

    full = dict(os.environ) | {"PYTHONPATH": str(ROOT)} | env
    return subprocess.run([sys.executable, "-m", "clmer.cli", *args], capture_output=True, text=True, env=full,
                          cwd=tmp_path, timeout=300)


def test_wrong_paths_fail_in_one_line_naming_the_path(tmp_path):
    (tmp_path / "nolabel" / "Raw").mkdir(parents=True)
    cases = [(["score", "/nope"], "/nope"), (["decode", "/nope"], "/nope"), (["extract", "/nope"], "/nope"),
             (["train", "--corpus", "/nope"], "/nope"), (["train", "--corpus", str(tmp_path / "nolabel")], "no label.csv"),
             (["validate", "/nope"], "/nope")]
    for args, needle in cases:
        proc = _clmer(args, tmp_path)
        assert proc.returncode == 1, (args, proc.stdout, proc.stderr)
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], (args, proc.stderr)
        assert not (tmp_path / "Test_Results").exists()  # nothing written
    debug = _clmer(["--debug", "score", "/nope"], tmp_path)
    assert debug.returncode == 1 and "Traceback" in debug.stderr and "UserError" in debug.stderr


def test_decode_reports_each_bad_file_and_goes_on(tmp_path):
    """Decoded as extraction does (a child process under the time limit): an empty file, a non-media
    file and a good clip give two failed rows naming file and reason, and one decoded row."""
    import pandas as pd

    from tests.helpers import small_video

    raw = tmp_path / "corpus" / "Raw" / "v1"
    raw.mkdir(parents=True)
    small_video(raw / "0001.mp4", seconds=1.0)
    (raw / "0002.mp4").write_bytes(b"")
    (raw / "0003.mp4").write_bytes(b"not a video at all")
    proc = _clmer(["decode", str(tmp_path / "corpus"), "--out", str(tmp_path / "decode.csv")], tmp_path)
    assert proc.returncode == 0, proc.stderr
    table = pd.read_csv(tmp_path / "decode.csv").set_index(pd.Series(["good", "empty", "junk"]))
    assert list(table["status"]) == ["ok", "failed", "failed"]
    assert table.loc["good", "frames"] >= 1
    assert "0002.mp4" in table.loc["empty", "error"] and "zero-byte" in table.loc["empty", "error"]
    assert "0003.mp4" in table.loc["junk", "error"] and "not a media file" in table.loc["junk", "error"]


def test_registry_errors_say_what_to_do():
    from mlflow.exceptions import MlflowException, RestException
    from mlflow.protos.databricks_pb2 import RESOURCE_DOES_NOT_EXIST

    from clmer.cli.errors import one_line

    local = one_line(MlflowException("Registered Model with name=clmer not found", error_code=RESOURCE_DOES_NOT_EXIST))
    assert local.startswith("no registered model to use") and "nightly retrain" in local
    server = one_line(RestException({"error_code": "RESOURCE_DOES_NOT_EXIST",  # what a tracking server answers
                                     "message": "Registered model alias champion not found."}))
    assert server.startswith("no registered model to use")
    refused = one_line(RestException({"error_code": "PERMISSION_DENIED", "message": "Permission denied"}))
    assert "MLFLOW_TRACKING_USERNAME" in refused and "does not exist yet" in refused and "\n" not in refused
    assert one_line(ValueError("x")) == "ValueError: x (run with --debug for the traceback)"


def test_version_and_plain_help():
    from clmer import __version__

    assert runner.invoke(app, ["--version"]).output.strip() == f"clmer {__version__}"
    text = runner.invoke(app, ["serve", "--help"]).output
    assert "--no-no-watcher" not in text and "<bool>" not in text and "--no-watcher" in text


@pytest.mark.slow
def test_scoring_before_any_model_is_registered_says_what_to_do(tmp_path):
    (tmp_path / "drop").mkdir()
    proc = _clmer(["score", str(tmp_path / "drop")], tmp_path, MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path / 'm.db'}")
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: no registered model") and "nightly" in last and "Traceback" not in proc.stderr

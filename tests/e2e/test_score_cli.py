"""`clmer score` as a person runs it: progress per file, a `scored_at` column that matches each
report, readable report names for same-named clips, and the model named in every report."""

from __future__ import annotations

import json
import re
import shutil
from datetime import datetime

import pandas as pd
import pytest
from typer.testing import CliRunner

from clmer.cli import app

pytestmark = pytest.mark.slow


def test_score_shows_progress_and_stamps_every_row(trained_demo, tmp_path, monkeypatch):
    s = trained_demo["settings"]
    for key, value in {"CLMER_HOME": str(s.paths.home), "CLMER_MODEL_STORE": str(s.paths.model_store),
                       "CLMER_FEATURE_STORE": str(s.paths.feature_store)}.items():
        monkeypatch.setenv(key, value)
    clips = sorted((trained_demo["corpus"] / "Raw").rglob("*.mp4"))[:2]
    drop = tmp_path / "Test_Data"
    for folder, clip in zip(("day1", "day2"), clips):
        (drop / folder).mkdir(parents=True)
        shutil.copy(clip, drop / folder / "clip.mp4")
    (drop / "notes.txt").write_text("not a video")
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["score", str(drop), "--model", str(trained_demo["model_dir"]), "--out", str(out)])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("[")]
    shown = [re.fullmatch(r"(\[\d/3\] \S+) \(\d+\.\d s elapsed, (\d) left\)", line) for line in lines]
    assert all(shown), lines  # done / total, the file, the time so far and how many remain
    assert [(m[1], m[2]) for m in shown] == [("[1/3] notes.txt", "2"), ("[2/3] day1/clip.mp4", "1"),
                                             ("[3/3] day2/clip.mp4", "0")]

    table = pd.read_csv(out / "Test_Results" / "combined_results.csv")
    assert list(table.columns)[-1] == "scored_at"
    stamps = {row.file: row.scored_at for row in table.itertuples()}
    assert all(datetime.strptime(v, "%Y-%m-%dT%H:%M:%SZ") for v in stamps.values())
    ok = table[table["status"] != "failed"].set_index("file")
    assert ok.loc["day1/clip.mp4", "video_id"] == "day1__clip" and ok.loc["day2/clip.mp4", "video_id"] == "day2__clip"
    for rel, stem in ok["video_id"].items():
        doc = json.loads((out / "Test_Supplements" / "video_emotion_results" / f"{stem}.json").read_text())
        assert doc["scored_at"] == stamps[rel] and doc["file"] == rel
        assert doc["model"]["uri"] == str(trained_demo["model_dir"]) and doc["model"]["version"] == "local"
        page = (out / "Test_Supplements" / "video_emotion_results" / f"{stem}.html").read_text()
        assert stamps[rel] in page


def test_a_drop_where_nothing_scores_exits_non_zero_and_prints_names_as_plain_text(trained_demo, tmp_path,
                                                                                   monkeypatch):
    s = trained_demo["settings"]
    for key, value in {"CLMER_HOME": str(s.paths.home), "CLMER_MODEL_STORE": str(s.paths.model_store),
                       "CLMER_FEATURE_STORE": str(s.paths.feature_store)}.items():
        monkeypatch.setenv(key, value)
    drop = tmp_path / "drop"
    (drop / "[").mkdir(parents=True)
    hostile = "[/]bad\x1b[31m.mp4"  # folder '[', file ']bad…': rich markup that crashed the printer, and an escape
    (drop / hostile).write_bytes(b"not a video at all" * 10)
    result = CliRunner().invoke(app, ["score", str(drop), "--model", str(trained_demo["model_dir"]),
                                      "--out", str(tmp_path / "out")])
    assert result.exit_code == 1, result.output  # a user (or a script) is told that nothing was scored
    assert "[1/1] [/]bad\\u001b[31m.mp4" in result.output  # the name as typed, its escape made visible
    assert "\x1b" not in result.output and "no file of 1 could be scored" in result.output
    table = pd.read_csv(tmp_path / "out" / "Test_Results" / "combined_results.csv")
    assert list(table["status"]) == ["failed"]  # and the failed row is still written

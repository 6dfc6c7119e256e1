"""The bad-input zoo through `clmer score`: the run completes, every file gets a clear status and
error (or is scored where valid), every good file is scored, and nothing outside the output folder
(and CLMER's own stores and temp folder) is written; nothing outside the drop is read."""

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests import zoo
from tests.conftest import ROOT

pytestmark = pytest.mark.slow

ALLOWED_STATUS = {"ok", "partial", "failed"}


@pytest.fixture(scope="module")
def zoo_run(trained_demo, tmp_path_factory):
    work = tmp_path_factory.mktemp("zoo")
    good = next((trained_demo["corpus"] / "Raw").rglob("*.mp4"))
    kinds = zoo.build(work / "drop", good, work / "outside")
    out, tmp, fs = work / "out", work / "tmp", work / "features"
    tmp.mkdir()
    s = trained_demo["settings"]
    audit = work / "audit.log"
    env = dict(os.environ) | {
        "CLMER_HOME": str(s.paths.home), "CLMER_MODEL_STORE": str(s.paths.model_store), "CLMER_FEATURE_STORE": str(fs),
        "TMPDIR": str(tmp), "MPLCONFIGDIR": str(tmp / "mpl"), "CLMER_AUDIT_LOG": str(audit),
        "PYTHONPATH": os.pathsep.join([str(ROOT / "tests" / "auditguard"), str(ROOT)]),
    }
    proc = subprocess.run([sys.executable, "-m", "clmer.cli", "score", str(work / "drop"), "--model",
                           str(trained_demo["model_dir"]), "--out", str(out)], env=env, capture_output=True,
                          text=True, timeout=1200)
    return {"proc": proc, "kinds": kinds, "work": work, "out": out, "audit": audit, "fs": fs, "tmp": tmp}


def test_the_run_completes_and_every_file_has_a_clear_status(zoo_run):
    proc, kinds, out = zoo_run["proc"], zoo_run["kinds"], zoo_run["out"]
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert len(kinds) >= 20
    table = pd.read_csv(out / "Test_Results" / "combined_results.csv", dtype=str, keep_default_na=False)
    by_file = {f.lstrip("'"): row for f, row in zip(table["file"], table.to_dict("records"))}
    assert len(table) == len(kinds)  # hidden files are not inputs; everything else is one row
    for kind, (rel, expected) in kinds.items():
        row = by_file[rel]
        assert row["status"] in ALLOWED_STATUS, (kind, row)
        if expected == "failed":
            assert row["status"] == "failed" and row["error"], (kind, row)
        elif expected == "partial":
            assert row["status"] == "partial", (kind, row)
        else:
            assert row["status"] in ("ok", "partial") and row["polarity"], (kind, row)
    assert by_file["escape.mp4"]["error"].startswith("refused")
    assert "zero-byte" in by_file["empty.mp4"]["error"] and "truncated or corrupt" in by_file["truncated.mp4"]["error"]
    assert "not a media file" in by_file["random.mp4"]["error"] and "not a video file" in by_file["readme.txt"]["error"]
    assert all(str(zoo_run["work"]) not in e for e in table["error"])  # errors name the file, not our paths
    for r in table.to_dict("records"):
        if r["status"] == "partial":
            assert "partial: no " in r["error"] or "truncated" in r["error"], r
    stems = table.loc[table["status"] != "failed", "video_id"]
    assert stems.is_unique  # four "container.*" files, four reports
    for stem in stems:
        assert (out / "Test_Supplements" / "video_emotion_results" / f"{stem}.json").exists()


def test_csv_cells_cannot_run_as_formulas(zoo_run):
    text = (zoo_run["out"] / "Test_Results" / "combined_results.csv").read_text()
    for line in text.splitlines()[1:]:
        for cell in line.split(","):
            assert not cell.startswith(("=", "+", "@")), line
    assert "'=cmd" in text


def test_nothing_outside_is_written_or_read(zoo_run):
    work = zoo_run["work"]
    allowed = [zoo_run["out"], zoo_run["fs"], zoo_run["tmp"]]
    writes, reads = [], []
    for line in zoo_run["audit"].read_text(encoding="utf-8").splitlines():
        mode, _, path = line.partition("\t")
        (writes if mode == "w" else reads).append(Path(path))
    bad_writes = {p for p in writes if not any(p.is_relative_to(a) for a in allowed) and not str(p).startswith("/dev/")}
    assert bad_writes == set(), sorted(bad_writes)[:10]
    secret = work / "outside" / "secret.mp4"
    assert secret not in reads and (work / "drop" / "escape.mp4") not in reads

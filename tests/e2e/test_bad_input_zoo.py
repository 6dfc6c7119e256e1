"""The bad-input zoo through `clmer score`: the run completes, every file gets a clear status and
error (or is scored where valid), every good file is scored, and nothing outside the output folder
(and CLMER's own stores and temp folder) is written; nothing outside the drop is read."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from clmer.data.safe_csv import read_csv
from tests import zoo
from tests.conftest import ROOT

pytestmark = pytest.mark.slow

ALLOWED_STATUS = {"ok", "partial", "failed"}
DECODE_LIMIT_S = 10  # the zoo's slowest honest file (30 min of video) decodes in about 2 s


@pytest.fixture(scope="module")
def zoo_run(trained_demo, tmp_path_factory):
    work = tmp_path_factory.mktemp("zoo")
    good = next((trained_demo["corpus"] / "Raw").rglob("*.mp4"))
    kinds = zoo.build(work / "drop", good, work / "outside")
    out, tmp, fs = work / "out", work / "tmp", work / "features"
    tmp.mkdir()
    s = trained_demo["settings"]
    audit = work / "audit.log"
    config = work / "limits.yaml"  # a short hard decode limit, so the decoder bomb is stopped quickly
    config.write_text(f"limits:\n  decode_timeout_s: {DECODE_LIMIT_S}\n", encoding="utf-8")
    env = dict(os.environ) | {
        "CLMER_HOME": str(s.paths.home), "CLMER_MODEL_STORE": str(s.paths.model_store), "CLMER_FEATURE_STORE": str(fs),
        "TMPDIR": str(tmp), "MPLCONFIGDIR": str(tmp / "mpl"), "CLMER_AUDIT_LOG": str(audit),
        "PYTHONPATH": os.pathsep.join([str(ROOT / "tests" / "auditguard"), str(ROOT)]), "CLMER_CONFIG": str(config),
    }
    proc = subprocess.run([sys.executable, "-m", "clmer.cli", "score", str(work / "drop"), "--model",
                           str(trained_demo["model_dir"]), "--out", str(out)], env=env, capture_output=True,
                          text=True, timeout=1200)
    return {"proc": proc, "kinds": kinds, "work": work, "out": out, "audit": audit, "fs": fs, "tmp": tmp,
            "home": Path(s.paths.home)}


def test_the_run_completes_and_every_file_has_a_clear_status(zoo_run):
    proc, kinds, out = zoo_run["proc"], zoo_run["kinds"], zoo_run["out"]
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert len(kinds) >= 20
    table = read_csv(out / "Test_Results" / "combined_results.csv")
    by_file = {f: row for f, row in zip(table["file"], table.to_dict("records"))}
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
    for rel in ("loop.mp4", "fifo.mp4", "zero.mp4", "null.mp4"):  # never opened
        if rel in by_file:
            assert by_file[rel]["error"].startswith("refused") and "not a regular file" in by_file[rel]["error"]
    assert "not a media file" in by_file["playlist.mp4"]["error"]
    assert f"time limit of {DECODE_LIMIT_S:.1f} s" in by_file["bomb.avi"]["error"]
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
    import csv
    import unicodedata

    for name in ("Test_Results/combined_results.csv", "Test_Supplements/transcription_results.csv"):
        with open(zoo_run["out"] / name, newline="", encoding="utf-8") as fh:
            for row in list(csv.reader(fh))[1:]:
                for cell in row:
                    assert not unicodedata.normalize("NFKC", cell).lstrip().startswith(("=", "+", "-", "@")), row
    text = (zoo_run["out"] / "Test_Results" / "combined_results.csv").read_text(encoding="utf-8")
    assert "'=cmd" in text and "' =space.mp4" in text and "'＝full.mp4" in text and "''=q.mp4" in text


def test_log_has_one_line_per_file_whatever_the_names(zoo_run):
    lines = (zoo_run["out"] / "Test_Supplements" / "transcription_log.txt").read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(zoo_run["kinds"])
    assert any("new\\nline\\tname.mp4" in line for line in lines)


def test_hung_decode_failed_alone_within_the_limit(zoo_run):
    """The bomb's row says it was stopped at the limit; every other row is as expected (first test)."""
    log = (zoo_run["out"] / "Test_Supplements" / "transcription_log.txt").read_text(encoding="utf-8")
    bomb = [line for line in log.splitlines() if "/bomb.avi\t" in line]
    assert len(bomb) == 1 and "time limit" in bomb[0]


def test_nothing_outside_is_written_or_read(zoo_run):
    work = zoo_run["work"]
    allowed = [zoo_run["out"], zoo_run["fs"], zoo_run["tmp"], zoo_run["home"] / "cache"]  # + CLMER's own cache
    writes, reads = [], []
    for line in zoo_run["audit"].read_text(encoding="utf-8").splitlines():
        mode, _, path = line.partition("\t")
        (writes if mode == "w" else reads).append(Path(path))
    bad_writes = {p for p in writes if not any(p.is_relative_to(a) for a in allowed) and not str(p).startswith("/dev/")}
    assert bad_writes == set(), sorted(bad_writes)[:10]
    secret = work / "outside" / "secret.mp4"
    assert secret not in reads and (work / "drop" / "escape.mp4") not in reads

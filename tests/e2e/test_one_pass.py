"""One clip, one pass (issue 23): scoring a clip reads its file once (the hash rides on its one
decode, whose frames the report reuses), with a fresh and with a warm feature store; and every
output of the clip is rendered from its one record, so the CSV row says what the JSON and the page say."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import pandas as pd
import pytest

from clmer.data import files
from clmer.serving.drop_scoring import score_drop
from clmer.serving.scoring import Scorer

pytestmark = pytest.mark.slow


def _drop_with_one_clip(trained_demo, folder):
    clip = sorted((trained_demo["corpus"] / "Raw").rglob("*.mp4"))[0]
    folder.mkdir(parents=True)
    return shutil.copy(clip, folder / "new clip.mp4")


def _scorer(trained_demo, store) -> Scorer:
    settings = trained_demo["settings"].model_copy(deep=True)
    settings.paths.feature_store = str(store)
    return Scorer(trained_demo["model_dir"], settings)


def test_scoring_one_clip_reads_its_file_at_most_twice_over_fresh_and_warm(trained_demo, tmp_path, monkeypatch):
    """Counted where every read of a media file goes: the parent's preads (planning, hashing) are
    wrapped here, the decoding child's come back with its decode and land in the clip's record."""
    clip = _drop_with_one_clip(trained_demo, tmp_path / "drop")
    size = clip.stat().st_size
    here = []
    real = files.os.pread
    monkeypatch.setattr(files.os, "pread", lambda fd, n, off: here.append(len(data := real(fd, n, off))) or data)
    for case in ("fresh", "warm"):  # the same feature store: empty, then filled by the first run
        scorer = _scorer(trained_demo, tmp_path / "features")
        records = []
        score = scorer.score
        scorer.score = lambda *a, **kw: (records.append(r) or r for r in score(*a, **kw))
        summary = score_drop(str(tmp_path / "drop"), scorer, tmp_path / f"out-{case}", scorer.settings)
        assert summary["scored"] == 1 and summary["status_counts"].get("failed", 0) == 0, summary
        (rec,) = records
        read = sum(here) + rec.provenance.bytes_read
        assert size <= read <= 2 * size, f"{case}: {read} bytes read of a {size}-byte clip"
        assert sum(here) == 0  # planned without reading it; the one read is the decode's, in the child
        assert rec.frames == {} and rec.key_frames  # its key frames came from that decode and were written
        assert (rec.provenance.computed == []) == (case == "warm")  # warm: every feature from the store
        here.clear()


def test_the_csv_row_says_what_the_json_and_the_page_say(trained_demo, tmp_path):
    clip = _drop_with_one_clip(trained_demo, tmp_path / "drop")
    shutil.copy(sorted((trained_demo["corpus"] / "Raw").rglob("*.mp4"))[1], clip.parent / "other.mp4")
    scorer = _scorer(trained_demo, trained_demo["settings"].paths.feature_store)
    score_drop(str(tmp_path / "drop"), scorer, tmp_path / "out", scorer.settings)
    table = pd.read_csv(tmp_path / "out" / "Test_Results" / "combined_results.csv")
    assert {"weight_text", "weight_audio", "weight_vision"} <= set(table.columns)
    for row in table.itertuples():
        assert row.status == "ok", row.error
        stem = tmp_path / "out" / "Test_Supplements" / "video_emotion_results" / row.video_id
        doc = json.loads(stem.with_suffix(".json").read_text(encoding="utf-8"))
        weights = doc.get("modality_weights") or doc["fusion_weights"]
        for m in ("text", "audio", "vision"):
            assert getattr(row, f"share_{m}") == pytest.approx(doc["modality_shares"][m], abs=1e-6)
            assert getattr(row, f"weight_{m}") == pytest.approx(weights[m], abs=1e-6)
        p = doc["prediction"]
        assert row.polarity == p["polarity"] and row.confidence == pytest.approx(p["confidence"], abs=1e-6)
        for c in ("negative", "neutral", "positive"):
            assert getattr(row, f"p_{c}") == pytest.approx(p["probabilities"][c], abs=1e-6)
        assert row.scored_at == doc["scored_at"] and row.transcript == doc["transcript"]
        page = stem.with_suffix(".html").read_text(encoding="utf-8")
        assert row.scored_at in page and row.polarity in page


_READ = re.compile(r"^\d+\s+(?:read|pread64|readv|preadv|preadv2)\(\d+<(?P<path>[^>]*)>.*\)\s+=\s+(?P<n>\d+)")


@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace")
def test_clmer_score_reads_a_clip_once_as_the_system_calls_say(trained_demo, tmp_path):
    """The same, measured from outside: every read system call of `clmer score` and its children on
    a descriptor of the clip (strace -f -y names each descriptor's file), fresh and warm store."""
    clip = _drop_with_one_clip(trained_demo, tmp_path / "drop")
    s = trained_demo["settings"]
    env = dict(os.environ, CLMER_HOME=str(s.paths.home), CLMER_MODEL_STORE=str(s.paths.model_store),
               CLMER_FEATURE_STORE=str(tmp_path / "features"), CLMER_PROFILE="tiny")
    for case in ("fresh", "warm"):
        trace = tmp_path / f"trace-{case}.txt"
        cmd = ["strace", "-f", "--seccomp-bpf", "-y", "-qq", "-s", "0", "-o", str(trace),
               "-e", "trace=read,pread64,readv,preadv,preadv2", sys.executable, "-m", "clmer.cli", "score", str(clip),
               "--model", str(trained_demo["model_dir"]), "--out", str(tmp_path / f"out-{case}")]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        target = os.path.realpath(clip)
        read = sum(int(m.group("n")) for line in trace.read_text(errors="replace").splitlines()
                   if (m := _READ.match(line)) and m.group("path") == target)
        assert clip.stat().st_size <= read <= 2 * clip.stat().st_size, f"{case}: {read} bytes"

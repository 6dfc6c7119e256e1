"""SIGKILL the score_drop and extract flows at random points, several times; the next run finishes
the work and the outputs are complete, not duplicated and not torn."""

import json
import os
import random
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import ROOT, flow_env

pytestmark = [pytest.mark.slow, pytest.mark.e2e]
KILLS = 4


def _kill_at_random(cmd: list[str], env: dict, rng: random.Random, low: float, high: float) -> float:
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    delay = rng.uniform(low, high)
    try:
        proc.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    return delay


def _check_not_torn(out: Path) -> None:
    """Whatever exists parses, and the marker only names files that have a row."""
    results = out / "Test_Results" / "combined_results.csv"
    if results.exists():
        table = pd.read_csv(results, dtype=str, keep_default_na=False)
        assert not table.duplicated(["drop", "file"]).any()
        marker = out / "Test_Results" / ".clmer_processed.json"
        if marker.exists():
            marked = {k.rsplit("/", 1)[-1] for k in json.loads(marker.read_text())}
            assert marked <= set(table["file"].str.rsplit("/", n=1).str[-1])
    for path in (out / "Test_Supplements" / "video_emotion_results").glob("*.json"):
        json.loads(path.read_text(encoding="utf-8"))


def test_score_drop_survives_sigkill(trained_demo, prefect_api, tmp_path):
    rng = random.Random(7)
    drop = tmp_path / "drop"
    drop.mkdir()
    for i, clip in enumerate(sorted((trained_demo["corpus"] / "Raw").rglob("*.mp4"))[:10]):
        shutil.copy(clip, drop / f"clip_{i:02d}.mp4")
    (drop / "broken.mp4").write_bytes(b"\x00" * 100)
    env = flow_env(trained_demo["settings"], prefect_api, tmp_path / "features")
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "flows.score_drop", str(drop), "--model", str(trained_demo["model_dir"]), "--out", str(out)]
    delays = []
    for _ in range(KILLS):
        delays.append(_kill_at_random(cmd, env, rng, 3.0, 25.0))
        _check_not_torn(out)
    final = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert final.returncode == 0, final.stderr[-3000:]
    _check_not_torn(out)

    reference = tmp_path / "reference"
    ref = subprocess.run([sys.executable, "-m", "clmer.cli", "score", str(drop), "--model", str(trained_demo["model_dir"]),
                          "--out", str(reference)], env=env, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert ref.returncode == 0, ref.stderr[-3000:]
    cols = ["file", "status", "polarity", "p_negative", "p_neutral", "p_positive", "share_text", "share_audio", "share_vision"]
    got = pd.read_csv(out / "Test_Results" / "combined_results.csv").sort_values("file")[cols].reset_index(drop=True)
    want = pd.read_csv(reference / "Test_Results" / "combined_results.csv").sort_values("file")[cols].reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want, check_exact=False, atol=1e-6)
    assert len(got) == 11  # nothing lost, nothing twice
    names = lambda d: sorted(p.name for p in (d / "Test_Supplements" / "video_emotion_results").glob("*.json"))
    assert names(out) == names(reference) and len(names(out)) == 10
    print(f"score_drop killed {KILLS} times at {[round(d, 1) for d in delays]} s")


def test_extract_flow_survives_sigkill(trained_demo, prefect_api, tmp_path):
    from clmer.features.feature_store import FeatureStore

    rng = random.Random(11)
    corpus = tmp_path / "corpus"
    from clmer.synthetic.demo_corpus import make_demo_corpus

    make_demo_corpus(corpus, n=24, seed=21)
    store_dir = tmp_path / "features"
    env = flow_env(trained_demo["settings"], prefect_api, store_dir)
    cmd = [sys.executable, "-m", "flows.extract", str(corpus), "--out", str(tmp_path / "run"), "--profile", "tiny"]
    for _ in range(KILLS):
        _kill_at_random(cmd, env, rng, 3.0, 20.0)
        store = FeatureStore(store_dir)
        for rel in store.backend.list("records", ".json"):  # every committed record is whole
            key = "/".join(rel.split("/")[2:4]).removesuffix(".json")
            store.get(key)
    final = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert final.returncode == 0, final.stderr[-3000:]
    frame = pd.read_parquet(tmp_path / "run" / "features.parquet")
    assert len(frame) == 24 and frame["error"].fillna("").eq("").all() and frame["warnings"].fillna("").eq("").all()
    # The tiny profile's whisper is random: where it hears nothing the text is missing, and only then.
    partial = frame[frame["status"] != "ok"]
    assert (partial["status"] == "partial").all() and (partial["missing"] == "text").all()
    assert partial["transcript"].fillna("").eq("").all()
    index = FeatureStore(store_dir).rebuild_index()
    # 24 clips x asr/text/audio/vision (the transcript is a record of its own), none twice
    assert index["key"].is_unique and index.groupby("extractor")["sha256"].nunique().to_dict() == {
        "asr": 24, "text": 24, "audio": 24, "vision": 24}
    assert len(index) == 96

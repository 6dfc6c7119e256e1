"""Nothing is left in the temp folder or the user's home by a demo-data + validate + score run,
nor by creating an MLflow store (issue 15: espeak folders per clip, GX docs folders per validation,
MLflow's db_init_lock, onnxruntime's ~/.cache/Microsoft, jieba's cache, torch's inductor folder)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow


def _entries(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.fixture
def short_tmp():
    """A temp folder with a short path: Unix sockets made inside it must stay under 108 bytes."""
    import tempfile

    path = tempfile.mkdtemp(prefix="leak-")
    yield Path(path)
    shutil.rmtree(path, ignore_errors=True)


def test_demo_validate_score_leave_no_temp_entries(trained_demo, tmp_path, short_tmp):
    s = trained_demo["settings"]
    tmp, home, work = short_tmp, tmp_path / "home", tmp_path / "work"
    for d in (home, work):
        d.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("XDG_CACHE_HOME", "MPLCONFIGDIR")} | {
        "TMPDIR": str(tmp), "HOME": str(home), "CLMER_HOME": str(work / "clmer_home"),
        "CLMER_MODEL_STORE": str(s.paths.model_store), "CLMER_FEATURE_STORE": str(work / "features"),
        "CLMER_PROFILE": "tiny", "PYTHONPATH": str(ROOT)}
    before = {"tmp": _entries(tmp), "home": _entries(home)}
    corpus, drop = work / "corpus", work / "drop"
    clmer = [sys.executable, "-m", "clmer.cli"]
    steps = [clmer + ["demo-data", str(corpus), "--n", "4", "--seed", "5"],
             clmer + ["validate", str(corpus), "--out", str(work / "validate")],
             clmer + ["score", str(drop), "--model", str(trained_demo["model_dir"]), "--out", str(work / "out")],
             [sys.executable, "-c", "from clmer.scratch import use_private_tmp; use_private_tmp()\n"
              "from clmer.config import load_settings; from clmer.serving.tracking import configure\n"
              f"configure(load_settings(None, {{'mlflow': {{'tracking_uri': 'sqlite:///{work}/mlflow.db', "
              f"'artifact_location': '{work}/artifacts'}}}}))"]]
    for i, cmd in enumerate(steps):
        if i == 2:
            drop.mkdir()
            for clip in sorted((corpus / "Raw").rglob("*.mp4"))[:2]:
                shutil.copy(clip, drop / f"{clip.parent.name}_{clip.name}")
        proc = subprocess.run(cmd, env=env, cwd=work, capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, (cmd[3:5], proc.stdout[-2000:], proc.stderr[-3000:])
    after = {"tmp": _entries(tmp), "home": _entries(home)}
    print(f"temp entries before/after: tmp {len(before['tmp'])}/{len(after['tmp'])}, "
          f"home {len(before['home'])}/{len(after['home'])}")
    assert after == before == {"tmp": [], "home": []}, after
    assert (work / "out" / "Test_Results" / "combined_results.csv").exists()

"""Each CLMER process's private temp folder: shared with the children it starts, never with a process whose
caller pointed TMPDIR elsewhere (native libraries read TMPDIR, Python reads tempfile.tempdir)."""

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

SHOW = ("import os, tempfile; from clmer.scratch import use_private_tmp; p = use_private_tmp(); "
        "print(p); print(os.environ['TMPDIR']); print(tempfile.gettempdir())")


def _run(env: dict) -> list[str]:
    proc = subprocess.run([sys.executable, "-c", SHOW], env=env | {"PYTHONPATH": str(ROOT)}, capture_output=True,
                          text=True, timeout=120, check=True)
    return proc.stdout.split()


def test_a_caller_that_moved_tmpdir_gets_a_folder_inside_it(tmp_path):
    stale, fresh = tmp_path / "clmer-1", tmp_path / "fresh"
    stale.mkdir()
    fresh.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLMER_")}
    private, tmpdir, python_tmp = _run(env | {"CLMER_PRIVATE_TMP": str(stale), "TMPDIR": str(fresh)})
    assert Path(private).parent == fresh and private == tmpdir == python_tmp
    assert not Path(private).exists()  # removed when that process ended
    assert list(fresh.iterdir()) == []


def test_a_child_of_a_clmer_process_shares_its_folder(tmp_path):
    parent = tmp_path / "clmer-2"
    parent.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLMER_")}
    private, tmpdir, python_tmp = _run(env | {"CLMER_PRIVATE_TMP": str(parent), "TMPDIR": str(parent)})
    assert private == tmpdir == python_tmp == str(parent)
    assert parent.is_dir()  # the parent cleans its own folder, not the child

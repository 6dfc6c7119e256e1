"""Where a CLMER process and the libraries it loads put their scratch files: nowhere they outlive it.

Libraries write into the temp folder and the user's home as a side effect of being used: MLflow a
`db_init_lock-*` file, jieba its dictionary cache, torch an inductor folder, onnxruntime (imported
by faster-whisper's voice detector) a `.ses` session file and a device id under
`$XDG_CACHE_HOME/Microsoft`. `use_private_tmp()` gives the process (and every child it starts) its
own temp folder, `clmer-<pid>` inside the usual one, removed when the process exits; a
folder left by a process that was killed is removed by the next CLMER process that starts.
`import_onnxruntime()` imports onnxruntime with its cache pointed into CLMER's home.
Entry points call these (the CLI, the flows); library code never changes the environment itself.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from multiprocessing import util as mp_util
from pathlib import Path

PREFIX = "clmer-"
_ENV_MARK = "CLMER_PRIVATE_TMP"  # set in this process and inherited by children: they use the same folder
_OUTER = "CLMER_OUTER_TMPDIR"  # TMPDIR as it was before, for children that outlive this process


def use_private_tmp() -> Path:
    """Point `tempfile` and TMPDIR at this process's own temp folder (idempotent; a child process
    started by one that called it shares the parent's folder and leaves the cleaning to it)."""
    current = os.environ.get(_ENV_MARK)
    # Inherit only what a CLMER parent set up: its folder must still be TMPDIR. A caller that changed
    # TMPDIR since (a test, a wrapper script) gets a folder of its own inside the new TMPDIR; otherwise
    # Python would write in one folder and native libraries (onnxruntime) in the other.
    if current and Path(current).is_dir() and os.environ.get("TMPDIR") == current:
        tempfile.tempdir = current
        return Path(current)
    base = Path(tempfile.gettempdir())
    sweep_dead(base)
    # Short name (`clmer-<pid>`, unique among live processes): sockets made in here (multiprocessing's
    # forkserver) must fit the 107-byte limit of a Unix socket path.
    path = base / f"{PREFIX}{os.getpid()}"
    shutil.rmtree(path, ignore_errors=True)  # a dead process with our pid left it behind
    path.mkdir(mode=0o700)
    os.environ[_OUTER] = os.environ.get("TMPDIR", "")
    os.environ["TMPDIR"] = os.environ[_ENV_MARK] = str(path)
    tempfile.tempdir = str(path)
    # Removed after multiprocessing's own exit cleanup (its pymp-* folders live in here too);
    # a Finalize runs in the process that made it only, never in a forked child.
    mp_util.Finalize(None, shutil.rmtree, args=(str(path),), kwargs={"ignore_errors": True}, exitpriority=-1000)
    return path


def outer_tmp() -> Path:
    """The temp folder as it was before `use_private_tmp`: for files another user must reach (the private
    folder is mode 0700)."""
    private = os.environ.get(_ENV_MARK)
    if not private:
        return Path(tempfile.gettempdir())
    return Path(os.environ.get(_OUTER) or Path(private).parent)


def detached_env(env: dict[str, str]) -> dict[str, str]:
    """`env` for a child that outlives this process (a server, a worker): the temp folder as it
    was before `use_private_tmp`, since this process removes its own when it exits."""
    env = dict(env)
    if _ENV_MARK in env:
        outer = env.pop(_OUTER, "")
        env.pop(_ENV_MARK)
        if outer:
            env["TMPDIR"] = outer
        else:
            env.pop("TMPDIR", None)
    return env


def sweep_dead(base: Path) -> int:
    """Remove `clmer-<pid>` folders under `base` whose process is gone; returns how many."""
    removed = 0
    for entry in base.glob(f"{PREFIX}*"):
        pid = entry.name[len(PREFIX):]
        if pid.isdigit() and entry.is_dir() and not entry.is_symlink() and not _alive(int(pid)):
            shutil.rmtree(entry, ignore_errors=True)
            removed += 1
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive, and not ours to judge
        return True
    return True


def import_onnxruntime(cache_dir: str | Path):
    """Import onnxruntime with its telemetry cache under `cache_dir` instead of ~/.cache/Microsoft
    (it writes there at import time, whatever its telemetry switch says)."""
    import sys

    if "onnxruntime" in sys.modules:
        return sys.modules["onnxruntime"]
    with _env(XDG_CACHE_HOME=str(cache_dir)):
        import onnxruntime

    return onnxruntime


@contextlib.contextmanager
def _env(**values: str):
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

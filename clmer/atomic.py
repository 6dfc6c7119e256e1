"""Atomic file writes: a temp file in the same folder, fsync, then rename over the target.

Readers (and a process killed mid-write) never see half a file: they see the old one or the new one.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterable


def write_bytes(path: str | Path, data: bytes, mode: int = 0o644) -> Path:
    return write_chunks(path, [data], mode)


def write_chunks(path: str | Path, chunks: Iterable[bytes], mode: int = 0o644) -> Path:
    """`write_bytes` for content that arrives in pieces (a download): never all of it in memory. An
    exception from `chunks` leaves no file and no temp file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, mode)  # mkstemp makes 0600; outputs are meant to be read by others
        with os.fdopen(fd, "wb") as fh:
            for chunk in chunks:
                fh.write(chunk)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_text(path: str | Path, text: str) -> Path:
    return write_bytes(path, text.encode("utf-8"))


def write_json(path: str | Path, data: Any, indent: int | None = 2, default: Callable[[Any], Any] | None = None,
               sort_keys: bool = False) -> Path:
    """`data` as UTF-8 JSON (non-ASCII text kept readable), written atomically. `default` turns what
    JSON cannot hold into what it can (str for paths and dates, float for numpy numbers)."""
    text = json.dumps(data, indent=indent, default=default, sort_keys=sort_keys, ensure_ascii=False)
    return write_text(path, text + "\n")

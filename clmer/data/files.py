"""Input files as CLMER reads them: regular files only, never through a link, never outside their root.

A drop or a corpus is a folder someone else filled. Following its links would let it point CLMER
at any file on the machine (or at itself, in a loop); opening a FIFO or a device named `x.mp4`
blocks or never ends. So listing never follows a link and reports what each entry *is*, and
opening walks from the root one component at a time with `O_NOFOLLOW`, refuses anything but a
regular file (checked before opening, and again on the open descriptor, so a file swapped for a
link or a FIFO in between is caught), and returns the descriptor: the caller hashes and decodes
the bytes of that very file, whatever happens to the path afterwards.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

_CHUNK = 4 * 1024 * 1024
_KINDS = ((stat.S_ISREG, "file"), (stat.S_ISDIR, "folder"), (stat.S_ISLNK, "symbolic link"), (stat.S_ISFIFO, "FIFO"),
          (stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device"), (stat.S_ISSOCK, "socket"))


class RefusedInput(ValueError):
    """An input CLMER will not read (a link, not a regular file, outside its root); `reason` says why."""

    def __init__(self, rel: str, reason: str):
        self.rel, self.reason = rel, reason
        super().__init__(f"{rel}: {reason}")


@dataclass(frozen=True)
class Entry:
    """One entry found under a root, described from `lstat` (nothing was opened or followed)."""

    rel: str  # POSIX path relative to the root
    kind: str  # file | symbolic link | FIFO | character device | block device | socket | other
    size: int
    mtime_ns: int


def kind_of(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "other")


def walk(root: str | Path, skip: Callable[[str, bool], bool] | None = None) -> list[Entry]:
    """Every non-folder entry under `root`, sorted, without following links (a link to a folder is an
    entry, not a folder to enter, so a loop of links cannot recurse). `skip(rel, is_dir)` prunes."""
    return sorted(_walk(Path(root), "", skip), key=lambda e: e.rel)


UNREADABLE_FOLDER = "folder that cannot be listed"


def _walk(base: Path, prefix: str, skip) -> Iterator[Entry]:
    try:
        entries = list(os.scandir(base / prefix if prefix else base))
    except OSError:
        if prefix:  # a subfolder we may not read: an entry of its own, so its files are not lost silently
            yield Entry(prefix, UNREADABLE_FOLDER, 0, 0)
        return  # the root itself vanished: nothing to offer
    for entry in entries:
        rel = f"{prefix}/{entry.name}" if prefix else entry.name
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        is_dir = stat.S_ISDIR(st.st_mode)
        if skip is not None and skip(rel, is_dir):
            continue
        if is_dir:
            yield from _walk(base, rel, skip)
        else:
            yield Entry(rel, kind_of(st.st_mode), st.st_size, st.st_mtime_ns)


def canonical_parts(rel: str) -> tuple[str, ...]:
    """The parts of a relative POSIX path that names one place only: no empty, `.` or `..` parts,
    not absolute, no NUL. Anything else is refused rather than normalised, so two spellings of one
    path (`a//b`, `./b`) can never be mistaken for each other."""
    parts = tuple(rel.split("/"))
    if not rel or "\0" in rel or rel.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise RefusedInput(rel, "refused: not a plain relative path (empty, '.', '..' or '//' parts, or absolute)")
    return parts


def open_input(path: str | Path, root: str | Path | None = None) -> int:
    """A read-only descriptor of a regular file. With `root`, `path` must lie under it and is opened
    from the root without following any link; without, `path` was named explicitly by the user
    (a link there is followed) but must still be a regular file. The caller closes the descriptor."""
    if root is None:
        st = os.stat(path)
        _require_regular(str(path), st.st_mode)
        return _open_checked(str(path), None, str(path), st)
    rel = relative_to_root(path, root)
    parts = canonical_parts(rel)
    dir_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for part in parts[:-1]:
            nxt = _enter(dir_fd, part, rel)
            os.close(dir_fd)
            dir_fd = nxt
        st = os.stat(parts[-1], dir_fd=dir_fd, follow_symlinks=False)
        _require_regular(rel, st.st_mode)
        return _open_checked(parts[-1], dir_fd, rel, st)
    finally:
        os.close(dir_fd)


def relative_to_root(path: str | Path, root: str | Path) -> str:
    """`path` relative to `root` as written (no link resolved): refused if it does not start with root."""
    path, root = Path(os.path.abspath(path)), Path(os.path.abspath(root))  # lexical: no link is resolved
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        raise RefusedInput(str(path), "refused: outside the folder it was found in") from None


def _enter(dir_fd: int, part: str, rel: str) -> int:
    """Open sub-folder `part` of `dir_fd`, refusing a link in its place."""
    try:
        return os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise RefusedInput(rel, f"refused: {part!r} on its path is a symbolic link or not a folder") from None
        raise


def _require_regular(rel: str, mode: int) -> None:
    if not stat.S_ISREG(mode):
        kind = kind_of(mode)
        why = "links are not followed" if kind == "symbolic link" else "only regular files are read"
        raise RefusedInput(rel, f"refused: a {kind}, not a regular file ({why})")


def _open_checked(name: str, dir_fd: int | None, rel: str, before: os.stat_result) -> int:
    """Open without following a link or blocking (a FIFO would), then make sure it is the same
    regular file that was checked: a swap between the check and the open is refused."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
    if dir_fd is None:
        flags &= ~os.O_NOFOLLOW  # a path the user named: its link, if any, was checked by os.stat
    try:
        fd = os.open(name, flags, dir_fd=dir_fd) if dir_fd is not None else os.open(name, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise RefusedInput(rel, "refused: became a symbolic link (links are not followed)") from None
        raise
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or (st.st_dev, st.st_ino) != (before.st_dev, before.st_ino):
        os.close(fd)
        raise RefusedInput(rel, "refused: replaced by another file while being opened")
    os.set_blocking(fd, True)
    return fd


def sha256_fd(fd: int) -> str:
    """sha256 of the whole file behind `fd` (read with pread: the descriptor's offset is untouched)."""
    h, offset = hashlib.sha256(), 0
    while chunk := os.pread(fd, _CHUNK, offset):
        h.update(chunk)
        offset += len(chunk)
    return h.hexdigest()

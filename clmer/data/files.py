"""Input files as CLMER reads them: regular files only, never through a link, never outside their root.

A drop or a corpus is a folder someone else filled. Following its links would let it point CLMER
at any file on the machine (or at itself, in a loop); opening a FIFO or a device named `x.mp4`
blocks or never ends. So listing never follows a link and reports what each entry *is*, and
opening walks from the root one component at a time with `O_NOFOLLOW`, refuses anything but a
regular file (checked before opening, and again on the open descriptor, so a file swapped for a
link or a FIFO in between is caught), and returns the descriptor: the caller hashes and decodes
the bytes of that very file, whatever happens to the path afterwards.

`MediaReader` is how those bytes are read: the file object a decoder gets, which hashes the file
as the decoder reads it and counts what came from the disk.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from collections import OrderedDict
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


NOT_UTF8 = "file whose name is not UTF-8"


def readable_name(rel: str) -> tuple[str, str | None]:
    """(a name that can be printed and written, a note on what it was) for a listed path. A name that is
    not UTF-8 (GBK "视频" from an archive made on Chinese Windows: Python holds its bytes as surrogates)
    cannot go into a CSV, a log line or a file name; it is shown with its bytes escaped, plus how it reads
    in GB18030 when it does. Valid names come back unchanged, with no note."""
    try:
        rel.encode("utf-8")
        return rel, None
    except UnicodeEncodeError:
        raw = rel.encode("utf-8", "surrogateescape")
    shown = raw.decode("utf-8", "backslashreplace")
    try:
        note = f"reads as GB18030 {raw.decode('gb18030')!r}"
    except UnicodeDecodeError:
        note = "not GB18030 either"
    return shown, note


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


class MediaReader:
    """A read-only file object over a descriptor, for a decoder, that hashes the file on the way.

    Reads go through blocks fetched with pread (the descriptor's offset is never moved) and kept in a
    small cache, so a demuxer that goes back (an mp4 whose index sits at its end is read to the end,
    then again from its media data) gets what it saw before from memory, not from the disk. Blocks
    are hashed in file order as they arrive; `hexdigest()` fetches whatever the decoder never asked
    for, so the hash always covers the whole file, and a decode that reads the file once has hashed
    it for free: what is hashed is what was decoded. `bytes_read` counts the bytes that came from the
    file (every block fetch), for the "read once" check."""

    def __init__(self, fd: int, block: int = _CHUNK, cache_blocks: int = 16):
        self.fd, self.block, self.cache_blocks = fd, block, max(1, cache_blocks)
        self.size = os.fstat(fd).st_size
        self.pos = 0
        self.bytes_read = 0
        self._cache: OrderedDict[int, bytes] = OrderedDict()
        self._hash = hashlib.sha256()
        self._next = 0  # blocks [0, _next) are hashed
        self._end: int | None = None  # index of the last block, once a short one was fetched

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self.pos, os.SEEK_END: self.size}[whence]
        self.pos = max(0, base + offset)
        return self.pos

    def read(self, n: int = -1) -> bytes:
        n = self.size - self.pos if n is None or n < 0 else n
        out = bytearray()
        while n > 0:
            k, skip = divmod(self.pos, self.block)
            piece = self._block(k)[skip: skip + n]
            if not piece:
                break
            out += piece
            self.pos += len(piece)
            n -= len(piece)
        return bytes(out)

    def hexdigest(self) -> str:
        """sha256 of the whole file: the blocks not hashed yet are fetched now (usually none)."""
        while self._end is None or self._next <= self._end:
            self._block(self._next)
        return self._hash.hexdigest()

    def _block(self, k: int) -> bytes:
        data = self._cache.get(k)
        if data is not None:
            self._cache.move_to_end(k)
            return data
        data = os.pread(self.fd, self.block, k * self.block)
        self.bytes_read += len(data)
        if len(data) < self.block and (self._end is None or k < self._end):
            self._end = k  # a short block is the last one
        self._cache[k] = data
        self._hash_ready()
        while len(self._cache) > self.cache_blocks:
            self._cache.popitem(last=False)
        return data

    def _hash_ready(self) -> None:
        """Hash the blocks that now follow, in file order, what was hashed so far."""
        while (self._end is None or self._next <= self._end) and self._next in self._cache:
            self._hash.update(self._cache[self._next])
            self._next += 1


def sha256_fd(fd: int) -> tuple[str, int]:
    """(sha256 of the whole file behind `fd`, bytes read): read once, front to back, with pread (the
    descriptor's offset is untouched)."""
    reader = MediaReader(fd, cache_blocks=1)
    return reader.hexdigest(), reader.bytes_read

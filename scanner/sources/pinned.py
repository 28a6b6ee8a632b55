"""Local files pinned when they are hashed, so that what is analysed is what was hashed.

A release folder (or a cache) can change while it is scanned: a file swapped for a symlink
to /etc, rewritten in place, replaced by a FIFO. Reopening a file by name would then read
something else under the hash of the original, and a cache keyed by that hash would keep
the lie. So each file is opened without following links, checked against the identity the
walk saw, and hashed from that descriptor; its Pin (device, inode, size, modification and
change times, sha256) is what every later read must find again. ctime cannot be set back
by a user, so a rewrite in place shows; whole-file reads also check the content hash.
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from ..errors import SourceError
from ..model import FileEntry, LfsPointer
from ..snapshot import Progress
from .interface import hashed_entry

_CHUNK = 1 << 20
# No link followed at the last component; no hang on a FIFO swapped in; not inherited.
_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
_FLAGS |= getattr(os, "O_CLOEXEC", 0)


@dataclass(frozen=True)
class Pin:
    """A file as it was when hashed."""

    path: Path
    """The real file (inside its root)."""
    stamp: tuple[int, int, int, int, int]
    """(device, inode, size, mtime_ns, ctime_ns) of the descriptor that was hashed."""
    sha256: str


def _stamp(st: os.stat_result) -> tuple[int, int, int, int, int]:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def changed(rel: str, how: str = "replaced, rewritten or swapped for a link") -> SourceError:
    return SourceError(f"{rel}: changed since it was hashed ({how}); not read")


def _open(path: Path) -> BinaryIO:
    fd = os.open(path, _FLAGS)
    try:
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def hash_pinned(
    rel: str,
    real: Path,
    identity: tuple[int, int] | None,
    progress: Progress,
    handle: Any,
    lfs: LfsPointer | None = None,
) -> tuple[FileEntry, Pin]:
    """The entry of `real`, hashed from one descriptor, and its Pin. `identity` (device,
    inode) is what the walk saw: a file replaced since is refused."""
    with _open(real) as fh:
        before = os.fstat(fh.fileno())
        if not stat.S_ISREG(before.st_mode):
            raise SourceError(f"{rel}: not a regular file (device, FIFO or socket)")
        if identity is not None and (before.st_dev, before.st_ino) != identity:
            raise changed(rel, "replaced between listing and hashing")
        entry = hashed_entry(rel, iter(lambda: fh.read(_CHUNK), b""), progress, handle, lfs)
        after = os.fstat(fh.fileno())
    if _stamp(before) != _stamp(after) or entry.size != after.st_size:
        raise SourceError(f"{rel}: changed while it was being hashed; not read")
    assert entry.sha256 is not None
    return entry, Pin(real, _stamp(after), entry.sha256)


def open_pinned(rel: str, pin: Pin) -> BinaryIO:
    """The pinned file, reopened without following links; refused if it is not the file
    that was hashed any more."""
    try:
        fh = _open(pin.path)
    except OSError as exc:
        raise changed(rel, exc.strerror or type(exc).__name__) from None
    if _stamp(os.fstat(fh.fileno())) != pin.stamp:
        fh.close()
        raise changed(rel)
    return fh


def check_content(rel: str, pin: Pin, data: bytes) -> bytes:
    """`data`, the whole file as read, if it is the content that was hashed."""
    if len(data) != pin.stamp[2] or hashlib.sha256(data).hexdigest() != pin.sha256:
        raise changed(rel, "its content differs from the hashed content")
    return data

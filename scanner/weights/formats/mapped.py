"""Weight files memory-mapped once for a reader's life, with their pages dropped as it goes.

A mapping kept open would count every page it ever touched as resident memory (a 4 GB
checkpoint read through it: 4 GB of RSS). Every RELEASE_BYTES read, the pages of the files
read since the last drop are dropped from this process (they stay in the page cache).
Whole files, rarely: dropping pages tensor by tensor cost as much as unmapping did.
"""

from __future__ import annotations

import contextlib
import mmap
import threading
from pathlib import Path

# Bytes of tensors read between two drops of the mapped pages: bounds the file-backed part
# of the resident memory.
RELEASE_BYTES = 256 * 1024 * 1024


class MappedFiles:
    """One read-only mapping per file, opened on first use; thread-safe. The same surface
    as ranged.RangeFiles (region, want, size), for files on disk."""

    remote = False

    def __init__(self) -> None:
        self._maps: dict[Path, mmap.mmap] = {}
        self._lock = threading.Lock()
        self._since_release = 0
        self._touched: set[Path] = set()

    def get(self, path: Path) -> mmap.mmap:
        with self._lock:
            mm = self._maps.get(path)
            if mm is None:
                with open(path, "rb") as fh:
                    mm = self._maps[path] = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
            return mm

    def region(self, path: Path, start: int, length: int) -> memoryview:
        """Bytes [start, start + length) of a file, a view of its mapping (no copy)."""
        mm = self.get(path)
        if start < 0 or length < 0 or start + length > len(mm):
            raise ValueError(f"{path.name}: range past the end of the file")
        return memoryview(mm)[start : start + length]

    def size(self, path: Path) -> int:
        return len(self.get(path))

    def want(self, path: Path, spans: list[tuple[int, int]]) -> None:
        """Nothing to fetch: the page cache reads ahead (readers advise it themselves)."""
        return None

    def read_done(self, path: Path, nbytes: int) -> None:
        """`nbytes` of `path` were mapped by a read: drop the pages when enough were."""
        dontneed = getattr(mmap, "MADV_DONTNEED", None)
        with self._lock:
            self._since_release += nbytes
            self._touched.add(path)
            if dontneed is None or self._since_release < RELEASE_BYTES:
                return
            files, self._touched, self._since_release = self._touched, set(), 0
            maps = [mm for f in files if (mm := self._maps.get(f)) is not None]
        # outside the lock: dropping 256 MB of page tables takes milliseconds, in which
        # another worker must be able to look up its mapping
        for mm in maps:
            with contextlib.suppress(OSError, ValueError):
                mm.madvise(dontneed)

    def close(self) -> None:
        with self._lock:
            maps, self._maps = list(self._maps.values()), {}
        for mm in maps:
            with contextlib.suppress(BufferError):  # an array still views it: unmapped
                mm.close()  # when that array goes

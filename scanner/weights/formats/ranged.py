"""Weight files read by byte ranges from a remote source: only what the reader asks for.

A remote fingerprint must not download a checkpoint: it reads the header, then the rows
the sampling chose (units.py), each through one HTTP Range request of the source
(sources/hub.py `HubReader.read_range`). A `RemoteFile` hands out bytes only through
`region()`, which returns exactly the bytes the server sent for that range, from this
pass's cache or from a new request, and raises when the server sends fewer: there is no
buffer that could hold a byte that was not fetched, so no value is ever a silent zero.

Bounded: the file size is the one the Hub's metadata declares, every range must lie inside
it, and a `RangeMeter` shared by the pass counts bytes and requests against budgets (a
sampling that would need one request per row is refused, not run).
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .checks import WeightFormatError

ReadRange = Callable[[int, int], bytes]
"""read(start, length) -> the bytes of one range request."""

# Ranges this close are fetched in one request: a gap this small costs less than a request.
COALESCE_GAP = 4 * 1024
# One request never asks for more (the Hub client caps an answer at 64 MB of body).
MAX_REQUEST_BYTES = 16 * 1024 * 1024
# Requests a pass may make: a remote fingerprint makes a few hundred; a sampling that would
# read columns row by row would make hundreds of thousands.
MAX_REQUESTS = 8192


@dataclass
class RangeMeter:
    """Bytes and requests of one pass over remote files, and their budgets."""

    budget_bytes: int
    max_requests: int = MAX_REQUESTS
    bytes_read: int = 0
    requests: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def charge(self, nbytes: int) -> None:
        """Count one request of `nbytes`, refusing it when a budget would be passed."""
        with self._lock:
            if self.requests + 1 > self.max_requests:
                raise WeightFormatError(
                    f"reading the checkpoint remotely needs more than {self.max_requests} "
                    "range requests; fingerprint a local copy instead"
                )
            if self.bytes_read + nbytes > self.budget_bytes:
                raise WeightFormatError(
                    f"reading the checkpoint remotely would pass its budget of "
                    f"{self.budget_bytes} bytes"
                )
            self.requests += 1
            self.bytes_read += nbytes


class RemoteFile:
    """One remote weight file of a declared size, read by ranges and cached for the pass.

    A byte is fetched once a pass: a range partly fetched already (a tensor's rows, then the
    whole tensor) fetches only its gaps, and is put together from the pieces."""

    def __init__(self, name: str, size: int, read: ReadRange, meter: RangeMeter):
        if size < 0:
            raise WeightFormatError(f"{name}: no size declared for a remote read")
        self.name, self.size = name, size
        self._read, self._meter = read, meter
        self._starts: list[int] = []
        self._spans: list[bytes] = []
        self._longest = 0
        self._lock = threading.Lock()
        self._flying: list[tuple[int, int, threading.Event]] = []
        """Ranges another reader is fetching now: waited for, not fetched again."""

    def _check(self, start: int, length: int) -> None:
        if start < 0 or length < 0 or start + length > self.size:
            raise WeightFormatError(
                f"{self.name}: range [{start}, {start + length}) lies outside the file's "
                f"{self.size} bytes"
            )

    def _near(self, start: int, end: int) -> list[tuple[int, bytes]]:
        """The cached spans that may overlap [start, end), in order of their start (the
        caller holds the lock)."""
        lo = bisect.bisect_left(self._starts, start - self._longest)
        hi = bisect.bisect_left(self._starts, end)
        return list(zip(self._starts[lo:hi], self._spans[lo:hi], strict=True))

    def _cached(self, start: int, length: int) -> memoryview | None:
        with self._lock:
            for s, data in reversed(self._near(start, start + length)):
                if s <= start and s + len(data) >= start + length:
                    return memoryview(data)[start - s : start - s + length]
        return None

    def _gaps(self, start: int, end: int) -> list[tuple[int, int]]:
        """(start, end) of the bytes of [start, end) no cached span holds (the caller holds
        the lock)."""
        out, pos = [], start
        for s, data in self._near(start, end):
            if s > pos:
                out.append((pos, min(s, end)))
            pos = max(pos, s + len(data))
            if pos >= end:
                break
        if pos < end:
            out.append((pos, end))
        return out

    def _fetch_missing(self, ranges: list[tuple[int, int]], gap: int = 0) -> None:
        """Fetch the bytes of (start, end) ranges that no span holds and no other reader is
        fetching (neighbours closer than `gap` in one request), then wait for the others."""
        with self._lock:
            missing = sorted(g for a, b in ranges if b > a for g in self._gaps(a, b))
            waits: list[threading.Event] = []
            mine: list[list[int]] = []
            for a, b in missing:
                for fa, fb, done in self._flying:  # what others fetch is taken out
                    if fa < b and a < fb:
                        waits.append(done)
                pieces = [(a, b)]
                for fa, fb, _ in self._flying:
                    pieces = [
                        part
                        for x, y in pieces
                        for part in ((x, min(y, fa)), (max(x, fb), y))
                        if part[1] > part[0]
                    ]
                for x, y in pieces:
                    if mine and x - mine[-1][1] <= gap:
                        mine[-1][1] = max(mine[-1][1], y)
                    else:
                        mine.append([x, y])
            done = threading.Event()
            claimed = [(x, y, done) for x, y in mine]
            self._flying.extend(claimed)
        try:
            for x, y in mine:
                self._fetch(x, y - x)
        finally:
            with self._lock:
                for c in claimed:
                    self._flying.remove(c)
            done.set()
        for other in waits:
            other.wait()

    def _insert(self, start: int, data: bytes) -> None:
        with self._lock:
            i = bisect.bisect_right(self._starts, start)
            self._starts.insert(i, start)
            self._spans.insert(i, data)
            self._longest = max(self._longest, len(data))

    def _fetch(self, start: int, length: int) -> None:
        """One request (or a few, for a range above MAX_REQUEST_BYTES), kept in the cache."""
        pos, end = start, start + length
        while pos < end:
            n = min(MAX_REQUEST_BYTES, end - pos)
            self._meter.charge(n)
            data = self._read(pos, n)
            if len(data) != n:
                raise WeightFormatError(
                    f"{self.name}: the server sent {len(data)} bytes for a range of {n} at {pos}"
                )
            self._insert(pos, data)
            pos += n

    def region(self, start: int, length: int) -> memoryview:
        """Bytes [start, start + length), fetched if this pass has not fetched them yet."""
        self._check(start, length)
        if length == 0:
            return memoryview(b"")
        got = self._cached(start, length)
        if got is not None:
            return got
        self._fetch_missing([(start, start + length)])
        got = self._cached(start, length)
        if got is not None:
            return got
        # held in several spans: put together once, and kept whole for the next reads
        pieces, pos, end = [], start, start + length
        with self._lock:
            for s, data in self._near(start, end):
                if s + len(data) <= pos:
                    continue
                if s > pos:  # another thread's range may sit between: never a silent hole
                    raise WeightFormatError(f"{self.name}: bytes at {pos} were not fetched")
                pieces.append(memoryview(data)[pos - s : min(end, s + len(data)) - s])
                pos = min(end, s + len(data))
                if pos >= end:
                    break
        if pos < end:
            raise WeightFormatError(f"{self.name}: bytes at {pos} were not fetched")
        whole = b"".join(pieces)
        self._insert(start, whole)
        return memoryview(whole)

    def read(self, start: int, length: int) -> bytes:
        """The header parsers' Read: fewer bytes at the end of the file, as a file gives."""
        length = max(0, min(length, self.size - start))
        return bytes(self.region(start, length))

    def want(self, spans: list[tuple[int, int]]) -> None:
        """Fetch what (start, length) spans hold that is not fetched yet, neighbours in one
        request."""
        for s, n in spans:
            self._check(s, n)
        self._fetch_missing([(s, s + n) for s, n in spans], COALESCE_GAP)


class RangeFiles:
    """The remote files of one checkpoint, keyed like MappedFiles by their (release) path."""

    remote = True

    def __init__(self, files: dict[Path, RemoteFile], meter: RangeMeter):
        self._files = files
        self.meter = meter

    def file(self, path: Path) -> RemoteFile:
        try:
            return self._files[path]
        except KeyError:
            raise WeightFormatError(f"{path}: not a remote file of this checkpoint") from None

    def size(self, path: Path) -> int:
        return self.file(path).size

    def region(self, path: Path, start: int, length: int) -> memoryview:
        return self.file(path).region(start, length)

    def want(self, path: Path, spans: list[tuple[int, int]]) -> None:
        self.file(path).want(spans)

    def read_done(self, path: Path, nbytes: int) -> None:
        return None

    def close(self) -> None:
        return None

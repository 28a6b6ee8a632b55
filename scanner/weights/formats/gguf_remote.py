"""A GGUF header read by remote byte ranges, without fetching the arrays the parser skips.

The tensor table of a GGUF file comes after its metadata, and the metadata holds the
tokenizer: the token list (kept: the fingerprint hashes every token), then numbers a token
(skipped by their size, never fetched) and the BPE merges, a list of strings that nothing
reads but that lies between the parser and the tensor table. Each string carries its length
in front of it, so walking a list means reading it: for a 262k-token vocabulary the merges
are 9 MB, 3% of a Q8_0 file of a 270M-parameter model, more than a remote fingerprint may
read in all (2%).

`strings_end` finds where such a list ends from a few small probes instead: a probe lands in
the list, finds a run of strings whose lengths chain (`SYNC` in a row: text holds no such run
by chance, its bytes are not eight-byte little-endian lengths with seven zero bytes), and
follows it; a run that reaches the probe's end says the list goes on, a run that breaks says
where it ended (the metadata key after it, or the first tensor name, is the last string of
the run), no run at all says the probe is past it. A bisection over those answers brings it
to the end in about a dozen probes of 8 KB.

That is a guess, and it is checked as hard as the file allows before anything is read by it
(gguf.py): the header must parse on from there to exactly the keys and tensors it declared,
and the tensor table must tile the data section the way GGUF writers lay it out (first
tensor at offset 0, each next one at the aligned end of the one before, the last one ending
within an alignment of the end of the file). A guess that fails any of that, or a list the
probes cannot follow, is walked string by string instead: the header read is then exactly
the one a plain parse makes, only with more bytes fetched. Known limit: a file built to
hold, inside its merges, a second tensor table that tiles the rest of the file can make the
remote reading differ from a local one; it only changes what that file's own fingerprint
reads of that file's own bytes.

`RemoteHeader` is the buffer the parser reads the header from: windows of the file fetched
as the reads go on, from the first byte they need (so what a skipped array holds is never
fetched), growing while the reads go on in order and starting small again after a jump, so
little is fetched past the end of the header.
"""

from __future__ import annotations

from .ranged import RemoteFile

SKIP_MIN_ITEMS = 8192
"""Shorter lists are walked: a few probes would cost about as much."""
PROBE = 8 * 1024
SYNC = 32
"""Strings whose lengths must chain before a run is believed."""
MAX_STRING = 4096
"""Longest string a run may hold (merges and keys are far shorter)."""
MAX_PROBES = 64
_FIRST_WALK = 256
"""Strings walked at the list's start: where the probes may begin, and their mean size."""
_U64 = 8


class RemoteHeader:
    """The bytes of a remote file as the header parser slices them (see the module's doc)."""

    FIRST = 256
    MOST = 256 * 1024

    def __init__(self, remote: RemoteFile):
        self._remote = remote
        self._done: list[tuple[int, bytes]] = []
        self._start = 0
        self._win = bytearray()
        self._grow = self.FIRST
        self._until = 0

    def __len__(self) -> int:
        return self._remote.size

    def expect(self, first: int, pos: int, done: int, total: int) -> None:
        """A list of `total` items that starts at `first` is read in order, `done` of them
        up to `pos`: the window grows no further than where the rest should end at their
        mean size so far, then small again, so little is fetched past the list."""
        if done:
            self._until = pos + (pos - first) * (total - done) // done + self.FIRST

    def __getitem__(self, s: slice) -> bytes:
        start, stop = max(0, s.start or 0), min(len(self), s.stop if s.stop is not None else 0)
        if stop <= start:
            return b""
        got = self._held(start, stop)
        if got is not None:
            return got
        end = self._start + len(self._win)
        # reads go on (over a string's bytes, say): the window grows
        if self._win and self._start <= start <= end + self._grow:
            if self._until > end:  # half the way left at a time: the estimate closes in
                n = max(stop - end, min(self._grow, max(self.FIRST, (self._until - end) // 2)))
            else:
                if self._until:  # past where the list was expected to end: small steps again
                    self._until, self._grow = 0, self.FIRST
                n = max(stop - end, self._grow)
            n = min(n, len(self) - end)
            self._win += self._remote.region(end, n)
        else:  # a jump (over an array, to a probe): a new window from the first byte needed
            if self._win:
                self._done.append((self._start, bytes(self._win)))
            self._grow, self._until = self.FIRST, 0
            n = min(max(stop - start, self._grow), len(self) - start)
            self._start, self._win = start, bytearray(self._remote.region(start, n))
        self._grow = min(self.MOST, 2 * self._grow)
        got = self._held(start, stop)
        assert got is not None  # fetched just now, or region() raised
        return got

    def _held(self, start: int, stop: int) -> bytes | None:
        if self._start <= start and stop <= self._start + len(self._win):
            return bytes(self._win[start - self._start : stop - self._start])
        for s0, data in reversed(self._done):
            if s0 <= start and stop <= s0 + len(data):
                return data[start - s0 : stop - s0]
        return None


def _string_at(data: bytes, i: int) -> int | None:
    """The length of a plausible list string at `i` of `data`; -1 where it runs past the
    end of `data` (the run is alive there); None where no list string starts at `i`."""
    if i + _U64 > len(data):
        return -1
    n = int.from_bytes(data[i : i + _U64], "little")
    if n == 0 or n > MAX_STRING:
        return None
    if i + _U64 + n > len(data):
        return -1
    if 0 in data[i + _U64 : i + _U64 + n]:
        return None
    return n


def _run(data: bytes, i: int) -> tuple[list[int], int | None]:
    """The starts of the strings chained from `i`, and where the run reaches the end of
    `data` (None: it breaks before)."""
    starts: list[int] = []
    while True:
        n = _string_at(data, i)
        if n is None:
            return starts, None
        if n < 0:
            return starts, i
        starts.append(i)
        i += _U64 + n


def _probe(buf: RemoteHeader, x: int) -> tuple[str, list[int]]:
    """("inside", [a string start]), ("ended", [the starts of the run's last strings]) or
    ("past", []) for the bytes [x, x + PROBE)."""
    data = buf[x : x + PROBE]
    for i in range(min(PROBE // 2, len(data))):
        starts, alive = _run(data, i)
        if len(starts) < SYNC:
            continue
        if alive is not None:
            return "inside", [x + starts[-1]]
        return "ended", [x + s for s in reversed(starts[-3:])]
    return "past", []


def _walk(buf: RemoteHeader, at: int, most: int) -> list[int] | None:
    """Follow the run from a string start `at` until it breaks (at most `most` bytes): the
    starts of its last strings, latest first; None if it does not break in time."""
    starts: list[int] = []
    i, end = at, min(len(buf), at + most)
    while i < end:
        got, alive = _run(buf[i : i + PROBE], 0)
        starts += [i + s for s in got]
        if alive is None:
            return list(reversed(starts[-3:])) if starts else None
        if not alive:  # nothing whole in a window: the file's end
            return None
        i += alive
    return None


def strings_end(buf: RemoteHeader, pos: int, count: int) -> list[int] | None:
    """Where the list of `count` strings at `pos` may end: candidates, likeliest first (the
    start of the run's last string, then of the one before...); None: walk it instead."""
    if count < SKIP_MIN_ITEMS:
        return None
    size, i = len(buf), pos
    for _ in range(_FIRST_WALK):
        n = int.from_bytes(buf[i : i + _U64], "little")
        if n == 0 or n > MAX_STRING:
            return None
        i += _U64 + n
    left = count - _FIRST_WALK
    mean = (i - pos) / _FIRST_WALK
    inside = i  # a string start known to lie in the list
    past = size  # a position known to lie past it
    # every string takes its 8-byte length at least: the list ends no sooner
    x = max(inside + _U64 * left, inside + int(mean * left))
    step = max(PROBE, int(mean * left) // 8)
    for _ in range(MAX_PROBES):
        if past - inside <= 4 * PROBE:
            break
        x = max(inside, min(x, past - PROBE))
        kind, at = _probe(buf, x)
        if kind == "ended":
            return at
        if kind == "inside":
            inside = at[0]
            x = inside + step if past == size else (inside + past) // 2
            step *= 2
        else:
            past = min(past, x + PROBE)
            x = (inside + past) // 2
    else:
        return None
    return _walk(buf, inside, past - inside + 2 * PROBE)


def tiles_the_file(spans: list[tuple[int, int]], start: int, alignment: int, size: int) -> bool:
    """Whether tensors at (offset, nbytes) lay the data section out as GGUF writers do: the
    first at offset 0, each next at the aligned end of the one before, the last ending within
    an alignment of the end of the file."""
    if not spans:
        return False
    at = 0
    for offset, nbytes in sorted(spans):
        if offset != -(-at // alignment) * alignment:
            return False
        at = offset + nbytes
    return 0 <= size - (start + at) < alignment

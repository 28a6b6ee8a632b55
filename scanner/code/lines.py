"""Kept lines: the lines of a file found verbatim (whitespace aside) in an upstream file.

Fingerprints find a copy whatever was done to its surface; a reviewer reads lines. For a
file matched to an upstream, the lines it kept as they were are counted and grouped into
regions; for a file that declares its upstream, they are the whole comparison (the
declaration is the claim, the kept lines show what of it remains).

A line counts when it holds code or prose of its own: blank lines, import statements, lines
with fewer than two names or literals (`)`, `else:`, `return x`) and copyright or license
lines (every file of a corpus shares them) are left out. The corpus index stores, for each
reference file, a 32-bit hash of each countable line and its number.
"""

from __future__ import annotations

import keyword
import re
import zlib
from dataclasses import dataclass

import numpy as np

_WORD_OR_LITERAL = re.compile(r"[A-Za-z_]\w*|\d[\w.]*|\"[^\"]*\"|'[^']*'")
_NOT_COUNTED = frozenset(keyword.kwlist) | {"self", "cls", "this", "return", "const"}
_IMPORT = re.compile(r"(?:import\s|from\s+\S+\s+import\b|#\s*include\b|use\s+\S+;|using\s)")
_LEGAL = re.compile(r"copyright|licen[cs]e|spdx-|all rights reserved|\(c\)\s", re.IGNORECASE)
_COMMENT_MARK = re.compile(r"^(?:#+|//+|/\*+|\*+/?|--)\s*")


@dataclass(frozen=True)
class LineHashes:
    """The countable lines of one file: their hashes and 1-based line numbers, in order."""

    hashes: np.ndarray
    """uint32 hash of each countable line, whitespace-normalised."""
    numbers: np.ndarray
    """uint32 line number of each."""

    def __len__(self) -> int:
        return int(self.hashes.shape[0])


def _counts(line: str) -> bool:
    words = [t for t in _WORD_OR_LITERAL.findall(line) if t not in _NOT_COUNTED]
    return len(words) >= 2


def line_hashes(text: str) -> LineHashes:
    """Hash and number of every countable line of `text`."""
    hashes: list[int] = []
    numbers: list[int] = []
    in_import = False
    for i, raw in enumerate(text.splitlines(), 1):
        line = " ".join(raw.split())
        if not line:
            continue
        if in_import:  # the names of a parenthesised import, one a line
            in_import = ")" not in line
            continue
        if _IMPORT.match(line):
            in_import = "(" in line and ")" not in line
            continue
        prose = _COMMENT_MARK.sub("", line)
        if _LEGAL.search(prose) or not _counts(prose):
            continue
        hashes.append(zlib.crc32(line.encode("utf-8", "surrogatepass")))
        numbers.append(i)
    return LineHashes(
        hashes=np.array(hashes, dtype=np.uint32), numbers=np.array(numbers, dtype=np.uint32)
    )


@dataclass(frozen=True)
class KeptLine:
    """A countable line of the release file found in the upstream file."""

    target: int
    upstream: int


def kept_lines(target: LineHashes, upstream: LineHashes) -> list[KeptLine]:
    """The target's countable lines found in the upstream, each paired with the upstream
    occurrence closest to where the previous one was found (copies keep their order)."""
    if len(target) == 0 or len(upstream) == 0:
        return []
    order = np.argsort(upstream.hashes, kind="stable")
    up_h, up_n = upstream.hashes[order], upstream.numbers[order]
    lo = np.searchsorted(up_h, target.hashes, side="left")
    hi = np.searchsorted(up_h, target.hashes, side="right")
    out: list[KeptLine] = []
    prev = 0
    for t, a, b in zip(target.numbers.tolist(), lo.tolist(), hi.tolist(), strict=True):
        if a == b:
            continue
        if b - a == 1:
            u = int(up_n[a])
        else:
            cands = up_n[a:b].astype(np.int64)
            u = int(cands[np.argmin(np.abs(cands - prev))])
        out.append(KeptLine(target=int(t), upstream=u))
        prev = u
    return out

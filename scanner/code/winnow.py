"""Winnowing (Schleimer, Wilkerson, Aiken 2003; the MOSS method) over normalised tokens.

Every k-gram of tokens is hashed; in each window of w consecutive k-gram hashes the
minimum is kept (the rightmost on ties, each position once: robust winnowing). Any shared
run of at least k + w - 1 tokens is then guaranteed to share a fingerprint, and shorter
shared runs (below k tokens) never do, so common one-liners are noise, not matches.
All of it is vectorised with numpy: a file costs the same few array passes whatever its size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .tokens import TokenStream

_BASE = np.uint64(0x100000001B3)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


@dataclass(frozen=True)
class WinnowParams:
    """k: tokens per k-gram (noise threshold); w: window (guarantee at k + w - 1 tokens)."""

    k: int = 20
    w: int = 12

    def key(self) -> str:
        return f"k={self.k},w={self.w}"


DEFAULT_PARAMS = WinnowParams()


@dataclass(frozen=True)
class Fingerprints:
    """The fingerprints of one file, in token order, with the lines each k-gram covers."""

    hashes: np.ndarray
    """uint64 k-gram hashes selected by winnowing."""
    start_lines: np.ndarray
    """uint32 line of the k-gram's first token."""
    end_lines: np.ndarray
    """uint32 line of the k-gram's last token."""

    def __len__(self) -> int:
        return int(self.hashes.shape[0])


def kgram_hashes(codes: np.ndarray, k: int) -> np.ndarray:
    """Hash of each k-gram of token codes (polynomial mod 2^64, then bit-mixed)."""
    n = codes.shape[0] - k + 1
    if n <= 0:
        return np.zeros(0, dtype=np.uint64)
    c = codes.astype(np.uint64)
    h = np.zeros(n, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(k):
            h = h * _BASE + c[j:j + n]
        # splitmix64 finaliser: the low bits of a polynomial hash are poorly mixed.
        h ^= h >> np.uint64(30)
        h *= _MIX1
        h ^= h >> np.uint64(27)
        h *= _MIX2
        h ^= h >> np.uint64(31)
    return h


def winnow_positions(hashes: np.ndarray, w: int) -> np.ndarray:
    """Positions selected by robust winnowing (rightmost minimum of each window)."""
    n = hashes.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    if n <= w:
        return np.array([n - 1 - int(np.argmin(hashes[::-1]))], dtype=np.int64)
    windows = sliding_window_view(hashes, w)
    picks = (w - 1 - np.argmin(windows[:, ::-1], axis=1)) + np.arange(windows.shape[0])
    keep = np.ones(picks.shape[0], dtype=bool)
    keep[1:] = picks[1:] != picks[:-1]
    return picks[keep]


def fingerprint(tokens: TokenStream, params: WinnowParams = DEFAULT_PARAMS) -> Fingerprints:
    """Winnowed fingerprints of a token stream, mapped back to their lines."""
    hashes = kgram_hashes(tokens.codes, params.k)
    pos = winnow_positions(hashes, params.w)
    return Fingerprints(
        hashes=hashes[pos],
        start_lines=tokens.lines[pos].astype(np.uint32),
        end_lines=tokens.lines[pos + params.k - 1].astype(np.uint32),
    )

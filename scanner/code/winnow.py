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

from .tokens import TokenStream, is_word

_BASE = np.uint64(0x100000001B3)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
# Periodic k-grams get the largest hash: never a window's minimum unless all are periodic.
_NEVER = np.uint64(0xFFFFFFFFFFFFFFFF)
MAX_PERIOD = 6
MIN_WORDS = 4


@dataclass(frozen=True)
class WinnowParams:
    """k: tokens per k-gram (noise threshold); w: window (guarantee at k + w - 1 tokens)."""

    k: int = 20
    w: int = 12

    def key(self) -> str:
        """Stored with a corpus: a query must fingerprint the way the corpus was built.
        f is the version of the k-gram filters (periodic, wordless) and of what the index
        holds (3: identifier-keeping hashes, document frequencies, kept lines, genealogy; 4:
        distinct (hash, file) pairs with their rarity, postings by file)."""
        return f"k={self.k},w={self.w},f=4"


DEFAULT_PARAMS = WinnowParams()


@dataclass(frozen=True)
class Fingerprints:
    """The fingerprints of one file, in token order, with the lines each k-gram covers."""

    hashes: np.ndarray
    """uint64 k-gram hashes selected by winnowing."""
    named: np.ndarray
    """uint64 hashes of the same k-grams with each identifier's own code: equal when the
    copy kept the upstream's names."""
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
            h = h * _BASE + c[j : j + n]
    return _mix(h)


def named_kgram_hashes(codes: np.ndarray, pos: np.ndarray, k: int) -> np.ndarray:
    """Hashes of the k-grams starting at `pos` only (the positions winnowing selected)."""
    if pos.shape[0] == 0:
        return np.zeros(0, dtype=np.uint64)
    c = codes[pos[:, None] + np.arange(k)[None, :]].astype(np.uint64)
    h = np.zeros(c.shape[0], dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(k):
            h = h * _BASE + c[:, j]
    return _mix(h)


def _mix(h: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: the low bits of a polynomial hash are poorly mixed."""
    with np.errstate(over="ignore"):
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


def periodic_kgrams(codes: np.ndarray, k: int, max_period: int = MAX_PERIOD) -> np.ndarray:
    """True for each k-gram that repeats itself with a short period (`S , S , S ...` of a
    data table, `V = V ; V = V ;`): such runs say nothing about where code comes from, yet
    every list of strings has them."""
    n = codes.shape[0] - k + 1
    out = np.zeros(max(n, 0), dtype=bool)
    for p in range(1, max_period + 1):
        if n <= 0 or k <= p:
            break
        eq = np.zeros(codes.shape[0] + 1, dtype=np.int32)
        eq[1 : codes.shape[0] - p + 1] = np.cumsum(codes[:-p] == codes[p:])
        # k-gram i is p-periodic when codes[j] == codes[j+p] for j in [i, i+k-p).
        out |= (eq[k - p : k - p + n] - eq[:n]) == (k - p)
    return out


def wordless_kgrams(codes: np.ndarray, k: int, min_words: int = MIN_WORDS) -> np.ndarray:
    """True for each k-gram with fewer than `min_words` identifiers and keywords: data
    (`S : [ S , N ] ,`), not code."""
    n = codes.shape[0] - k + 1
    if n <= 0:
        return np.zeros(0, dtype=bool)
    words = np.zeros(codes.shape[0] + 1, dtype=np.int32)
    words[1:] = np.cumsum(is_word(codes))
    return (words[k : k + n] - words[:n]) < min_words


def fingerprint(tokens: TokenStream, params: WinnowParams = DEFAULT_PARAMS) -> Fingerprints:
    """Winnowed fingerprints of a token stream, mapped back to their lines."""
    hashes = kgram_hashes(tokens.codes, params.k)
    hashes[periodic_kgrams(tokens.codes, params.k)] = _NEVER
    hashes[wordless_kgrams(tokens.codes, params.k)] = _NEVER
    pos = winnow_positions(hashes, params.w)
    pos = pos[hashes[pos] != _NEVER]
    named = tokens.named if tokens.named is not None else tokens.codes
    return Fingerprints(
        hashes=hashes[pos],
        named=named_kgram_hashes(named, pos, params.k),
        start_lines=tokens.lines[pos].astype(np.uint32),
        end_lines=tokens.lines[pos + params.k - 1].astype(np.uint32),
    )

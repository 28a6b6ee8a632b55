"""Which output units of a wide matrix the fingerprint reads.

Every signal that survives disguises is a sum over a matrix's output units (hidden units of
an MLP, the dimensions of attention heads): the anchor forms are sum_j (E a_j)(E b_j)^T.
A large model has thousands of such units, and the evidence does not need all of them: a
fixed subset (the first 1/`every` of the hidden units, in whole blocks of `block`, and the
first 1/`every` of the attention heads) keeps the forms far beyond anything unrelated models
reach, while the fingerprint reads an eighth of each wide matrix instead of all of it.
Measured: on the lineage suite with every matrix sampled (bench/results/lineage_sampled.txt)
every verdict holds; on 2560-wide models a copy with permuted MLP units keeps forms at
z = 135 (z = 69 after heavy further perturbation) against z = 233 / 93 reading everything.
Hidden units and heads are exchangeable (nothing orders them but a random initialisation),
so the first ones are as good a sample as any; being contiguous, they are cheap to read
even where they are columns (W_o, W_down), and the first query heads of a grouped-query
model share the first key/value heads, so K and V are read in the same proportion.

The subset depends on the canonical shape alone, so a quantized, pruned or re-saved copy
reads the same units, and the statistics, sketches and content hashes are taken over the
same values on both sides. A copy whose hidden units were permuted keeps only part of the
subset (about 1/every of it): its forms stay derived, at a lower score. Large models also
take statistics (mean, std, sketch, content hash) from one block of rows in `stat_every`
of what is read. `ALL_UNITS` (the CLI's --all-units) reads and summarises every value.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .roles import Heads


@dataclass(frozen=True)
class Sampling:
    every: int = 8
    """Keep one block (or head) in this many."""
    above: int = 2048
    """Only matrices with more output units than this are sampled."""
    block: int = 64
    """Hidden units per MLP block (attention is sampled by whole heads)."""
    embed_above: int = 1 << 23
    """Embeddings above this many elements give their statistics from a row sample."""
    stat_every: int = 8
    """Statistics, sketch and content hash of a large tensor come from one block of
    `stat_block` rows (of what is read) in this many."""
    stat_block: int = 64
    stat_above: int = 1 << 18
    """Only tensors of which more values than this are read have sampled statistics."""
    band_values: int = 0
    """0: units as above. Else (REMOTE) every block matrix is read as its first rows
    alone, whole rows of about this many values (one at least), one contiguous range each,
    and only Q and K feed a form (the QK form, on their first `form_rows` rows: the first
    dimensions of the first head and of the key head it attends with)."""
    form_rows: int = 0
    anchors_most: int = 0
    """With band_rows: at most this many anchor embedding rows (the form anchors always)."""
    embed_blocks: int = 0
    """With band_rows: the embedding's statistics come from this many blocks of `block`
    rows, spread over it."""

    @property
    def banded(self) -> bool:
        return self.band_values > 0

    def units(self, n: int, block: int | None = None) -> np.ndarray | None:
        """The kept unit indices of n (ascending), or None when all are read."""
        block = block or self.block
        if self.every <= 1 or n <= self.above or block <= 0:
            return None
        return np.arange(min(n, -(-n // (block * self.every)) * block), dtype=np.int64)

    def stat_rows(self, rows: int, cols: int) -> np.ndarray | None:
        """Rows of a large embedding its statistics come from (None: every row)."""
        if self.banded:
            n = max(1, self.embed_blocks)
            starts = np.unique((np.arange(n) * max(1, rows - self.block)) // max(1, n - 1 or 1))
            return _blocks(starts[starts < rows], self.block, rows)
        if self.every <= 1 or rows * cols <= self.embed_above:
            return None
        return _blocks(np.arange(0, rows, self.block * self.every), self.block, rows)

    def stat_blocks(self, shape: tuple[int, ...]) -> list[tuple[int, int]] | None:
        """Row ranges of a tensor (as read) its statistics come from (None: all rows)."""
        if self.stat_every <= 1 or len(shape) != 2 or shape[0] * shape[1] <= self.stat_above:
            return None
        step = self.stat_block * self.stat_every
        return [(r, min(shape[0], r + self.stat_block)) for r in range(0, shape[0], step)]

    def describe(self) -> dict[str, int]:
        """As the fingerprint's meta records it (`sampling_from` reads it back)."""
        out = {
            "every": self.every,
            "above_units": self.above,
            "block": self.block,
            "embed_above_elements": self.embed_above,
            "stat_every": self.stat_every,
            "stat_block": self.stat_block,
            "stat_above_values": self.stat_above,
        }
        if self.banded:  # keys only a banded sampling has: older fingerprints stay equal
            out |= {
                "band_values": self.band_values,
                "form_rows": self.form_rows,
                "anchors_most": self.anchors_most,
                "embed_blocks": self.embed_blocks,
            }
        return out

    @property
    def name(self) -> str:
        known = {DEFAULT: "default", ALL_UNITS: "all units", REMOTE: "remote"}
        return known.get(self, "custom")


def _blocks(starts: np.ndarray, block: int, n: int) -> np.ndarray:
    idx = (starts[:, None] + np.arange(block)[None, :]).reshape(-1)
    return idx[idx < n].astype(np.int64)


DEFAULT = Sampling()
ALL_UNITS = Sampling(every=1, stat_every=1)
# Remote fingerprints (a Hub target read by byte ranges, formats/ranged.py): a few
# contiguous rows of each matrix instead of an eighth of its units, which for W_o and
# W_down are columns (a range request per row). Measured on the real panel and the lineage
# suite: bench/results/remote_fingerprints.txt.
REMOTE = Sampling(
    every=1,
    stat_every=1,
    block=16,
    band_values=1024,
    form_rows=16,
    anchors_most=64,
    embed_blocks=4,
)
PRESETS = (DEFAULT, ALL_UNITS, REMOTE)


def sampling_from(described: object) -> Sampling | None:
    """The preset a fingerprint's meta["sampling"] describes (None: none of them)."""
    return next((s for s in PRESETS if s.describe() == described), None)


@dataclass(frozen=True)
class HeadPlan:
    """The query heads read, the key/value heads they attend with, and how they pair."""

    q_heads: np.ndarray
    kv_heads: np.ndarray
    """Unique, ascending: the rows of K and V that are read."""
    kv_of_q: np.ndarray
    """For each read query head, its key/value head's position in kv_heads."""
    head_dim: int
    n_heads: int
    n_kv: int

    @property
    def sampled(self) -> bool:
        return len(self.q_heads) < self.n_heads

    def q_units(self) -> np.ndarray:
        return _blocks(self.q_heads * self.head_dim, self.head_dim, self.n_heads * self.head_dim)

    def kv_units(self) -> np.ndarray:
        return _blocks(self.kv_heads * self.head_dim, self.head_dim, self.n_kv * self.head_dim)

    def expand(self, r: np.ndarray, axis: int = -1) -> np.ndarray:
        """Key/value head slices (kv_heads order along `axis`) lined up with the query heads."""
        if len(self.kv_of_q) == len(self.kv_heads):  # one query head per kv head: as is
            return r
        axis = axis % r.ndim
        shape = r.shape
        split = r.reshape(*shape[:axis], len(self.kv_heads), self.head_dim, *shape[axis + 1 :])
        out = np.take(split, self.kv_of_q, axis=axis)
        return out.reshape(*shape[:axis], len(self.q_heads) * self.head_dim, *shape[axis + 1 :])


def head_plan(heads: Heads, sampling: Sampling) -> HeadPlan | None:
    """Which heads to read; None when the geometry is unknown or inconsistent."""
    h, kv, hd = heads.n_heads, heads.n_kv, heads.head_dim
    if not h or not kv or not hd or h % kv:
        return None
    q = np.arange(h)
    if sampling.every > 1 and h * hd > sampling.above:
        q = q[: -(-h // sampling.every)]
    kv_of = q // (h // kv)
    kv_heads, kv_of_q = np.unique(kv_of, return_inverse=True)
    return HeadPlan(
        q.astype(np.int64),
        kv_heads.astype(np.int64),
        kv_of_q.reshape(-1).astype(np.int64),
        int(hd),
        int(h),
        int(kv),
    )

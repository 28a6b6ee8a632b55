"""A vocabulary in a fingerprint: whole when it fits, else a bottom-k sample of its tokens.

A 262k-token vocabulary is 2 MB of hashes, more than 1% of a 4-bit checkpoint of its
model. What the comparison asks of vocabularies (how much two of them share, whether
shared tokens kept their ids) a sample answers: the k tokens with the smallest public
string hashes, the same order the anchor tokens are picked in. Two such samples estimate
the Jaccard index of their vocabularies without bias (the k smallest hashes of the union,
and how many of them both hold: the bottom-k sketch), within about sqrt(J(1-J)/k).
A vocabulary small enough is kept whole, and the figures are then exact.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

VOCAB_SAMPLE_MIN = 1024
"""The fewest tokens a sample keeps (the Jaccard index to about +-0.015)."""


@dataclass(frozen=True)
class VocabSample:
    """The tokens of a vocabulary with the smallest hashes, and the id of each."""

    hashes: np.ndarray
    """int64, ascending, distinct."""
    ids: np.ndarray
    """int64: the token id of each hash (its first id where a string repeats)."""
    size: int
    """Distinct tokens of the whole vocabulary."""

    @property
    def complete(self) -> bool:
        return len(self.hashes) == self.size

    def by_id(self) -> np.ndarray | None:
        """The hashes in id order, where the sample is the whole of a vocabulary of distinct
        tokens (ids 0..size-1); None otherwise."""
        if not self.complete or (self.size and int(self.ids.max()) != self.size - 1):
            return None
        out = np.empty(self.size, dtype=np.int64)
        out[self.ids] = self.hashes
        return out

    @classmethod
    def of(cls, hashes_by_id: np.ndarray, keep: int | None = None) -> VocabSample:
        """The sample of a vocabulary given its token hashes in id order (None: whole)."""
        uniq, first = np.unique(np.asarray(hashes_by_id, dtype=np.int64), return_index=True)
        k = len(uniq) if keep is None else max(0, min(len(uniq), keep))
        return cls(uniq[:k], first[:k].astype(np.int64), len(uniq))


@dataclass(frozen=True)
class Overlap:
    """How much two vocabularies share (estimated from samples unless both are whole)."""

    jaccard: float
    shared: int
    """Tokens both hold (estimated: jaccard x the union's size)."""
    same_id_fraction: float
    """Of the shared tokens seen, those with the same id in both."""
    sample: int
    """Tokens of the union the figures come from."""
    exact: bool


def overlap(a: VocabSample, b: VocabSample) -> Overlap:
    if a.complete and b.complete:
        both, ia, ib = np.intersect1d(a.hashes, b.hashes, assume_unique=True, return_indices=True)
        union = a.size + b.size - len(both)
        same = int(np.sum(a.ids[ia] == b.ids[ib]))
        return Overlap(len(both) / max(union, 1), len(both), same / max(len(both), 1), union, True)
    k = min(len(a.hashes), len(b.hashes))
    union_k = np.union1d(a.hashes[:k], b.hashes[:k])[:k]
    in_a = np.isin(union_k, a.hashes[:k], assume_unique=True)
    in_b = np.isin(union_k, b.hashes[:k], assume_unique=True)
    seen = union_k[in_a & in_b]
    jac = len(seen) / max(k, 1)
    _, ia, ib = np.intersect1d(a.hashes[:k], b.hashes[:k], assume_unique=True, return_indices=True)
    pos_a = dict(zip(a.hashes[ia].tolist(), a.ids[ia].tolist(), strict=True))
    pos_b = dict(zip(b.hashes[ib].tolist(), b.ids[ib].tolist(), strict=True))
    same = sum(1 for h in seen.tolist() if pos_a[h] == pos_b[h])
    union_size = (a.size + b.size) / (1 + jac)
    return Overlap(jac, round(jac * union_size), same / max(len(seen), 1), k, False)

"""The first stage: which few library entries deserve the calibrated comparison.

Everything here works on index keys (keys.py) held as numpy arrays, built once per process
and library generation: an exact inverted index over slots and vocabulary hashes, and
vectorised scores over all entries (10,000 entries: tens of milliseconds). Nothing here
decides a verdict; a candidate is only a model worth comparing.

Channels, strongest first (a weaker one is asked only when the stronger find nothing):
  content   mean cosine of the sketches of same-shape tensors (copies, fine-tunes,
            quantizations, pruned or upcycled copies keep their first blocks)
  embedding correlation of the anchor tokens' embedding cosines (keys.py: survives
            rotations, permutations, width and vocabulary changes)
  vocabulary / shape   shared vocabulary, then the std curves and the width: a hint, for
            models whose tensors and tokens meet nothing stronger
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .keys import GRAM_ANCHORS, IndexKey

MAX_CANDIDATES = 4
"""Calibrated comparisons per query at most (each 0.1 to 1 s on a small model)."""
CONTENT_FLOOR = 0.5
# Unrelated tensors' sketch slices have cosines ~ N(0, 1/64) each; averaged over the
# slots two models share, a mean of 0.5 is beyond ten standard deviations.
GRAM_FLOOR = 0.8
# Unrelated models sharing a tokenizer reach 0.5 (all-MiniLM-L6-v2 vs all-mpnet-base-v2);
# a copy, fine-tune or Q4 quantization stays above 0.99.
GRAM_MIN_SHARED = 8
VOCAB_FLOOR = 0.5
NEAR, NEAR_EPS = 4.0, 1e-3
"""Beyond the best candidate of a channel, only those within NEAR times its distance
(1 - score) plus NEAR_EPS are compared: the base of a release is its nearest entry, and
siblings derived from it lie farther (their own changes add to the release's)."""
WEAK_CANDIDATES = 2
_NONE = np.iinfo(np.int64).min


@dataclass(frozen=True)
class Candidate:
    """An entry the first stage picked, and why."""

    name: str
    channel: str
    """content, embedding, vocabulary or shape."""
    score: float
    """The channel's score (cosine, correlation, shared share, or shape similarity)."""


class LibraryIndex:
    """Index keys of every searchable entry, as arrays."""

    def __init__(self, names: list[str], keys: list[IndexKey]):
        self.names = list(names)
        n = len(keys)
        self.size = n
        self._slots = _slot_index(keys)
        self._anchors, self._gram = _gram_arrays(keys)
        """(n, GRAM_ANCHORS) anchor hashes; (n, GRAM_ANCHORS**2) their cosines, flat."""
        self._anchor_lists, self._anchor_list_of = _anchor_lists(self._anchors)
        self._vocab_hash, self._vocab_row, self._vocab_len = _vocab_arrays(keys)
        self._stats = (
            np.stack([k.stats for k in keys]).astype(np.float32)
            if n
            else np.zeros((0, 0), np.float32)
        )
        self._d = np.array([k.d for k in keys], np.int64)

    # ---- channel scores over every entry ---------------------------------------------------

    def content_scores(self, key: IndexKey) -> tuple[np.ndarray, np.ndarray]:
        """Mean sketch cosine over shared slots, and how many slots were shared."""
        total = np.zeros(self.size, np.float64)
        count = np.zeros(self.size, np.int64)
        for i, slot in enumerate(key.slots):
            hit = self._slots.get(slot)
            if hit is None:
                continue
            rows, mat = hit
            total[rows] += mat @ key.content[i].astype(np.float32)
            count[rows] += 1
        return total / np.maximum(count, 1), count

    def embedding_scores(self, key: IndexKey) -> tuple[np.ndarray, np.ndarray]:
        """Correlation of the embedding cosines over shared anchors, and how many shared.

        Entries hold a few distinct anchor lists (anchors come from a common token list
        first): where the query's anchors sit in each is found once per list, then the
        cosines of the anchor pairs both hold are gathered for every entry at once."""
        r = np.full(self.size, np.nan)
        m = len(key.anchors)
        if m < GRAM_MIN_SHARED or self.size == 0:
            return r, np.zeros(self.size, np.int64)
        eq = self._anchor_lists[:, :, None] == key.anchors[None, None, :]  # (lists, M, m)
        has_l = eq.any(axis=1)
        shared = has_l.sum(axis=1)[self._anchor_list_of]
        rows = np.flatnonzero(shared >= GRAM_MIN_SHARED)
        if len(rows) == 0:
            return r, shared
        lists = self._anchor_list_of[rows]
        pos, has = eq.argmax(axis=1)[lists], has_l[lists]
        i, j = np.triu_indices(m, 1)
        w = (has[:, i] & has[:, j]).astype(np.float32)
        flat = pos[:, i] * self._anchors.shape[1] + pos[:, j]
        x = np.take_along_axis(self._gram[rows], flat, axis=1).astype(np.float32)
        y = key.gram[i, j].astype(np.float32)[None, :]
        cnt = w.sum(axis=1)
        dx = x - (x * w).sum(axis=1, keepdims=True) / cnt[:, None]
        dy = y - (y * w).sum(axis=1, keepdims=True) / cnt[:, None]
        cov = (w * dx * dy).sum(axis=1)
        var = (w * dx * dx).sum(axis=1) * (w * dy * dy).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            r[rows] = np.where(var > 0, cov / np.sqrt(var), np.nan)
        return r, shared

    def vocabulary_scores(self, key: IndexKey) -> np.ndarray:
        """The share of the query's vocabulary sketch each entry's sketch holds."""
        out = np.zeros(self.size, np.float64)
        if len(key.vocab) == 0 or len(self._vocab_hash) == 0:
            return out
        lo = np.searchsorted(self._vocab_hash, key.vocab, "left")
        hi = np.searchsorted(self._vocab_hash, key.vocab, "right")
        hits = [self._vocab_row[a:b] for a, b in zip(lo, hi, strict=True) if b > a]
        if hits:
            counts = np.bincount(np.concatenate(hits), minlength=self.size)
            out = counts / np.maximum(np.minimum(self._vocab_len, len(key.vocab)), 1)
        return out

    def shape_scores(self, key: IndexKey) -> np.ndarray:
        """1 / (1 + rms distance of the log std curves), halved for another width."""
        out = np.zeros(self.size, np.float64)
        if self.size == 0:
            return out
        both = np.isfinite(self._stats) & np.isfinite(key.stats)[None, :]
        n = both.sum(axis=1)
        diff = np.where(both, self._stats - key.stats[None, :], 0.0)
        rms = np.sqrt((diff * diff).sum(axis=1) / np.maximum(n, 1))
        out = np.where(n >= 4, 1.0 / (1.0 + rms), 0.0)
        return np.where(self._d == key.d, out, out / 2)

    # ---- the pick --------------------------------------------------------------------------

    def candidates(self, key: IndexKey, limit: int = MAX_CANDIDATES) -> list[Candidate]:
        """The entries worth a calibrated comparison, nearest first (see the docstring)."""
        if self.size == 0 or limit <= 0:
            return []
        content, slots = self.content_scores(key)
        need = min(2, len(key.slots))
        content_ok = (slots >= max(need, 1)) & (content >= CONTENT_FLOOR)
        embed, _ = self.embedding_scores(key)
        embed_ok = np.nan_to_num(embed, nan=-1.0) >= GRAM_FLOOR
        picked = _near(content, content_ok, "content")
        by_embedding = _near(np.nan_to_num(embed, nan=-1.0), embed_ok, "embedding")
        if picked:
            # The best embedding match too: it survives what breaks the content channel.
            picked += by_embedding[:1]
        else:
            picked = by_embedding
        if not picked:
            picked = self._weak(key)
        out: list[Candidate] = []
        seen: set[int] = set()
        for row, channel, score in picked:
            if row not in seen:
                seen.add(row)
                score = min(1.0, float(score))  # float16 rows: a hair above 1 for a copy
                out.append(Candidate(self.names[row], channel, round(score, 6)))
        return out[:limit]

    def _weak(self, key: IndexKey) -> list[tuple[int, str, float]]:
        vocab = self.vocabulary_scores(key)
        shape = self.shape_scores(key)
        order = np.lexsort((-shape, -(vocab >= VOCAB_FLOOR).astype(np.int64)))
        out = []
        for row in order[:WEAK_CANDIDATES]:
            if vocab[row] >= VOCAB_FLOOR:
                out.append((int(row), "vocabulary", float(vocab[row])))
            elif shape[row] > 0:
                out.append((int(row), "shape", float(shape[row])))
        return out


def _near(score: np.ndarray, ok: np.ndarray, channel: str) -> list[tuple[int, str, float]]:
    rows = np.flatnonzero(ok)
    if len(rows) == 0:
        return []
    rows = rows[np.argsort(-score[rows], kind="stable")][: 4 * MAX_CANDIDATES]
    best = 1.0 - float(score[rows[0]])
    limit = NEAR * max(best, 0.0) + NEAR_EPS
    return [(int(r), channel, float(score[r])) for r in rows if 1.0 - score[r] <= limit]


def _slot_index(keys: list[IndexKey]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rows: dict[str, list[int]] = {}
    vecs: dict[str, list[np.ndarray]] = {}
    for i, k in enumerate(keys):
        for slot, v in zip(k.slots, k.content, strict=True):
            rows.setdefault(slot, []).append(i)
            vecs.setdefault(slot, []).append(v)
    return {s: (np.array(rows[s], np.int64), np.stack(vecs[s]).astype(np.float32)) for s in rows}


def _gram_arrays(keys: list[IndexKey]) -> tuple[np.ndarray, np.ndarray]:
    n, m = len(keys), GRAM_ANCHORS
    anchors = np.full((n, m), _NONE, np.int64)
    gram = np.zeros((n, m, m), np.float16)
    for i, k in enumerate(keys):
        a = len(k.anchors)
        anchors[i, :a] = k.anchors
        gram[i, :a, :a] = k.gram
    return anchors, gram.reshape(n, m * m)


def _anchor_lists(anchors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct anchor lists, and which one each entry holds."""
    if len(anchors) == 0:
        return anchors.reshape(0, anchors.shape[1], 1)[:, :, 0], np.zeros(0, np.int64)
    lists, of = np.unique(anchors, axis=0, return_inverse=True)
    return lists, of.reshape(-1).astype(np.int64)


def _vocab_arrays(keys: list[IndexKey]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    lens = np.array([len(k.vocab) for k in keys], np.int64)
    if not keys or lens.sum() == 0:
        return np.zeros(0, np.uint64), np.zeros(0, np.int64), lens
    flat = np.concatenate([k.vocab for k in keys]).astype(np.uint64)
    owner = np.repeat(np.arange(len(keys), dtype=np.int64), lens)
    order = np.argsort(flat, kind="stable")
    return flat[order], owner[order], lens

"""Which reference file a release file's code comes from, and how strong the evidence is.

Every fingerprint the file shares with a reference file is evidence, weighed by how rare
it is in the corpus (its document frequency): a k-gram that hundreds of corpus files hold
(`self.I = I(I.I, I.I)` in every model) says nothing about where this file comes from, one
that only a few hold says much. A fingerprint whose identifiers match too (the copy kept
the upstream's names) is weighed by the rarity of that named form; one that matches only
up to renaming weighs half as much. Fingerprints lying in import statements or def/class
signatures weigh nothing: independently written files share them by necessity.

The reference files with the most evidence are the candidates. Among those within a
near-tie of the best, the choice follows what a reviewer would pick: a byte-identical
file, then the file at the same path, then the original over the files the corpus says
were copied from it (its genealogy), then the most specific (the one the shared part
covers most of).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .index import LoadedCorpus
from .regions import Match, Region, pair_matches, regions_of
from .winnow import Fingerprints

MAX_POSTINGS_PER_HASH = 50_000
"""A fingerprint in more reference positions than this weighs nothing anyway (bounds the
work of a query whatever the corpus)."""
RENAMED_WEIGHT = 0.5
"""What a fingerprint matching only up to renaming weighs, against one whose names match."""
NEAR_TIE = 0.1
"""Candidates within this fraction of the best evidence are tied with it."""
TOP = 8
"""Candidates per corpus that get their regions computed."""
GENERIC_NAMES = frozenset(
    {"__init__.py", "utils.py", "util.py", "common.py", "base.py", "main.py", "__main__.py"}
)
"""File names too common to make a same-path match on their own."""


def rarity(df: np.ndarray, files: int) -> np.ndarray:
    """The evidence of a fingerprint held by `df` of the corpus's `files` files: 1 for one
    file, falling as log(files / df) / log(files) to 0 for a fingerprint in every file."""
    n = max(files, 2)
    d = np.maximum(df.astype(np.float64), 1.0)
    return np.clip(np.log(n / d) / math.log(n), 0.0, 1.0)


@dataclass(frozen=True)
class Query:
    """One release file, ready to be looked up."""

    fps: Fingerprints
    counted: np.ndarray
    """bool per fingerprint: False for those lying in imports or signatures (they weigh
    nothing and are not counted in the shares)."""
    path: str | None = None
    sha256: str | None = None

    @property
    def distinct(self) -> int:
        """Distinct counted fingerprints of the file."""
        return int(np.unique(self.fps.hashes[self.counted]).shape[0])


@dataclass(frozen=True)
class Candidate:
    """A reference file sharing fingerprints with the target."""

    corpus: LoadedCorpus
    idx: int
    shared: int
    """Distinct counted target fingerprints found in this reference file."""
    named: int
    """Of them, those whose identifiers match too."""
    evidence: float
    """Their summed weights."""
    share: float
    """shared / distinct counted fingerprints of the target."""
    upstream_share: float
    """shared / distinct fingerprints of the reference file."""
    identical: bool = False
    """Byte-identical to the target."""
    same_path: int = 0
    """Trailing path names the target and this file have in common (0 when not telling)."""

    @property
    def path(self) -> str:
        return self.corpus.paths[self.idx]


def same_path_depth(target: str | None, upstream: str) -> int:
    """How many trailing names two paths share ('models/bert/__init__.py' and 'transformers/
    models/bert/__init__.py': 3); a generic file name alone does not count."""
    if not target:
        return 0
    a, b = target.lower().split("/"), upstream.lower().split("/")
    n = 0
    while n < min(len(a), len(b)) and a[-1 - n] == b[-1 - n]:
        n += 1
    if n == 1 and a[-1] in GENERIC_NAMES:
        return 0
    return n


def _lookup(q: Query, corpus: LoadedCorpus) -> tuple[np.ndarray, np.ndarray] | None:
    """(target fingerprint index, posting index) of every shared fingerprint occurrence."""
    hashes = q.fps.hashes
    if hashes.shape[0] == 0 or corpus.hashes.shape[0] == 0:
        return None
    lo = np.searchsorted(corpus.hashes, hashes, side="left")
    hi = np.searchsorted(corpus.hashes, hashes, side="right")
    cnt = hi - lo
    cnt[cnt > MAX_POSTINGS_PER_HASH] = 0
    total = int(cnt.sum())
    if total == 0:
        return None
    ti = np.repeat(np.arange(hashes.shape[0], dtype=np.int64), cnt)
    offs = (
        np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(cnt) - cnt, cnt) + np.repeat(lo, cnt)
    )
    return ti, offs


def candidates(q: Query, corpus: LoadedCorpus, top: int = TOP) -> list[Candidate]:
    """The reference files of one corpus with the most evidence, and any byte-identical or
    same-path file sharing fingerprints, best first."""
    found = _lookup(q, corpus)
    if found is None:
        return []
    ti, offs = found
    nfiles = len(corpus.paths)
    files = corpus.file_idx[offs].astype(np.int64)
    named = corpus.named[offs] == q.fps.named[ti]
    counted = q.counted[ti]
    weight = counted * np.where(
        named,
        rarity(corpus.named_df[offs], nfiles),
        RENAMED_WEIGHT * rarity(corpus.df[offs], nfiles),
    )
    # One value per (distinct target hash, file): its best pairing, counted ones first.
    _, hidx = np.unique(q.fps.hashes[ti], return_inverse=True)
    key = hidx.astype(np.int64) * nfiles + files
    order = np.lexsort((-weight, ~counted, key))
    key, weight, named, files = key[order], weight[order], named[order], files[order]
    first = np.ones(key.shape[0], dtype=bool)
    first[1:] = key[1:] != key[:-1]
    first &= counted[order]
    f_first = files[first]
    evidence = np.bincount(f_first, weights=weight[first], minlength=nfiles)
    shared = np.bincount(f_first, minlength=nfiles)
    named_n = np.bincount(f_first, weights=named[first].astype(np.float64), minlength=nfiles)
    hit = np.flatnonzero(shared)
    best = hit[np.argsort(-evidence[hit], kind="stable")[:top]].tolist()
    touched = set(np.unique(files).tolist())
    identical = set(corpus.identical_to(q.sha256)) & touched
    same = {i for i in corpus.named_like(q.path) if i in touched and _same(q, corpus, i) >= 2}
    distinct = max(q.distinct, 1)
    return [
        Candidate(
            corpus=corpus,
            idx=int(i),
            shared=int(shared[i]),
            named=int(named_n[i]),
            evidence=float(evidence[i]),
            share=float(shared[i]) / distinct,
            upstream_share=float(shared[i]) / max(int(corpus.file_fps[i]), 1),
            identical=i in identical,
            same_path=_same(q, corpus, int(i)),
        )
        for i in dict.fromkeys([*best, *sorted(identical), *sorted(same)])
    ]


def _same(q: Query, corpus: LoadedCorpus, idx: int) -> int:
    return same_path_depth(q.path, corpus.paths[idx])


def choose(found: list[Candidate]) -> tuple[Candidate, list[Candidate]] | None:
    """The upstream among the candidates of every corpus, and the others (best first)."""
    if not found:
        return None
    found = sorted(
        found, key=lambda c: (-c.evidence, -c.upstream_share, c.corpus.info.name, c.path)
    )
    identical = [c for c in found if c.identical]
    if identical:
        best = max(identical, key=lambda c: (c.same_path, c.evidence))
    else:
        floor = found[0].evidence * (1 - NEAR_TIE)
        near = [c for c in found if c.evidence >= floor]
        near = _originals(near)
        best = max(near, key=lambda c: (c.same_path, c.upstream_share, c.evidence))
    return best, [c for c in found if c is not best]


def _originals(near: list[Candidate]) -> list[Candidate]:
    """The near-tied candidates that no other near-tied candidate was copied from."""
    keep = [
        c
        for c in near
        if not any(
            o is not c and o.corpus is c.corpus and c.corpus.genealogy.is_original_of(o.idx, c.idx)
            for o in near
        )
    ]
    return keep or near


def matches_with(q: Query, cand: Candidate) -> list[Match]:
    """The target's counted fingerprints found in one reference file, paired in order."""
    corpus = cand.corpus
    mine = np.flatnonzero(corpus.file_idx == cand.idx)
    ref_h = corpus.hashes[mine]
    lo = np.searchsorted(ref_h, q.fps.hashes, side="left")
    hi = np.searchsorted(ref_h, q.fps.hashes, side="right")
    nfiles = len(corpus.paths)
    named = np.zeros(q.fps.hashes.shape[0], dtype=bool)
    weight = np.zeros(q.fps.hashes.shape[0], dtype=np.float64)
    cands: list[np.ndarray] = []
    ref_named, ref_df, ref_ndf = corpus.named[mine], corpus.df[mine], corpus.named_df[mine]
    for i in range(q.fps.hashes.shape[0]):
        a, b = int(lo[i]), int(hi[i])
        if a == b:
            cands.append(np.zeros(0, dtype=np.int64))
            continue
        same = np.flatnonzero(ref_named[a:b] == q.fps.named[i]) + a
        # Imports and signatures stay in the regions (copied code is contiguous) but
        # weigh nothing.
        if same.shape[0]:
            named[i] = True
            weight[i] = float(rarity(ref_ndf[same[:1]], nfiles)[0]) * q.counted[i]
            cands.append(same)
        else:
            weight[i] = RENAMED_WEIGHT * float(rarity(ref_df[a : a + 1], nfiles)[0]) * q.counted[i]
            cands.append(np.arange(a, b, dtype=np.int64))
    return pair_matches(
        q.fps.start_lines,
        q.fps.end_lines,
        cands,
        corpus.start_lines[mine].astype(np.int64),
        corpus.end_lines[mine].astype(np.int64),
        weight,
        named,
    )


def regions_with(q: Query, cand: Candidate) -> list[Region]:
    return regions_of(matches_with(q, cand))

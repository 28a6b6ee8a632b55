"""Which reference file a release file's code comes from, and how strong the evidence is.

Every fingerprint the file shares with a reference file is evidence, weighed by its rarity
in the corpus (rarity.py): boilerplate that hundreds of corpus files hold weighs little. A
fingerprint whose identifiers match too (the copy kept the upstream's names) weighs the
rarity of that named form; one that matches only up to renaming weighs half its rarity.
Fingerprints lying in import statements or def/class signatures weigh nothing:
independently written files share them by necessity.

The reference files with the most evidence are the candidates. Among those within a
near-tie of the best, the choice follows what a reviewer would pick: a byte-identical
file, then the file at the same path, then the original over the files the corpus says
were copied from it (its genealogy), then the most specific (the one the shared part
covers most of).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .index import LoadedCorpus, Pairs
from .regions import Match, Region, pair_matches, regions_of
from .winnow import Fingerprints

MAX_FILES_PER_HASH = 50_000
"""A fingerprint in more reference files than this weighs nothing anyway (bounds the work
of a query whatever the corpus)."""
RENAMED_WEIGHT = 0.5
"""What a fingerprint matching only up to renaming weighs, against one whose names match."""
NEAR_TIE = 0.1
"""Candidates within this fraction of the best evidence are tied with it."""
TOP = 8
"""Candidates kept per corpus, by evidence."""
GENERIC_NAMES = frozenset(
    {"__init__.py", "utils.py", "util.py", "common.py", "base.py", "main.py", "__main__.py"}
)
"""File names too common to make a same-path match on their own."""


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


@dataclass(frozen=True, eq=False)
class Candidate:
    """A reference file sharing fingerprints with the target."""

    corpus: LoadedCorpus
    idx: int
    shared: int
    """Distinct counted target fingerprints found in this reference file."""
    named: int
    """Distinct counted target fingerprints found there with their identifiers."""
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
    weights: tuple[np.ndarray, np.ndarray] = field(default=(np.zeros(0), np.zeros(0)), repr=False)
    """Per target fingerprint, its rarity in this corpus: as found, and with its names."""

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


def _expand(pairs: Pairs, keys: np.ndarray, use: np.ndarray) -> tuple[np.ndarray, ...]:
    """(key index, file, rarity) of every pair holding one of the keys (where `use`), and
    each key's rarity (0 when no file holds it)."""
    lo = np.searchsorted(pairs.hashes, keys, side="left")
    hi = np.searchsorted(pairs.hashes, keys, side="right")
    found = hi > lo
    key_rarity = np.where(found, pairs.rarity[np.minimum(lo, len(pairs.rarity) - 1)], 0.0)
    cnt = np.where(use & (hi - lo <= MAX_FILES_PER_HASH), hi - lo, 0)
    total = int(cnt.sum())
    ki = np.repeat(np.arange(keys.shape[0], dtype=np.int64), cnt)
    offs = (
        np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(cnt) - cnt, cnt) + np.repeat(lo, cnt)
    )
    return ki, pairs.files[offs].astype(np.int64), pairs.rarity[offs], key_rarity


def candidates(q: Query, corpus: LoadedCorpus, top: int = TOP) -> list[Candidate]:
    """The reference files of one corpus with the most evidence, and any byte-identical or
    same-path file sharing fingerprints, best first."""
    if len(q.fps) == 0 or corpus.pairs.hashes.shape[0] == 0:
        return []
    nfiles = len(corpus.paths)
    # Distinct hashes (counted where any of their positions is), and distinct named hashes.
    uniq, inv = np.unique(q.fps.hashes, return_inverse=True)
    counted_u = np.bincount(inv, weights=q.counted, minlength=uniq.shape[0]) > 0
    ki, files, rar, key_rarity = _expand(corpus.pairs, uniq, counted_u)
    shared = np.bincount(files, minlength=nfiles)
    evidence = np.bincount(files, weights=RENAMED_WEIGHT * rar, minlength=nfiles)
    r_norm = key_rarity[inv]
    names, first, ninv = np.unique(q.fps.named, return_index=True, return_inverse=True)
    counted_n = np.bincount(ninv, weights=q.counted, minlength=names.shape[0]) > 0
    nki, nfiles_, nrar, nkey_rarity = _expand(corpus.named_pairs, names, counted_n)
    # A named match is a match up to renaming too: it adds what its names weigh above that.
    extra = nrar - RENAMED_WEIGHT * r_norm[first[nki]]
    evidence += np.bincount(nfiles_, weights=extra, minlength=nfiles)
    named = np.bincount(nfiles_, minlength=nfiles)
    r_named = nkey_rarity[ninv]
    hit = np.flatnonzero(shared)
    best = hit[np.argsort(-evidence[hit], kind="stable")[:top]].tolist()
    identical = corpus.identical_to(q.sha256)
    same = [i for i in corpus.named_like(q.path) if shared[i] and _same(q, corpus, i) >= 2]
    distinct = max(int(counted_u.sum()), 1)
    return [
        Candidate(
            corpus=corpus,
            idx=int(i),
            shared=int(shared[i]),
            named=int(named[i]),
            evidence=float(evidence[i]),
            share=float(shared[i]) / distinct,
            upstream_share=float(shared[i]) / max(int(corpus.file_fps[i]), 1),
            identical=i in identical,
            same_path=_same(q, corpus, int(i)),
            weights=(r_norm, r_named),
        )
        for i in dict.fromkeys([*best, *identical, *same])
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
        near = _originals([c for c in found if c.evidence >= floor])
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
    """The target's fingerprints found in one reference file, paired in order; those in
    imports and signatures stay in the regions (copied code is contiguous) but weigh
    nothing."""
    corpus = cand.corpus
    mine = corpus.postings_of(cand.idx)
    order = np.argsort(corpus.hashes[mine], kind="stable")
    mine = mine[order]
    ref_h, ref_n = corpus.hashes[mine], corpus.named[mine]
    lo = np.searchsorted(ref_h, q.fps.hashes, side="left")
    hi = np.searchsorted(ref_h, q.fps.hashes, side="right")
    by_name = np.argsort(ref_n, kind="stable")
    nlo = np.searchsorted(ref_n[by_name], q.fps.named, side="left")
    nhi = np.searchsorted(ref_n[by_name], q.fps.named, side="right")
    named = nhi > nlo
    r_norm, r_named = cand.weights
    weight = q.counted * np.where(named, r_named, RENAMED_WEIGHT * r_norm)
    cands = [
        by_name[a:b] if n else np.arange(c, d)
        for a, b, c, d, n in zip(
            nlo.tolist(), nhi.tolist(), lo.tolist(), hi.tolist(), named.tolist(), strict=True
        )
    ]
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

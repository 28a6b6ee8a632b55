"""A release's weights against the library: the first stage picks, the calibrated comparison
decides, nearest first.

The index is built once per process and library generation (a batch worker builds it for
its first target only). Each candidate's fingerprint is read from the store and compared
with `compare_fingerprints`, the same comparison as `compare` and `scan --against`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from ..compare import Comparison, compare_fingerprints
from ..fingerprint import Fingerprint
from .index import MAX_CANDIDATES, Candidate, LibraryIndex
from .keys import key_of
from .store import LibraryEntry, LibraryStore

MATCHING = ("identical", "derived")
"""Verdicts that name a base; shared-components is reported, as a lesser claim."""

_lock = threading.Lock()
_cached: dict[str, tuple[int, LibraryIndex]] = {}


@dataclass(frozen=True)
class Searched:
    """One candidate and what the calibrated comparison made of it."""

    candidate: Candidate
    entry: LibraryEntry
    comparison: Comparison

    @property
    def matches(self) -> bool:
        """Named as a base: identical or derived, not a sibling (a common ancestor)."""
        cmp = self.comparison
        return cmp.verdict in MATCHING and cmp.relation != "sibling"

    def strength(self) -> tuple[int, float, float]:
        """How near: identical first, then derived; among those, the entries whose weights
        the first stage found close (content: sketch cosines of the same tensors), by that
        closeness, then the best deciding signal's score.

        The weights' own closeness ranks derivatives of one base: the base lies nearer a
        release than a sibling derived from it (the sibling's changes add to the
        release's), while a deciding score also moves with how many layers each side's
        fingerprint holds (a pruned release meets a shallow entry's few layers better)."""
        cmp = self.comparison
        deciding = [
            s.score
            for s in cmp.signals
            if s.significant and s.name in ("direct_cosine", "aligned_forms", "experts_vs_dense")
        ]
        tier = {"identical": 2, "derived": 1}.get(cmp.verdict, 0) if self.matches else 0
        content = self.candidate.score if self.candidate.channel == "content" else -1.0
        return tier, content, max(deciding, default=self.candidate.score)


@dataclass(frozen=True)
class LibraryOutcome:
    """The search of one fingerprint."""

    entries: int
    """Entries in the library."""
    searched: int
    """Entries of the current fingerprint format (the others are `stale`)."""
    stale: tuple[str, ...]
    results: tuple[Searched, ...]
    """Every candidate compared, nearest first."""

    @property
    def matches(self) -> tuple[Searched, ...]:
        return tuple(r for r in self.results if r.matches)


def library_index(lib: LibraryStore) -> LibraryIndex:
    """The library's index, built once per process and generation."""
    where = str(lib.store.path)
    generation = lib.generation()
    with _lock:
        hit = _cached.get(where)
        if hit is not None and hit[0] == generation:
            return hit[1]
    names, keys = [], []
    for name, key in lib.index_keys():
        names.append(name)
        keys.append(key)
    index = LibraryIndex(names, keys)
    with _lock:
        _cached[where] = (generation, index)
    return index


def search(fp: Fingerprint, lib: LibraryStore, limit: int = MAX_CANDIDATES) -> LibraryOutcome:
    """Compare a release's fingerprint with its nearest library entries."""
    index = library_index(lib)
    results = []
    for cand in index.candidates(key_of(fp), limit):
        ref = lib.fingerprint(cand.name)
        results.append(Searched(cand, lib.entry(cand.name), compare_fingerprints(ref, fp)))
    results.sort(key=lambda r: r.strength(), reverse=True)
    return LibraryOutcome(lib.count(), index.size, tuple(lib.stale()), tuple(results))

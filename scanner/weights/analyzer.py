"""The weights analyzer of `scan`: lineage against --against references and against the
fingerprint library (the nearest known bases, found without being told), pickles reported."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from ..analyzers import Analyzer, AuditContext
from ..card import declares_base
from ..errors import ProvscanError
from ..evidence import LibraryCandidate, LibrarySearch, WeightsLineage
from ..model import Evidence, FileKind, Finding, Location, Severity, not_analysed
from ..snapshot import Snapshot
from .calibrate import Signal
from .compare import Comparison, compare_fingerprints, fingerprint_of, sampling_of
from .fingerprint import Fingerprint, extract
from .loader import PICKLE_SUFFIXES, load_from_files
from .units import DEFAULT, PRESETS, REMOTE, Sampling

if TYPE_CHECKING:  # the library (and its store) load only when a scan searches it
    from .library import LibraryOutcome, LibraryStore, Searched

DECIDING = ("direct_cosine", "aligned_forms", "experts_vs_dense")
MAX_LIBRARY_CLAIMS = 3
"""Library entries reported as bases at most (nearest first): a popular base's other
derivatives may match too, the search record lists every entry compared."""


def lineage_record(
    cmp: Comparison, library_source: str | None = None, name: str | None = None
) -> WeightsLineage:
    """The evidence record of a comparison (its signals as the JSON report writes them);
    `name`: what the reference is called (default: the name its fingerprint carries)."""
    data = {
        "verdict": cmp.verdict,
        "relation": cmp.relation,
        "signals": [s.to_dict() for s in cmp.signals],
        "reasons": list(cmp.reasons),
        "reference_name": name or cmp.a or None,
    }
    if library_source is not None:
        data["library_source"] = library_source
    return WeightsLineage.from_dict(data)


def _candidate_record(r: Searched) -> LibraryCandidate:
    cmp = r.comparison
    best = _best_deciding(cmp)
    return LibraryCandidate.from_dict(
        {
            "name": r.entry.name,
            "source": r.entry.source,
            "channel": r.candidate.channel,
            "first_stage": r.candidate.score,
            "verdict": cmp.verdict,
            "relation": cmp.relation,
            "score": best.score if best else None,
            "z": best.z if best else None,
            "p_value": best.p_value if best else None,
        }
    )


def _best_deciding(cmp: Comparison) -> Signal | None:
    decisive = [s for s in cmp.signals if s.significant and s.name in DECIDING]
    return max(decisive, key=lambda s: s.z) if decisive else None


def _open_library() -> LibraryStore | None:
    """The user's fingerprint library, or None when it holds nothing to search."""
    from .library import LibraryStore

    lib = LibraryStore()
    return lib if lib.count() else None


def non_finite_finding(tensors: list[str], analyzer: str) -> Finding:
    """NaN, infinite or absurd weights: read as 0, the comparison stands; a reader should
    know the checkpoint holds them (a broken export, or an attempt to break the analysis)."""
    shown = ", ".join(tensors[:5]) + (f" and {len(tensors) - 5} more" if len(tensors) > 5 else "")
    return Finding(
        "weights-non-finite",
        Severity.LOW,
        f"{len(tensors)} tensor(s) hold NaN, infinite or absurd values, read as 0: {shown}",
        Location(tensor=tensors[0]),
        analyzer=analyzer,
    )


def _strongest_location(cmp: Comparison) -> Location:
    direct = cmp.signal("direct_cosine")
    if direct is not None and direct.significant and direct.where is not None:
        key = direct.where
        return Location(tensor=key.label(), layer=key.layer if key.layer >= 0 else None)
    forms = cmp.signal("aligned_forms")
    if forms is not None:
        per = forms.details.get("per_layer", {})
        if per:
            best = max(per, key=lambda k: per[k])
            return Location(layer=int(best))
    return Location()


class _OwnFingerprints:
    """The release's fingerprint per sampling, made when a reference needs it."""

    def __init__(self, make: Callable[[Sampling], Fingerprint | None], default: Fingerprint):
        self._make = make
        self._made: dict[Sampling, Fingerprint | None] = {DEFAULT: default}

    def as_(self, sampling: Sampling) -> Fingerprint | None:
        if sampling not in self._made:
            self._made[sampling] = self._make(sampling)
        return self._made[sampling]


def _entry_sampling(r: Searched) -> Sampling | None:
    """The preset an entry was fingerprinted with (its summary; older entries: DEFAULT)."""
    named = str(r.entry.summary.get("sampling") or DEFAULT.name)
    return next((p for p in PRESETS if p.name == named), None)


def _search_fairly(own: _OwnFingerprints, library: LibraryStore) -> LibraryOutcome:
    """The library search, each candidate compared with the release fingerprinted as that
    entry was (REMOTE for a Hub checkpoint read by ranges). A second search with the
    release's REMOTE fingerprint runs when the library holds Hub entries (the first stage
    meets those best with the same sampling); entries are read for the candidates only (a
    summary sits after its blob: listing 10,000 of them reads the whole store)."""
    from .library import search

    mine = own.as_(DEFAULT)
    assert mine is not None  # made before the analyzer searches
    outcome = search(mine, library)
    searches = [(DEFAULT, outcome)]
    if library.has_hub_sources():
        remote = own.as_(REMOTE)
        if remote is not None:
            searches.append((REMOTE, search(remote, library)))
    kept: dict[str, Searched] = {}
    for sampling, found in searches:
        for r in found.results:
            if _entry_sampling(r) == sampling:
                kept.setdefault(r.entry.name, r)
    for _sampling, found in searches:
        for r in found.results:
            wanted = _entry_sampling(r)
            if r.entry.name in kept or wanted is None:
                continue
            again = own.as_(wanted)
            if again is not None:  # found by another sampling's search: compared fairly
                ref = library.fingerprint(r.entry.name)
                cmp = compare_fingerprints(ref, again)
                kept[r.entry.name] = dataclasses.replace(r, comparison=cmp)
    results = sorted(kept.values(), key=lambda r: r.strength(), reverse=True)
    return dataclasses.replace(outcome, results=tuple(results))


class WeightsAnalyzer(Analyzer):
    name = "weights"

    def analyze(self, snapshot: Snapshot, ctx: AuditContext) -> Iterable[Finding]:
        findings = self._pickles(snapshot)
        against = ctx.options.against
        has_weights = any(f.kind == FileKind.WEIGHTS for f in snapshot.files)
        library = None
        if ctx.options.library and has_weights:
            try:
                library = _open_library()
            except ProvscanError as exc:  # an unusable store: said, and the gate fails
                findings.append(
                    not_analysed(
                        None, f"the library of known bases was not searched: {exc}", self.name
                    )
                )
        if not against and library is None:
            return findings
        try:
            mine, odd = self._fingerprint(snapshot)
            if odd:
                findings.append(non_finite_finding(odd, self.name))
        except ProvscanError as exc:
            findings.append(not_analysed(None, f"weights: {exc}", self.name))
            return findings
        if mine is None:
            if against:
                findings.append(
                    not_analysed(
                        None, "no readable weight file to compare with --against", self.name
                    )
                )
            return findings
        declared = snapshot.card.base_model if snapshot.card else ()
        own = _OwnFingerprints(lambda sampling: self._fingerprint(snapshot, sampling)[0], mine)
        for ref in against:
            try:
                ref_fp = fingerprint_of(ref, ctx.options.offline)
                # fair: the release read as the reference was (a remote or saved sampling)
                mine_as_ref = own.as_(sampling_of(ref_fp) or DEFAULT)
            except ProvscanError as exc:
                findings.append(not_analysed(ref, f"reference {ref}: {exc}", self.name))
                continue
            cmp = compare_fingerprints(ref_fp, mine_as_ref or mine)
            findings.extend(self._findings(ref, ref_fp, cmp, declared))
        if library is not None:
            findings.extend(self._library_findings(own, library, declared))
        return findings

    def _pickles(self, snapshot: Snapshot) -> list[Finding]:
        return [
            not_analysed(
                f.path,
                "pickle-based checkpoint: never unpickled (arbitrary code execution)",
                self.name,
            )
            for f in snapshot.files
            if f.path.lower().endswith(PICKLE_SUFFIXES) and f.weight_format == "pickle"
        ]

    def _fingerprint(
        self, snapshot: Snapshot, sampling: Sampling = DEFAULT
    ) -> tuple[Fingerprint | None, list[str]]:
        """The release's fingerprint (None when it holds no readable checkpoint) and the
        tensors whose NaN, infinite or absurd values were read as 0."""
        # an LFS pointer's content is not at hand; a Hub file stored in LFS is (it is fetched)
        files = [f.path for f in snapshot.files if f.kind is not FileKind.LFS_POINTER]
        model = load_from_files(snapshot.target, files, snapshot.reader.local_path)
        try:
            if model.reader is None:
                return None, []
            return extract(model, sampling=sampling), model.non_finite()
        finally:
            model.close()

    # ---- the library stage ------------------------------------------------------------------

    def _library_findings(
        self, own: _OwnFingerprints, library: LibraryStore, declared: tuple[str, ...]
    ) -> list[Finding]:
        """The nearest library entries with calibrated evidence; a match the card does not
        declare is an undeclared-base-model finding, as with --against."""
        outcome = _search_fairly(own, library)
        out = [self._search_finding(outcome)]
        # A candidate that is not related is no claim: the search record lists it.
        claims = [
            r
            for r in outcome.results
            if r.comparison.verdict in ("identical", "derived", "shared-components")
        ]
        for r in claims[:MAX_LIBRARY_CLAIMS]:
            out += self._findings(
                r.entry.name, None, r.comparison, declared, library_source=r.entry.source
            )
        return out

    def _search_finding(self, outcome: LibraryOutcome) -> Finding:
        cands = tuple(_candidate_record(r) for r in outcome.results)
        named = [c for c, r in zip(cands, outcome.results, strict=True) if r.matches]
        if named:
            best = named[0]
            rel = f" ({best.relation})" if best.relation else ""
            said = f"nearest base {best.name}: {best.verdict}{rel}"
        elif cands:
            said = "no entry matches (" + ", ".join(f"{c.name}: {c.verdict}" for c in cands) + ")"
        else:
            said = "no entry is near enough to compare"
        stale = (
            f"; {len(outcome.stale)} entries of an older fingerprint format not searched "
            "(add them again)"
            if outcome.stale
            else ""
        )
        record = LibrarySearch(
            entries=outcome.entries,
            searched=outcome.searched,
            stale=outcome.stale[:50],
            candidates=cands,
        )
        return Finding(
            "library-search",
            Severity.INFO,
            f"weights compared with {len(cands)} of {outcome.searched} library fingerprints: "
            f"{said}{stale}",
            evidence=Evidence(details=record),
            analyzer=self.name,
        )

    def _findings(
        self,
        ref: str,
        ref_fp: Fingerprint | None,
        cmp: Comparison,
        declared: tuple[str, ...],
        library_source: str | None = None,
    ) -> list[Finding]:
        if cmp.verdict not in ("derived", "identical"):
            return (
                [
                    Finding(
                        "weights-lineage",
                        Severity.INFO,
                        f"weights {cmp.verdict} to {ref}",
                        evidence=Evidence(
                            matched=ref,
                            details=lineage_record(
                                cmp, library_source, ref if library_source else None
                            ),
                        ),
                        analyzer=self.name,
                    )
                ]
                if cmp.verdict != "unrelated"
                else []
            )
        best = _best_deciding(cmp) or cmp.signals[0]
        evidence = Evidence(
            matched=ref,
            score=best.score,
            null_mean=best.null_mean,
            null_std=best.null_std,
            z=best.z,
            p_value=best.p_value,
            details=lineage_record(cmp, library_source, ref if library_source else None),
        )
        if cmp.relation == "sibling":
            # Related, but neither was made from the other: a common ancestor, no base to
            # declare (naming it a base would be a false claim).
            return [
                Finding(
                    "weights-lineage",
                    Severity.INFO,
                    f"weights share an ancestor with {ref} (siblings: neither derives from "
                    f"the other): {best.name} {best.score:.3f} vs {best.null_mean:.3f} ± "
                    f"{best.null_std:.3f} for unrelated models",
                    _strongest_location(cmp),
                    evidence,
                    self.name,
                )
            ]
        rel = f" ({cmp.relation})" if cmp.relation else ""
        names = (ref, library_source) + (
            (ref_fp.name, ref_fp.meta.get("declared_name")) if ref_fp is not None else ()
        )
        undeclared = not declares_base(declared, *names)
        # Derived from a declared base is expected; the undeclared case is the headline.
        out = [
            Finding(
                "weights-derived",
                Severity.MEDIUM if undeclared else Severity.INFO,
                f"weights are {cmp.verdict}{rel} from {ref}: {best.name} "
                f"{best.score:.3f} vs {best.null_mean:.3f} ± {best.null_std:.3f} "
                f"for unrelated models",
                _strongest_location(cmp),
                evidence,
                self.name,
            )
        ]
        if undeclared:
            said = ", ".join(declared) or "no base model"
            out.append(
                Finding(
                    "undeclared-base-model",
                    Severity.HIGH,
                    f"the model card declares {said}, but the weights derive from {ref}",
                    _strongest_location(cmp),
                    evidence,
                    self.name,
                )
            )
        return out

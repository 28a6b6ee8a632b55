"""The clones analyzer: code of the release copied from an indexed reference corpus.

For each code file: the upstreams its own comments declare (attribution.py) are matched
against the files they name, line by line (lines.py), and reported as declared
adaptations, an attribution rather than an accusation. Its winnowed fingerprints are then
looked up in every corpus, weighed by how rare they are there (matching.py), and grouped
into regions in the best reference file (regions.py). A file is reported as copied when it
is byte-identical to the reference, when most of it matches, or when a region is stronger
than independently written ML code ever produces (calibration.py, measured on other
frameworks' implementations of the same models). The severity follows the evidence and the
fate of the upstream notice: a whole file copied with its notice removed is high; a region
is at most medium; a copy keeping its notice, or its original author's, is information.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

import numpy as np

from ..analyzers import Analyzer, AuditContext
from ..errors import SourceError
from ..evidence import (
    CopiedCodeEvidence,
    CopyBackground,
    CopyBasis,
    DeclaredAdaptation,
    MatchedRange,
    NoticeFate,
    OtherMatch,
)
from ..model import Evidence, FileKind, Finding, Location, Severity, not_analysed
from ..snapshot import MAX_TEXT_BYTES, Snapshot
from .attribution import attributions
from .calibration import background, rounded
from .declared_copies import carried_along, declared_findings, folded_into
from .headers import notice_status
from .index import LoadedCorpus, usable_corpora
from .matching import Candidate, Query, candidates, choose, regions_with
from .regions import Region, name_units, signature_lines, units_of
from .tokens import TokenStream, family_of, tokenize
from .winnow import DEFAULT_PARAMS, WinnowParams, fingerprint

NAME = "clones"
STRIPPED = ("removed", "replaced")
MAX_RANGES = 50
"""At most this many ranges are listed in a finding (the strongest ones)."""


@dataclass(frozen=True)
class CloneMatch:
    """The best upstream of one target file, its regions, and why it is (not) a copy."""

    best: Candidate
    others: tuple[Candidate, ...]
    target_fingerprints: int
    regions: tuple[Region, ...]
    basis: CopyBasis | None
    """Why it is a copy; None: it is not one."""

    @property
    def region_evidence(self) -> float:
        return max((r.evidence for r in self.regions), default=0.0)

    @property
    def ranges(self) -> tuple[tuple[int, int, int, int], ...]:
        return tuple((*r.target, *r.upstream) for r in self.regions)


def query_of(
    tokens: TokenStream,
    text: str,
    language: str,
    path: str | None = None,
    sha256: str | None = None,
    params: WinnowParams = DEFAULT_PARAMS,
) -> Query:
    """The file's fingerprints, those lying in imports and signatures set aside."""
    fps = fingerprint(tokens, params)
    skip = signature_lines(text, language)
    counted = np.ones(len(fps), dtype=bool)
    if skip and len(fps):
        # A k-gram counts when one of its lines at least is not an import or a signature.
        top = int(fps.end_lines.max()) + 1
        other = np.ones(top + 1, dtype=np.int64)
        other[[n for n in skip if n <= top]] = 0
        other[0] = 0
        cum = np.cumsum(other)
        counted = (cum[fps.end_lines] - cum[fps.start_lines.astype(np.int64) - 1]) > 0
    return Query(fps=fps, counted=counted, path=path, sha256=sha256)


def basis_of(best: Candidate, regions: list[Region], distinct: int) -> CopyBasis | None:
    bg = background()
    if best.identical:
        return "identical"
    if distinct >= bg.min_fingerprints and best.share >= bg.share_threshold:
        return "whole-file"
    if max((r.evidence for r in regions), default=0.0) >= bg.region_threshold:
        return "regions"
    return None


def best_match(q: Query, corpora: list[LoadedCorpus]) -> CloneMatch | None:
    """The best upstream across all corpora, or None when nothing is shared."""
    found: list[Candidate] = []
    for corpus in corpora:
        found.extend(candidates(q, corpus))
    chosen = choose(found)
    if chosen is None:
        return None
    best, others = chosen
    regions = regions_with(q, best)
    return CloneMatch(
        best=best,
        others=tuple(others[:4]),
        target_fingerprints=q.distinct,
        regions=tuple(regions),
        basis=basis_of(best, regions, q.distinct),
    )


def scan_text(
    text: str,
    language: str,
    corpora: list[LoadedCorpus],
    params: WinnowParams = DEFAULT_PARAMS,
    path: str | None = None,
    sha256: str | None = None,
) -> CloneMatch | None:
    """The best upstream of one file's text (the unit the evaluation and bench time)."""
    tokens = tokenize(text, language)
    return best_match(query_of(tokens, text, language, path, sha256, params), corpora)


def is_copy(match: CloneMatch) -> bool:
    return match.basis is not None


def copy_background() -> CopyBackground:
    bg = background()
    return CopyBackground(
        region_threshold=bg.region_threshold,
        region_q99=bg.region.q99,
        region_max=bg.region.max,
        share_threshold=bg.share_threshold,
        share_q99=bg.share.q99,
        share_max=bg.share.max,
        n=bg.region.n,
        measured_on=bg.measured_on,
    )


def severity_of(basis: CopyBasis, status: str) -> Severity:
    """A whole file copied with its notice gone is high; regions alone at most medium; a
    kept notice (or the original author's) is information."""
    whole = basis in ("identical", "whole-file")
    if status in STRIPPED:
        return Severity.HIGH if whole else Severity.MEDIUM
    if status == "changed":
        return Severity.MEDIUM if whole else Severity.LOW
    if status == "none":
        return Severity.LOW if whole else Severity.INFO
    return Severity.INFO


_VERB = {
    "removed": "with its copyright notice removed",
    "replaced": "with its copyright notice replaced",
    "changed": "with its copyright notice changed",
    "kept": "keeping its copyright notice",
    "original": "keeping the notice of the code's original author",
    "none": "(upstream file has no notice)",
}


def _strongest(regions: tuple[Region, ...], n: int) -> list[Region]:
    """The n strongest regions, back in target order (bounds the report's size)."""
    return sorted(sorted(regions, key=lambda r: -r.evidence)[:n], key=lambda r: r.target)


def _what(match: CloneMatch, lines: int) -> str:
    best = match.best
    if match.basis == "identical":
        return "this file is identical to"
    if match.basis == "whole-file":
        return f"{best.share:.0%} of this file is copied from"
    n = len(match.regions)
    return f"{lines} lines of this file ({n} region{'s' if n != 1 else ''}) are copied from"


def clone_finding(path: str, match: CloneMatch, target_text: str, language: str) -> Finding:
    best = match.best
    assert match.basis is not None
    info = best.corpus.info
    upstream_notice = best.corpus.notice(best.idx)
    original = tuple(
        line
        for a in sorted(best.corpus.genealogy.ancestors(best.idx))
        for line in best.corpus.notice(a)
    )
    status, target_notice = notice_status(
        upstream_notice, target_text, original, best.corpus.maintainers
    )
    kind = "notice-removed" if status in STRIPPED else "copied-code"
    shown = _strongest(match.regions, MAX_RANGES)
    name_units(shown, units_of(target_text, language))
    lines = sum(r.lines for r in match.regions)
    where = f"{info.name}:{best.path}" + (f" ({info.version})" if info.version else "")
    bg = background()
    message = (
        f"{_what(match, lines)} {where} {_VERB[status]}; strongest region "
        f"{match.region_evidence:.1f} where {bg.region.words()}"
    )
    details = CopiedCodeEvidence(
        corpus=info.name,
        corpus_source=info.source,
        upstream_path=best.path,
        upstream_version=info.version,
        upstream_license=info.license,
        shared_fingerprints=best.shared,
        target_fingerprints=match.target_fingerprints,
        upstream_share=round(best.upstream_share, 4),
        ranges=tuple(
            MatchedRange(
                target=r.target,
                upstream=r.upstream,
                lines=r.lines,
                evidence=round(r.evidence, 2),
                unit=r.unit,
            )
            for r in shown
        ),
        range_count=len(match.regions),
        notice=NoticeFate(
            status=status,
            upstream=tuple(upstream_notice),
            target=tuple(target_notice),
            original=tuple(dict.fromkeys(original)) or None,
        ),
        other_matches=tuple(
            OtherMatch(
                corpus=c.corpus.info.name,
                path=c.path,
                shared=c.shared,
                share=round(c.share, 4),
                evidence=round(c.evidence, 2),
            )
            for c in match.others
        ),
        basis=match.basis,
        region_evidence=round(match.region_evidence, 2),
        named_fingerprints=best.named,
        matched_lines=lines,
        background=copy_background(),
    )
    z = bg.share.z(best.share)
    return Finding(
        kind=kind,
        severity=severity_of(match.basis, status),
        message=message,
        location=Location(
            path=path,
            start_line=min((r.target[0] for r in match.regions), default=None),
            end_line=max((r.target[1] for r in match.regions), default=None),
        ),
        evidence=Evidence(
            matched=f"{info.name}:{best.path}",
            score=round(best.share, 4),
            null_mean=bg.share.mean,
            null_std=bg.share.std,
            z=rounded(z, 2),
            p_value=bg.share.p_value(best.share)
            if match.basis != "regions"
            else bg.region.p_value(match.region_evidence),
            details=details,
        ),
        analyzer=NAME,
    )


def _as_strong_as(declared: Finding, match: CloneMatch) -> Finding:
    """The declared adaptation of a copy that clears the copied-code bar says so; and a
    declaration does not excuse a whole file copied with its notice gone (medium at least)."""
    d = declared.evidence.details
    if not isinstance(d, DeclaredAdaptation) or d.upstream_path is None:
        return declared
    if not match.best.path.startswith(d.upstream_path.rsplit("/", 1)[0] + "/"):
        return declared  # another declaration of the same file named something else
    gone = d.notice is not None and d.notice.status in STRIPPED
    severity = declared.severity
    if match.basis == "whole-file" and gone and severity in (Severity.INFO, Severity.LOW):
        severity = Severity.MEDIUM
    return replace(
        declared,
        severity=severity,
        evidence=replace(declared.evidence, details=replace(d, undeclared_basis=match.basis)),
    )


class ClonesAnalyzer(Analyzer):
    """Declared adaptations and copied code against every indexed corpus; free when none
    is indexed."""

    name = NAME

    def __init__(self, corpora: list[LoadedCorpus] | None = None):
        self._corpora = corpora

    def analyze(self, snapshot: Snapshot, ctx: AuditContext) -> Iterable[Finding]:
        code = [f for f in snapshot.by_kind(FileKind.CODE) if family_of(f.language)]
        if not code:
            return []
        findings, corpora = usable_corpora(self._corpora, NAME)
        if not corpora:
            return findings
        for f in code:
            if f.size > MAX_TEXT_BYTES:
                findings.append(not_analysed(f.path, "too large to compare with corpora", NAME))
                continue
            try:
                text = snapshot.reader.read_text(f.path)
            except (OSError, ValueError, SourceError) as exc:
                findings.append(not_analysed(f.path, f"unreadable ({exc})", NAME))
                continue
            assert f.language is not None
            try:
                findings.extend(self.file_findings(f.path, f.sha256, text, f.language, corpora))
            except Exception as exc:  # one hostile file costs that file, not the analyzer
                findings.append(not_analysed(f.path, f"{type(exc).__name__}: {exc}", NAME))
        return findings

    @staticmethod
    def file_findings(
        path: str, sha256: str | None, text: str, language: str, corpora: list[LoadedCorpus]
    ) -> list[Finding]:
        tokens = tokenize(text, language)
        declared = declared_findings(path, text, attributions(tokens.comments), corpora, NAME)
        match = best_match(query_of(tokens, text, language, path, sha256), corpora)
        if match is None or not is_copy(match):
            return [d.finding for d in declared]
        if match.basis != "identical" and folded_into(match.best, declared):
            return [_as_strong_as(d.finding, match) for d in declared]
        spans = [r.target for r in match.regions]
        quiet = [
            replace(d.finding, severity=Severity.INFO) if carried_along(d, spans) else d.finding
            for d in declared
        ]
        return quiet + [clone_finding(path, match, text, language)]

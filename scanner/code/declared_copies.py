"""Declared adaptations: a file's own comments name its upstream; what of it was kept.

The declaration is the claim (the file says it was adapted from the named file), so the
match needs no calibration against independently written code: the file is compared with
the file it names, line by line, and the kept lines are reported in regions whatever how
common they are. When a declaration names a file that kept less of the code than another
file of the same model folder (a URL naming feature_extraction_x.py above code taken from
modeling_x.py), the folder is what was declared and the file that kept the most is shown.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..evidence import DeclaredAdaptation, MatchedRange, NoticeFate
from ..model import Evidence, Finding, Location, Severity
from .attribution import Attribution, Resolved, resolve
from .headers import notice_status
from .index import LoadedCorpus
from .lines import LineHashes, kept_lines, line_hashes
from .matching import Candidate
from .regions import Region, line_regions

MIN_REGION_LINES = 2
"""Kept lines closer together than regions.GAP form a region when at least this many."""
NOTICE_OWED_LINES = 5
"""A declared adaptation that kept fewer lines than this in its regions owes no notice: a
reference implementation read, not code taken."""
SIBLING_FACTOR = 2
SIBLING_MIN_LINES = 10
"""A file of the named model's folder is shown instead of the named file when it kept at
least this many lines and SIBLING_FACTOR times as many."""


@dataclass(frozen=True)
class Declared:
    """One declaration, its finding, and the corpus file it was matched with."""

    finding: Finding
    corpus: LoadedCorpus | None = None
    idx: int | None = None
    folder: str | None = None
    """The named model's folder in the corpus ('transformers/models/opt/')."""


@dataclass(frozen=True)
class _Compared:
    corpus: LoadedCorpus
    idx: int
    regions: list[Region]
    kept: int


def _folder_of(resolved: Resolved) -> str:
    return resolved.path if resolved.path.endswith("/") else resolved.path.rsplit("/", 1)[0] + "/"


def _compare(target: LineHashes, corpus: LoadedCorpus, idx: int) -> _Compared:
    kept = kept_lines(target, corpus.kept_lines(idx))
    regions = [r for r in line_regions(kept) if r.lines >= MIN_REGION_LINES]
    return _Compared(corpus, idx, regions, len(kept))


def _best_compared(target: LineHashes, corpus: LoadedCorpus, resolved: Resolved) -> _Compared:
    folder = _folder_of(resolved)
    named = None if resolved.path.endswith("/") else corpus.idx_of(resolved.path)
    files = [corpus.idx_of(p) for p in corpus.files_in(folder)]
    order = dict.fromkeys(([named] if named is not None else []) + files)
    compared = [_compare(target, corpus, i) for i in order]
    best = max(compared, key=lambda c: (c.kept, -c.idx))
    if named is None:
        return best
    mine = next(c for c in compared if c.idx == named)
    if best.kept >= max(SIBLING_MIN_LINES, SIBLING_FACTOR * mine.kept):
        return best
    return mine


def _resolved(
    a: Attribution, corpora: Sequence[LoadedCorpus]
) -> tuple[LoadedCorpus, Resolved] | None:
    for corpus in corpora:
        r = resolve(a, (), corpus.path_index)
        if r is not None and (not r.path.endswith("/") or corpus.files_in(r.path)):
            return corpus, r
    return None


def declared_findings(
    path: str,
    text: str,
    declared: Sequence[Attribution],
    corpora: Sequence[LoadedCorpus],
    analyzer: str,
) -> list[Declared]:
    """One declared-adaptation finding per upstream the file's comments name (a dotted
    name that no corpus holds is left out: it may name an API, not a source)."""
    if not declared:
        return []
    target = line_hashes(text)
    out = []
    for a in declared:
        found = _resolved(a, corpora)
        if found is None:
            if not a.dotted:
                out.append(Declared(_unresolved(path, a, analyzer)))
            continue
        corpus, resolved = found
        c = _best_compared(target, corpus, resolved)
        out.append(
            Declared(
                _finding(path, a, resolved, c, text, analyzer),
                corpus=corpus,
                idx=c.idx,
                folder=_folder_of(resolved),
            )
        )
    return out


def _details(a: Attribution, symbol: str | None = None, **kw: object) -> DeclaredAdaptation:
    return DeclaredAdaptation(
        phrase=a.phrase,
        reference=a.reference,
        repository=a.repository,
        revision=a.revision,
        symbol=symbol or a.symbol,
        **kw,  # type: ignore[arg-type]
    )


def _unresolved(path: str, a: Attribution, analyzer: str) -> Finding:
    return Finding(
        kind="declared-adaptation",
        severity=Severity.INFO,
        message=f"declares it was adapted from {a.reference} ({a.phrase}); no indexed corpus "
        "holds it",
        location=Location(path=path, start_line=a.line, end_line=a.line),
        evidence=Evidence(matched=a.reference, details=_details(a, ranges=(), range_count=0)),
        analyzer=analyzer,
    )


def _finding(
    path: str, a: Attribution, resolved: Resolved, c: _Compared, text: str, analyzer: str
) -> Finding:
    corpus, info = c.corpus, c.corpus.info
    upstream = corpus.paths[c.idx]
    original = tuple(
        line for i in sorted(corpus.genealogy.ancestors(c.idx)) for line in corpus.notice(i)
    )
    status, target_notice = notice_status(corpus.notice(c.idx), text, original, corpus.maintainers)
    in_regions = sum(r.lines for r in c.regions)
    notice_kept = status in ("kept", "original", "none") or in_regions < NOTICE_OWED_LINES
    where = f"{info.name}:{upstream}" + (f" ({info.version})" if info.version else "")
    message = (
        f"declares it was adapted from {a.reference} ({a.phrase}); {c.kept} lines kept from "
        f"{where}"
        + (f" in {len(c.regions)} regions" if c.regions else "")
        + (
            "; the upstream notice is not carried"
            if status in ("removed", "replaced", "changed")
            else "; its notice is carried"
            if status in ("kept", "original")
            else ""
        )
    )
    details = _details(
        a,
        resolved.symbol,
        ranges=tuple(
            MatchedRange(target=r.target, upstream=r.upstream, lines=r.lines) for r in c.regions
        ),
        range_count=len(c.regions),
        upstream_path=upstream,
        named_path=resolved.path if resolved.path != upstream else None,
        corpus=info.name,
        upstream_version=info.version,
        upstream_license=info.license,
        kept_lines=c.kept,
        notice=NoticeFate(
            status=status,
            upstream=corpus.notice(c.idx),
            target=tuple(target_notice),
            original=tuple(dict.fromkeys(original)) or None,
        ),
    )
    return Finding(
        kind="declared-adaptation",
        severity=Severity.INFO if notice_kept else Severity.LOW,
        message=message,
        location=Location(path=path, start_line=a.line, end_line=a.line),
        evidence=Evidence(matched=f"{info.name}:{upstream}", details=details),
        analyzer=analyzer,
    )


def folded_into(best: Candidate, declared: Sequence[Declared]) -> bool:
    """The copy found is what a declaration names: the same file, or a file of the declared
    model's folder."""
    return any(
        d.corpus is best.corpus
        and d.idx is not None
        and (d.idx == best.idx or bool(d.folder and best.path.startswith(d.folder)))
        for d in declared
    )


def carried_along(d: Declared, spans: Sequence[tuple[int, int]]) -> bool:
    """The declaration stands inside the ranges of a copy: a "# Copied from ..." comment
    of the upstream, copied with its code (the upstream's genealogy, not the release's)."""
    line = d.finding.location.start_line or 0
    return any(a <= line <= b for a, b in spans)

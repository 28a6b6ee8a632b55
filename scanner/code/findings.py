"""Turning file scans and declared licenses into findings: license, license-review,
foreign-notice / copyright-notice, license-mismatch, missing-license, notice-missing,
base-model-hint.

Over 400 lines on purpose: each finding kind is a few small functions, and they share the
holder and origin lookups; the kinds are read together when one of them changes."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from ..card import BaseHint
from ..evidence import (
    BaseModelHint,
    CopyrightNotice,
    ForeignNotice,
    LicenseDeclared,
    LicenseInFile,
    LicenseMismatch,
    LicenseReview,
    MissingLicense,
    NoticeMissing,
    NoticeReader,
    UpstreamId,
)
from ..licenses import RESTRICTIVE_CATEGORIES, license_ids, license_info
from ..model import Evidence, Finding, Location, Severity
from .declared import ANALYZER, DeclaredLicense, HintSource
from .filescan import FileScan
from .notices import KnownUpstream, Notice, normalise_holder, origin_of_publisher, origins_of

HINT_WORDS = {
    "card-text": "the model card's text",
    "config": "a config file",
    "weights-metadata": "a weight file's own metadata",
}
MAX_LISTED_FILES = 20
LENIENT_CATEGORIES = frozenset({"permissive", "public-domain"})


@dataclass(frozen=True)
class ScannedFile:
    path: str
    scan: FileScan


def _f(
    kind: str, severity: Severity, message: str, location: Location, evidence: Evidence
) -> Finding:
    return Finding(
        kind=kind,
        severity=severity,
        message=message,
        location=location,
        evidence=evidence,
        analyzer=ANALYZER,
    )


def license_findings(files: list[ScannedFile]) -> list[Finding]:
    """One `license` finding per file with a license, one `license-review` per unclear
    detection."""
    out: list[Finding] = []
    for sf in files:
        lic = sf.scan.licenses
        matches = [m for d in lic.detections for m in d.matches]
        if lic.expression and matches:
            keys = license_ids(lic.expression)
            out.append(
                _f(
                    "license",
                    Severity.INFO,
                    f"{lic.expression} in {sf.path}",
                    Location(
                        sf.path,
                        min(m.start_line for m in matches),
                        max(m.end_line for m in matches),
                    ),
                    Evidence(
                        matched=matches[0].matched_text,
                        score=min(m.coverage for m in matches),
                        details=LicenseInFile(
                            license_expression=lic.expression,
                            license_expression_spdx=lic.spdx,
                            families={k: license_info(k).category for k in keys},
                            rules=tuple(m.rule for m in matches),
                            matchers=tuple(sorted({m.matcher for m in matches})),
                            needs_review=lic.needs_review,
                            approximate=lic.approximate,
                        ),
                    ),
                )
            )
        for det in lic.detections:
            if not det.needs_review:
                continue
            reasons = sorted(
                {
                    r
                    for m in det.matches
                    for r in (["sequence match"] if m.matcher == "3-seq" else [])
                    + (["partial coverage"] if m.coverage < 100 else [])
                    + (["unknown license reference"] if "unknown" in m.expression else [])
                }
            )
            out.append(
                _f(
                    "license-review",
                    Severity.LOW,
                    f"{det.expression or 'license clue'} in {sf.path} needs review: "
                    + ", ".join(reasons),
                    Location(
                        sf.path,
                        min(m.start_line for m in det.matches),
                        max(m.end_line for m in det.matches),
                    ),
                    Evidence(
                        matched=det.matches[0].matched_text,
                        score=min(m.coverage for m in det.matches),
                        details=LicenseReview(
                            license_expression=det.expression,
                            reasons=tuple(reasons),
                            rules=tuple(m.rule for m in det.matches),
                            matchers=tuple(sorted({m.matcher for m in det.matches})),
                        ),
                    ),
                )
            )
    return out


def declared_findings(declared: list[DeclaredLicense]) -> list[Finding]:
    out = []
    for d in declared:
        if d.resolved:
            msg, sev = f"declared license {d.raw} -> {d.spdx} ({d.category})", Severity.INFO
        else:
            msg = f"declared license {d.raw} is not known to rules/hub_licenses.toml"
            sev = Severity.LOW
        out.append(
            _f(
                "license",
                sev,
                msg,
                Location(d.source),
                Evidence(matched=d.raw, details=LicenseDeclared.of(d.declaration())),
            )
        )
    return out


def foreign_origins(notice: Notice, publisher: str | None) -> tuple[KnownUpstream, ...] | None:
    """The origins that make a notice foreign; None when it is the publisher's own or
    (without a publisher) of no known origin. () means foreign but of unknown origin.
    Every holder the statement names counts, not only the first."""
    named = notice.holders or ((notice.holder,) if notice.holder else (notice.statement,))
    found = origins_of(" ; ".join(named))
    if publisher is None:
        return found or None
    own = origin_of_publisher(publisher)
    mine = normalise_holder(publisher)
    if all(normalise_holder(h) == mine for h in named):
        return None
    foreign = tuple(o for o in found if own is None or o.id != own.id)
    if found and not foreign:
        return None
    return foreign


def notice_findings(files: list[ScannedFile], publisher: str | None) -> list[Finding]:
    """Every copyright statement becomes a finding (the NOTICE needs them all): a
    `foreign-notice` where its holder is not the publisher, else a `copyright-notice`."""
    out: list[Finding] = []
    for sf in files:
        seen: set[tuple[str, int]] = set()
        for n in sf.scan.notices:
            key = (normalise_holder(n.holder or n.statement), n.start_line)
            if key in seen:
                continue
            seen.add(key)
            foreign = foreign_origins(n, publisher)
            loc = Location(sf.path, n.start_line, n.end_line)
            verbatim = "\n".join(n.lines)
            if foreign is None:
                out.append(
                    _f(
                        "copyright-notice",
                        Severity.INFO,
                        f"{n.statement} ({sf.path})",
                        loc,
                        Evidence(
                            matched=verbatim,
                            details=CopyrightNotice(
                                statement=n.statement,
                                holder=n.holder,
                                holder_key=key[0],
                                lines=n.lines,
                                holders=n.holders,
                                read_by=_reader(n),
                            ),
                        ),
                    )
                )
                continue
            label = "; ".join(o.label for o in foreign) or "unknown origin"
            sev = (
                Severity.INFO
                if publisher is None
                else (Severity.MEDIUM if foreign else Severity.LOW)
            )
            out.append(
                _f(
                    "foreign-notice",
                    sev,
                    f"notice of {', '.join(n.holders) or n.holder or n.statement} "
                    f"(origin: {label}) in {sf.path}",
                    loc,
                    Evidence(
                        matched=verbatim,
                        details=ForeignNotice(
                            statement=n.statement,
                            holder=n.holder,
                            holder_key=key[0],
                            lines=n.lines,
                            origins=tuple(o.record() for o in foreign),
                            publisher=publisher,
                            holders=n.holders,
                            read_by=_reader(n),
                        ),
                    ),
                )
            )
    return out


def _reader(n: Notice) -> NoticeReader:
    return "spdx" if n.read_by == "spdx" else "cluecode"


def _severity_of_conflict(declared_category: str, found_category: str) -> Severity:
    if found_category in ("model-license", "non-commercial", "proprietary"):
        return Severity.HIGH
    return Severity.MEDIUM if declared_category in LENIENT_CATEGORIES else Severity.LOW


def mismatch_findings(
    declared: DeclaredLicense | None, files: list[ScannedFile], notices: list[Finding]
) -> list[Finding]:
    """Declared license vs restrictive licenses found in files; and, for files without any
    license text, a review note where they carry notices of an upstream whose releases
    usually carry a restrictive license (a holder's usual license never overrides what a
    file says of itself)."""
    if declared is None or not declared.resolved:
        return []
    where: dict[str, list[ScannedFile]] = defaultdict(list)
    for sf in files:
        for key in license_ids(sf.scan.licenses.expression):
            where[key].append(sf)
    out: list[Finding] = []
    for key, sfs in sorted(where.items()):
        info = license_info(key)
        if key == declared.key or info.category not in RESTRICTIVE_CATEGORIES:
            continue
        first = sfs[0]
        matches = [
            m
            for d in first.scan.licenses.detections
            for m in d.matches
            if key in license_ids(d.expression)
        ]
        loc = Location(
            first.path,
            matches[0].start_line if matches else None,
            matches[-1].end_line if matches else None,
        )
        out.append(
            _f(
                "license-mismatch",
                _severity_of_conflict(declared.category, info.category),
                f"declared {declared.raw} ({declared.spdx}) but {info.name} ({key}, "
                f"{info.category}) is in {len(sfs)} file(s): {first.path}",
                loc,
                Evidence(
                    matched=matches[0].matched_text if matches else key,
                    details=LicenseMismatch(
                        declared=declared.declaration(),
                        detected=key,
                        detected_name=info.name,
                        detected_family=info.category,
                        files=tuple(s.path for s in sfs[:MAX_LISTED_FILES]),
                        via="license-text",
                    ),
                ),
            )
        )
    return out + _usual_license_notes(declared, files, notices)


def _usual_license_notes(
    declared: DeclaredLicense, files: list[ScannedFile], notices: list[Finding]
) -> list[Finding]:
    """One low review note per upstream whose releases usually carry a model or
    non-commercial license, for its notices in files that state no license themselves."""
    silent = {sf.path for sf in files if not sf.scan.licenses.expression}
    by_origin: dict[str, list[tuple[Finding, UpstreamId]]] = defaultdict(list)
    for n in notices:
        if isinstance(n.evidence.details, ForeignNotice) and n.location.path in silent:
            for o in n.evidence.details.origins:
                by_origin[o.id].append((n, o))
    out: list[Finding] = []
    for origin_id, pairs in sorted(by_origin.items()):
        found = [n for n, _ in pairs]
        usual = pairs[0][1].usual_license
        info = license_info(usual)
        if usual == declared.key or info.category not in ("model-license", "non-commercial"):
            continue
        paths = sorted({f.location.path or "" for f in found})
        out.append(
            _f(
                "license-mismatch",
                Severity.LOW,
                f"{len(paths)} file(s) without license text carry notices of {origin_id}, "
                f"whose releases usually carry {info.name}; check which terms cover that "
                f"code (declared {declared.raw}): {paths[0]}",
                found[0].location,
                Evidence(
                    matched=found[0].evidence.matched,
                    details=LicenseMismatch(
                        declared=declared.declaration(),
                        detected=usual,
                        detected_family=info.category,
                        via="upstream-notice",
                        origin=origin_id,
                        files=tuple(paths[:MAX_LISTED_FILES]),
                    ),
                ),
            )
        )
    return out


def missing_findings(
    has_license_file: bool, declared: list[DeclaredLicense], card_path: str | None
) -> list[Finding]:
    out = []
    if not has_license_file:
        out.append(
            _f(
                "missing-license",
                Severity.MEDIUM,
                "no LICENSE or COPYING file in the release",
                Location(),
                Evidence(details=MissingLicense("license-file")),
            )
        )
    if not declared:
        out.append(
            _f(
                "missing-license",
                Severity.MEDIUM,
                "no license declared (model card `license:` or config)",
                Location(card_path),
                Evidence(details=MissingLicense("declared-license")),
            )
        )
    return out


def notice_missing_findings(
    files: list[ScannedFile], foreign: list[Finding], has_notice_file: bool
) -> list[Finding]:
    """Apache-2.0 files that carry foreign notices, in a release without a NOTICE file."""
    if has_notice_file:
        return []
    notice_keys = {
        sf.path
        for sf in files
        if any(license_info(k).notice for k in license_ids(sf.scan.licenses.expression))
    }
    hits = [f for f in foreign if f.kind == "foreign-notice" and f.location.path in notice_keys]
    if not hits:
        return []
    holders = sorted(
        {
            holder
            for h in hits
            if isinstance(h.evidence.details, ForeignNotice)
            for holder in h.evidence.details.named
        }
    )
    return [
        _f(
            "notice-missing",
            Severity.LOW,
            f"{len({h.location.path for h in hits})} Apache-2.0 file(s) carry upstream "
            f"notices ({', '.join(holders[:5])}) and the release has no NOTICE file: "
            "Apache-2.0 s4(d) asks for the upstream NOTICE text only where an upstream "
            "ships a NOTICE file; check whether these do",
            hits[0].location,
            Evidence(
                matched=hits[0].evidence.matched,
                details=NoticeMissing(
                    holders=tuple(holders),
                    files=tuple(sorted({h.location.path or "" for h in hits})[:MAX_LISTED_FILES]),
                ),
            ),
        )
    ]


def hint_findings(hints: list[tuple[BaseHint, HintSource, str]]) -> list[Finding]:
    """One info `base-model-hint` per model named as a base outside the card's base_model:
    something for a reader to confirm, never an accusation."""
    return [
        _f(
            "base-model-hint",
            Severity.INFO,
            f"{HINT_WORDS[source]} names {hint.name} as a base model, and the card's "
            f"base_model does not; a hint to confirm, not evidence ({path})",
            Location(path),
            Evidence(
                matched=hint.said,
                details=BaseModelHint(name=hint.name, source=source, said=hint.said),
            ),
        )
        for hint, source, path in hints
    ]

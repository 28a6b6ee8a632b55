"""The assessment: what the release declares against what the analyzers detected.

report_of(result) is the stage `audit` runs after the analyzers: the assessment and the
excerpts the reports quote, in one Report that every format renders, so the HTML, the
JSON, SARIF, the BOMs, the NOTICE file and the policy gate tell the same story.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..evidence import (
    CopiedCodeEvidence,
    DeclaredAdaptation,
    ForeignNotice,
    LicenseDeclared,
    LicenseInFile,
)
from ..licenses import declared_ids, license_ids, reflected, spdx_ids_as_keys
from ..model import FileKind, Finding
from ..result import AuditResult
from .discrepancies import find_discrepancies, verdict_of
from .excerpts import gather_excerpts
from .lineage import lineage_claims
from .model import (
    Assessment,
    CopiedCode,
    Declared,
    DetectedLicense,
    LineageClaim,
    Report,
    UpstreamNotices,
    finding_id,
)
from .obligations import Reason, assess_obligations

__all__ = ["Assessment", "Report", "assess", "report_of"]

COPY_KINDS = ("copied-code", "notice-removed")
VIA_WORDS = {
    "file": "found in release files",
    "copied-code": "license of copied upstream code",
    "base-model": "license of the detected base model",
}


def _declared(result: AuditResult, findings: Sequence[tuple[str, Finding]]) -> Declared:
    """The card's declaration, with the ids the license analyzer resolved it to (its
    declared `license` findings: key and license_id)."""
    card = result.snapshot.card
    resolved: list[str] = []
    for _, f in findings:
        d = f.evidence.details
        if f.kind == "license" and isinstance(d, LicenseDeclared):
            resolved.extend(license_ids(d.key))
            resolved.extend(license_ids(d.license_id))
    if card is None:
        return Declared(None, None, tuple(dict.fromkeys(resolved)), (), None, has_card=False)
    ids = declared_ids(card.license, card.license_name) + tuple(resolved)
    return Declared(
        license=card.license,
        license_name=card.license_name,
        license_ids=tuple(dict.fromkeys(ids)),
        base_models=card.base_model,
        base_model_relation=card.base_model_relation,
        has_card=True,
    )


def _span(spans: list[tuple[int, int]]) -> tuple[int, int] | None:
    """The lines that matched ranges of one side cover, first to last."""
    return (min(a for a, _ in spans), max(b for _, b in spans)) if spans else None


def _copied(findings: Sequence[tuple[str, Finding]]) -> tuple[CopiedCode, ...]:
    out = []
    for fid, f in findings:
        d = f.evidence.details
        if f.kind == "declared-adaptation" and isinstance(d, DeclaredAdaptation):
            declared = _declared_copy(fid, f, d)
            if declared is not None:
                out.append(declared)
            continue
        if f.kind not in COPY_KINDS or not isinstance(d, CopiedCodeEvidence):
            continue
        out.append(
            _copy_of(
                fid,
                f,
                d,
                start_line=f.location.start_line,
                end_line=f.location.end_line,
                corpus=d.corpus,
                share=float(f.evidence.score) if f.evidence.score is not None else None,
                corpus_source=d.corpus_source,
                basis=d.basis,
                lines=d.matched_lines,
            )
        )
    return tuple(out)


def _declared_copy(fid: str, f: Finding, d: DeclaredAdaptation) -> CopiedCode | None:
    """A declared adaptation is copied code when an indexed corpus holds what it names and
    some of it was kept: its license applies like any copy's."""
    if not d.upstream_path or not d.ranges or d.notice is None:
        return None
    return _copy_of(
        fid,
        f,
        d,
        start_line=min(r.target[0] for r in d.ranges),
        end_line=max(r.target[1] for r in d.ranges),
        corpus=d.corpus or "",
        share=None,
        basis="declared",
        lines=d.kept_lines,
    )


def _copy_of(
    fid: str, f: Finding, d: CopiedCodeEvidence | DeclaredAdaptation, **where: Any
) -> CopiedCode:
    """What a copy and a declared adaptation share: the upstream, its notice, the lines."""
    assert d.notice is not None and d.upstream_path
    return CopiedCode(
        path=f.location.path or "",
        upstream=f"{d.corpus}:{d.upstream_path}" if d.corpus else d.upstream_path,
        upstream_path=d.upstream_path,
        version=d.upstream_version or None,
        license=d.upstream_license or None,
        notice_status=d.notice.status,
        upstream_notice="\n".join(d.notice.upstream) or None,
        target_notice="\n".join(d.notice.target) or None,
        target_lines=_span([r.target for r in d.ranges]),
        upstream_lines=_span([r.upstream for r in d.ranges]),
        finding_id=fid,
        severity=str(f.severity),
        **where,
    )


def _origins(findings: Sequence[tuple[str, Finding]]) -> tuple[UpstreamNotices, ...]:
    """The upstreams whose notices the release carries; a statement naming several
    ("Meta Inc., vLLM, and HuggingFace Inc. team") counts for each of them."""
    groups: dict[str, dict[str, Any]] = {}
    for fid, f in findings:
        d = f.evidence.details
        if f.kind != "foreign-notice":
            continue
        named = d.named if isinstance(d, ForeignNotice) else ()
        known = d.origins if isinstance(d, ForeignNotice) else ()
        for first in known or (None,):
            org = (first.organisation if first else None) or (named[0] if named else None)
            g = groups.setdefault(
                org or "unknown holder",
                {
                    "family": first.project if first else None,
                    "license": first.usual_license if first else None,
                    "holders": {},
                    "notices": {},
                    "paths": {},
                    "ids": {},
                },
            )
            for key, values in (
                ("holders", named),
                ("notices", (f.evidence.matched,)),
                ("paths", (f.location.path,)),
                ("ids", (fid,)),
            ):
                for value in values:
                    if value:
                        g[key].setdefault(value)  # ordered sets: thousands of files may carry one
    return tuple(
        UpstreamNotices(
            org=org,
            family=g["family"] or None,
            license=g["license"] or None,
            holders=tuple(g["holders"]),
            notices=tuple(g["notices"]),
            paths=tuple(g["paths"]),
            finding_ids=tuple(g["ids"]),
        )
        for org, g in groups.items()
    )


def _detected(
    findings: Sequence[tuple[str, Finding]],
    copied: tuple[CopiedCode, ...],
    lineage: tuple[LineageClaim, ...],
    declared: tuple[str, ...],
) -> tuple[DetectedLicense, ...]:
    # Ordered sets (dict keys): a release may carry thousands of copies of one upstream.
    acc: dict[tuple[str, str], tuple[dict[str, None], dict[str, None]]] = {}

    def add(expr: str | None, via: str, where: str, fid: str | tuple[str, ...]) -> None:
        if not expr:
            return
        where_l, ids_l = acc.setdefault((expr, via), ({}, {}))
        if where:
            where_l.setdefault(where)
        for i in (fid,) if isinstance(fid, str) else fid:
            ids_l.setdefault(i)

    for fid, f in findings:
        d = f.evidence.details
        if f.kind == "license" and not isinstance(d, LicenseDeclared):
            expr = d.license_expression if isinstance(d, LicenseInFile) else None
            add(expr or f.evidence.matched, "file", f.location.path or "", fid)
    for c in copied:
        add(c.license, "copied-code", c.upstream, c.finding_id)
    # An upstream's usual license is not a license detected here: a file says under which
    # terms it comes by its own license text; where it says nothing, the license analyzer
    # leaves a review note (license-mismatch via upstream-notice), never a detection.
    for claim in lineage:
        if claim.verdict in ("identical", "derived"):
            add(claim.license, "base-model", claim.name, claim.finding_ids)
    out = []
    for (expr, via), (where, ids) in acc.items():
        # A corpus's license is an SPDX expression (BSL-1.0 is Boost there, while scancode's
        # bsl-1.0 is the Business Source License): its ids are read as SPDX ids.
        lids = spdx_ids_as_keys(expr) if via == "copied-code" else license_ids(expr)
        out.append(
            DetectedLicense(
                expression=expr,
                ids=lids,
                via=via,
                where=tuple(where),
                finding_ids=tuple(ids),
                reflected=all(reflected(i, declared) for i in lids),
            )
        )
    return tuple(out)


def _license_texts(
    result: AuditResult, findings: Sequence[tuple[str, Finding]]
) -> dict[str, tuple[str, ...]]:
    """LICENSE / COPYING file -> the license ids scancode identified in its text."""
    kinds = {f.path: f.kind for f in result.snapshot.files}
    out: dict[str, tuple[str, ...]] = {}
    for _, f in findings:
        d, path = f.evidence.details, f.location.path or ""
        if isinstance(d, LicenseInFile) and kinds.get(path) is FileKind.LICENSE:
            out[path] = out.get(path, ()) + license_ids(d.license_expression)
    return out


def assess(result: AuditResult) -> Assessment:
    """Assess an audit result (findings and snapshot)."""
    findings = [(finding_id(i), f) for i, f in enumerate(result.findings)]
    declared = _declared(result, findings)
    copied = _copied(findings)
    origins = _origins(findings)
    lineage = lineage_claims(findings, declared.base_models)
    detected = _detected(findings, copied, lineage, declared.license_ids)
    reasons = [
        Reason(i, f"declared on the model card ({declared.license})") for i in declared.license_ids
    ]
    for d in detected:
        reasons.extend(
            Reason(i, f"{VIA_WORDS.get(d.via, d.via)}: {', '.join(d.where[:3])}") for i in d.ids
        )
    obligations = assess_obligations(
        result.snapshot, reasons, origins, copied, _license_texts(result, findings)
    )
    discrepancies = find_discrepancies(
        declared, detected, origins, lineage, copied, obligations, findings
    )
    return Assessment(
        declared=declared,
        detected_licenses=detected,
        origins=origins,
        lineage=lineage,
        copied=copied,
        discrepancies=discrepancies,
        obligations=obligations,
        verdict=verdict_of(discrepancies, lineage),
        findings=tuple(findings),
    )


def report_of(result: AuditResult) -> Report:
    """The assessment stage: the Report that every output format renders."""
    assessment = assess(result)
    return Report(
        result=result, assessment=assessment, excerpts=gather_excerpts(result.snapshot, assessment)
    )

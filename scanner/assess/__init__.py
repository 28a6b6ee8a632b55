"""The assessment: what the release declares against what the analyzers detected.

assess(result) is the one entry point; every report format renders its Assessment, so the
HTML, the JSON, SARIF, the BOMs, the NOTICE file and the policy gate tell the same story.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..audit import AuditResult
from ..model import Finding
from .discrepancies import find_discrepancies, verdict_of
from .licenses import declared_ids, license_ids, reflected
from .lineage import lineage_claims
from .model import (
    Assessment,
    CopiedCode,
    Declared,
    DetectedLicense,
    Origin,
    finding_id,
)
from .obligations import Reason, assess_obligations

__all__ = ["Assessment", "assess", "assess_findings"]

COPY_KINDS = ("copied-code", "notice-removed")
VIA_WORDS = {"file": "found in release files", "copied-code": "license of copied upstream code",
             "foreign-notice": "usual license of an upstream whose notices the release carries",
             "base-model": "license of the detected base model"}


def _declared(result: AuditResult, findings: Sequence[tuple[str, Finding]]) -> Declared:
    """The card's declaration, with the ids the license analyzer resolved it to (a
    `license` finding with details.source == "declared": key and license_id)."""
    card = result.snapshot.card
    resolved: list[str] = []
    for _, f in findings:
        d = f.evidence.details or {}
        if f.kind == "license" and d.get("source") == "declared":
            for key in ("key", "license_id"):
                resolved.extend(license_ids(_str(d.get(key))))
    if card is None:
        return Declared(None, None, tuple(dict.fromkeys(resolved)), (), None, has_card=False)
    ids = declared_ids(card.license, card.license_name) + tuple(resolved)
    return Declared(license=card.license, license_name=card.license_name,
                    license_ids=tuple(dict.fromkeys(ids)),
                    base_models=card.base_model, base_model_relation=card.base_model_relation,
                    has_card=True)


def _lines(value: object) -> tuple[int, int] | None:
    if isinstance(value, list | tuple) and len(value) == 2:
        try:
            return int(value[0]), int(value[1])
        except (TypeError, ValueError):
            return None
    return None


def _span(ranges: object, side: str) -> tuple[int, int] | None:
    """The lines a list of matched ranges covers on one side ({target: [a, b], ...})."""
    spans = [_lines(r.get(side)) for r in ranges if isinstance(r, dict)] \
        if isinstance(ranges, list) else []
    found = [s for s in spans if s is not None]
    return (min(a for a, _ in found), max(b for _, b in found)) if found else None


def _notice(d: dict[str, Any], side: str) -> str | None:
    """A notice as text: given flat (upstream_notice) or as lines (notice.upstream)."""
    flat = d.get(f"{side}_notice")
    if flat:
        return str(flat)
    nested = d.get("notice")
    lines = nested.get(side) if isinstance(nested, dict) else None
    if isinstance(lines, list) and lines:
        return "\n".join(str(x) for x in lines)
    return None


def _copied(findings: Sequence[tuple[str, Finding]]) -> tuple[CopiedCode, ...]:
    out = []
    for fid, f in findings:
        if f.kind not in COPY_KINDS:
            continue
        d = f.evidence.details or {}
        corpus = str(d.get("corpus") or d.get("upstream_corpus") or "")
        upath = str(d.get("upstream_path") or d.get("upstream") or "")
        raw = d.get("notice")
        nested: dict[str, Any] = raw if isinstance(raw, dict) else {}
        status = str(d.get("notice_status") or nested.get("status")
                     or ("removed" if f.kind == "notice-removed" else "unknown"))
        share = d.get("share", f.evidence.score)
        out.append(CopiedCode(
            path=f.location.path or "", start_line=f.location.start_line,
            end_line=f.location.end_line,
            upstream=f"{corpus}:{upath}" if corpus else upath, upstream_path=upath,
            corpus=corpus, version=_str(d.get("version") or d.get("upstream_version")),
            license=_str(d.get("license") or d.get("upstream_license")),
            share=float(share) if isinstance(share, int | float) else None,
            notice_status=status, upstream_notice=_notice(d, "upstream"),
            target_notice=_notice(d, "target"),
            target_lines=_lines(d.get("target_lines")) or _span(d.get("ranges"), "target"),
            upstream_lines=_lines(d.get("upstream_lines")) or _span(d.get("ranges"),
                                                                    "upstream"),
            finding_id=fid, details=dict(d)))
    return tuple(out)


def _str(v: object) -> str | None:
    return str(v) if v not in (None, "") else None


def _origin_of(d: dict[str, Any]) -> dict[str, Any]:
    """{org, family, license} from details.origin, or the first of details.origins
    ({id, organisation, project, usual_license}, as the license analyzer writes them)."""
    raw = d.get("origin")
    if isinstance(raw, dict):
        return {"org": raw.get("org") or raw.get("organisation"),
                "family": raw.get("family") or raw.get("project"),
                "license": raw.get("license") or raw.get("usual_license")}
    many = d.get("origins")
    if isinstance(many, list) and many and isinstance(many[0], dict):
        o = many[0]
        return {"org": o.get("organisation") or o.get("org"),
                "family": o.get("project") or o.get("family"),
                "license": o.get("usual_license") or o.get("license")}
    return {}


def _origins(findings: Sequence[tuple[str, Finding]]) -> tuple[Origin, ...]:
    groups: dict[str, dict[str, Any]] = {}
    for fid, f in findings:
        if f.kind != "foreign-notice":
            continue
        d = f.evidence.details or {}
        origin = _origin_of(d)
        holder = _str(d.get("holder"))
        org = _str(origin.get("org")) or holder or "unknown holder"
        g = groups.setdefault(org, {"family": _str(origin.get("family")),
                                    "license": _str(origin.get("license")),
                                    "holders": {}, "notices": {}, "paths": {}, "ids": {}})
        for key, value in (("holders", holder), ("notices", f.evidence.matched),
                           ("paths", f.location.path), ("ids", fid)):
            if value:
                g[key].setdefault(value)  # ordered sets: thousands of files may carry one
    return tuple(Origin(org=org, family=g["family"], license=g["license"],
                        holders=tuple(g["holders"]), notices=tuple(g["notices"]),
                        paths=tuple(g["paths"]), finding_ids=tuple(g["ids"]))
                 for org, g in groups.items())


def _detected(findings: Sequence[tuple[str, Finding]], copied: tuple[CopiedCode, ...],
              origins: tuple[Origin, ...], lineage: tuple, declared: tuple[str, ...]
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
        d = f.evidence.details or {}
        if f.kind == "license" and d.get("source") != "declared":
            expr = _str(d.get("license_expression")) or f.evidence.matched
            add(expr, "file", f.location.path or "", fid)
    for c in copied:
        add(c.license, "copied-code", c.upstream, c.finding_id)
    for o in origins:
        add(o.license, "foreign-notice", o.org, o.finding_ids)
    for claim in lineage:
        if claim.verdict in ("identical", "derived"):
            add(claim.license, "base-model", claim.name, claim.finding_ids)
    out = []
    for (expr, via), (where, ids) in acc.items():
        lids = license_ids(expr)
        out.append(DetectedLicense(expression=expr, ids=lids, via=via, where=tuple(where),
                                   finding_ids=tuple(ids),
                                   reflected=all(reflected(i, declared) for i in lids)))
    return tuple(out)


def assess_findings(result: AuditResult) -> Assessment:
    """Assess an audit result (findings and snapshot)."""
    findings = [(finding_id(i), f) for i, f in enumerate(result.findings)]
    declared = _declared(result, findings)
    copied = _copied(findings)
    origins = _origins(findings)
    lineage = lineage_claims(findings, declared.base_models)
    detected = _detected(findings, copied, origins, lineage, declared.license_ids)
    reasons = [Reason(i, f"declared on the model card ({declared.license})")
               for i in declared.license_ids]
    for d in detected:
        reasons.extend(Reason(i, f"{VIA_WORDS.get(d.via, d.via)}: {', '.join(d.where[:3])}")
                       for i in d.ids)
    obligations = assess_obligations(result.snapshot, reasons, origins, copied)
    discrepancies = find_discrepancies(declared, detected, origins, lineage, copied,
                                       obligations, findings)
    return Assessment(declared=declared, detected_licenses=detected, origins=origins,
                      lineage=lineage, copied=copied, discrepancies=discrepancies,
                      obligations=obligations, verdict=verdict_of(discrepancies, lineage),
                      findings=tuple(findings))


def assess(result: AuditResult) -> Assessment:
    """The assessment of an audit; computed once per result and reused by every format."""
    cached = _CACHE.get(id(result))
    if cached is not None and cached[0] is result:
        return cached[1]
    assessment = assess_findings(result)
    _CACHE.clear()  # one result at a time is all a command renders
    _CACHE[id(result)] = (result, assessment)
    return assessment


_CACHE: dict[int, tuple[AuditResult, Assessment]] = {}

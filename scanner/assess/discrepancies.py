"""Declared vs detected: the differences a reader must see first, and the verdict."""

from __future__ import annotations

from collections.abc import Sequence

from ..evidence import MissingLicense
from ..licenses import family_of
from ..model import Finding
from ..rules import load_rules
from .model import (
    CopiedCode,
    Declared,
    DetectedLicense,
    Discrepancy,
    LineageClaim,
    Obligation,
    UpstreamNotices,
    Verdict,
)

# Findings of the license analyzer that are already discrepancies: shown as they are.
# notice-missing is a question for a person (does an upstream ship a NOTICE file?), not a
# missing attribution: that one comes from an unmet notice-file obligation.
PASSTHROUGH = {
    "license-mismatch": "license-mismatch",
    "missing-license": "missing-license",
    "notice-missing": "license-review",
    "license-review": "license-review",
}
# Notice statuses the clone analyzer gives when the upstream notice is gone from the copy.
STRIPPED = ("removed", "replaced")
_RANK = {"high": 3, "medium": 2, "low": 1, "info": 0}
MAX_POINTS = 8
"""Discrepancies named in the verdict; the rest are counted there and listed below it."""


def _declared_words(declared: Declared) -> str:
    if not declared.has_card:
        return "no model card"
    if not declared.license:
        return "no license on the model card"
    name = f" ({declared.license_name})" if declared.license_name else ""
    return f"license {declared.license}{name}"


def _lineage(lineage: Sequence[LineageClaim], declared: Declared) -> list[Discrepancy]:
    out = []
    for c in lineage:
        if c.declared or c.verdict not in ("identical", "derived", "shared-components"):
            continue
        rel = f" ({c.relation})" if c.relation else ""
        stated = ", ".join(declared.base_models) if declared.base_models else "none"
        out.append(
            Discrepancy(
                kind="undeclared-base-model",
                severity="high" if c.verdict != "shared-components" else "medium",
                title=f"Undeclared base model: the weights are {c.verdict}{rel} from {c.name}",
                explanation=(
                    f"The model card declares base_model: {stated}. The weight analysis "
                    f"finds the checkpoint {c.verdict}{rel} from {c.name} ({c.reference})"
                    + (
                        f" (p = {c.p_value:.2g})"
                        if c.p_value
                        else " (p < 1e-300)"
                        if c.p_value == 0
                        else ""
                    )
                    + ". A derived model must name its base and honour its license"
                    + (f" ({c.license})." if c.license else ".")
                ),
                finding_ids=c.finding_ids,
            )
        )
    return out


def _licenses(detected: Sequence[DetectedLicense], declared: Declared) -> list[Discrepancy]:
    """One discrepancy per license the declaration does not reflect, however many routes
    (files, copied code, notices, a base model) bring it in."""
    routes: dict[str, list[DetectedLicense]] = {}
    for d in detected:
        if not d.reflected:
            routes.setdefault(d.expression, []).append(d)
    out = []
    words = _declared_words(declared)
    for expression, ways in routes.items():
        sev = "high" if any(d.via == "base-model" for d in ways) else "medium"
        vias = ", ".join(dict.fromkeys(d.via.replace("-", " ") for d in ways))
        where = "; ".join(
            f"{d.via.replace('-', ' ')}: "
            + ", ".join(d.where[:3])
            + (" ..." if len(d.where) > 3 else "")
            for d in ways
        )
        out.append(
            Discrepancy(
                kind="license-not-reflected",
                severity=sev,
                title=f"{expression} ({vias}) is not reflected in the declared license",
                explanation=f"The release declares {words}; {expression} applies through {where}.",
                finding_ids=tuple(dict.fromkeys(i for d in ways for i in d.finding_ids)),
            )
        )
    return out


def _no_license(found: list[Discrepancy], declared: Declared) -> list[Discrepancy]:
    """A release that declares no license at all: that one fact, once. Each license found
    in it, and a missing license file, are details of it rather than items of their own."""
    if declared.license_ids or declared.license:
        return found
    merged = [d for d in found if d.kind in ("missing-license", "license-not-reflected")]
    if len(merged) < 2:
        return found
    licenses = [d.title.split(" (", 1)[0] for d in merged if d.kind == "license-not-reflected"]
    facts = [d.explanation.rstrip(".") for d in merged if d.kind == "missing-license"]
    if licenses:
        facts.append("licenses found in the release: " + ", ".join(licenses))
    one = Discrepancy(
        kind="missing-license",
        severity=max((d.severity for d in merged), key=lambda s: _RANK.get(s, 0)),
        title="No license declared"
        + (f", though the release carries {', '.join(licenses)}" if licenses else ""),
        explanation="; ".join(dict.fromkeys(facts)) + ".",
        finding_ids=tuple(dict.fromkeys(i for d in merged for i in d.finding_ids)),
    )
    first = found.index(merged[0])
    rest = [d for d in found if d not in merged]
    return rest[:first] + [one] + rest[first:]


def _notices(copied: Sequence[CopiedCode]) -> list[Discrepancy]:
    """A copy whose upstream notice is gone or changed, as severe as its finding: a whole
    file copied is a serious discrepancy, a region or a declared adaptation less so."""
    out = []
    for c in copied:
        if c.notice_status not in STRIPPED + ("changed",):
            continue
        declared = " (declared in its comments)" if c.basis == "declared" else ""
        lines = f" (lines {c.target_lines[0]}-{c.target_lines[1]})" if c.target_lines else ""
        version = f" {c.version}" if c.version else ""
        was = f' Upstream notice: "{c.upstream_notice}".' if c.upstream_notice else ""
        now = (
            f' In the release: "{c.target_notice}".'
            if c.target_notice
            else " In the release: no notice."
            if c.notice_status in STRIPPED
            else ""
        )
        out.append(
            Discrepancy(
                kind=f"notice-{c.notice_status}",
                severity=c.severity,
                title=f"{c.path}: copied from {c.upstream}{version}{declared} with its notice "
                f"{c.notice_status}",
                explanation=f"{c.path}{lines} matches {c.upstream}{version}"
                + (f" ({c.share:.0%} of the file)" if c.share is not None else "")
                + (f" ({c.lines} lines)" if c.lines else "")
                + f".{was}{now}",
                finding_ids=(c.finding_id,),
                path=c.path,
                start_line=c.start_line,
                end_line=c.end_line,
            )
        )
    return out


def _brought_by(detected: Sequence[DetectedLicense], family: str) -> tuple[str, ...]:
    """The findings that bring a license of `family` into the release (its files, copied
    code, a base model): the evidence behind an obligation of that license."""
    return tuple(
        dict.fromkeys(
            i
            for d in detected
            if any(_family_id(x) == family for x in d.ids)
            for i in d.finding_ids
        )
    )


def _attributions(
    origins: Sequence[UpstreamNotices],
    obligations: Sequence[Obligation],
    detected: Sequence[DetectedLicense],
) -> list[Discrepancy]:
    """One discrepancy per license whose NOTICE-file attribution is owed and missing (an
    unmet notice-file obligation), citing the notices of the upstreams under it and the
    findings that brought the license in."""
    out = []
    for ob in obligations:
        if not ob.id.endswith("/notice-file") or ob.status != "unmet":
            continue
        related = [o for o in origins if _family_id(o.license) == ob.family]
        ids = tuple(
            dict.fromkeys(
                [i for o in related for i in o.finding_ids] + list(_brought_by(detected, ob.family))
            )
        )
        carried = (
            f" The release carries notices of {', '.join(o.org for o in related[:3])}."
            if related
            else ""
        )
        out.append(
            Discrepancy(
                kind="missing-attribution",
                severity="medium",
                title=f"{ob.family_name} obligation unmet: {ob.title}",
                explanation=f"{ob.text} Applies because {ob.applies_because[0]}; "
                f"{ob.how_checked}.{carried}",
                finding_ids=ids,
            )
        )
    return out


def _license_copies(
    obligations: Sequence[Obligation],
    findings: Sequence[tuple[str, Finding]],
    detected: Sequence[DetectedLicense],
) -> list[Discrepancy]:
    """A license that asks for a copy of itself while the release's license files hold
    another text (an Apache-2.0 card with an MIT LICENSE). A release with no license file
    at all is the license analyzer's missing-license already."""
    if any(
        isinstance(f.evidence.details, MissingLicense)
        and f.evidence.details.missing == "license-file"
        for _, f in findings
    ):
        return []
    copies = {
        ob["id"]
        for fam in load_rules("obligations").get("family", [])
        for ob in fam.get("obligation", [])
        if ob.get("check") == "license-file"
    }
    return [
        Discrepancy(
            kind="missing-license",
            severity="medium",
            title=f"{ob.family_name} obligation unmet: {ob.title}",
            explanation=f"{ob.text} Applies because {ob.applies_because[0]}; {ob.how_checked}.",
            finding_ids=_brought_by(detected, ob.family),
        )
        for ob in obligations
        if ob.id in copies and ob.status == "unmet"
    ]


def _family_id(license_id: str | None) -> str | None:
    fam = family_of(license_id) if license_id else None
    return fam.id if fam else None


def _passthrough(findings: Sequence[tuple[str, Finding]]) -> list[Discrepancy]:
    out = []
    for fid, f in findings:
        kind = PASSTHROUGH.get(f.kind)
        if kind is None:
            continue
        out.append(
            Discrepancy(
                kind=kind,
                severity=str(f.severity),
                title=f.message,
                explanation=f.message,
                finding_ids=(fid,),
                path=f.location.path,
                start_line=f.location.start_line,
                end_line=f.location.end_line,
            )
        )
    return out


def _unaudited(findings: Sequence[tuple[str, Finding]]) -> list[Discrepancy]:
    """Analyzers that did not run: what they would have found is unknown, so the verdict
    cannot be a pass."""
    return [
        Discrepancy(
            kind="analyzer-failed",
            severity="medium",
            title=f"Not fully audited: {f.message}",
            explanation=f"{f.message}. Nothing this analyzer would have found is in this report.",
            finding_ids=(fid,),
        )
        for fid, f in findings
        if f.kind == "analyzer-failed"
    ]


def find_discrepancies(
    declared: Declared,
    detected: Sequence[DetectedLicense],
    origins: Sequence[UpstreamNotices],
    lineage: Sequence[LineageClaim],
    copied: Sequence[CopiedCode],
    obligations: Sequence[Obligation],
    findings: Sequence[tuple[str, Finding]],
) -> tuple[Discrepancy, ...]:
    """Every discrepancy, the most severe first (stable within a severity)."""
    attributions = _attributions(origins, obligations, detected)
    passed = _passthrough(findings)
    found = (
        _lineage(lineage, declared)
        + _notices(copied)
        + _licenses(detected, declared)
        + attributions
        + _license_copies(obligations, findings, detected)
        + passed
        + _unaudited(findings)
    )
    found = _no_license(found, declared)
    return tuple(sorted(found, key=lambda d: -_RANK.get(d.severity, 0)))


def verdict_of(discrepancies: Sequence[Discrepancy], lineage: Sequence[LineageClaim]) -> Verdict:
    """fail on a high-severity discrepancy, warn on any other, pass otherwise."""
    high = [d for d in discrepancies if d.severity == "high"]
    n = len(discrepancies)
    count = f"{n} discrepanc{'y' if n == 1 else 'ies'}"
    # One count everywhere: the headline counts what the list below it shows.
    if high:
        level = "fail"
        serious = "serious" if len(high) == n else f"{len(high)} of them serious"
        headline = f"The release does not match what it declares: {count}, {serious}"
    elif discrepancies:
        level = "warn"
        headline = f"{count} between what the release declares and what was detected"
    else:
        level = "pass"
        headline = "What the release declares matches what was detected"
    points = [d.title for d in discrepancies[:MAX_POINTS]]
    if n > MAX_POINTS:
        points.append(f"… and {n - MAX_POINTS} more (see the discrepancies below)")
    if not discrepancies:
        declared_bases = [c.name for c in lineage if c.declared]
        if declared_bases:
            points.append("declared base model confirmed: " + ", ".join(declared_bases))
    return Verdict(level=level, headline=headline, points=tuple(points))

"""The statements of the "Provenance and licenses" section, each from findings of the audit:
base models with their evidence in one sentence, copied code, notices carried, the license,
the obligations and how each is met, and what is left to review."""

from __future__ import annotations

from collections.abc import Iterable

from ..assess.model import Assessment, LineageClaim, Obligation
from ..evidence import SignalEvidence
from ..licenses import family_of, license_ids, license_info, reflected
from ..model import Finding
from . import wording
from .metadata import base_id, declared_license_finding_ids, established, restrictive
from .model import (
    BaseModelStatement,
    CitedFinding,
    CodeStatement,
    LicenseStatement,
    Metadata,
    NoticeStatement,
    ObligationStatement,
    ReviewItem,
)


def pvalue(p: float | None) -> str:
    """A p-value in words a reader can check: an underflow to 0 is "< 1e-300"."""
    if p is None:
        return "not computed"
    return "< 1e-300" if p <= 0 else f"= {p:.2g}"


def _deciding(claim: LineageClaim) -> SignalEvidence | None:
    """The signal the claim's score and z come from (else the strongest one)."""
    if not claim.signals:
        return None
    for s in claim.signals:
        if claim.z is not None and abs(s.z - claim.z) < 1e-6 * max(1.0, abs(claim.z)):
            return s
    return max(claim.signals, key=lambda s: s.z)


# ---- base models ------------------------------------------------------------------------------


def base_sentence(claim: LineageClaim) -> str:
    """The evidence for a base model, in one plain sentence."""
    name = base_id(claim)
    if claim.verdict == "identical":
        return f"The weights are identical to {name}: every tensor's content hash matches."
    head = f"The weights are {wording.relation_words(claim.relation)} {name}"
    s = _deciding(claim)
    if s is None:
        return head + "."
    return (
        f"{head}: {wording.signal_words(s.name)} match at {s.score:.3g}, where unrelated "
        f"models score {s.null_mean:.2g} ± {s.null_std:.2g} ({s.z:.0f} standard "
        f"deviations above them; p {pvalue(s.p_value)})."
    )


def how_sure(claim: LineageClaim) -> str:
    if claim.verdict == "identical":
        return wording.identical_words()
    return wording.certainty(claim.z)


def base_statements(a: Assessment) -> tuple[BaseModelStatement, ...]:
    return tuple(
        BaseModelStatement(
            name=base_id(c),
            relation=c.relation if c.verdict == "derived" else None,
            hub_relation=wording.hub_relation(c.relation) if c.verdict == "derived" else None,
            declared_before=c.declared,
            sentence=base_sentence(c),
            how_sure=how_sure(c),
            license=c.license,
            finding_ids=c.finding_ids,
        )
        for c in a.lineage
        if established(c)
    )


def lineage_review(a: Assessment) -> list[ReviewItem]:
    """Comparisons that establish no base model, but that a reader should not miss; and
    bases named after a local copy, whose Hub id only the publisher knows."""
    out = []
    for c in a.lineage:
        s = _deciding(c)
        if established(c):
            if not c.reference.startswith("hf:"):
                out.append(
                    ReviewItem(
                        f"base_model {base_id(c)}: the comparison used a local copy; write the "
                        "base model's Hub id (org/name) if it has one.",
                        c.finding_ids,
                    )
                )
            continue
        if c.verdict in ("unrelated",):
            continue
        strength = f" ({wording.certainty(c.z)})" if s is not None else ""
        what = {
            "derived": f"The weights may derive from {base_id(c)}, but the evidence is below "
            "what a base model statement needs",
            "shared-components": f"The weights share components (embeddings) with "
            f"{base_id(c)}, but their blocks show no derivation",
            "inconclusive": f"The comparison with {base_id(c)} was inconclusive",
        }.get(c.verdict, f"The comparison with {base_id(c)} gave {c.verdict}")
        out.append(ReviewItem(f"{what}{strength}: not stated as a base model.", c.finding_ids))
    return out


# ---- code and notices -------------------------------------------------------------------------


def code_statements(a: Assessment) -> tuple[CodeStatement, ...]:
    return tuple(
        CodeStatement(
            path=c.path,
            lines=c.target_lines,
            upstream_path=c.upstream_path,
            corpus=c.corpus,
            version=c.version,
            license=c.license,
            share=c.share,
            notice_status=c.notice_status,
            notice_words=wording.notice_words(c.notice_status),
            upstream_notice=tuple((c.upstream_notice or "").splitlines()),
            finding_ids=(c.finding_id,),
        )
        for c in a.copied
    )


def code_review(a: Assessment) -> list[ReviewItem]:
    out = []
    for c in a.copied:
        if not c.license:
            out.append(
                ReviewItem(
                    f"{c.path}: copied from {c.upstream_path}, whose license provscan does not "
                    "know; find it before publishing.",
                    (c.finding_id,),
                )
            )
        if c.notice_status in ("removed", "replaced", "changed"):
            out.append(
                ReviewItem(
                    f"{c.path}: the upstream notice was {c.notice_status}; restore it in the "
                    "file (this section quotes it, which does not replace it).",
                    (c.finding_id,),
                )
            )
    return out


def notice_statements(a: Assessment) -> tuple[NoticeStatement, ...]:
    return tuple(
        NoticeStatement(
            org=o.org,
            family=o.family,
            license=o.license,
            notices=o.notices,
            paths=o.paths,
            finding_ids=o.finding_ids,
        )
        for o in a.origins
    )


# ---- license and obligations ------------------------------------------------------------------


def family_support(a: Assessment, family: str, declared: bool = True) -> tuple[str, ...]:
    """The findings that make an obligation family apply, leaving out lineage that is not
    established (a hint must not oblige the card to display anything), and the card's own
    declaration when the disclosure replaces it (`declared` False)."""
    weak = {i for c in a.lineage if not established(c) for i in c.finding_ids}
    ids: list[str] = []
    for d in a.detected_licenses:
        if any((f := family_of(i)) is not None and f.id == family for i in d.ids):
            ids.extend(i for i in d.finding_ids if i not in weak)
    if declared and any(
        (f := family_of(i)) is not None and f.id == family for i in a.declared.license_ids
    ):
        ids.extend(declared_license_finding_ids(a))
    return tuple(sorted(set(ids), key=lambda i: (len(i), i)))


def _only_through_hints(a: Assessment, family: str) -> tuple[str, ...]:
    """The lineage findings through which alone a family would apply (not established)."""
    return tuple(
        i
        for d in a.detected_licenses
        if d.via == "base-model" and any((f := family_of(x)) and f.id == family for x in d.ids)
        for i in d.finding_ids
    )


def license_statement(a: Assessment, metadata: Metadata) -> LicenseStatement | None:
    p = metadata.proposed
    if not p.license:
        return None
    card_value = p.license + (f" ({p.license_name})" if p.license_name else "")
    ids_of = license_ids(p.license_name if p.license == "other" else p.license)
    fam = next((f for f in map(family_of, ids_of) if f is not None), None)
    name = fam.name if fam else (license_info(ids_of[0]).name if ids_of else None)
    change = next((c for c in metadata.changes if c.key == "license"), None)
    if change is not None:
        return LicenseStatement(card_value, name, change.reason, change.finding_ids)
    ids = declared_license_finding_ids(a)
    honoured = [
        c
        for c in a.lineage
        if established(c)
        and c.license
        and restrictive(c.license)
        and all(reflected(i, ids_of) for i in license_ids(c.license))
    ]
    if honoured:
        names = ", ".join(base_id(c) for c in honoured)
        ids += tuple(i for c in honoured for i in c.finding_ids)
        return LicenseStatement(
            card_value, name, f"as the card declares: the license of the base model {names}", ids
        )
    return LicenseStatement(card_value, name, "as the card declares", ids)


def obligation_statements(
    a: Assessment, displayed: set[str], declared: bool = True
) -> tuple[tuple[ObligationStatement, ...], list[ReviewItem]]:
    """Each supported obligation and how it is met; `displayed`: the obligation ids whose
    words the section itself displays. A family that applies only through a lineage hint is
    to review; one that applied only through the declaration being replaced is dropped."""
    out: list[ObligationStatement] = []
    review: dict[str, ReviewItem] = {}
    for o in a.obligations:
        ids = family_support(a, o.family, declared)
        if ids:
            out.append(_obligation(o, ids, displayed))
            continue
        hints = _only_through_hints(a, o.family)
        if hints:
            review.setdefault(
                o.family,
                ReviewItem(
                    f"{o.family_name} would apply only through lineage that is not "
                    "established: its obligations are not listed.",
                    hints,
                ),
            )
    return tuple(out), list(review.values())


def _obligation(o: Obligation, ids: tuple[str, ...], displayed: set[str]) -> ObligationStatement:
    words = wording.statement_for(o.id)
    if o.id in displayed and words:
        status, how = "section", f'this section displays "{words}"'
    elif o.status == "manual":
        status, how = o.status, wording.status_words(o.status)
    else:
        status, how = o.status, f"{wording.status_words(o.status)}: {o.how_checked}"
    return ObligationStatement(o.id, o.title, o.family_name, status, how, ids)


def displayed_words(
    a: Assessment, declared: bool = True
) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """("Built with Qwen", ids) for each display obligation the release's licenses impose."""
    out: dict[str, list[str]] = {}
    for o in a.obligations:
        words = wording.statement_for(o.id)
        ids = family_support(a, o.family, declared)
        if words and ids:
            out.setdefault(words, []).extend(ids)
    return tuple((w, tuple(dict.fromkeys(ids))) for w, ids in out.items())


def prescribed_notices(a: Assessment, declared: bool = True) -> tuple[str, ...]:
    return tuple(
        dict.fromkeys(
            o.notice for o in a.obligations if o.notice and family_support(a, o.family, declared)
        )
    )


def other_review(a: Assessment) -> list[ReviewItem]:
    """License detections flagged for review, and files that could not be analysed."""
    out = [
        ReviewItem(f"A license detection needs a person's eye: {d.title}", d.finding_ids)
        for d in a.discrepancies
        if d.kind == "license-review"
    ]
    for fid, f in a.findings:
        if f.kind == "not-analysed":
            what = f.location.path or f.analyzer or "part of the release"
            out.append(
                ReviewItem(f"{what} could not be analysed: nothing is said about it.", (fid,))
            )
    return out


# ---- citations --------------------------------------------------------------------------------


def _where(f: Finding) -> str:
    loc = f.location
    if loc.path:
        if loc.start_line and loc.end_line and loc.end_line != loc.start_line:
            return f"{loc.path} lines {loc.start_line}-{loc.end_line}"
        return f"{loc.path} line {loc.start_line}" if loc.start_line else loc.path
    if loc.tensor:
        return "the weights"
    return f.analyzer or "the release"


def cited_findings(a: Assessment, ids: Iterable[str]) -> tuple[CitedFinding, ...]:
    wanted = set(ids)
    return tuple(CitedFinding(fid, f.kind, _where(f)) for fid, f in a.findings if fid in wanted)

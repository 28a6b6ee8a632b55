"""SPDX 3.0.1 JSON-LD with the AI profile: the release as an ai_AIPackage, its files, the
base models (declared: ancestorOf; detected only: descendantOf, with an annotation), the
declared license and one concluded license (every license found, AND-ed), the third-party
notices as copyright and attribution text (comment markers dropped), and the assessment's
discrepancies as review annotations."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from .. import __version__
from ..assess.model import Assessment, Report
from ..licenses import license_ids, spdx_expression
from .interface import Format
from .notice import notice_text

CONTEXT = "https://spdx.org/rdf/3.0.1/spdx-context.jsonld"
CI = "_:creationinfo"
PURPOSE = {
    "code": "source",
    "weights": "model",
    "config": "configuration",
    "license": "documentation",
    "notice": "documentation",
    "model-card": "documentation",
    "docs": "documentation",
    "tokenizer": "data",
}


class _Graph:
    def __init__(self, ns: str):
        self.ns = ns
        self.items: list[dict[str, Any]] = []
        self.n = 0

    def add(self, type_: str, local: str, **props: Any) -> str:
        spdx_id = f"{self.ns}#{local}"
        self.items.append(
            {
                "type": type_,
                "spdxId": spdx_id,
                "creationInfo": CI,
                **{k: v for k, v in props.items() if v not in (None, [], "")},
            }
        )
        return spdx_id

    def relate(self, from_: str, rel: str, to: list[str], comment: str | None = None) -> str:
        self.n += 1
        return self.add(
            "Relationship",
            f"rel-{self.n}",
            **{"from": from_, "relationshipType": rel, "to": to, "comment": comment},
        )


def _license(g: _Graph, expression: str, local: str) -> str:
    return g.add(
        "simplelicensing_LicenseExpression",
        local,
        simplelicensing_licenseExpression=spdx_expression(expression),
    )


def notices_of(a: Assessment) -> list[str]:
    """Every third-party notice once, as plain text: the upstream notices of copied code
    and the foreign notices the release carries."""
    texts = [notice_text(c.upstream_notice) for c in a.copied if c.upstream_notice]
    texts += [notice_text(n) for o in a.origins for n in o.notices]
    return [t for t in dict.fromkeys(texts) if t]


def attribution_texts(a: Assessment) -> list[str]:
    """What a recipient must be shown: the notices, and the attribution texts that the
    applicable licenses prescribe (a Llama or Qwen "licensed under" line)."""
    prescribed = [o.notice for o in a.obligations if o.notice]
    return list(dict.fromkeys([*notices_of(a), *prescribed]))


def concluded_expression(a: Assessment) -> str | None:
    """One expression for what applies to the release: every license found, AND-ed."""
    ids = list(dict.fromkeys(i for d in a.detected_licenses for i in license_ids(d.expression)))
    return " AND ".join(ids) if ids else None


def _build(report: Report) -> dict[str, Any]:
    snap, a = report.result.snapshot, report.assessment
    name = report.name
    g = _Graph(f"urn:spdx:provscan:{uuid.uuid4()}")
    tool = g.add("Tool", "tool-provscan", name=f"provscan {__version__}")
    agent = g.add(
        "Organization", "agent-provscan-user", name="provscan user (the party that ran the scan)"
    )
    model = g.add(
        "ai_AIPackage",
        "release",
        name=name,
        software_packageVersion=snap.revision,
        software_primaryPurpose="model",
        software_downloadLocation=snap.target if snap.source != "local" else None,
        software_copyrightText="\n".join(notices_of(a)) or None,
        software_attributionText=attribution_texts(a),
        ai_typeOfModel=[str(snap.card.pipeline_tag)]
        if snap.card and snap.card.pipeline_tag
        else [],
        summary=a.verdict.headline,
    )
    files = []
    for i, f in enumerate(snap.files):
        fid = g.add(
            "software_File",
            f"file-{i + 1}",
            name=f.path,
            software_primaryPurpose=PURPOSE.get(str(f.kind), "other"),
            verifiedUsing=[{"type": "Hash", "algorithm": "sha256", "hashValue": f.sha256}]
            if f.sha256
            else [],
        )
        files.append(fid)
    if files:
        g.relate(model, "contains", files)
    declared = a.declared.license_name if a.declared.license == "other" else a.declared.license
    if declared:
        g.relate(model, "hasDeclaredLicense", [_license(g, declared, "license-declared")])
    concluded = concluded_expression(a)
    if concluded:
        g.relate(
            model,
            "hasConcludedLicense",
            [_license(g, concluded, "license-concluded")],
            comment="; ".join(
                f"{d.expression} ({d.via.replace('-', ' ')}: {', '.join(d.where[:5])})"
                for d in a.detected_licenses
            ),
        )
    for i, c in enumerate(a.lineage):
        if c.verdict not in ("identical", "derived", "shared-components"):
            continue
        base = g.add(
            "ai_AIPackage",
            f"base-{i + 1}",
            name=c.name,
            software_primaryPurpose="model",
            comment=f"reference: {c.reference}",
        )
        if c.license:
            g.relate(base, "hasConcludedLicense", [_license(g, c.license, f"base-lic-{i + 1}")])
        how = (
            f"{c.verdict}"
            + (f" ({c.relation})" if c.relation else "")
            + f" per provscan's weight analysis ({', '.join(c.finding_ids)})"
        )
        if c.declared:
            g.relate(base, "ancestorOf", [model], comment=how)
        else:
            g.relate(model, "descendantOf", [base], comment="UNDECLARED on the model card; " + how)
    for j, b in enumerate(a.declared.base_models):
        if not any(c.declared and (c.name == b or c.reference == b) for c in a.lineage):
            base = g.add(
                "ai_AIPackage",
                f"declared-base-{j + 1}",
                name=b,
                software_primaryPurpose="model",
                comment="declared as base_model on the model card",
            )
            g.relate(base, "ancestorOf", [model], comment="declared on the model card")
    for k, disc in enumerate(a.discrepancies):
        g.add(
            "Annotation",
            f"discrepancy-{k + 1}",
            annotationType="review",
            subject=model,
            statement=f"[{disc.severity}] {disc.title}. {disc.explanation}",
        )
    elements = [it["spdxId"] for it in g.items]
    sbom = g.add(
        "software_Sbom",
        "sbom",
        software_sbomType=["analyzed"],
        rootElement=[model],
        element=elements,
    )
    doc = g.add(
        "SpdxDocument",
        "document",
        name=f"provscan assessment of {name}",
        rootElement=[sbom],
        element=[*elements, sbom],
        profileConformance=["core", "software", "simpleLicensing", "ai"],
        dataLicense=_license(g, "CC0-1.0", "data-license"),
    )
    del doc
    created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    creation = {
        "type": "CreationInfo",
        "@id": CI,
        "specVersion": "3.0.1",
        "created": created,
        "createdBy": [agent],
        "createdUsing": [tool],
    }
    return {"@context": CONTEXT, "@graph": [creation, *g.items]}


class SpdxFormat(Format):
    name = "spdx"

    def document(self, report: Report) -> dict[str, Any]:
        return _build(report)

    def render(self, report: Report) -> str:
        return json.dumps(self.document(report), indent=2) + "\n"

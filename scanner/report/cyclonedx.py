"""CycloneDX 1.6 ML-BOM: the release as a machine-learning-model component; its base
models, declared or only detected, as pedigree ancestors (a base is what the release
descends from; a property and the description say whether the card declares it); the
release's files as components, a copied file with its upstream as ancestor; foreign
notices as copyright evidence, as plain text (comment markers dropped)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from .. import __version__
from ..assess.model import CopiedCode, Report
from ..licenses import license_ids, spdx_expression, spdx_id
from .interface import Format
from .notice import notice_text


def licenses(expression: str | None, acknowledgement: str) -> list[dict[str, Any]]:
    """A CycloneDX license choice: one license object, or an SPDX expression."""
    if not expression:
        return []
    ids = license_ids(expression)
    if len(ids) == 1:
        sid = spdx_id(ids[0])
        lic: dict[str, Any] = {"id": sid} if sid else {"name": expression}
        lic["acknowledgement"] = acknowledgement
        return [{"license": lic}]
    return [{"expression": spdx_expression(expression), "acknowledgement": acknowledgement}]


def _model(
    ref: str, name: str, lic: str | None, description: str, declared: bool
) -> dict[str, Any]:
    comp: dict[str, Any] = {
        "type": "machine-learning-model",
        "bom-ref": ref,
        "name": name,
        "description": description,
    }
    if lic:
        comp["licenses"] = licenses(lic, "concluded")
    comp["properties"] = [
        {"name": "provscan:declared-on-model-card", "value": "true" if declared else "false"}
    ]
    return comp


def _model_card(report: Report) -> dict[str, Any]:
    """What the release's own metadata says of the model: task, datasets (card) and
    architecture (config.json, as the assessment read it); nothing is guessed."""
    params: dict[str, Any] = {}
    card = report.result.snapshot.card
    if card and card.pipeline_tag:
        params["task"] = card.pipeline_tag
    if card and card.datasets:
        params["datasets"] = [{"type": "dataset", "name": d} for d in card.datasets[:50]]
    config = report.excerpts.config
    if config.model_type:
        params["architectureFamily"] = config.model_type
    if config.architecture:
        params["modelArchitecture"] = config.architecture
    return {"modelParameters": params} if params else {}


def _release_component(report: Report) -> dict[str, Any]:
    result, a = report.result, report.assessment
    name = report.name
    comp: dict[str, Any] = {"type": "machine-learning-model", "bom-ref": "release", "name": name}
    if result.snapshot.revision:
        comp["version"] = result.snapshot.revision
    declared = a.declared.license_name if a.declared.license == "other" else a.declared.license
    comp["licenses"] = licenses(declared, "declared")
    ancestors: list[dict[str, Any]] = []
    undeclared: list[str] = []
    for i, c in enumerate(a.lineage):
        if c.verdict not in ("identical", "derived", "shared-components"):
            continue
        desc = (
            ("" if c.declared else "NOT declared on the model card; ")
            + f"{c.verdict}"
            + (f" ({c.relation})" if c.relation else "")
            + f" per provscan's weight analysis (findings {', '.join(c.finding_ids)})"
        )
        ancestors.append(_model(f"base-{i + 1}", c.name, c.license, desc, c.declared))
        if not c.declared:
            undeclared.append(c.name)
    for j, b in enumerate(a.declared.base_models):
        if not any(c.declared and c.name == b or c.reference == b for c in a.lineage):
            ancestors.append(
                _model(
                    f"declared-base-{j + 1}",
                    b,
                    None,
                    "declared as base_model on the model card",
                    declared=True,
                )
            )
    if ancestors:
        comp["pedigree"] = {"ancestors": ancestors}
        if undeclared:
            comp["pedigree"]["notes"] = (
                "Base models found by the weight analysis that the model card does not "
                "declare: " + ", ".join(undeclared)
            )
    evidence: dict[str, Any] = {}
    notices = [notice_text(n) for o in a.origins for n in o.notices]
    if notices:
        evidence["copyright"] = [{"text": n} for n in dict.fromkeys(notices) if n]
    detected = [d for d in a.detected_licenses if d.via in ("file", "base-model")]
    lic_ev = [entry for d in detected for entry in licenses(d.expression, "concluded")]
    if lic_ev:
        evidence["licenses"] = lic_ev
    if evidence:
        comp["evidence"] = evidence
    card = _model_card(report)
    if card:
        comp["modelCard"] = card
    comp["properties"] = [
        {"name": "provscan:verdict", "value": a.verdict.level},
        {"name": "provscan:headline", "value": a.verdict.headline},
    ]
    comp["properties"] += [
        {"name": "provscan:discrepancy", "value": d.title} for d in a.discrepancies
    ]
    return comp


def _copy_pedigree(c: CopiedCode, i: int) -> dict[str, Any]:
    upstream: dict[str, Any] = {
        "type": "file",
        "bom-ref": f"upstream-{i}",
        "name": c.upstream_path or c.upstream,
        "group": c.corpus or None,
    }
    if c.version:
        upstream["version"] = c.version
    if c.license:
        upstream["licenses"] = licenses(c.license, "concluded")
    if c.upstream_notice and notice_text(c.upstream_notice):
        upstream["copyright"] = notice_text(c.upstream_notice)
    return {
        "ancestors": [{k: v for k, v in upstream.items() if v}],
        "notes": f"copied from {c.upstream}; upstream notice "
        f"{c.notice_status} (finding {c.finding_id})",
    }


def _file_components(report: Report) -> list[dict[str, Any]]:
    """Every file of the release; a copied one with its license, notice and upstream."""
    copies = {c.path: c for c in report.assessment.copied}
    out = []
    for i, f in enumerate(report.result.snapshot.files, start=1):
        comp: dict[str, Any] = {"type": "file", "bom-ref": f"file-{i}", "name": f.path}
        if f.sha256:
            comp["hashes"] = [{"alg": "SHA-256", "content": f.sha256}]
        c = copies.get(f.path)
        if c is not None:
            if c.target_notice and notice_text(c.target_notice):
                comp["copyright"] = notice_text(c.target_notice)
            if c.license:
                comp["licenses"] = licenses(c.license, "concluded")
            comp["pedigree"] = _copy_pedigree(c, i)
        comp["properties"] = [{"name": "provscan:kind", "value": str(f.kind)}]
        out.append(comp)
    return out


class CycloneDxFormat(Format):
    name = "cyclonedx"

    def document(self, report: Report) -> dict[str, Any]:
        release = _release_component(report)
        files = _file_components(report)
        return {
            "bomFormat": "CycloneDX",
            "specVersion": "1.6",
            "serialNumber": f"urn:uuid:{uuid.uuid4()}",
            "version": 1,
            "metadata": {
                "timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "tools": {
                    "components": [
                        {"type": "application", "name": "provscan", "version": __version__}
                    ]
                },
                "component": release,
            },
            "components": files,
        }

    def render(self, report: Report) -> str:
        return json.dumps(self.document(report), indent=2) + "\n"

"""CycloneDX 1.6 ML-BOM: the release as a machine-learning-model component, its declared
base models as pedigree ancestors, bases detected but not declared as pedigree variants,
copied files with their upstream as ancestors, and foreign notices as copyright evidence."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from .. import __version__
from ..assess.model import Report
from ..assess.release import release_name
from ..licenses import license_ids, spdx_expression, spdx_id
from .interface import Format


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


def _model(ref: str, name: str, lic: str | None, description: str) -> dict[str, Any]:
    comp: dict[str, Any] = {
        "type": "machine-learning-model",
        "bom-ref": ref,
        "name": name,
        "description": description,
    }
    if lic:
        comp["licenses"] = licenses(lic, "concluded")
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
    name = release_name(result.snapshot)
    comp: dict[str, Any] = {"type": "machine-learning-model", "bom-ref": "release", "name": name}
    if result.snapshot.revision:
        comp["version"] = result.snapshot.revision
    declared = a.declared.license_name if a.declared.license == "other" else a.declared.license
    comp["licenses"] = licenses(declared, "declared")
    ancestors: list[dict[str, Any]] = []
    variants: list[dict[str, Any]] = []
    for i, c in enumerate(a.lineage):
        if c.verdict not in ("identical", "derived", "shared-components"):
            continue
        desc = (
            f"{c.verdict}"
            + (f" ({c.relation})" if c.relation else "")
            + f" per provscan's weight analysis (findings {', '.join(c.finding_ids)})"
        )
        entry = _model(f"base-{i + 1}", c.name, c.license, desc)
        (ancestors if c.declared else variants).append(entry)
    for j, b in enumerate(a.declared.base_models):
        if not any(c.declared and c.name == b or c.reference == b for c in a.lineage):
            ancestors.append(
                _model(
                    f"declared-base-{j + 1}", b, None, "declared as base_model on the model card"
                )
            )
    pedigree: dict[str, Any] = {}
    if ancestors:
        pedigree["ancestors"] = ancestors
    if variants:
        pedigree["variants"] = variants
        pedigree["notes"] = (
            "variants: base models the weight analysis detected but the model card does not declare"
        )
    if pedigree:
        comp["pedigree"] = pedigree
    evidence: dict[str, Any] = {}
    notices = [n for o in a.origins for n in o.notices]
    if notices:
        evidence["copyright"] = [{"text": n} for n in dict.fromkeys(notices)]
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


def _file_components(report: Report) -> list[dict[str, Any]]:
    a = report.assessment
    sha = {f.path: f.sha256 for f in report.result.snapshot.files}
    out = []
    for i, c in enumerate(a.copied):
        comp: dict[str, Any] = {"type": "file", "bom-ref": f"file-{i + 1}", "name": c.path}
        if sha.get(c.path):
            comp["hashes"] = [{"alg": "SHA-256", "content": sha[c.path]}]
        if c.target_notice:
            comp["copyright"] = c.target_notice
        upstream: dict[str, Any] = {
            "type": "file",
            "bom-ref": f"upstream-{i + 1}",
            "name": c.upstream_path or c.upstream,
            "group": c.corpus or None,
        }
        if c.version:
            upstream["version"] = c.version
        if c.license:
            upstream["licenses"] = licenses(c.license, "concluded")
            comp["licenses"] = licenses(c.license, "concluded")
        if c.upstream_notice:
            upstream["copyright"] = c.upstream_notice
        comp["pedigree"] = {
            "ancestors": [{k: v for k, v in upstream.items() if v}],
            "notes": f"copied from {c.upstream}; upstream notice "
            f"{c.notice_status} (finding {c.finding_id})",
        }
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
            "dependencies": [{"ref": "release", "dependsOn": [f["bom-ref"] for f in files]}]
            if files
            else [],
        }

    def render(self, report: Report) -> str:
        return json.dumps(self.document(report), indent=2) + "\n"

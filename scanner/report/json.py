"""The JSON report: inventory, card metadata and findings (see DESIGN.md's contract)."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from .. import SCHEMA_VERSION, __version__
from ..assess import assess
from ..assess.model import finding_id
from ..audit import AuditResult
from ..model import FileEntry
from .assessment_dict import assessment_to_dict
from .interface import Format


def file_to_dict(f: FileEntry) -> dict[str, Any]:
    out: dict[str, Any] = {"path": f.path, "size": f.size, "sha256": f.sha256, "kind": str(f.kind)}
    if f.language:
        out["language"] = f.language
    if f.weight_format:
        out["weight_format"] = f.weight_format
    if f.lfs:
        out["lfs"] = {"oid": f.lfs.oid, "size": f.lfs.size}
    if f.target:
        out["target"] = f.target
    return out


def result_to_dict(result: AuditResult) -> dict[str, Any]:
    snap = result.snapshot
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "provscan", "version": __version__},
        "target": snap.target,
        "source": snap.source,
        "revision": snap.revision,
        "card": snap.card.to_dict() if snap.card else None,
        "info": snap.info,
        "summary": {
            "files": len(snap.files),
            "bytes": sum(f.size for f in snap.files),
            "kinds": dict(sorted(Counter(str(f.kind) for f in snap.files).items())),
            "findings": dict(sorted(Counter(f.kind for f in result.findings).items())),
        },
        "files": [file_to_dict(f) for f in snap.files],
        "findings": [{"id": finding_id(i), **f.to_dict()}
                     for i, f in enumerate(result.findings)],
        "assessment": assessment_to_dict(assess(result)),
    }


class JsonFormat(Format):
    name = "json"

    def render(self, result: AuditResult) -> str:
        return json.dumps(result_to_dict(result), indent=2, sort_keys=False, default=str) + "\n"

"""SARIF 2.1.0 for GitHub code scanning: one result per finding worth a reviewer's look,
plus the assessment's discrepancies that no single finding carries."""

from __future__ import annotations

import hashlib
import json
from typing import Any
from urllib.parse import quote

from .. import __version__
from ..assess.model import Report
from ..model import Finding
from .interface import Format

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
LEVEL = {"high": "error", "medium": "warning", "low": "note", "info": "note"}
# Kinds that are inventory, not problems: not sent to code scanning.
QUIET = {"license", "cache-unavailable"}
RULE_HELP = {
    "foreign-notice": "A copyright notice of a holder other than the publisher.",
    "copied-code": "Code copied from an indexed upstream corpus.",
    "notice-removed": "Copied code whose upstream notice was removed or replaced.",
    "declared-adaptation": "Code its own comments say was adapted from an upstream.",
    "license-mismatch": "The declared license differs from licenses found in the files.",
    "missing-license": "The release has no license file.",
    "notice-missing": "Apache-2.0 material without the NOTICE its upstream requires.",
    "license-review": "A license match that needs a person to review it.",
    "weights-derived": "The weights derive from a reference model.",
    "undeclared-base-model": "The weights derive from a model the card does not name.",
    "not-analysed": "A file that could not be analysed.",
    "analyzer-failed": "An analyzer that did not run: the release is not fully audited.",
    "weights-non-finite": "Weights holding NaN, infinite or absurd values (read as 0).",
    "license-not-reflected": "A detected license that the declared license does not reflect.",
    "missing-attribution": "Third-party notices not attributed in a NOTICE file.",
}


def _location(path: str | None, start: int | None, end: int | None) -> list[dict[str, Any]]:
    if not path:
        return []
    region: dict[str, Any] = {}
    if start and start >= 1:
        region["startLine"] = start
        if end and end >= start:
            region["endLine"] = end
    # A file name may hold spaces, '%', '#', ':' or newlines: the uri is percent-encoded,
    # or consumers read "a:b.py" as a URI scheme and "x#y" as a fragment.
    uri = quote(path, safe="/")
    phys: dict[str, Any] = {"artifactLocation": {"uri": uri, "uriBaseId": "%SRCROOT%"}}
    if region:
        phys["region"] = region
    return [{"physicalLocation": phys}]


def _fingerprint(*parts: object) -> str:
    return hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()[:32]


def _finding_result(fid: str, f: Finding, card_path: str | None) -> dict[str, Any]:
    path = f.location.path or card_path
    result: dict[str, Any] = {
        "ruleId": f.kind,
        "level": LEVEL.get(str(f.severity), "note"),
        "message": {
            "text": f.message + (f" [evidence: {f.evidence.matched}]" if f.evidence.matched else "")
        },
        "locations": _location(path, f.location.start_line, f.location.end_line),
        "partialFingerprints": {
            "provscanFinding/v1": _fingerprint(
                f.kind, f.location.path, f.location.start_line, f.evidence.matched
            )
        },
        "properties": {
            "provscanId": fid,
            "severity": str(f.severity),
            **{k: v for k, v in f.evidence.to_dict().items() if k != "details"},
        },
    }
    if not result["locations"]:
        del result["locations"]
    return result


class SarifFormat(Format):
    name = "sarif"

    def document(self, report: Report) -> dict[str, Any]:
        a = report.assessment
        card_path = next(
            (f.path for f in report.result.snapshot.files if str(f.kind) == "model-card"), None
        )
        results = [
            _finding_result(fid, f, card_path) for fid, f in a.findings if f.kind not in QUIET
        ]
        for d in a.discrepancies:
            if d.kind in ("license-not-reflected", "missing-attribution"):
                res: dict[str, Any] = {
                    "ruleId": d.kind,
                    "level": LEVEL.get(d.severity, "note"),
                    "message": {"text": f"{d.title}. {d.explanation}"},
                    "partialFingerprints": {"provscanFinding/v1": _fingerprint(d.kind, d.title)},
                    "properties": {"findings": list(d.finding_ids), "severity": d.severity},
                }
                loc = _location(d.path or card_path, d.start_line, d.end_line)
                if loc:
                    res["locations"] = loc
                results.append(res)
        rule_ids = list(dict.fromkeys(r["ruleId"] for r in results))
        rules = [
            {
                "id": rid,
                "name": "".join(w.title() for w in rid.split("-")),
                "shortDescription": {"text": RULE_HELP.get(rid, rid.replace("-", " "))},
                "properties": {"tags": ["provenance", "license"]},
            }
            for rid in rule_ids
        ]
        for r in results:
            r["ruleIndex"] = rule_ids.index(r["ruleId"])
        return {
            "$schema": SCHEMA,
            "version": "2.1.0",
            "runs": [
                {
                    "tool": {
                        "driver": {
                            "name": "provscan",
                            "version": __version__,
                            "semanticVersion": __version__.split("+")[0],
                            "rules": rules,
                        }
                    },
                    "originalUriBaseIds": {
                        "%SRCROOT%": {
                            "description": {
                                "text": f"The scanned release: {report.result.snapshot.target}"
                            }
                        }
                    },
                    "results": results,
                    "properties": {"verdict": a.verdict.level, "headline": a.verdict.headline},
                }
            ],
        }

    def render(self, report: Report) -> str:
        return json.dumps(self.document(report), indent=2) + "\n"

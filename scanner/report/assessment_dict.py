"""The assessment as plain JSON data (the `assessment` object of the JSON report)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from ..assess.model import Assessment


def assessment_to_dict(a: Assessment) -> dict[str, Any]:
    """Every field of the assessment except the findings (the report lists those itself)."""
    copied = []
    for c in a.copied:
        d = asdict(c)
        d.pop("corpus_source")  # a path of the scanning machine; the finding's evidence has it
        d["target_lines"] = list(c.target_lines) if c.target_lines else None
        d["upstream_lines"] = list(c.upstream_lines) if c.upstream_lines else None
        copied.append(d)
    return {
        "verdict": asdict(a.verdict),
        "declared": asdict(a.declared),
        "discrepancies": [asdict(d) for d in a.discrepancies],
        "detected_licenses": [asdict(d) for d in a.detected_licenses],
        "origins": [asdict(o) for o in a.origins],
        "lineage": [{**asdict(c), "signals": [s.to_dict() for s in c.signals]} for c in a.lineage],
        "copied_code": copied,
        "obligations": [asdict(o) for o in a.obligations],
    }

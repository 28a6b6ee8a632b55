"""The evidence part of docs/report.schema.json, generated from the evidence records.

`python -m scanner.report.schema [PATH]` rewrites the schema's record definitions and the
finding's per-kind rule (which record a kind's `evidence.details` is); the rest of the file
is written by hand. A test checks that the file in the repository is up to date.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from ..evidence import DETAILS
from ..records import json_schema

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "docs" / "report.schema.json"


def with_evidence_records(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with every evidence record under $defs and, for each finding kind that
    has details, a rule that its details are that record (one of them, for `license`)."""
    out = json.loads(json.dumps(schema))
    defs = out.setdefault("$defs", {})
    records_defs: dict[str, Any] = {}  # made anew: a record's changed fields must show
    rules = []
    for kind, records in DETAILS.items():
        refs = [json_schema(r, records_defs) for r in records]
        details = refs[0] if len(refs) == 1 else {"oneOf": refs}
        rules.append(
            {
                "if": {"properties": {"kind": {"const": kind}}},
                "then": {"properties": {"evidence": {"properties": {"details": details}}}},
            }
        )
    defs.update(records_defs)
    defs["finding"]["allOf"] = rules
    return out


def dumps(value: Any, indent: str = "") -> str:
    """JSON that a person can read: whatever fits in 100 columns on one line."""
    flat = json.dumps(value, ensure_ascii=False)
    if len(indent) + len(flat) <= 100 or not isinstance(value, dict | list) or not value:
        return flat
    inner = indent + "  "
    if isinstance(value, list):
        items = [inner + dumps(v, inner) for v in value]
        return "[\n" + ",\n".join(items) + "\n" + indent + "]"
    items = [f"{inner}{json.dumps(k)}: {dumps(v, inner)}" for k, v in value.items()]
    return "{\n" + ",\n".join(items) + "\n" + indent + "}"


def main(argv: list[str]) -> int:
    path = Path(argv[0]) if argv else SCHEMA_PATH
    schema = json.loads(path.read_text(encoding="utf-8"))
    path.write_text(dumps(with_evidence_records(schema)) + "\n", encoding="utf-8")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Results of the license/notice scan cached in the store, keyed by content sha256 and
the versions that shape them (scancode's, and ours), so an unchanged file is never
scanned twice and a new scancode or prefilter invalidates old entries by itself."""

from __future__ import annotations

import json
from collections.abc import Iterable

from ..store import open_store
from .scancode import scancode_version

SCAN_VERSION = "5"
"""Bump when what a file scan returns changes (matching strategy, prefilter, fields)."""

_DDL = """
CREATE TABLE IF NOT EXISTS code_scan_cache (
    sha256 TEXT NOT NULL,
    engine TEXT NOT NULL,
    result TEXT NOT NULL,
    PRIMARY KEY (sha256, engine)
) WITHOUT ROWID;
"""
_BATCH = 500


def engine_key() -> str:
    return f"scancode-{scancode_version()}/provscan-scan-{SCAN_VERSION}"


class ScanCache:
    """sha256 -> JSON result of one file scan."""

    def __init__(self) -> None:
        self.store = open_store()
        self.store.ensure_schema("code_scan_cache", _DDL)
        self.engine = engine_key()

    def get_many(self, hashes: Iterable[str]) -> dict[str, dict]:
        wanted = list(dict.fromkeys(hashes))
        found: dict[str, dict] = {}
        for i in range(0, len(wanted), _BATCH):
            chunk = wanted[i : i + _BATCH]
            marks = ",".join("?" * len(chunk))
            rows = self.store.conn.execute(
                f"SELECT sha256, result FROM code_scan_cache WHERE engine = ? "
                f"AND sha256 IN ({marks})",
                [self.engine, *chunk],
            )
            for sha, result in rows:
                found[sha] = json.loads(result)
        return found

    def put_many(self, results: dict[str, dict]) -> None:
        with self.store.conn:
            self.store.conn.executemany(
                "INSERT OR REPLACE INTO code_scan_cache (sha256, engine, result) VALUES (?, ?, ?)",
                [(sha, self.engine, json.dumps(r)) for sha, r in results.items()],
            )

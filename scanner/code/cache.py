"""Results of the license/notice scan cached in the store, keyed by content sha256 and
the versions that shape them (scancode's, and ours), so an unchanged file is never
scanned twice and a new scancode or prefilter invalidates old entries by itself.

The cache is an optimisation, never a condition: a store that cannot be opened, read or
written (unwritable home, full disk, damaged file) turns it off for the rest of the scan,
and `problem` says why and what to do."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable

from ..store import Store, StoreError, default_store_path, open_store, store_problem
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
    """sha256 -> JSON result of one file scan; a no-op once the store has failed."""

    def __init__(self) -> None:
        self.engine = engine_key()
        self.problem: str | None = None
        """Why the cache is off (one line naming the store and the remedy), if it is."""
        self.store: Store | None = None
        try:
            self.store = open_store()
            self.store.ensure_schema("code_scan_cache", _DDL)
        except (StoreError, sqlite3.Error, OSError) as exc:
            self._off(exc)

    def _off(self, exc: BaseException) -> None:
        if self.problem is None:
            try:
                path = self.store.path if self.store else default_store_path()
            except StoreError as home_error:
                self.problem = str(home_error)
            else:
                self.problem = store_problem(exc, path)
        self.store = None

    def get_many(self, hashes: Iterable[str]) -> dict[str, dict]:
        wanted = list(dict.fromkeys(hashes))
        found: dict[str, dict] = {}
        if self.store is None:
            return found
        try:
            for i in range(0, len(wanted), _BATCH):
                chunk = wanted[i : i + _BATCH]
                marks = ",".join("?" * len(chunk))
                rows = self.store.conn.execute(
                    f"SELECT sha256, result FROM code_scan_cache WHERE engine = ? "
                    f"AND sha256 IN ({marks})",
                    [self.engine, *chunk],
                )
                for sha, result in rows:
                    try:
                        found[sha] = json.loads(result)
                    except (ValueError, TypeError, RecursionError):
                        continue  # a damaged entry is a miss: the file is scanned again
        except sqlite3.Error as exc:
            self._off(exc)
        return found

    def put_many(self, results: dict[str, dict]) -> None:
        if self.store is None or not results:
            return
        try:
            with self.store.conn:
                self.store.conn.executemany(
                    "INSERT OR REPLACE INTO code_scan_cache (sha256, engine, result) "
                    "VALUES (?, ?, ?)",
                    [(sha, self.engine, json.dumps(r)) for sha, r in results.items()],
                )
        except sqlite3.Error as exc:  # a full disk must not cost the finished scan
            self._off(exc)

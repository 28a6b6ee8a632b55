"""The batch's results in the store: one row per (output folder, target).

Only the client writes here (workers hand their results back), so a cluster needs no
shared store. The key makes every result present once however often a unit ran: a task
run again after its worker died overwrites, never adds.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from ..store import Store, open_store
from .unit import TargetSummary, UnitResult

SCHEMA = """
CREATE TABLE IF NOT EXISTS batch_results (
    out_dir TEXT NOT NULL,
    target TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('done', 'failed')),
    error TEXT,
    summary TEXT,
    reports TEXT NOT NULL,
    seconds REAL NOT NULL,
    worker TEXT NOT NULL,
    finished TEXT NOT NULL,
    PRIMARY KEY (out_dir, target)
);
"""


@dataclass(frozen=True)
class TargetRow:
    """A target's recorded result."""

    target: str
    status: str
    """done or failed."""
    error: str | None
    summary: TargetSummary | None
    reports: dict[str, str]
    """Format name -> report path relative to the output folder."""
    seconds: float
    worker: str
    finished: str


class BatchResults:
    """The rows of one output folder."""

    def __init__(self, out_dir: Path, store: Store | None = None):
        self.key = str(out_dir.resolve())
        self.store = store or open_store()
        self.store.ensure_schema("batch", SCHEMA)
        self.conn = self.store.conn

    def record(self, result: UnitResult, reports: dict[str, str]) -> None:
        summary = json.dumps(asdict(result.summary)) if result.summary else None
        now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        with self.conn:
            self.conn.execute(
                "INSERT INTO batch_results (out_dir, target, status, error, summary, reports, "
                "seconds, worker, finished) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (out_dir, target) DO UPDATE SET status = excluded.status, "
                "error = excluded.error, summary = excluded.summary, reports = excluded.reports, "
                "seconds = excluded.seconds, worker = excluded.worker, "
                "finished = excluded.finished",
                (
                    self.key,
                    result.target,
                    "done" if result.ok else "failed",
                    result.error,
                    summary,
                    json.dumps(reports),
                    result.seconds,
                    result.worker,
                    now,
                ),
            )

    def rows(self) -> dict[str, TargetRow]:
        out = {}
        for row in self.conn.execute(
            "SELECT target, status, error, summary, reports, seconds, worker, finished "
            "FROM batch_results WHERE out_dir = ?",
            (self.key,),
        ):
            target, status, error, summary, reports, seconds, worker, finished = row
            out[target] = TargetRow(
                target,
                status,
                error,
                _summary(summary),
                json.loads(reports),
                seconds,
                worker,
                finished,
            )
        return out

    def finished(self, out_dir: Path) -> set[str]:
        """Targets done before whose report files are all still there: a re-run skips them
        (failed targets are tried again)."""
        return {
            t
            for t, r in self.rows().items()
            if r.status == "done" and all((out_dir / p).is_file() for p in r.reports.values())
        }


def _summary(raw: str | None) -> TargetSummary | None:
    if raw is None:
        return None
    data = json.loads(raw)
    for name in ("detected_bases", "key_findings"):
        data[name] = tuple(data[name])
    return TargetSummary(**data)

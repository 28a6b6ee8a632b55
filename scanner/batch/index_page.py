"""The batch's index page: one table, a row per target, linking each target's report.

Sorting: the rows are written worst first (failed targets, then fail, warn, pass), so the
page reads without any script; a column heading sorts by that column with the one small
script below. The page allows that script alone, by its hash in the Content-Security-Policy,
and it only reorders rows: release-controlled text stays cell text (autoescaped), read as
data. One file, no network, like the reports.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from .. import __version__
from .results import TargetRow

SORT_SCRIPT = """
(function () {
  var table = document.getElementById("targets");
  var heads = table.tHead.rows[0].cells;
  function key(row, col) {
    var cell = row.cells[col];
    return cell.getAttribute("data-sort") || cell.textContent.trim();
  }
  Array.prototype.forEach.call(heads, function (th, col) {
    var button = th.querySelector("button");
    if (!button) { return; }
    button.addEventListener("click", function () {
      var up = th.getAttribute("aria-sort") !== "ascending";
      Array.prototype.forEach.call(heads, function (h) { h.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", up ? "ascending" : "descending");
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var order = key(a, col).localeCompare(key(b, col), undefined, {numeric: true});
        return up ? order : -order;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
})();
"""
LEVEL_RANK = {"error": 0, "fail": 1, "warn": 2, "pass": 3, "pending": 4}


@dataclass(frozen=True)
class IndexRow:
    target: str
    license: str | None
    bases: tuple[str, ...]
    level: str
    """fail, warn, pass; error (the audit failed) or pending (not run yet)."""
    headline: str
    key_findings: tuple[str, ...]
    error: str | None
    reports: tuple[tuple[str, str], ...]
    """(format name, relative link)."""
    high: int = 0
    medium: int = 0

    @property
    def rank(self) -> int:
        return LEVEL_RANK[self.level]

    @property
    def main_report(self) -> str | None:
        return dict(self.reports).get("html")

    @property
    def findings_sort(self) -> str:
        """Ascending puts the most high, then medium, findings first (errors before all)."""
        if self.error or self.level == "pending":
            return "0" if self.error else "~"
        return f"1 {99999 - self.high:05d} {99999 - self.medium:05d}"


def index_rows(targets: tuple[str, ...], rows: dict[str, TargetRow]) -> list[IndexRow]:
    """A row per target of the file, worst first, then by target."""
    out = [_row(t, rows.get(t)) for t in targets]
    return sorted(out, key=lambda r: (r.rank, r.target))


def _row(target: str, row: TargetRow | None) -> IndexRow:
    if row is None:
        return IndexRow(target, None, (), "pending", "not run yet", (), None, ())
    links = tuple(sorted(row.reports.items()))
    if row.status != "done" or row.summary is None:
        return IndexRow(target, None, (), "error", "", (), row.error or "failed", links)
    s = row.summary
    return IndexRow(
        target,
        s.declared_license,
        s.detected_bases,
        s.level,
        s.headline,
        s.key_findings,
        None,
        links,
        s.high,
        s.medium,
    )


def script_hash() -> str:
    digest = hashlib.sha256(SORT_SCRIPT.encode()).digest()
    return "sha256-" + base64.b64encode(digest).decode()


def render_index(targets_file: str, rows: list[IndexRow]) -> str:
    from ..report.html import environment

    counts = {
        "done": sum(r.level in ("fail", "warn", "pass") for r in rows),
        "failed": sum(r.level == "error" for r in rows),
        "pending": sum(r.level == "pending" for r in rows),
    }
    return (
        environment()
        .get_template("batch_index.html.j2")
        .render(
            rows=rows,
            counts=counts,
            targets_file=targets_file,
            version=__version__,
            generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            script=SORT_SCRIPT,
            script_hash=script_hash(),
        )
    )


def write_index(path: Path, targets_file: str, rows: list[IndexRow]) -> None:
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(render_index(targets_file, rows), encoding="utf-8", errors="backslashreplace")
    tmp.replace(path)

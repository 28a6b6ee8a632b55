"""What the HTML report shows, prepared from the assessment: code snippets read (bounded)
from the release and its upstream, side-by-side rows, chart geometry. Plain data; the
template escapes every string (findings come from hostile repositories)."""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from ..assess.model import Assessment, CopiedCode, LineageClaim
from ..assess.release import read_text
from ..assess.upstream import upstream_text
from ..audit import AuditResult
from ..model import Finding
from .charts import LineChart, SignalChart, line_chart, signal_chart

MAX_SNIPPET_LINES = 30
# Side-by-side views of copied files shown in full; a release with thousands of copies
# would otherwise give a report of hundreds of MB (the JSON report lists every copy).
MAX_SIDE_BY_SIDE = 100
CONTEXT = 2


@dataclass(frozen=True)
class Line:
    no: int
    text: str
    mark: bool


@dataclass(frozen=True)
class Snippet:
    path: str
    lines: tuple[Line, ...]


@dataclass(frozen=True)
class SideRow:
    left_no: int | None
    left: str
    right_no: int | None
    right: str
    status: str
    """same, changed, only-left, only-right."""


@dataclass(frozen=True)
class SideBySide:
    copied: CopiedCode
    rows: tuple[SideRow, ...]
    upstream_found: bool
    truncated: bool


@dataclass(frozen=True)
class LineageView:
    claim: LineageClaim
    signals: SignalChart | None
    curves: tuple[LineChart, ...]


def snippet(result: AuditResult, path: str | None, start: int | None, end: int | None
            ) -> Snippet | None:
    """path:start-end with a little context, read from the release (None if unreadable)."""
    if not path or not start:
        return None
    text = read_text(result.snapshot, path)
    if text is None:
        return None
    lines = text.splitlines()
    end = end or start
    lo, hi = max(1, start - CONTEXT), min(len(lines), end + CONTEXT, start + MAX_SNIPPET_LINES)
    return Snippet(path=path, lines=tuple(Line(no=i, text=lines[i - 1][:400],
                                               mark=start <= i <= end)
                                          for i in range(lo, hi + 1)))


def side_by_side(result: AuditResult, c: CopiedCode) -> SideBySide:
    """Aligned rows of the release file and its upstream from their first lines (where the
    notices are), at most MAX_SNIPPET_LINES rows."""
    target = (read_text(result.snapshot, c.path) or "").splitlines()
    upstream_raw = upstream_text(c)
    upstream = (upstream_raw or "").splitlines()
    # From the top of both files: the notices live there, and the matched code follows.
    t0 = u0 = 0
    left, right = target[t0:t0 + MAX_SNIPPET_LINES * 2], upstream[u0:u0 + MAX_SNIPPET_LINES * 2]
    rows: list[SideRow] = []
    matcher = difflib.SequenceMatcher(a=left, b=right, autojunk=False)
    for op, a1, a2, b1, b2 in matcher.get_opcodes():
        n = max(a2 - a1, b2 - b1)
        for k in range(n):
            ai, bi = a1 + k, b1 + k
            lt = left[ai][:300] if ai < a2 else ""
            rt = right[bi][:300] if bi < b2 else ""
            status = ("same" if op == "equal" else "changed" if ai < a2 and bi < b2
                      else "only-left" if ai < a2 else "only-right")
            rows.append(SideRow(left_no=t0 + ai + 1 if ai < a2 else None, left=lt,
                                right_no=u0 + bi + 1 if bi < b2 else None, right=rt,
                                status=status))
    truncated = len(rows) > MAX_SNIPPET_LINES
    return SideBySide(copied=c, rows=tuple(rows[:MAX_SNIPPET_LINES]),
                      upstream_found=upstream_raw is not None, truncated=truncated)


def lineage_view(i: int, claim: LineageClaim) -> LineageView:
    curves = []
    for j, (_, curve) in enumerate(sorted(claim.curves.items())[:8]):
        chart = line_chart(f"curve-{i}-{j}", curve)
        if chart is not None:
            curves.append(chart)
    return LineageView(claim=claim, signals=signal_chart(f"signals-{i}", claim.signals),
                       curves=tuple(curves))


def finding_snippets(result: AuditResult, findings: tuple[tuple[str, Finding], ...],
                     kinds: tuple[str, ...]) -> dict[str, Snippet]:
    out = {}
    for fid, f in findings:
        if f.kind in kinds:
            s = snippet(result, f.location.path, f.location.start_line, f.location.end_line)
            if s is not None:
                out[fid] = s
    return out


def view(result: AuditResult, a: Assessment) -> dict[str, object]:
    return {
        "copied_views": [side_by_side(result, c) for c in a.copied[:MAX_SIDE_BY_SIDE]],
        "copied_not_shown": max(0, len(a.copied) - MAX_SIDE_BY_SIDE),
        "lineage_views": [lineage_view(i, c) for i, c in enumerate(a.lineage)],
        "snippets": finding_snippets(result, a.findings, ("foreign-notice", "license-review",
                                                          "license-mismatch")),
    }

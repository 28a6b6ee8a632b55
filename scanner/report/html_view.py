"""What the HTML report shows, prepared from the Report: code snippets and side-by-side rows
from the excerpts the assessment gathered, chart geometry. Plain data; the template
escapes every string (findings come from hostile repositories)."""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from ..assess.excerpts import MAX_COPIES
from ..assess.model import CopiedCode, CopyHeads, Excerpt, LineageClaim, Report
from .charts import LineChart, SignalChart, line_chart, signal_chart

MAX_SNIPPET_LINES = 30
MAX_SIDE_BY_SIDE = MAX_COPIES
"""Side-by-side views shown: as many as the assessment gathered (the JSON lists all)."""


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


def snippet(excerpt: Excerpt, start: int, end: int | None) -> Snippet:
    """The excerpt's lines, those of the finding (start-end) marked."""
    end = end or start
    return Snippet(
        path=excerpt.path,
        lines=tuple(
            Line(
                no=excerpt.first_line + k,
                text=text[:400],
                mark=start <= excerpt.first_line + k <= end,
            )
            for k, text in enumerate(excerpt.lines)
        ),
    )


def side_by_side(c: CopiedCode, heads: CopyHeads | None) -> SideBySide:
    """Aligned rows of the release file and its upstream from their first lines (where the
    notices are), at most MAX_SNIPPET_LINES rows."""
    left = list(heads.release) if heads else []
    right = list(heads.upstream or ()) if heads else []
    rows: list[SideRow] = []
    matcher = difflib.SequenceMatcher(a=left, b=right, autojunk=False)
    for op, a1, a2, b1, b2 in matcher.get_opcodes():
        n = max(a2 - a1, b2 - b1)
        for k in range(n):
            ai, bi = a1 + k, b1 + k
            lt = left[ai][:300] if ai < a2 else ""
            rt = right[bi][:300] if bi < b2 else ""
            status = (
                "same"
                if op == "equal"
                else "changed"
                if ai < a2 and bi < b2
                else "only-left"
                if ai < a2
                else "only-right"
            )
            rows.append(
                SideRow(
                    left_no=ai + 1 if ai < a2 else None,
                    left=lt,
                    right_no=bi + 1 if bi < b2 else None,
                    right=rt,
                    status=status,
                )
            )
    truncated = len(rows) > MAX_SNIPPET_LINES
    return SideBySide(
        copied=c,
        rows=tuple(rows[:MAX_SNIPPET_LINES]),
        upstream_found=heads is not None and heads.upstream is not None,
        truncated=truncated,
    )


def lineage_view(i: int, claim: LineageClaim) -> LineageView:
    curves = []
    for j, (_, curve) in enumerate(sorted(claim.curves.items())[:8]):
        chart = line_chart(f"curve-{i}-{j}", curve)
        if chart is not None:
            curves.append(chart)
    return LineageView(
        claim=claim, signals=signal_chart(f"signals-{i}", claim.signals), curves=tuple(curves)
    )


def notice_snippets(report: Report) -> dict[str, Snippet]:
    by_id = dict(report.assessment.findings)
    return {
        fid: snippet(e, by_id[fid].location.start_line or 1, by_id[fid].location.end_line)
        for fid, e in report.excerpts.notices.items()
    }


def view(report: Report) -> dict[str, object]:
    a = report.assessment
    return {
        "copied_views": [
            side_by_side(c, report.excerpts.copies.get(c.finding_id))
            for c in a.copied[:MAX_SIDE_BY_SIDE]
        ],
        "copied_not_shown": max(0, len(a.copied) - MAX_SIDE_BY_SIDE),
        "lineage_views": [lineage_view(i, c) for i, c in enumerate(a.lineage)],
        "snippets": notice_snippets(report),
    }

"""Geometry for the report's SVG charts. Numbers only: the template draws them (escaped),
and every chart comes with a data table, its text alternative.

Axes get round ticks (1, 2, 2.5 or 5 times a power of ten); each chart has a legend in
its own strip, outside the plot, so nothing covers the data."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..assess.model import Curve
from ..evidence import SignalEvidence
from .wording import SIGNAL_SHORT, signal_sureness, signal_words

WIDTH, HEIGHT = 640, 280
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 40, 44
LEGEND_Y = 16
CHAR_W = 6.6
"""Approximate width of a character of the charts' 12 px sans-serif labels."""
PALETTE = ("#1f4e99", "#b3261e", "#2e7d32", "#6a1b9a")  # dark enough on white (WCAG AA)
BAND_FILL, EVIDENCE_DOT, PLAIN_DOT = "#9e9e9e", "#a4161a", "#1f4e99"


@dataclass(frozen=True)
class Series:
    name: str
    color: str
    points: str
    """SVG polyline points "x,y x,y"."""
    dots: tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class Tick:
    pos: float
    label: str


@dataclass(frozen=True)
class LegendItem:
    x: float
    y: float
    mark: str
    """line, band, dot."""
    color: str
    label: str


@dataclass(frozen=True)
class LineChart:
    """A per-layer curve chart, with the unrelated-model band when its null is known."""

    id: str
    title: str
    description: str
    width: int
    height: int
    series: tuple[Series, ...]
    band: tuple[float, float, float, float] | None
    """x, y, width, height of the unrelated-model band (null mean +- 2 std)."""
    legend: tuple[LegendItem, ...]
    x_ticks: tuple[Tick, ...]
    y_ticks: tuple[Tick, ...]
    x_label: str
    plot: tuple[float, float, float, float]
    """x, y, width, height of the plot area."""
    table_head: tuple[str, ...]
    table_rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class SignalRow:
    name: str
    """The signal's code name."""
    words: str
    """What it measures, in words."""
    label: str
    """The chart's short label."""
    y: float
    band_x: float
    band_w: float
    dot_x: float
    score: str
    null: str
    z: str
    p: str
    sureness: str
    """How sure, in a sentence (wording.py)."""
    robust_to: str
    outside: bool


@dataclass(frozen=True)
class SignalChart:
    """Each lineage signal's score against the band unrelated models produce."""

    id: str
    title: str
    description: str
    width: int
    height: int
    rows: tuple[SignalRow, ...]
    x_ticks: tuple[Tick, ...]
    plot: tuple[float, float, float, float]
    legend: tuple[LegendItem, ...]


def _num(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    f = float(v)
    return f if math.isfinite(f) else None


def _fmt(v: float | None, digits: int = 3) -> str:
    if v is None:
        return "–"
    if v != 0 and (abs(v) < 1e-3 or abs(v) >= 1e4):
        return f"{v:.2e}"
    return f"{v:.{digits}g}"


def _pvalue(p: float | None) -> str:
    return "< 1e-300" if p is not None and p <= 0 else _fmt(p)


def nice_step(span: float, intervals: int) -> float:
    """The round step (1, 2, 2.5 or 5 times a power of ten) that cuts `span` into about
    `intervals` parts."""
    raw = span / max(intervals, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    return next(m * magnitude for m in (1, 2, 2.5, 5, 10) if raw <= m * magnitude * 1.000001)


def nice_ticks(lo: float, hi: float, intervals: int = 4) -> tuple[list[float], float]:
    """Round tick values covering [lo, hi], and their step: of the round steps that cut
    the range into `intervals` to `intervals` + 3 parts, the one that wastes least."""
    if not hi > lo:
        lo, hi = lo - 0.5, hi + 0.5
    best: tuple[float, list[float], float] | None = None
    for parts in range(intervals, intervals + 4):
        step = nice_step(hi - lo, parts)
        first, last = math.floor(lo / step + 1e-9), math.ceil(hi / step - 1e-9)
        ticks = [round(k * step, 12) for k in range(first, last + 1)]
        span = ticks[-1] - ticks[0]
        if best is None or span < best[0] - 1e-12:
            best = (span, ticks, step)
    assert best is not None
    return best[1], best[2]


def tick_label(value: float, step: float) -> str:
    """A tick's label with as many decimals as the step needs (0.25 steps: two)."""
    decimals = 0
    while decimals < 12 and abs(round(step, decimals) - step) > step * 1e-6:
        decimals += 1
    text = f"{value:.{decimals}f}"
    return "0" if float(text) == 0 else text


def _legend(
    items: Sequence[tuple[str, str, str]], left: float, width: float, y: float
) -> tuple[LegendItem, ...]:
    """Legend entries (mark, color, label) laid out left to right, wrapping at `width`."""
    out: list[LegendItem] = []
    x, row = left, y
    for mark, color, label in items:
        w = 22 + len(label) * CHAR_W + 18
        if x > left and x + w > left + width:
            x, row = left, row + 18
        out.append(LegendItem(x, row, mark, color, label))
        x += w
    return tuple(out)


def _x_ticks(layers: list[float]) -> list[float]:
    """Every layer when there are few, else round steps."""
    distinct = sorted(set(layers))
    if len(distinct) <= 12:
        return distinct
    ticks, _ = nice_ticks(distinct[0], distinct[-1], 6)
    return [t for t in ticks if distinct[0] <= t <= distinct[-1]]


def line_chart(chart_id: str, curve: Curve) -> LineChart | None:
    """A chart of a signal's per-layer values against its null band; None when the curve
    has nothing plottable."""
    layers = [v for v in (_num(x) for x in curve.layers) if v is not None]
    named: list[tuple[str, list[float]]] = []
    nums = [_num(v) for v in curve.values][:2000]
    if nums and all(v is not None for v in nums):
        named.append((curve.value_label, [float(v) for v in nums if v is not None]))
    if not named:
        return None
    n = max(len(v) for _, v in named)
    if len(layers) != n:
        layers = [float(i) for i in range(n)]
    mean, std = _num(curve.null_mean), _num(curve.null_std)
    values = [v for _, vs in named for v in vs]
    lo, hi = min(values), max(values)
    if mean is not None and std is not None:
        lo, hi = min(lo, mean - 2 * std), max(hi, mean + 2 * std)
    y_values, step = nice_ticks(lo, hi, 5)
    lo, hi = y_values[0], y_values[-1]
    pw, ph = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    x0 = min(layers)
    x1 = max(layers) if max(layers) > x0 else x0 + 1

    def sx(x: float) -> float:
        return round(LEFT + (x - x0) / (x1 - x0) * pw, 2)

    def sy(y: float) -> float:
        return round(TOP + (hi - y) / (hi - lo) * ph, 2)

    series = []
    for i, (name, vs) in enumerate(named):
        pts = tuple((sx(layers[j]), sy(v)) for j, v in enumerate(vs))
        series.append(
            Series(
                name=name,
                color=PALETTE[i % len(PALETTE)],
                points=" ".join(f"{x},{y}" for x, y in pts),
                dots=pts,
            )
        )
    band = None
    if mean is not None and std is not None:
        top, bottom = sy(mean + 2 * std), sy(mean - 2 * std)
        band = (LEFT, top, pw, max(bottom - top, 3.0))  # a narrow band stays visible
    items = [("line", s.color, f"{signal_words(s.name)} ({s.name})") for s in series]
    if band:
        note = " of the overall score" if curve.band_note else ""
        items.append(("band", BAND_FILL, f"unrelated models: mean ± 2 std{note}"))
    x_ticks = tuple(Tick(sx(x), tick_label(x, 1.0)) for x in _x_ticks(layers))
    y_ticks = tuple(Tick(sy(y), tick_label(y, step)) for y in y_values)
    head = ("layer", *(name for name, _ in named))
    rows = tuple(
        (_fmt(layers[j]), *(_fmt(vs[j]) if j < len(vs) else "–" for _, vs in named))
        for j in range(n)
    )
    label = f"{signal_words(curve.value_label)}, layer by layer ({curve.value_label})"
    desc = (
        f"Line chart of {label} over {n} layers for "
        + " and ".join(name for name, _ in named)
        + (
            f"; shaded band: what unrelated models give (mean {_fmt(mean)} ± 2 × {_fmt(std)})"
            if band
            else ""
        )
        + (f" ({curve.band_note})" if band and curve.band_note else "")
        + ". The values are in the table below."
    )
    return LineChart(
        id=chart_id,
        title=label,
        description=desc,
        width=WIDTH,
        height=HEIGHT,
        series=tuple(series),
        band=band,
        legend=_legend(items, LEFT, pw, LEGEND_Y),
        x_ticks=x_ticks,
        y_ticks=y_ticks,
        x_label="layer",
        plot=(LEFT, TOP, pw, ph),
        table_head=head,
        table_rows=rows,
    )


def signal_chart(chart_id: str, signals: Sequence[SignalEvidence]) -> SignalChart | None:
    rows_in: list[tuple[SignalEvidence, float]] = []
    for s in signals:
        v = _num(s.score)
        if v is not None and len(rows_in) < 40:
            rows_in.append((s, v))
    if not rows_in:
        return None
    lo, hi = 0.0, 1.0
    for s, v in rows_in:
        m, sd = _num(s.null_mean), _num(s.null_std)
        lo, hi = min(lo, v), max(hi, v)
        if m is not None and sd is not None:
            lo, hi = min(lo, m - 2 * sd), max(hi, m + 2 * sd)
    ticks, step = nice_ticks(lo, hi)
    lo, hi = ticks[0], ticks[-1]
    left, row_h, top = 170, 30, 12
    pw = WIDTH - left - RIGHT
    plot_h = row_h * len(rows_in)
    legend = _legend(
        (
            ("band", BAND_FILL, "unrelated models: mean ± 2 std"),
            ("dot", EVIDENCE_DOT, "beyond the band: evidence of relatedness"),
            ("dot", PLAIN_DOT, "within the band: unrelated models score this too"),
        ),
        16,
        WIDTH - 32,
        top + plot_h + 56,
    )
    height = int(legend[-1].y + 14)

    def sx(x: float) -> float:
        return round(left + (x - lo) / (hi - lo) * pw, 2)

    rows = []
    for i, (s, v) in enumerate(rows_in):
        m, sd = _num(s.null_mean), _num(s.null_std)
        y = top + row_h * i + row_h / 2
        bx, bw = (
            (sx(m - 2 * sd), max(sx(m + 2 * sd) - sx(m - 2 * sd), 1.0))
            if m is not None and sd is not None
            else (0.0, 0.0)
        )
        outside = bool(m is not None and sd is not None and abs(v - m) > 2 * sd)
        rows.append(
            SignalRow(
                name=s.name,
                words=signal_words(s.name),
                label=SIGNAL_SHORT.get(s.name, s.name),
                y=y,
                band_x=bx,
                band_w=bw,
                dot_x=sx(v),
                score=_fmt(v),
                null=(f"{_fmt(m)} ± {_fmt(sd)}" if m is not None and sd is not None else "unknown"),
                z=_fmt(_num(s.z)),
                p=_pvalue(_num(s.p_value)),
                sureness=signal_sureness(s),
                robust_to=", ".join(s.robust_to),
                outside=outside,
            )
        )
    desc = (
        "Dot plot: each lineage signal's score (dot) against the band of scores that "
        "unrelated models give (mean ± 2 standard deviations). A dot beyond its band is "
        "evidence of relatedness. The values, and how sure each is in words, are in the "
        "table below."
    )
    return SignalChart(
        id=chart_id,
        title="Lineage signals against unrelated models",
        description=desc,
        width=WIDTH,
        height=height,
        rows=tuple(rows),
        x_ticks=tuple(Tick(sx(x), tick_label(x, step)) for x in ticks),
        plot=(left, top, pw, plot_h),
        legend=legend,
    )

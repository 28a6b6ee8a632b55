"""Geometry for the report's SVG charts. Numbers only: the template draws them (escaped),
and every chart comes with a data table, its text alternative."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..assess.model import Curve
from ..evidence import SignalEvidence

WIDTH, HEIGHT = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 16, 44
PALETTE = ("#1f4e99", "#b3261e", "#2e7d32", "#6a1b9a")  # dark enough on white (WCAG AA)


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
    band_label: str | None
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
    y: float
    band_x: float
    band_w: float
    dot_x: float
    score: str
    null: str
    z: str
    p: str
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


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if hi <= lo:
        hi = lo + 1.0
    step = (hi - lo) / (n - 1)
    return [lo + i * step for i in range(n)]


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
    pad = (hi - lo) * 0.08 or abs(hi) * 0.1 or 1.0
    lo, hi = lo - pad, hi + pad
    pw, ph = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    x0, x1 = min(layers), max(layers) if max(layers) > min(layers) else min(layers) + 1

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
        band = (LEFT, top, pw, max(bottom - top, 1.0))
    x_ticks = tuple(Tick(sx(x), _fmt(x, 3)) for x in sorted(set(layers))[:: max(1, n // 8)])
    y_ticks = tuple(Tick(sy(y), _fmt(y)) for y in _ticks(lo, hi))
    head = ("layer", *(name for name, _ in named))
    rows = tuple(
        (_fmt(layers[j]), *(_fmt(vs[j]) if j < len(vs) else "–" for _, vs in named))
        for j in range(n)
    )
    label = curve.label or chart_id
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
        band_label=(
            "unrelated models (null mean ± 2σ"
            + ("; overall score" if curve.band_note else "")
            + ")"
        )
        if band
        else None,
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
    left, row_h = 200, 30
    pw = WIDTH - left - RIGHT
    height = TOP + row_h * len(rows_in) + BOTTOM

    def sx(x: float) -> float:
        return round(left + (x - lo) / (hi - lo) * pw, 2)

    rows = []
    for i, (s, v) in enumerate(rows_in):
        m, sd = _num(s.null_mean), _num(s.null_std)
        y = TOP + row_h * i + row_h / 2
        bx, bw = (
            (sx(m - 2 * sd), max(sx(m + 2 * sd) - sx(m - 2 * sd), 1.0))
            if m is not None and sd is not None
            else (0.0, 0.0)
        )
        outside = bool(m is not None and sd is not None and abs(v - m) > 2 * sd)
        rows.append(
            SignalRow(
                name=s.name,
                y=y,
                band_x=bx,
                band_w=bw,
                dot_x=sx(v),
                score=_fmt(v),
                null=(f"{_fmt(m)} ± {_fmt(sd)}" if m is not None and sd is not None else "unknown"),
                z=_fmt(_num(s.z)),
                p=_pvalue(_num(s.p_value)),
                robust_to=", ".join(s.robust_to),
                outside=outside,
            )
        )
    desc = (
        "Dot plot: each lineage signal's score (dot) against the band of scores that "
        "unrelated models give (null mean ± 2σ). A dot outside its band is evidence of "
        "relatedness. The values are in the table below."
    )
    return SignalChart(
        id=chart_id,
        title="Lineage signals against unrelated models",
        description=desc,
        width=WIDTH,
        height=height,
        rows=tuple(rows),
        x_ticks=tuple(Tick(sx(x), _fmt(x)) for x in _ticks(lo, hi)),
        plot=(left, TOP, pw, row_h * len(rows_in)),
    )

"""Calibration: every score next to what unrelated models give (its null background).

A signal's null has two parts (docs/calibration.md):

- the computed part, from the comparison itself and theory, which carries the scale: the
  cosine of independent n-dimensional vectors is ~ N(0, 1/n) (direct_cosine, embed_rows),
  anchor tokens shuffled (aligned_forms, aligned_embed, experts_vs_dense: their spread is
  that of this pair's anchors, layers and widths), layer pairs off the layer map (spectra);
- the empirical part, fitted on REAL independently trained checkpoints (the panel of
  rules/null_backgrounds.toml, bench/weights_null_panel.py): how far above the computed
  null unrelated real models sit (models trained on similar text resemble each other a
  little), and any spread the computed part misses. Both are taken at their upper 95%
  confidence bounds for the panel's size.

A signal without theory (std_curve, tokenizer, config) has the panel alone. The p-value
never claims more than its null supports: at least 1 / (n + 1) for a panel of n pairs, and
where the computed part carries the tail, at least P_FLOOR. `in_words` says it plainly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from functools import cache
from typing import TYPE_CHECKING, Any

from ..rules import load_rules

if TYPE_CHECKING:
    from .roles import RoleKey

_MIN_STD = 1e-6
# Thresholds on calibrated p-values, not on raw scores: 5 sigma for "derived", 3 for a hint.
P_DERIVED = 2.9e-7
P_HINT = 1.35e-3
P_FLOOR = 1e-12
"""No p-value below this: past about 7 sigma a normal tail says more about the model of the
null than about the models compared."""
MIN_PANEL = 3
"""Fewer real unrelated pairs than this fit nothing: the computed null stands alone."""
MIN_PANEL_STD = 0.05
"""The least spread a panel-only null is given (scores of such signals lie in [0, 1])."""
KINDS = ("theory", "shuffles", "off-map", "none")
"""Where a signal's computed null comes from; "none": only the panel can calibrate it."""


@dataclass(frozen=True)
class Signal:
    """One piece of evidence with its null background; p is one-sided (more similar)."""

    name: str
    score: float
    null_mean: float
    null_std: float
    z: float
    p_value: float
    robust_to: tuple[str, ...]
    details: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    where: RoleKey | None = field(default=None, compare=False)
    """The tensor where a per-tensor signal is strongest (details name it for reports)."""
    null_n: int = 0
    """Real unrelated pairs behind the null's empirical part (0: computed null alone)."""
    p_floor: float = 0.0
    """The smallest p the null supports (P_FLOOR, or 1 / (n + 1) for a panel of n)."""
    in_words: str = ""
    """The certainty in plain words ("... about 1 time in N"), for the CLI and reports."""

    @property
    def significant(self) -> bool:
        return self.p_value < P_DERIVED

    @property
    def at_floor(self) -> bool:
        return self.p_value <= self.p_floor

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "score": round(self.score, 6),
            "null_mean": round(self.null_mean, 6),
            "null_std": round(self.null_std, 6),
            "z": round(self.z, 3),
            "p_value": float(f"{self.p_value:.3g}"),
            "robust_to": list(self.robust_to),
            "null_n": self.null_n,
            "p_floor": float(f"{self.p_floor:.3g}"),
            "in_words": self.in_words,
            "details": self.details,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Signal:
        """A signal as to_dict wrote it (what the bench re-calibrates)."""
        return cls(
            str(data["name"]),
            float(data["score"]),
            float(data["null_mean"]),
            float(data["null_std"]),
            float(data["z"]),
            float(data["p_value"]),
            tuple(data.get("robust_to", ())),
            dict(data.get("details", {})),
            None,
            int(data.get("null_n", 0)),
            float(data.get("p_floor", 0.0)),
            str(data.get("in_words", "")),
        )


def p_from_z(z: float) -> float:
    """One-sided upper-tail p-value of a standard normal."""
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def measured(
    name: str,
    score: float,
    null_mean: float,
    null_std: float,
    robust_to: tuple[str, ...],
    details: dict[str, Any] | None = None,
    kind: str = "theory",
    where: RoleKey | None = None,
) -> Signal:
    """A score next to its computed null (kind: KINDS); Nulls.calibrate adds the panel."""
    assert kind in KINDS, kind
    details = dict(details or {})
    details["computed_null"] = [round(null_mean, 6), round(null_std, 6)]
    details["null_kind"] = kind
    floor = P_FLOOR if kind != "none" else 1.0
    return _scored(
        Signal(name, float(score), null_mean, null_std, 0.0, 1.0, robust_to, details, where),
        null_mean,
        null_std,
        0,
        floor,
    )


def _scored(s: Signal, mean: float, std: float, n: int, floor: float) -> Signal:
    std = max(std, _MIN_STD)
    z = (s.score - mean) / std
    if not math.isfinite(z):
        z = 0.0
    p = max(p_from_z(z), floor)
    out = replace(s, null_mean=float(mean), null_std=float(std), z=float(z), p_value=p)
    out = replace(out, null_n=n, p_floor=floor)
    return replace(out, in_words=in_words(out))


# ---- the empirical panel ------------------------------------------------------------------
@dataclass(frozen=True)
class PanelPair:
    """One pair of independently trained real checkpoints and what each signal gave."""

    name: str
    families: tuple[str, ...]
    scores: dict[str, tuple[float, float, float]]
    """signal -> (score, computed null mean, computed null std)."""


@dataclass(frozen=True)
class Background:
    """The empirical part of one signal's null, fitted on n real unrelated pairs."""

    n: int
    shift: float
    """How far above the computed null mean unrelated pairs sit (upper 95% bound, >= 0)."""
    extra: float
    """Spread beyond the computed null's (upper 95% bound)."""
    highest: float
    """The highest score of the panel's pairs."""


def _t95(df: int) -> float:
    from scipy.stats import t

    return float(t.ppf(0.95, df))


def _var_upper(var: float, n: int) -> float:
    """Upper 95% bound of a variance estimated from n values (chi-square)."""
    from scipy.stats import chi2

    return var * (n - 1) / float(chi2.ppf(0.05, n - 1))


def fit(rows: list[tuple[float, float, float]], computed: bool) -> Background | None:
    """The empirical part from (score, computed mean, computed std) of n pairs."""
    n = len(rows)
    if n < MIN_PANEL:
        return None
    resid = [s - m if computed else s for s, m, _ in rows]
    mean = sum(resid) / n
    var = sum((r - mean) ** 2 for r in resid) / (n - 1)
    shift = mean + _t95(n - 1) * math.sqrt(var / n)
    spread = _var_upper(var, n)
    if computed:
        spread -= sum(sd * sd for _, _, sd in rows) / n
        shift = max(shift, 0.0)
    else:  # a panel that shows no spread is not taken to have none
        spread = max(spread, MIN_PANEL_STD**2)
    return Background(n, shift, math.sqrt(max(spread, 0.0)), max(s for s, _, _ in rows))


class Nulls:
    """The panel of real unrelated pairs, and the calibration it gives each signal."""

    def __init__(self, pairs: list[PanelPair], how: str = ""):
        self.pairs = pairs
        self.how = how

    @classmethod
    def from_rules(cls) -> Nulls:
        return _rules_nulls()

    def without(self, families: set[str] | frozenset[str]) -> Nulls:
        """The panel less every pair that involves one of these families (leave-one-out)."""
        kept = [p for p in self.pairs if not set(p.families) & set(families)]
        return Nulls(kept, self.how)

    def background(self, name: str, computed: bool) -> Background | None:
        rows = [p.scores[name] for p in self.pairs if name in p.scores]
        return fit(rows, computed)

    def calibrate(self, s: Signal) -> Signal:
        """The signal against its computed null widened by the panel's empirical part."""
        kind = s.details.get("null_kind", "theory")
        mean, std = s.details.get("computed_null", [s.null_mean, s.null_std])
        computed = kind != "none"
        bg = self.background(s.name, computed)
        details = dict(s.details)
        if bg is None:
            n = len([p for p in self.pairs if s.name in p.scores])
            details.pop("panel", None)
            return _scored(replace(s, details=details), mean, std, n, P_FLOOR if computed else 1.0)
        details["panel"] = {
            "pairs": bg.n,
            "shift": round(bg.shift, 6),
            "extra_std": round(bg.extra, 6),
            "highest": round(bg.highest, 6),
        }
        if computed:
            # The tail's form is the computed null's (theory, or shuffles of this pair's
            # own anchors); the panel moves it up and widens it.
            null_mean, null_std, floor = mean + bg.shift, math.hypot(std, bg.extra), P_FLOOR
        else:
            null_mean, null_std, floor = bg.shift, bg.extra, 1.0 / (bg.n + 1)
        return _scored(replace(s, details=details), null_mean, null_std, bg.n, floor)


@cache
def _rules_nulls() -> Nulls:
    data = load_rules("null_backgrounds")
    pairs = [
        PanelPair(
            str(p["name"]),
            tuple(str(f) for f in p.get("families", ())),
            {k: (float(v[0]), float(v[1]), float(v[2])) for k, v in p.get("scores", {}).items()},
        )
        for p in data.get("pair", [])
    ]
    return Nulls(pairs, str(data.get("panel", {}).get("how", "")))


# ---- in words -----------------------------------------------------------------------------
_NOUNS = {
    "direct_cosine": "cosine between matching tensors",
    "aligned_forms": "similarity of layer forms",
    "layer_alignment": "similarity of mapped layers",
    "aligned_embed": "match of shared tokens' embeddings",
    "embed_rows": "match of shared tokens' embedding rows",
    "experts_vs_dense": "expert-to-dense similarity",
}


def _times(p: float) -> str:
    n = 1.0 / p
    if n < 10:
        return f"{n:.1f}".rstrip("0").rstrip(".")
    digits = int(math.floor(math.log10(n))) - 1
    return f"{round(n, -digits):,.0f}"


def in_words(s: Signal) -> str:
    """How sure: what unrelated models reach, in words (one function, for every report)."""
    noun = _NOUNS.get(s.name, "score")
    who = "unrelated models of this size"
    if s.p_value >= 0.5:
        return f"typical of {who}: about half of them score this {noun} or higher"
    if not s.at_floor:
        return f"{who} reach this {noun} about 1 time in {_times(s.p_value)}"
    panel = s.details.get("panel", {})
    highest = panel.get("highest")
    seen = (
        f"; the highest of {s.null_n} real unrelated pairs measured is {highest:.3g}"
        if highest is not None
        else ""
    )
    if s.p_floor >= 1.0:
        return "no real unrelated pairs were measured for this signal: no probability given"
    if s.p_floor > P_FLOOR:
        if highest is not None and s.score <= highest:
            return (
                f"{who} reach this {noun} 1 time in {s.null_n + 1} or more often "
                f"(a panel of {s.null_n} real unrelated pairs can say no less)"
            )
        return (
            f"none of the {s.null_n} real unrelated pairs measured come this close: "
            f"fewer than 1 time in {s.null_n + 1} is all that panel can say"
        )
    return f"{who} reach this {noun} fewer than 1 time in a trillion{seen}"

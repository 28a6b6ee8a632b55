"""Calibration: every score next to what unrelated models give (its null background).

Nulls come from theory where it exists (the cosine of independent n-dimensional vectors is
~ N(0, 1/n)), from the comparison itself (anchors shuffled, or layer i against layer j != i,
which are unrelated draws of the same architecture), and from an empirical panel of
independently initialised and trained models kept in rules/null_backgrounds.toml. Where a
panel figure exists and is wider than the computed null, the wider one is used: evidence
must beat what independently trained models actually reach.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..rules import load_rules

if TYPE_CHECKING:
    from .roles import RoleKey

_MIN_STD = 1e-6


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

    @property
    def significant(self) -> bool:
        return self.p_value < P_DERIVED

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "score": round(self.score, 6),
            "null_mean": round(self.null_mean, 6),
            "null_std": round(self.null_std, 6),
            "z": round(self.z, 3),
            "p_value": float(f"{self.p_value:.3g}"),
            "robust_to": list(self.robust_to),
            "details": self.details,
        }


# Thresholds on calibrated p-values, not on raw scores: 5 sigma for "derived", 3 for a hint.
P_DERIVED = 2.9e-7
P_HINT = 1.35e-3


def p_from_z(z: float) -> float:
    """One-sided upper-tail p-value of a standard normal."""
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def panel_nulls(name: str) -> list[tuple[float, float]]:
    """(mean, std) of a signal over the panel's unrelated pairs: all of them, and the pairs
    of two trained models (trained on the same text, they resemble each other most)."""
    entry = load_rules("null_backgrounds").get("signal", {}).get(name)
    if not entry:
        return []
    out = [(float(entry["mean"]), float(entry["std"]))]
    tr = entry.get("trained") or {}
    if int(tr.get("n", 0)) >= 3 and math.isfinite(float(tr["std"])):
        out.append((float(tr["mean"]), float(tr["std"])))
    return out


def make_signal(
    name: str,
    score: float,
    null_mean: float,
    null_std: float,
    robust_to: tuple[str, ...],
    details: dict[str, Any] | None = None,
    use_panel: bool = True,
    placeholder: bool = False,
    where: RoleKey | None = None,
) -> Signal:
    """Calibrate a score: z against the wider of the computed and the panel null.

    placeholder: the given null is only a stand-in (no theory exists for this signal);
    the panel replaces it whenever the panel has measured the signal.
    """
    details = dict(details or {})
    panels = panel_nulls(name) if use_panel else []
    if panels and placeholder:
        null_mean, null_std = panels[0]
        details["null_from"] = "the empirical panel (no theory for this signal)"
    if panels:
        details["computed_null"] = [round(null_mean, 6), round(null_std, 6)]
        details["panel_null"] = [[round(m, 6), round(s, 6)] for m, s in panels]
        # Conservative: the null that makes the score least surprising.
        for m, s in panels:
            if (score - m) / max(s, _MIN_STD) < (score - null_mean) / max(null_std, _MIN_STD):
                null_mean, null_std = m, s
    null_std = max(null_std, _MIN_STD)
    z = (score - null_mean) / null_std
    if not math.isfinite(z):
        z = 0.0
    return Signal(
        name,
        float(score),
        float(null_mean),
        float(null_std),
        float(z),
        p_from_z(z),
        robust_to,
        details,
        where,
    )

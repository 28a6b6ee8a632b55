"""What independently written ML code scores, and when a match is a copy.

rules/clone_background.toml holds the null: the statistics of model files written
independently of the indexed corpus (other frameworks and projects implementing the same
models), measured against the transformers package by bench/clones_null.py on one part of
that material and checked on another. Two statistics, each with its threshold:

- region evidence: the strongest region a file shares with its best reference file
  (matching.py, regions.py). A copied function stands out of it; the boilerplate that
  implementations of the same model share by necessity does not.
- share: of a file's fingerprints, those found in its best reference file. A whole file
  copied, even renamed and reformatted, stands out of it.

A byte-identical file is a copy whatever its statistics.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from typing import Any

from ..rules import load_rules


@dataclass(frozen=True)
class Null:
    """One statistic over independently written files: its summary and upper tail."""

    statistic: str
    n: int
    mean: float
    std: float
    q99: float
    max: float
    top: tuple[float, ...]
    """The largest values observed, for the empirical p-value."""

    def p_value(self, score: float) -> float:
        """P(an independently written file scores >= score), never below 1/(n+1)."""
        exceed = sum(1 for x in self.top if x >= score)
        return (exceed + 1) / (self.n + 1)

    def z(self, score: float) -> float | None:
        return (score - self.mean) / self.std if self.std > 0 else None

    def words(self) -> str:
        """What unrelated code scores, for a finding's message."""
        return (
            f"independently written ML code scores {self.statistic} {self.mean:.2f} on "
            f"average, {self.q99:.2f} at the 99th percentile, {self.max:.2f} at most "
            f"(n={self.n})"
        )


@dataclass(frozen=True)
class Background:
    region: Null
    share: Null
    region_threshold: float
    """A region at least this strong is copied code."""
    share_threshold: float
    """A file with at least this share of its fingerprints in one reference file (and
    min_fingerprints of them) is a copy of it as a whole."""
    min_fingerprints: int
    measured_on: str
    """How the null was measured, in words."""


def _null(name: str, data: dict[str, Any]) -> Null:
    return Null(
        statistic=name,
        n=int(data["n"]),
        mean=float(data["mean"]),
        std=float(data["std"]),
        q99=float(data["q99"]),
        max=float(data["max"]),
        top=tuple(float(x) for x in data["top"]),
    )


@cache
def background() -> Background:
    """The calibrated background (rules/clone_background.toml)."""
    data = load_rules("clone_background")
    th, null = data["threshold"], data["null"]
    return Background(
        region=_null("region evidence", null["region"]),
        share=_null("share", null["share"]),
        region_threshold=float(th["region_evidence"]),
        share_threshold=float(th["whole_file_share"]),
        min_fingerprints=int(th["whole_file_min_fingerprints"]),
        measured_on=str(data["measured"]["on"]),
    )


def rounded(x: float | None, digits: int = 4) -> float | None:
    return None if x is None or math.isnan(x) else round(x, digits)

"""How much of a checkpoint the role rules recognise: what a comparison can use of it.

A model compared on its MLPs alone because its attention went unrecognised must say so;
a checkpoint of which nothing is recognised cannot be compared at all (NothingRecognised).
Groups name the unrecognised tensors with their layer numbers as `*`, largest first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ProvscanError
from .formats.interface import TensorMeta
from .roles import is_ignored

_SHOWN_GROUPS = 4
_KEPT_GROUPS = 50


class NothingRecognised(ProvscanError):
    """No tensor of a checkpoint has a role provscan knows: nothing to compare."""


@dataclass(frozen=True)
class Group:
    """Unrecognised tensors whose names differ only in their numbers."""

    pattern: str
    """The name with every number as `*` (`encoder.layer.*.attention.attn.q.weight`)."""
    tensors: int
    parameters: int


@dataclass(frozen=True)
class Coverage:
    """Tensors and parameters of a checkpoint that got a role (buffers not counted)."""

    tensors: int
    tensors_recognised: int
    parameters: int
    parameters_recognised: int
    unrecognised: tuple[Group, ...]
    """Largest first; at most _KEPT_GROUPS."""

    @property
    def complete(self) -> bool:
        return self.tensors_recognised == self.tensors

    def describe(self) -> str:
        """One line: how much is recognised, and the largest groups that are not."""
        line = (
            f"{self.tensors_recognised} of {self.tensors} tensors recognised "
            f"({_count(self.parameters_recognised)} of {_count(self.parameters)} parameters)"
        )
        if self.unrecognised:
            shown = ", ".join(
                f"{g.tensors} x {g.pattern}" for g in self.unrecognised[:_SHOWN_GROUPS]
            )
            more = len(self.unrecognised) - _SHOWN_GROUPS
            line += f"; not recognised: {shown}" + (f" and {more} more groups" if more > 0 else "")
        return line

    def to_dict(self) -> dict[str, Any]:
        return {
            "tensors": self.tensors,
            "tensors_recognised": self.tensors_recognised,
            "parameters": self.parameters,
            "parameters_recognised": self.parameters_recognised,
            "unrecognised": [
                {"group": g.pattern, "tensors": g.tensors, "parameters": g.parameters}
                for g in self.unrecognised
            ],
        }

    @classmethod
    def from_dict(cls, data: Any) -> Coverage | None:
        """A coverage as saved in a fingerprint's meta; None if it is not one."""
        try:
            groups = tuple(
                Group(str(g["group"]), int(g["tensors"]), int(g["parameters"]))
                for g in data["unrecognised"]
            )
            return cls(
                int(data["tensors"]),
                int(data["tensors_recognised"]),
                int(data["parameters"]),
                int(data["parameters_recognised"]),
                groups[:_KEPT_GROUPS],
            )
        except (KeyError, TypeError, ValueError):
            return None


def coverage_of(metas: list[TensorMeta], unknown: list[str]) -> Coverage:
    """The coverage of a checkpoint's tensors, given the names no rule knows."""
    missing = set(unknown)
    weights = [m for m in metas if not is_ignored(m.name)]
    size = {m.name: int(np.prod(m.shape, dtype=np.int64)) for m in weights}
    groups: dict[str, list[int]] = {}
    for m in weights:
        if m.name in missing:
            g = groups.setdefault(re.sub(r"\d+", "*", m.name), [0, 0])
            g[0] += 1
            g[1] += size[m.name]
    ordered = sorted(groups.items(), key=lambda kv: (-kv[1][1], kv[0]))
    return Coverage(
        len(weights),
        sum(1 for m in weights if m.name not in missing),
        sum(size.values()),
        sum(n for name, n in size.items() if name not in missing),
        tuple(Group(p, t, n) for p, (t, n) in ordered[:_KEPT_GROUPS]),
    )


def _count(n: int) -> str:
    for unit, div in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= div:
            return f"{n / div:.1f}{unit}"
    return str(n)

"""compare_models: lineage between two models (folders, weight files or fingerprints)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .calibrate import Nulls, Signal
from .coverage import Coverage
from .fingerprint import Fingerprint, fingerprint_of
from .signals import all_signals
from .units import DEFAULT, Sampling
from .verdict import decide

SCHEMA_VERSION = "1.0"


@dataclass(frozen=True)
class Comparison:
    """The lineage verdict between A and B, with the evidence it rests on."""

    a: str
    b: str
    verdict: str
    """identical | derived | shared-components | unrelated | inconclusive"""
    relation: str | None
    """For derived: fine-tune, continued-pretraining, quantized, quantized-fine-tune (trained
    further, then stored quantized), pruned, depth-upscaled, upcycled-moe, merged, permuted,
    rotated, sibling (both come from a common ancestor, neither was made from the other) or
    unknown."""
    signals: tuple[Signal, ...]
    reasons: tuple[str, ...]
    coverage: tuple[Coverage, Coverage] | None = None
    """What the role rules recognised of A and of B: what the signals could use."""

    def signal(self, name: str) -> Signal | None:
        return next((s for s in self.signals if s.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "a": self.a,
            "b": self.b,
            "verdict": self.verdict,
            "relation": self.relation,
            "signals": [s.to_dict() for s in self.signals],
            "reasons": list(self.reasons),
            "sides": [
                {"model": name, **cov.to_dict()}
                for name, cov in zip((self.a, self.b), self.coverage or (), strict=False)
            ],
        }


def compare_fingerprints(a: Fingerprint, b: Fingerprint, nulls: Nulls | None = None) -> Comparison:
    """The comparison, each signal calibrated by `nulls` (default: the rules' panel)."""
    from threadpoolctl import threadpool_limits

    panel = nulls if nulls is not None else Nulls.from_rules()
    # Many small matrix products and SVDs: threads only contend.
    with threadpool_limits(limits=1):
        signals = [panel.calibrate(s) for s in all_signals(a, b)]
    decision = decide(a, b, signals)
    return Comparison(
        a.name,
        b.name,
        decision.verdict,
        decision.relation,
        tuple(signals),
        decision.reasons,
        (a.coverage, b.coverage),
    )


def compare_models(
    a: str,
    b: str,
    offline: bool = False,
    sampling: Sampling = DEFAULT,
    anchors_form: int | None = None,
) -> Comparison:
    """Lineage between A and B; each a model folder, a weight file, a target or a fingerprint.

    `sampling` (units.py) and `anchors_form` apply to the sides fingerprinted here."""
    return compare_fingerprints(
        fingerprint_of(a, offline, sampling, anchors_form),
        fingerprint_of(b, offline, sampling, anchors_form),
    )

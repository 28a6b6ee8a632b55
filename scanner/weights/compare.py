"""compare_models: lineage between two models (folders, weight files or fingerprints)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .calibrate import P_DERIVED, Nulls, Signal
from .coverage import Coverage
from .fingerprint import Fingerprint, extract, is_fingerprint_file
from .fingerprint import fingerprint_of as fingerprint_of  # the analyzer imports it here
from .fingerprint.extraction import sampling_for
from .fingerprint.reading import readable
from .loader import LoadedModel, load_model
from .signals import all_signals
from .units import DEFAULT, Sampling, sampling_from
from .verdict import EMBED_MATCH, EMBED_SIGNALS, decide

SCHEMA_VERSION = "1.0"


@dataclass(frozen=True)
class Comparison:
    """The lineage verdict between A and B, with the evidence it rests on."""

    a: str
    b: str
    verdict: str
    """identical | derived | shared-components | unrelated | inconclusive"""
    relation: str | None
    """For derived: same-weights (every tensor both hold is equal, the sets differ),
    fine-tune, continued-pretraining, quantized, quantized-fine-tune (trained
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
    verdict, relation, reasons = decision.verdict, decision.relation, decision.reasons
    if _remote_forms_only(a, b, verdict, signals):
        # Not calibrated for these forms: a claim there could be a false accusation.
        verdict, relation = "inconclusive", None
        reasons = (
            "both fingerprints were read with the REMOTE sampling, whose forms are the QK "
            "forms alone, and only they point to a relation (not the weights' own values "
            "nor the embeddings): the null backgrounds are measured on whole fingerprints, "
            "not on these forms; fingerprint the whole files to decide",
            *reasons,
        )
    return Comparison(
        a.name,
        b.name,
        verdict,
        relation,
        tuple(signals),
        reasons + _sampling_note(a, b),
        (a.coverage, b.coverage),
    )


def _remote_forms_only(a: Fingerprint, b: Fingerprint, verdict: str, signals: list[Signal]) -> bool:
    """A derived verdict of two REMOTE fingerprints that rests on the forms alone: they are
    QK forms only there, whose null is not measured (under the null backgrounds before
    they were re-measured on the real panel, the lineage suite read with REMOTE on both
    sides called 5 unrelated same-data pairs derived at z = 5 to 11)."""
    banded = [sampling_from(fp.meta.get("sampling")) for fp in (a, b)]
    if verdict != "derived" or not all(s is not None and s.banded for s in banded):
        return False
    for s in signals:
        if s.p_value >= P_DERIVED:
            continue
        if s.name == "direct_cosine" or (s.name in EMBED_SIGNALS and s.score >= EMBED_MATCH):
            return False  # the weights' own values, or the embeddings, say it too
    return True


def _sampling_note(a: Fingerprint, b: Fingerprint) -> tuple[str, ...]:
    """A line when the two sides read different units (units.py): their sketches and
    forms then cover different values, and the signals are weaker than they would be."""
    sa, sb = a.meta.get("sampling"), b.meta.get("sampling")
    if sa == sb or sa is None or sb is None:
        return ()
    return (
        f"the two fingerprints were made with different samplings ({_sampling_name(sa)} "
        f"and {_sampling_name(sb)}): they read different parts of the matrices, so the "
        "content signals compare less than they could; fingerprint both with the same "
        "sampling for a fair comparison",
    )


def _sampling_name(described: object) -> str:
    preset = sampling_from(described)
    return preset.name if preset is not None else "custom"


def sampling_of(fp: Fingerprint) -> Sampling | None:
    """The preset a fingerprint was made with (None: unknown or custom)."""
    return sampling_from(fp.meta.get("sampling"))


def compare_models(
    a: str,
    b: str,
    offline: bool = False,
    sampling: Sampling | None = None,
    anchors_form: int | None = None,
) -> Comparison:
    """Lineage between A and B; each a model folder, a weight file, a target or a fingerprint.

    `sampling` (units.py) and `anchors_form` apply to the sides fingerprinted here. With
    `sampling` None the comparison is fair: a side fingerprinted here reads what a saved
    side read (its sampling), and where one side is read by remote ranges both sides take
    the REMOTE sampling."""
    sides: list[Fingerprint | LoadedModel] = []
    try:
        for target in (a, b):
            side = (
                Fingerprint.load(Path(target))
                if is_fingerprint_file(target)
                else load_model(target, offline=offline)
            )
            sides.append(side)
            if isinstance(side, LoadedModel):
                readable(side)  # A's error before B is opened, as when each was fingerprinted
        chosen = sampling or pair_sampling(sides)
        fa, fb = (
            s if isinstance(s, Fingerprint) else extract(s, anchors_form, chosen) for s in sides
        )
    finally:
        for side in sides:
            if isinstance(side, LoadedModel):
                side.close()
    return compare_fingerprints(fa, fb)


def pair_sampling(sides: list[Fingerprint | LoadedModel]) -> Sampling:
    """The sampling for sides fingerprinted now: a saved side's, else REMOTE where a side
    is read by remote ranges, else DEFAULT."""
    saved = [sampling_of(s) for s in sides if isinstance(s, Fingerprint)]
    known = next((s for s in saved if s is not None), None)
    if known is not None:
        return known
    remote = [s for s in sides if isinstance(s, LoadedModel) and s.remote is not None]
    return max((sampling_for(s) for s in remote), key=lambda s: s.banded, default=DEFAULT)

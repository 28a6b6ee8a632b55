"""Lineage evidence in words for the person who signs off: what each signal measures, and
how sure a score is, said from the numbers the signal carries (its null mean and standard
deviation, z, p and, where the calibration gives them, how many unrelated pairs the panel
measured and the highest score among them). One home, so the wording is refined here."""

from __future__ import annotations

import math
from typing import Any

from ..assess.model import LineageClaim
from ..evidence import SignalEvidence

# What a signal measures, in words; the code name is shown beside it.
SIGNAL_WORDS = {
    "direct_cosine": "matching tensors point the same way",
    "aligned_forms": "layers compute the same functions (after alignment)",
    "aligned_embed": "shared tokens' embeddings agree (after alignment)",
    "embed_rows": "shared tokens' embedding rows agree",
    "experts_vs_dense": "MoE experts grew out of a dense layer",
    "layer_alignment": "layers line up across depths",
    "spectra_qk": "attention query-key spectra",
    "spectra_ov": "attention value-output spectra",
    "std_curve": "layer-by-layer weight spread (the 2025 statistic)",
    "tokenizer": "tokenizer overlap",
    "config": "configuration similarity",
}
# The same, short enough for a chart's row label.
SIGNAL_SHORT = {
    "direct_cosine": "tensor directions",
    "aligned_forms": "layer functions",
    "aligned_embed": "aligned embeddings",
    "embed_rows": "embedding rows",
    "experts_vs_dense": "experts vs dense",
    "layer_alignment": "layer alignment",
    "spectra_qk": "QK spectra",
    "spectra_ov": "OV spectra",
    "std_curve": "weight spread (2025)",
    "tokenizer": "tokenizer",
    "config": "configuration",
}
DECIDING = ("direct_cosine", "aligned_forms", "experts_vs_dense")
"""Signals that can decide "derived" on their own (weights/verdict.py)."""
MILLION = 1e6


def signal_words(name: str) -> str:
    return SIGNAL_WORDS.get(name, name.replace("_", " "))


def _one_in(p: float) -> str:
    """1/p rounded to two significant figures, with thousands separators."""
    n = 1.0 / p
    digits = max(0, int(math.floor(math.log10(n))) - 1)
    return f"{round(n, -digits):,.0f}"


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(float(value)) else None


def how_sure(
    score: float | None,
    null_mean: float | None,
    null_std: float | None,
    z: float | None,
    p: float | None,
    pairs: int | None = None,
    panel_max: float | None = None,
) -> str:
    """How surprising a score would be for unrelated models, in one plain sentence."""
    z, p = _number(z), _number(p)
    if z is None or _number(null_std) is None or (null_std or 0) <= 0:
        return "No background of unrelated models to compare it with."
    if z < 2:
        text = "Within what unrelated models score: no evidence on its own."
    elif p is not None and p > 0 and p >= 1 / MILLION:
        text = f"Unrelated models reach this similarity about 1 time in {_one_in(p)}."
        if z < 3:
            text += " A hint, not proof."
    else:
        text = (
            f"Far beyond unrelated models: {z:,.0f} standard deviations above their average "
            "(chance would give this less than once in a million comparisons)."
        )
    score_n, top = _number(score), _number(panel_max)
    if pairs and score_n is not None and top is not None and score_n > top:
        text += f" Beyond anything seen in {pairs} pairs of unrelated models."
    elif pairs:
        text += f" (Background measured on {pairs} pairs of unrelated models.)"
    return text


def signal_sureness(s: SignalEvidence) -> str:
    """How sure one signal is: the calibration's own sentence (weights/calibrate.in_words,
    which knows the real panel and its floors) when the signal carries one, else how_sure
    from its null figures; then the caveat of a weak signal."""
    if s.in_words:
        text = s.in_words[0].upper() + s.in_words[1:].rstrip(".") + "."
    else:
        text = _sureness_from_null(s)
    weak = s.details.get("weak")
    if isinstance(weak, str) and weak:
        text += f" Weak on its own: {weak}."
    return text


def _sureness_from_null(s: SignalEvidence) -> str:
    pairs = s.details.get("panel_pairs")
    return how_sure(
        s.score,
        s.null_mean,
        s.null_std,
        s.z,
        s.p_value,
        pairs=pairs if isinstance(pairs, int) and not isinstance(pairs, bool) else None,
        panel_max=_number(s.details.get("panel_max")),
    )


def claim_sureness(claim: LineageClaim) -> str:
    """How sure a lineage verdict is, in one sentence: its strongest deciding signal."""
    if claim.verdict == "inconclusive":
        return "Not sure either way: the signals are too weak or too few to decide."
    scored = [s for s in claim.signals if _number(s.z) is not None]
    deciding = [s for s in scored if s.name in DECIDING] or scored
    if not deciding:
        return "No signal could be computed with a background to compare it with."
    best = max(deciding, key=lambda s: s.z)
    if claim.verdict == "unrelated" or best.z < 2:
        return (
            "No signal stands out from what unrelated models score; the strongest, "
            f"{signal_words(best.name)}, is within their range."
        )
    head = f"Strongest evidence: {signal_words(best.name)} ({best.name})"
    if best.in_words:  # the calibrated sentence says how often, not how far: say both
        head += f", {best.z:,.0f} standard deviations above what unrelated models score"
    return f"{head}. " + signal_sureness(best)

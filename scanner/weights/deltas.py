"""What the difference between matching tensors says: the rounding of a storage type, or the
values a sparsifying merge left exactly as they were (verdict.relation_of reads both)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..rules import load_rules
from .fingerprint import Fingerprint
from .reduce import decode_values
from .sketch import cosine

# Rounding to a type explains a difference within this factor of its noise, either way.
ROUNDING_SLACK = 4.0
# Below this relative difference two tensors hold the same values (float16 sketches).
SAME_VALUES = 5e-4
# Quantized when rounding explains at least this fraction of the block tensors.
ROUNDED_SHARE = 0.9
# Rounding to a measured step (the stored scales) alone gives a difference of 1 times its
# noise: 0.98 to 1.00 (median over tensors) on the real panel's int8, 4-bit and Q8_0 copies.
# An update u made before quantizing adds in quadrature, sqrt(1 + u^2): beyond this factor
# the values moved by over a third of the rounding noise (a LoRA fine-tune then Q8_0: 1.10).
BEYOND_ROUNDING = 1.05
# A sparsifying merge (TIES, DARE) leaves a share of the values exactly as they were: in
# the real panel, mergekit TIES (density 0.5, two fine-tunes) keeps 21-29% of smollm2-hf's
# float32 values in every block tensor; fine-tunes, linear and SLERP merges keep 0%, and
# tensors of different layers compared by index (prunings) at most 2%. Merged when this
# share of the moved tensors (at least SPARSE_MIN_TENSORS) keeps a share in the band.
SPARSE_BAND = (0.05, 0.95)
# A saved fingerprint's int8 sketch of m values errs by its storage noise (data.py), known in
# expectation only: the realized squared error of m values rounded to a uniform step spreads
# by sqrt(4/5 / m) of it. A squared difference within this many of those spreads above the
# storage noise is no difference the saved sketches can resolve (it reads as 0).
STORAGE_SIGMAS = 4.0
SPARSE_SHARE = 0.8
SPARSE_MIN_TENSORS = 4


@dataclass(frozen=True)
class Rounding:
    """How much of the difference between matching tensors rounding to a type explains."""

    share: float
    """Fraction of block tensors whose difference the rounding of either side's type
    (rules/rounding_noise.toml, or the noise measured from its scales) explains."""
    median: float
    """Median relative RMS difference."""
    tensors: int
    types: str
    excess: float | None = None
    """Median, over the tensors whose rounding noise was measured from their scales, of
    the difference over that noise: 1 when rounding alone made it; None when too few
    were measured (a type's tabled noise is known within ROUNDING_SLACK only)."""
    unresolved: int = 0
    """Tensors whose difference lies within what a saved fingerprint's int8 sketches resolve
    (counted as 0)."""


def _measured(entry: dict[str, Any]) -> float | None:
    noise = entry.get("noise")
    if isinstance(noise, (int, float)) and math.isfinite(noise) and noise > 0:
        return float(noise)
    return None


def _noise(entry: dict[str, Any]) -> float:
    """The relative rounding noise of a tensor's storage: measured from its own scales where
    the reader knows them (reduce.py: an int8 tensor with one scale has as much noise as
    its largest value over its RMS makes, 0.01 to 0.4 on real models), else its type's."""
    measured = _measured(entry)
    if measured is not None:
        return measured
    table = load_rules("rounding_noise")["noise"]
    dtype = str(entry.get("dtype", "")).upper()
    if dtype in table:
        return float(table[dtype])
    return float(table["default_quantized"] if entry.get("quantized") else table["F32"])


def _measured_ratio(r: float, ta: dict[str, Any], tb: dict[str, Any]) -> float | None:
    """r over the measured rounding that best explains it: either side's, or both sides'
    (two roundings of one model add in quadrature). None where a quantized side's noise
    is not measured, or the difference is far below every measured rounding (that side
    is the source, its rounding made before the other was made from it)."""
    sides = [(t, _measured(t)) for t in (ta, tb)]
    if any(t.get("quantized") and n is None for t, n in sides):
        return None
    noises = [n for _, n in sides if n is not None]
    if not noises:
        return None
    candidates = noises + ([math.hypot(*noises)] if len(noises) == 2 else [])
    ratio = min((r / c for c in candidates), key=lambda v: abs(math.log(v)))
    return ratio if ratio >= 1.0 / ROUNDING_SLACK else None


def rounding_of(a: Fingerprint, b: Fingerprint) -> Rounding | None:
    """Per block tensor, the relative difference (from the sketches: ||a - b|| / ||a|| =
    sqrt(2 (1 - cos)) for unit-norm sketches) against the rounding noise of each side."""
    diffs: list[float] = []
    ratios: list[float] = []
    explained = unresolved = 0
    types: set[str] = set()
    for key, sa in a.sketches.items():
        sb, ta, tb = b.sketches.get(key), a.tensors.get(key), b.tensors.get(key)
        if key.layer < 0 or sb is None or ta is None or tb is None or sa.shape != sb.shape:
            continue
        if ta["shape"] != tb["shape"]:
            continue
        # a saved fingerprint's int8 sketches add their own rounding: taken out (they add
        # in quadrature), or a stored quantized copy would look moved beyond its rounding
        stored = a.sketch_noise.get(key, 0.0) ** 2 + b.sketch_noise.get(key, 0.0) ** 2
        raw = 2.0 * (1.0 - cosine(sa, sb))
        if stored > 0 and raw <= stored * (1 + STORAGE_SIGMAS * math.sqrt(0.8 / max(sa.size, 1))):
            r = 0.0
            unresolved += 1
        else:
            r = math.sqrt(max(0.0, raw - stored))
        diffs.append(r)
        types.update(str(t["dtype"]) for t in (ta, tb))
        ratio = _measured_ratio(r, ta, tb) if r > SAME_VALUES else None
        if ratio is not None:
            ratios.append(ratio)
        qs = (_noise(ta), _noise(tb))
        if r <= SAME_VALUES or any(q / ROUNDING_SLACK <= r <= q * ROUNDING_SLACK for q in qs):
            explained += 1
    if not diffs:
        return None
    excess = float(np.median(ratios)) if 2 * len(ratios) >= len(diffs) else None
    return Rounding(
        explained / len(diffs),
        float(np.median(diffs)),
        len(diffs),
        "/".join(sorted(types)),
        excess,
        unresolved,
    )


@dataclass(frozen=True)
class SparseUpdate:
    """Block tensors whose kept values (reduce.KEPT_VALUES) are partly exactly unchanged."""

    share: float
    """Median share of exactly equal values over the tensors that moved."""
    moved: int
    in_band: int
    """Tensors that moved with a share of exactly equal values in SPARSE_BAND."""


def sparse_update(a: Fingerprint, b: Fingerprint) -> SparseUpdate | None:
    """A sparsifying merge's trace: in (nearly) every block tensor that moved, a share of the
    float32 values kept exactly (both sides keep values at the same positions: reduce.py).
    None when too few tensors hold kept values on both sides, or the pattern is not there."""
    shares = []
    for key, ta in a.tensors.items():
        tb = b.tensors.get(key)
        if key.layer < 0 or tb is None or ta.get("read") != tb.get("read"):
            continue
        if ta["shape"] != tb["shape"]:
            continue
        va, vb = decode_values(ta.get("values")), decode_values(tb.get("values"))
        if va is None or vb is None or va.shape != vb.shape or not va.size:
            continue
        share = float(np.mean(va == vb))
        if share < 1.0:
            shares.append(share)
    if len(shares) < SPARSE_MIN_TENSORS:
        return None
    low, high = SPARSE_BAND
    in_band = sum(low <= x <= high for x in shares)
    if in_band < SPARSE_SHARE * len(shares):
        return None
    return SparseUpdate(float(np.median(shares)), len(shares), in_band)

"""Cheap, public summaries of tensors that still compare: count sketches and anchor responses.

The sketch of a flattened tensor x is s_j = sum_r sign_r * x[r*k + j]: one pass, no random
matrix, and <s(a), s(b)> estimates <a, b> without bias. The signs come from a fixed public
seed and the tensor's size, so two models' sketches of same-shape tensors are comparable.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

PUBLIC_SEED = 20250701
SKETCH_SIZE = 4096


@lru_cache(maxsize=256)
def _signs(rows: int, n: int) -> np.ndarray:
    rng = np.random.default_rng([PUBLIC_SEED, n])
    return rng.choice(np.array([-1.0, 1.0], dtype=np.float32), size=rows)


def count_sketch(x: np.ndarray, k: int = SKETCH_SIZE) -> np.ndarray:
    """Centred count sketch of a tensor (length min(k, size))."""
    flat = np.asarray(x, dtype=np.float32).reshape(-1)
    n = flat.size
    mean = float(flat.mean()) if n else 0.0
    if n <= k:
        return (flat - mean).astype(np.float32)
    rows = -(-n // k)
    signs = _signs(rows, n)
    full = n // k
    out = signs[:full] @ flat[: full * k].reshape(full, k)
    rest = n - full * k
    if rest:
        out[:rest] += signs[full] * flat[full * k:]
    # centring after the fact: the sketch of the constant vector is the same signed sum.
    ones = np.full(k, signs[:full].sum(), dtype=np.float64)
    if rest:
        ones[:rest] += signs[full]
    return (out - mean * ones).astype(np.float32)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if na == 0.0 or nb == 0.0:
        return 0.0
    return float(np.dot(a.ravel(), b.ravel()) / (na * nb))

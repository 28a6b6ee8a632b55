"""Cheap, public summaries of tensors that still compare: count sketches and anchor responses.

The sketch of a flattened tensor x is s_j = sum_r sign_r * x[r*k + j]: one pass, no random
matrix, and <s(a), s(b)> estimates <a, b> without bias. The signs come from a fixed public
seed and the tensor's size, so two models' sketches of same-shape tensors are comparable.
"""

from __future__ import annotations

import zlib
from functools import lru_cache

import numpy as np

PUBLIC_SEED = 20250701
SKETCH_SIZE = 4096
SKETCH_MIN = 1024


def sketch_size(n: int) -> int:
    """Sketch length for a tensor of n elements: a function of n alone, so a quantized or
    re-saved copy gets the same length; about 1/1024 of the tensor, 1024 to 4096 values."""
    return min(SKETCH_SIZE, max(SKETCH_MIN, n // 1024))


@lru_cache(maxsize=256)
def _signs(rows: int, n: int) -> np.ndarray:
    rng = np.random.default_rng([PUBLIC_SEED, n])
    return rng.choice(np.array([-1.0, 1.0], dtype=np.float32), size=rows)


def count_sketch(x: np.ndarray, k: int | None = None) -> np.ndarray:
    """Centred count sketch of a tensor (length min(k, size))."""
    flat = np.asarray(x, dtype=np.float32).reshape(-1)
    n = flat.size
    k = k or sketch_size(n)
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


class StreamingStats:
    """Mean, std, content hash and count sketch of a tensor fed in row chunks.

    Gives the same numbers as the whole-tensor functions without holding the tensor: the
    sketch is linear, so the signed sums of each chunk add up, and centring is applied at
    the end with the sketch of the constant vector.
    """

    def __init__(self, n: int, k: int | None = None):
        k = k or sketch_size(n)
        self.n, self.k = n, k
        self.pos = 0
        self.total = 0.0
        self.total_sq = 0.0
        self.crc = 0
        self.small = n <= k
        self.acc = np.zeros(min(n, k), dtype=np.float64)
        self.rows = -(-n // k)
        self.signs = np.ones(1, np.float32) if self.small else _signs(self.rows, n)

    def feed(self, chunk: np.ndarray) -> None:
        flat = np.ascontiguousarray(chunk, dtype=np.float32).reshape(-1)
        view = memoryview(flat).cast("B")  # type: ignore[arg-type]
        self.crc = zlib.crc32(view, self.crc)
        self.total += float(flat.sum())
        self.total_sq += float(np.dot(flat, flat))
        start = self.pos
        self.pos += flat.size
        if self.small:
            self.acc[start:self.pos] = flat
            return
        k = self.k
        # split the chunk at multiples of k so each piece lies in one sketch row
        i = 0
        while i < flat.size:
            g = start + i
            r, col = divmod(g, k)
            if col == 0 and flat.size - i >= k:
                full = (flat.size - i) // k
                block = flat[i:i + full * k].reshape(full, k)
                self.acc += self.signs[r:r + full] @ block
                i += full * k
            else:
                take = min(k - col, flat.size - i)
                self.acc[col:col + take] += self.signs[r] * flat[i:i + take]
                i += take

    def finish(self) -> tuple[float, float, str, np.ndarray]:
        n = max(self.n, 1)
        mean = self.total / n
        std = float(np.sqrt(max(self.total_sq / n - mean * mean, 0.0)))
        if self.small:
            sketch = self.acc - mean
        else:
            full = self.n // self.k
            ones = np.full(self.k, self.signs[:full].sum(), dtype=np.float64)
            rest = self.n - full * self.k
            if rest:
                ones[:rest] += self.signs[full]
            sketch = self.acc - mean * ones
        return mean, std, f"{self.crc:08x}", sketch.astype(np.float32)

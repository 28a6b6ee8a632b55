"""Tensors handed on finite: NaN, infinities and absurd magnitudes are data, not errors.

A release may hold NaN or infinite weights (a broken export, or an attempt to break the
analysis: NaN in one embedding row made the whitening SVD fail and dropped the whole
weights analysis). The reader every format's reader is wrapped in replaces such values by
0 and remembers which tensors held them, so the comparison goes on and the analyzer
reports them as a finding.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from .formats.interface import RowSink, TensorMeta, TensorReader

MAX_ABS = 1e15
"""Larger magnitudes are treated as non-finite: no trained weight comes near, and products
of two such values summed over 10^5 units stay within float32."""


class FiniteReader(TensorReader):
    """A format's reader whose float tensors come out finite and bounded."""

    def __init__(self, inner: TensorReader):
        self.inner = inner
        self.fmt = inner.fmt
        self._lock = threading.Lock()
        self._odd: set[str] = set()

    @property
    def non_finite(self) -> list[str]:
        """Tensors that held NaN, infinite or absurd values (read as 0), so far."""
        with self._lock:
            return sorted(self._odd)

    def _clean(self, name: str, arr: np.ndarray) -> np.ndarray:
        if arr.dtype.kind != "f" or arr.size == 0:
            return arr
        # two fast reductions; NaN makes either comparison false
        if arr.min() >= -MAX_ABS and arr.max() <= MAX_ABS:
            return arr
        with np.errstate(invalid="ignore"):
            bad = ~(np.abs(arr) <= MAX_ABS)
        with self._lock:
            self._odd.add(name)
        return np.where(bad, arr.dtype.type(0), arr)

    def tensors(self) -> list[TensorMeta]:
        return self.inner.tensors()

    def read(self, name: str) -> np.ndarray:
        return self._clean(name, self.inner.read(name))

    def read_units(
        self,
        name: str,
        axis: int,
        idx: np.ndarray | None,
        on_rows: RowSink | None = None,
        keep: bool = True,
    ) -> np.ndarray | None:
        sink = None if on_rows is None else (lambda rows: on_rows(self._clean(name, rows)))
        out = self.inner.read_units(name, axis, idx, sink, keep)
        return None if out is None else self._clean(name, out)

    def prefetch(self, name: str, rows: list[tuple[int, int]] | None = None) -> None:
        self.inner.prefetch(name, rows)

    def step(self, name: str, rows: list[tuple[int, int]] | None = None) -> float | None:
        return self.inner.step(name, rows)

    def metadata(self) -> dict[str, Any]:
        return self.inner.metadata()

    def close(self) -> None:
        self.inner.close()

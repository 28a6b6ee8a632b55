"""The reader interface: a checkpoint as named tensors read one at a time.

Readers never load a whole checkpoint: they list tensors from headers, then give one
tensor as float32 on request (memory-mapped, dequantized when stored quantized).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .checks import MAX_TENSORS, WeightFormatError, check_count, check_shape

__all__ = ["MAX_TENSORS", "RowSink", "TensorMeta", "TensorReader", "WeightFormatError",
           "check_count", "check_shape", "runs_of"]

RowSink = Callable[[np.ndarray], None]
"""Takes consecutive rows of a tensor being read (statistics accumulate there)."""


@dataclass(frozen=True)
class TensorMeta:
    """One tensor as its file declares it."""

    name: str
    dtype: str
    """The stored type: F32, BF16, F16, I8, Q8_0, Q4_0, ..."""
    shape: tuple[int, ...]
    """Numpy (row-major) order: a Linear weight is (out_features, in_features)."""
    file: str
    quantized: bool = False
    """Stored in fewer bits than 16 (integer blocks or int8 with a scale)."""


class TensorReader(ABC):
    """The tensors of one file (or one sharded set), read one at a time."""

    fmt: str

    @abstractmethod
    def tensors(self) -> list[TensorMeta]:
        """Every tensor, from headers only."""

    @abstractmethod
    def read(self, name: str) -> np.ndarray:
        """One tensor as float32 in numpy order; memory is that tensor's only."""

    def read_units(self, name: str, axis: int, idx: np.ndarray | None,
                   on_rows: RowSink | None = None, keep: bool = True) -> np.ndarray | None:
        """Rows (axis 0) or columns (axis 1) `idx` (ascending; None: all) of a 2-D tensor
        as float32. `on_rows` sees the result's rows in order, in chunks where the reader
        can (they are still in cache then); keep=False returns None and holds only a chunk."""
        arr = self.read(name)
        if idx is not None:
            arr = np.take(arr, idx, axis=axis)
        if on_rows is not None:
            on_rows(arr)
        return arr if keep else None

    def prefetch(self, name: str, rows: list[tuple[int, int]] | None = None) -> None:
        """Hint that `name` (only row ranges `rows` of it, if given) is read next: readers
        of memory-mapped files start the I/O."""
        return None

    def metadata(self) -> dict[str, object]:
        """Format-level metadata (GGUF key/values, ONNX producer); small values only."""
        return {}

    def close(self) -> None:
        return None


def runs_of(idx: np.ndarray) -> list[tuple[int, int]]:
    """Ascending indices as [lo, hi) runs of consecutive values."""
    idx = np.asarray(idx, dtype=np.int64)
    if idx.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(idx) != 1) + 1
    return [(int(r[0]), int(r[-1]) + 1) for r in np.split(idx, breaks)]

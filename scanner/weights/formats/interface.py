"""The format interface: which files of a release make a checkpoint, and the checkpoint as
named tensors read one at a time.

A WeightFormat owns its format entirely: it finds its checkpoint among a release's files,
opens a TensorReader on it, and gives the config, vocabulary and architecture the format
itself carries. Readers never load a whole checkpoint: they list tensors from headers, then
give one tensor as float32 on request (memory-mapped, dequantized when stored quantized).
formats/registry.py lists the formats; nothing outside formats/ knows their names.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...model import FileDeclaration
from .checks import MAX_TENSORS, WeightFormatError, check_count, check_shape
from .ranged import RangeFiles
from .safetensors_header import Read

__all__ = [
    "MAX_TENSORS",
    "Checkpoint",
    "Fetch",
    "FileDeclaration",
    "Read",
    "RowSink",
    "TensorMeta",
    "TensorReader",
    "WeightFormat",
    "WeightFormatError",
    "check_count",
    "check_shape",
    "runs_of",
]

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

    def read_units(
        self,
        name: str,
        axis: int,
        idx: np.ndarray | None,
        on_rows: RowSink | None = None,
        keep: bool = True,
    ) -> np.ndarray | None:
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

    def step(self, name: str, rows: list[tuple[int, int]] | None = None) -> float | None:
        """The quantization step (RMS of the scale over the values) of a tensor stored as
        integers times a scale: rounding to it adds noise of step / sqrt(12) a value, which
        tells a quantized copy from further training (deltas.py). None: not stored so, or
        the step is its type's own (rules/rounding_noise.toml applies). `rows`: runs
        [lo, hi) of the rows a sampling read; a format whose scales lie in the rows' own
        bytes (GGUF blocks) takes the step of those rows, the values the noise is set
        against, which a remote reading has fetched already."""
        return None

    def metadata(self) -> dict[str, object]:
        """Format-level metadata (GGUF key/values, ONNX producer); small values only."""
        return {}

    def close(self) -> None:
        return None


Fetch = Callable[[str], Path]
"""A release file (its posix path in the release) as a local file, fetched if need be."""


@dataclass(frozen=True)
class Checkpoint:
    """The files of a release that hold one model's weights, in one format."""

    format: WeightFormat
    files: tuple[str, ...]
    """The weight files the reader opens (release paths), shards in order."""
    data_files: tuple[str, ...] = ()
    """Other files that hold its bytes (ONNX external data): counted in its size."""

    @property
    def folder(self) -> str:
        """The release folder of its (first) weight file, as a prefix: "" or "sub/"."""
        head, sep, _ = self.files[0].rpartition("/")
        return head + sep


class WeightFormat(ABC):
    """One weight file format: its checkpoint in a release, its reader, and what the format
    itself says about the model. config.json and tokenizer.json beside a checkpoint come
    first (loader.py); config(), vocab() fill in where they are missing."""

    name: str
    suffixes: tuple[str, ...]
    """File name endings (lower case) of its weight files."""

    def holds(self, path: str) -> bool:
        """Whether a file is one of this format's weight files, by its name."""
        return path.lower().endswith(self.suffixes)

    @abstractmethod
    def checkpoint(self, files: Sequence[str], fetch: Fetch) -> Checkpoint | None:
        """The files among a release's that make this format's checkpoint (None: none do).
        `fetch` gives a file to read (an index naming the shards)."""

    @abstractmethod
    def open(self, paths: list[Path], config: dict[str, Any]) -> TensorReader:
        """A reader of the checkpoint's weight files; `config` is the model's config.json
        (quantization settings), {} when there is none."""

    def open_ranged(
        self, paths: list[Path], source: RangeFiles, config: dict[str, Any]
    ) -> TensorReader | None:
        """A reader of remote weight files through byte ranges (ranged.py), reading only
        what is asked of it; None: this format downloads its files whole."""
        return None

    def config(self, reader: TensorReader) -> dict[str, Any]:
        """The HF config keys the signals use, from the format's own metadata ({}: none)."""
        return {}

    def vocab(self, reader: TensorReader) -> list[str] | None:
        """Token strings in id order, where the format stores the vocabulary."""
        return None

    def architecture(self, reader: TensorReader) -> str | None:
        """The architecture the file names itself (GGUF general.architecture): the role
        rules key format-specific layouts on it (rules/tensor_roles.toml)."""
        return None

    def declaration(self, read: Read, path: str) -> FileDeclaration | None:
        """What one of its weight files says of its model in its own metadata (license,
        base models), from the header alone through read(start, length): no tensor is
        read, and a remote file costs a few range reads. None: the format says nothing."""
        return None


def runs_of(idx: np.ndarray) -> list[tuple[int, int]]:
    """Ascending indices as [lo, hi) runs of consecutive values."""
    idx = np.asarray(idx, dtype=np.int64)
    if idx.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(idx) != 1) + 1
    return [(int(r[0]), int(r[-1]) + 1) for r in np.split(idx, breaks)]

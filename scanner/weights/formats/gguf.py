"""GGUF through the `gguf` package: memory-mapped, quantized blocks dequantized per tensor."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import numpy as np

from .interface import (
    MAX_TENSORS,
    RowSink,
    TensorMeta,
    TensorReader,
    WeightFormatError,
    check_shape,
    runs_of,
)

_MAX_KV = 100_000
_FLOAT_TYPES = {"F32", "F16", "F64", "BF16"}
# Metadata we keep: the architecture numbers and the vocabulary (strings), not blobs.
_KEEP_ARRAYS = {"tokenizer.ggml.tokens"}


def _precheck(path: Path) -> None:
    """Bound the counts in the fixed header before the gguf package allocates anything."""
    with open(path, "rb") as fh:
        head = fh.read(24)
    if len(head) < 24 or head[:4] != b"GGUF":
        raise WeightFormatError(f"{path.name}: not a GGUF file (bad magic or truncated)")
    version, n_tensors, n_kv = struct.unpack("<IQQ", head[4:24])
    if version not in (2, 3):
        raise WeightFormatError(f"{path.name}: unsupported GGUF version {version}")
    if n_tensors > MAX_TENSORS or n_kv > _MAX_KV:
        raise WeightFormatError(f"{path.name}: GGUF header declares {n_tensors} tensors and "
                                f"{n_kv} metadata keys, beyond any real model")


class GGUFTensorReader(TensorReader):
    fmt = "gguf"

    def __init__(self, path: Path):
        import gguf

        _precheck(path)
        self._gguf = gguf
        try:
            self._reader = gguf.GGUFReader(str(path), "r")
        except (ValueError, KeyError, IndexError, OverflowError, struct.error) as exc:
            raise WeightFormatError(f"{path.name}: malformed GGUF file ({exc})") from exc
        self._path = path
        self._by_name = {t.name: t for t in self._reader.tensors}
        self._metas = []
        for t in self._reader.tensors:
            shape = check_shape(tuple(int(d) for d in reversed(t.shape.tolist())), t.name,
                                path.name)
            dtype = t.tensor_type.name
            self._metas.append(TensorMeta(t.name, dtype, shape, path.name,
                                          quantized=dtype not in _FLOAT_TYPES))

    def tensors(self) -> list[TensorMeta]:
        return list(self._metas)

    def read(self, name: str) -> np.ndarray:
        t = self._by_name[name]
        shape = tuple(int(d) for d in reversed(t.shape.tolist()))
        qt = self._gguf.GGMLQuantizationType
        try:
            if t.tensor_type in (qt.F32, qt.F16, qt.F64):
                arr = np.asarray(t.data, dtype=np.float32)
            elif t.tensor_type == qt.BF16:
                from .safetensors import bf16_to_f32

                arr = bf16_to_f32(np.asarray(t.data).view(np.uint16))
            else:
                arr = np.asarray(self._gguf.quants.dequantize(t.data, t.tensor_type),
                                 dtype=np.float32)
        except (NotImplementedError, ValueError) as exc:
            raise WeightFormatError(f"{self._path.name}: cannot dequantize {name} "
                                    f"({t.tensor_type.name}): {exc}") from exc
        return arr.reshape(shape)

    def _rows(self, t: Any, start: int, stop: int, cols: int) -> np.ndarray:
        """Rows [start, stop) of a 2-D tensor, dequantized alone (blocks run along rows)."""
        qt = self._gguf.GGMLQuantizationType
        rows = t.data[start:stop]
        if t.tensor_type in (qt.F32, qt.F16, qt.F64):
            return np.asarray(rows, dtype=np.float32)
        if t.tensor_type == qt.BF16:
            from .safetensors import bf16_to_f32

            return bf16_to_f32(np.asarray(rows).view(np.uint16))
        return np.asarray(self._gguf.quants.dequantize(rows, t.tensor_type),
                          dtype=np.float32).reshape(-1, cols)

    def read_units(self, name: str, axis: int, idx: np.ndarray | None,
                   on_rows: RowSink | None = None, keep: bool = True) -> np.ndarray | None:
        """Rows of a 2-D tensor are dequantized run by run, not the whole tensor."""
        t = self._by_name[name]
        shape = tuple(int(d) for d in reversed(t.shape.tolist()))
        if axis != 0 or idx is None or len(shape) != 2:
            return super().read_units(name, axis, idx, on_rows, keep)
        try:
            parts = [self._rows(t, lo, hi, shape[1]) for lo, hi in runs_of(idx)]
        except (NotImplementedError, ValueError) as exc:
            raise WeightFormatError(f"{self._path.name}: cannot dequantize {name} "
                                    f"({t.tensor_type.name}): {exc}") from exc
        arr = (np.concatenate(parts) if parts else np.zeros((0, shape[1]), np.float32))
        if on_rows is not None:
            on_rows(arr)
        return arr if keep else None

    def metadata(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, field in self._reader.fields.items():
            if key.startswith("GGUF."):
                continue
            try:
                if len(field.types) == 1 or key in _KEEP_ARRAYS:
                    out[key] = field.contents()
            except (ValueError, UnicodeDecodeError, IndexError):
                continue
        return out

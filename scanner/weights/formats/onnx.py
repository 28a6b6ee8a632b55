"""ONNX initializers (inline or external data), int8 weights behind DequantizeLinear.

Weights feeding MatMul as its right operand are stored (in, out); they are returned
transposed to the (out, in) order of every other format, so roles and sketches agree.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .interface import (
    Checkpoint,
    Fetch,
    TensorMeta,
    TensorReader,
    WeightFormat,
    WeightFormatError,
    check_count,
    check_shape,
)

_MAX_ONNX_BYTES = 2 * 1024 * 1024 * 1024  # protobuf's own limit
_QUANT_SUFFIXES = ("_quantized", ".quantized", "_quant", "_int8", "_q")


def _numeric_dtype(t: Any, path: str) -> np.dtype:
    """The numpy type of an initializer's data_type; anything not a real number (unknown
    codes, strings, complex) is refused."""
    import onnx

    try:
        dtype = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(t.data_type))
    except (KeyError, ValueError, TypeError) as exc:
        raise WeightFormatError(
            f"{path}: initializer {t.name[:200]!r} has an unknown data_type {t.data_type}"
        ) from exc
    if dtype.kind not in "fiub":
        raise WeightFormatError(
            f"{path}: initializer {t.name[:200]!r} holds {dtype.name}, not numbers"
        )
    return dtype


def _external_offset(info: dict[str, str], name: str, path: str) -> int:
    """The byte offset of external data, a whole number from 0 (as the ONNX spec says)."""
    raw = info.get("offset", "0")
    if not raw.isdigit():
        raise WeightFormatError(f"{path}: external data of {name} has a bad offset {raw[:40]!r}")
    return int(raw)


def _strip_quant_suffix(name: str) -> str:
    for s in _QUANT_SUFFIXES:
        if name.endswith(s):
            return name[: -len(s)]
    return name


class OnnxReader(TensorReader):
    fmt = "onnx"

    def __init__(self, path: Path):
        import onnx

        if path.stat().st_size > _MAX_ONNX_BYTES:
            raise WeightFormatError(f"{path.name}: ONNX file over protobuf's 2 GB limit")
        try:
            model = onnx.load(str(path), load_external_data=False)
        except Exception as exc:  # protobuf raises its own DecodeError family
            raise WeightFormatError(f"{path.name}: not a readable ONNX model ({exc})") from exc
        self._path = path
        self._model = model
        graph = model.graph
        check_count(len(graph.initializer), path.name)
        for t in graph.initializer:
            if not isinstance(t.name, str):  # protobuf hands over invalid UTF-8 as bytes
                raise WeightFormatError(f"{path.name}: an initializer name is not UTF-8")
            _numeric_dtype(t, path.name)
        self._inits = {t.name: t for t in graph.initializer}
        transposed: set[str] = set()
        dq: dict[str, tuple[str, str, str | None, int]] = {}  # x -> (out, scale, zp, axis)
        for node in graph.node:
            if node.op_type == "DequantizeLinear" and node.input[0] in self._inits:
                axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
                zp = node.input[2] if len(node.input) > 2 and node.input[2] else None
                dq[node.input[0]] = (node.output[0], node.input[1], zp, axis)
        produced_by_dq = {v[0]: k for k, v in dq.items()}
        for node in graph.node:
            if node.op_type == "MatMul" and len(node.input) > 1:
                b = node.input[1]
                transposed.add(produced_by_dq.get(b, b))
            if node.op_type == "Gemm" and len(node.input) > 1:
                trans_b = next((a.i for a in node.attribute if a.name == "transB"), 0)
                if not trans_b:
                    b = node.input[1]
                    transposed.add(produced_by_dq.get(b, b))
        self._dq = dq
        self._transposed = transposed
        helpers = {v[1] for v in dq.values()} | {v[2] for v in dq.values() if v[2]}
        self._names: dict[str, str] = {}
        self._metas: list[TensorMeta] = []
        for name, t in self._inits.items():
            if name in helpers:
                continue
            shape = check_shape(tuple(int(d) for d in t.dims), name, path.name)
            if name in transposed and len(shape) == 2:
                shape = (shape[1], shape[0])
            shown = _strip_quant_suffix(name) if name in dq else name
            dtype = onnx.helper.tensor_dtype_to_np_dtype(t.data_type).name.upper()
            self._names[shown] = name
            self._metas.append(TensorMeta(shown, dtype, shape, path.name, quantized=name in dq))

    def tensors(self) -> list[TensorMeta]:
        return list(self._metas)

    def _raw(self, name: str) -> np.ndarray:
        import onnx

        t = self._inits[name]
        dtype = _numeric_dtype(t, self._path.name)
        shape = check_shape(tuple(int(d) for d in t.dims), name, self._path.name)
        count = int(np.prod(shape, dtype=np.int64))
        if t.data_location == onnx.TensorProto.EXTERNAL:
            info = {e.key: e.value for e in t.external_data}
            root = self._path.parent.resolve()
            target = (root / info.get("location", "")).resolve()
            if os.path.commonpath([root, target]) != str(root) or not target.is_file():
                raise WeightFormatError(
                    f"{self._path.name}: external data of {name} "
                    f"is missing or outside the model folder"
                )
            offset = _external_offset(info, name, self._path.name)
            if offset + count * dtype.itemsize > target.stat().st_size:
                raise WeightFormatError(f"{self._path.name}: external data of {name} is truncated")
            if count == 0:
                return np.zeros(shape, dtype)
            return np.memmap(target, dtype=dtype, mode="r", offset=offset, shape=(count,)).reshape(
                shape
            )
        if t.raw_data:
            if len(t.raw_data) != count * dtype.itemsize:
                raise WeightFormatError(f"{self._path.name}: initializer {name} is truncated")
            return np.frombuffer(t.raw_data, dtype=dtype).reshape(shape)
        from onnx import numpy_helper

        try:
            arr = numpy_helper.to_array(t)
        except (ValueError, TypeError) as exc:  # typed fields that do not fill the dims
            raise WeightFormatError(f"{self._path.name}: initializer {name} is malformed") from exc
        if arr.size != count:
            raise WeightFormatError(f"{self._path.name}: initializer {name} is truncated")
        return arr

    def read(self, name: str) -> np.ndarray:
        real = self._names[name]
        arr = self._raw(real).astype(np.float32)
        if real in self._dq:
            _, scale_name, zp_name, axis = self._dq[real]
            scale = self._raw(scale_name).astype(np.float32)
            zp = self._raw(zp_name).astype(np.float32) if zp_name else np.float32(0)
            if scale.ndim == 1 and arr.ndim > 1 and scale.size > 1:
                bshape = [1] * arr.ndim
                bshape[axis] = scale.size
                scale = scale.reshape(bshape)
                zp = zp.reshape(bshape) if np.ndim(zp) else zp
            arr = (arr - zp) * scale
        if real in self._transposed and arr.ndim == 2:
            arr = np.ascontiguousarray(arr.T)
        return arr

    def metadata(self) -> dict[str, Any]:
        return {
            "producer": self._model.producer_name,
            "onnx.meta": {p.key: p.value for p in self._model.metadata_props},
        }


class OnnxFormat(WeightFormat):
    """model.onnx (else the first .onnx), its external data files counted in its size."""

    name = "onnx"
    suffixes = (".onnx",)

    def checkpoint(self, files: Sequence[str], fetch: Fetch) -> Checkpoint | None:
        found = [f for f in files if self.holds(f)]
        if not found:
            return None
        preferred = [f for f in found if Path(f).name == "model.onnx"]
        data = tuple(f for f in files if f.endswith((".onnx_data", ".onnx.data")))
        return Checkpoint(self, ((preferred or sorted(found))[0],), data)

    def open(self, paths: list[Path], config: dict[str, Any]) -> TensorReader:
        return OnnxReader(paths[0])


FORMAT = OnnxFormat()

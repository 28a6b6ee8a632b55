"""ONNX: initializers (inline or external data) read as the weights the graph makes of them.

onnx_graph.py says which initializer is which weight: its name (recovered from the graph
where the exporter lost it), its orientation and its dequantization. This module reads the
stored numbers in place (onnx_wire.py: the protobuf is parsed without them, the file is
mapped) and applies both, a few rows at a time: weights feeding a MatMul are stored
(in, out) and come out transposed to the (out, in) order of every other format, so roles
and sketches agree.

Over 400 lines on purpose: each dequantization pattern needs its row-chunked reader, and
they share the in-place mapping; which weight is which lives apart, in onnx_graph.py.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .interface import (
    Checkpoint,
    Fetch,
    FileDeclaration,
    Read,
    RowSink,
    TensorMeta,
    TensorReader,
    WeightFormat,
    WeightFormatError,
    check_count,
    check_shape,
)
from .mapped import MappedFiles
from .onnx_graph import Dequant, GraphWeight, NBits, Stored, graph_weights
from .onnx_wire import strip_weights

_MAX_ONNX_BYTES = 2 * 1024 * 1024 * 1024  # protobuf's own limit
# Rows of a weight dequantized at a time (bounded scratch memory).
_CHUNK_VALUES = 1 << 20
# Stored element types and their numpy form; INT4 / UINT4 are packed two to a byte.
_NUMPY = {
    "FLOAT": "<f4",
    "FLOAT16": "<f2",
    "DOUBLE": "<f8",
    "BFLOAT16": "<u2",
    "INT8": "i1",
    "UINT8": "u1",
    "INT16": "<i2",
    "UINT16": "<u2",
    "INT32": "<i4",
    "UINT32": "<u4",
    "INT64": "<i8",
    "UINT64": "<u8",
    "INT4": "u1",
    "UINT4": "u1",
}
_PACKED4 = ("INT4", "UINT4")
_SHOWN = {"FLOAT": "FLOAT32", "DOUBLE": "FLOAT64"}


def _is_weight(st: Stored, gw: GraphWeight) -> bool:
    """Numbers a model learned: floats, or integers a dequantization turns into floats.
    Shape constants, index buffers and scalars are not weights."""
    return (st.is_float or gw.dequant is not None) and st.size > 1


class OnnxReader(TensorReader):
    fmt = "onnx"

    def __init__(self, path: Path):
        import onnx

        if path.stat().st_size > _MAX_ONNX_BYTES:
            raise WeightFormatError(f"{path.name}: ONNX file over protobuf's 2 GB limit")
        self._path = path
        self._files = MappedFiles()
        try:
            with memoryview(self._files.get(path)) as view:
                structure, self._raw_at = strip_weights(view)
            model = onnx.load_model_from_string(structure)
        except Exception as exc:  # protobuf raises its own DecodeError family
            self._files.close()
            raise WeightFormatError(f"{path.name}: not a readable ONNX model ({exc})") from exc
        self._model = model
        graph = model.graph
        check_count(len(graph.initializer), path.name)
        for t in graph.initializer:
            if not isinstance(t.name, str):  # protobuf hands over invalid UTF-8 as bytes
                raise WeightFormatError(f"{path.name}: an initializer name is not UTF-8")
        self._inits = {t.name: t for t in graph.initializer}
        stored = {name: self._stored_of(t) for name, t in self._inits.items()}
        try:
            weights, _ = graph_weights(graph, stored)
        except WeightFormatError as exc:
            raise WeightFormatError(f"{path.name}: {exc}") from exc
        self._stored_meta = stored
        self._weights: dict[str, GraphWeight] = {}
        self._metas: list[TensorMeta] = []
        for gw in weights:
            st = stored[gw.init]
            if not _is_weight(st, gw):
                continue
            self._check_dequant(gw)
            self._check_backed(gw.init)
            self._weights[gw.name] = gw
            dtype = f"UINT{gw.dequant.bits}" if isinstance(gw.dequant, NBits) else st.dtype
            self._metas.append(
                TensorMeta(
                    gw.name,
                    _SHOWN.get(dtype, dtype),
                    gw.shape,
                    path.name,
                    quantized=gw.dequant is not None,
                )
            )

    def _stored_of(self, t: Any) -> Stored:
        import onnx

        try:
            dtype = onnx.TensorProto.DataType.Name(t.data_type)
        except ValueError as exc:
            raise WeightFormatError(
                f"{self._path.name}: initializer {t.name[:200]!r} has an unknown type"
            ) from exc
        dims = check_shape(tuple(int(d) for d in t.dims), t.name, self._path.name)
        return Stored(dims, dtype)

    def _check_dequant(self, gw: GraphWeight) -> None:
        """Scales and zero points that fit their weight (a hostile file's do not)."""
        d = gw.dequant
        if not isinstance(d, Dequant):
            return
        dims = self._stored_meta[gw.init].dims
        for name in (d.scale, d.zero_point):
            if name is None:
                continue
            pdims = self._stored_meta[name].dims
            if _fit(pdims, dims, d) is None:
                raise WeightFormatError(
                    f"{self._path.name}: the scale or zero point {name[:200]!r} "
                    f"{pdims} does not fit {gw.init[:200]!r} {dims}"
                )

    def _check_backed(self, name: str) -> None:
        """The dims an initializer claims are bytes the file holds: a hostile file's claim of
        2^28 rows over a few bytes is refused here, before anything is sized by it."""
        import onnx

        t, st = self._inits[name], self._stored_meta[name]
        code = _NUMPY.get(st.dtype)
        if code is None:
            return  # not numbers: _raw refuses it if it is ever read
        nbytes = _nbytes(st.dtype, st.size, np.dtype(code))
        if t.data_location == onnx.TensorProto.EXTERNAL:
            info = self._external_info(name, t)
            raw, target = info.get("offset", "0"), self._path.parent / info.get("location", "")
            held = target.stat().st_size - int(raw) if raw.isdigit() and target.is_file() else -1
        elif name in self._raw_at:
            held = self._raw_at[name][1]
        else:
            typed = max(
                len(t.float_data),
                len(t.int32_data),
                len(t.int64_data),
                len(t.double_data),
                len(t.uint64_data),
            )
            held = 2 * typed * np.dtype(code).itemsize  # int32_data may pack two 4-bit codes
        if held < nbytes:
            raise WeightFormatError(
                f"{self._path.name}: initializer {name[:200]!r} claims {st.dims} "
                f"({nbytes} bytes) but the file holds {max(held, 0)} for it"
            )

    def tensors(self) -> list[TensorMeta]:
        return list(self._metas)

    # ---- stored numbers --------------------------------------------------------------------

    def _raw(self, name: str) -> np.ndarray:
        """The stored numbers of an initializer, in its dims (INT4 unpacked to int8)."""
        import onnx

        t = self._inits[name]
        st = self._stored_meta[name]
        code = _NUMPY.get(st.dtype)
        if code is None:
            raise WeightFormatError(f"{self._path.name}: initializer {name} holds {st.dtype}")
        dtype = np.dtype(code)
        count = st.size
        nbytes = _nbytes(st.dtype, count, dtype)
        if t.data_location == onnx.TensorProto.EXTERNAL:
            data = self._external(name, t, nbytes, dtype)
        elif name in self._raw_at:
            offset, length = self._raw_at[name]
            if length != nbytes:
                raise WeightFormatError(f"{self._path.name}: initializer {name} is truncated")
            mm = self._files.get(self._path)
            data = np.frombuffer(mm, dtype=dtype, count=nbytes // dtype.itemsize, offset=offset)
            self._files.read_done(self._path, nbytes)
        else:
            from onnx import numpy_helper

            try:
                arr = numpy_helper.to_array(t)
            except (ValueError, TypeError) as exc:
                raise WeightFormatError(
                    f"{self._path.name}: initializer {name} is malformed"
                ) from exc
            if arr.size != count:
                raise WeightFormatError(f"{self._path.name}: initializer {name} is truncated")
            if st.dtype == "BFLOAT16":
                arr = np.asarray(arr, dtype=np.float32)
            return np.asarray(arr).reshape(st.dims)
        if st.dtype in _PACKED4:
            data = _unpack4(data, count, signed=st.dtype == "INT4")
        elif st.dtype == "BFLOAT16":
            from .numbers import bf16_to_f32

            data = bf16_to_f32(np.ascontiguousarray(data))
        return data.reshape(st.dims)

    def _external_info(self, name: str, t: Any) -> dict[str, str]:
        """The external-data entries (location, offset, length) as text: protobuf hands
        over a value that is not UTF-8 as bytes, which names no file."""
        info = {e.key: e.value for e in t.external_data}
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in info.items()):
            raise WeightFormatError(
                f"{self._path.name}: external data of {name[:200]!r} is not text"
            )
        return info

    def _external(self, name: str, t: Any, nbytes: int, dtype: np.dtype) -> np.ndarray:
        info = self._external_info(name, t)
        root = self._path.parent.resolve()
        target = (root / info.get("location", "")).resolve()
        if os.path.commonpath([root, target]) != str(root) or not target.is_file():
            raise WeightFormatError(
                f"{self._path.name}: external data of {name} is missing or outside the model folder"
            )
        raw = info.get("offset", "0")
        if not raw.isdigit():
            raise WeightFormatError(f"{self._path.name}: external data of {name} has a bad offset")
        offset = int(raw)
        if offset + nbytes > target.stat().st_size:
            raise WeightFormatError(f"{self._path.name}: external data of {name} is truncated")
        if nbytes == 0:
            return np.zeros(0, dtype)
        return np.memmap(
            target, dtype=dtype, mode="r", offset=offset, shape=(nbytes // dtype.itemsize,)
        )

    # ---- weights as floats -----------------------------------------------------------------

    def _rows(self, gw: GraphWeight, a: int, b: int) -> np.ndarray:
        """Rows a:b (of the weight as read) as float32."""
        d = gw.dequant
        if isinstance(d, NBits):
            return self._nbits_rows(gw.init, d, a, b)
        x = self._raw(gw.init)
        axis = 1 if gw.transposed and x.ndim == 2 else 0
        part = x[:, a:b] if axis == 1 else x[a:b]
        vals = part.astype(np.float32)
        if isinstance(d, Dequant):
            if d.zero_point is not None:
                vals -= self._param(d.zero_point, x.shape, d, axis, a, b)
            vals *= self._param(d.scale, x.shape, d, axis, a, b)
        return np.ascontiguousarray(vals.T if axis == 1 else vals, dtype=np.float32)

    def _param(
        self, name: str, shape: tuple[int, ...], d: Dequant, axis: int, a: int, b: int
    ) -> np.ndarray:
        """A scale or zero point as it multiplies rows a:b along `axis` of the stored tensor."""
        p = self._raw(name).astype(np.float32)
        fit = _fit(p.shape, shape, d)
        if fit is None:
            raise WeightFormatError(f"{self._path.name}: {name} does not fit its weight")
        p = p.reshape(fit)
        if d.block and d.axis is not None and p.shape[d.axis] != shape[d.axis]:
            blk, at = d.block, d.axis
            if at == axis:
                lo = a // blk
                p = np.take(p, np.arange(lo, -(-b // blk)), axis=at)
                p = np.repeat(p, blk, axis=at)
                return np.take(p, np.arange(a - lo * blk, b - lo * blk), axis=at)
            p = np.repeat(p, blk, axis=at)
            p = np.take(p, np.arange(shape[at]), axis=at)
        if p.ndim > axis and p.shape[axis] > 1:
            p = np.take(p, np.arange(a, b), axis=axis)
        return p

    def _nbits_rows(self, init: str, d: NBits, a: int, b: int) -> np.ndarray:
        blocks = -(-d.k // d.block)
        codes = _unpack_bits(self._raw(init)[a:b], d.bits).astype(np.float32)
        codes = codes.reshape(b - a, blocks * d.block)[:, : d.k]
        scale = self._raw(d.scales).reshape(d.n, blocks)[a:b].astype(np.float32)
        if d.zero_points is None:
            zp = np.full_like(scale, float(1 << (d.bits - 1)))
        else:
            z = self._raw(d.zero_points)
            if z.dtype == np.uint8:
                z = _unpack_bits(z.reshape(d.n, -1)[a:b], d.bits)[:, :blocks]
            else:
                z = z.reshape(d.n, blocks)[a:b]
            if z.shape != scale.shape:
                raise WeightFormatError(f"{self._path.name}: zero points of {init} do not fit")
            zp = z.astype(np.float32)
        if d.g_idx is not None:
            group = self._raw(d.g_idx).astype(np.int64).reshape(-1)
            if group.shape != (d.k,) or group.min(initial=0) < 0 or group.max(initial=0) >= blocks:
                raise WeightFormatError(f"{self._path.name}: g_idx of {init} does not fit")
            return (codes - zp[:, group]) * scale[:, group]
        idx = np.arange(d.k) // d.block
        return (codes - zp[:, idx]) * scale[:, idx]

    def step(self, name: str, rows: list[tuple[int, int]] | None = None) -> float | None:
        """RMS of the scales: each scale multiplies equally many values (a block, a row, the
        whole tensor), but for a last, shorter block (over the whole tensor, `rows` or not)."""
        gw = self._weights.get(name)
        d = None if gw is None else gw.dequant
        if d is None:
            return None
        scales = self._raw(d.scales if isinstance(d, NBits) else d.scale)
        if scales.size == 0:
            return None
        step = float(np.sqrt(np.mean(np.square(scales.astype(np.float64)))))
        return step if math.isfinite(step) and step > 0 else None

    def read(self, name: str) -> np.ndarray:
        gw = self._weights[name]
        if len(gw.shape) == 0:
            return self._rows(gw, 0, 1).reshape(())
        return self._rows(gw, 0, gw.shape[0]).reshape(gw.shape)

    def read_units(
        self,
        name: str,
        axis: int,
        idx: np.ndarray | None,
        on_rows: RowSink | None = None,
        keep: bool = True,
    ) -> np.ndarray | None:
        """Rows (or the columns of every row) a chunk at a time: never the whole float32
        matrix unless it is kept."""
        gw = self._weights[name]
        if len(gw.shape) != 2 or axis not in (0, 1):
            return super().read_units(name, axis, idx, on_rows, keep)
        rows, cols = gw.shape
        wanted = np.arange(rows) if idx is None or axis == 1 else np.asarray(idx, np.int64)
        if wanted.size and (wanted[0] < 0 or wanted[-1] >= rows):
            raise ValueError(f"{name}: unit indices out of range")
        step = max(1, _CHUNK_VALUES // max(1, cols))
        out: list[np.ndarray] = []
        for start in range(0, len(wanted), step):
            sel = wanted[start : start + step]
            lo, hi = int(sel[0]), int(sel[-1]) + 1
            chunk = self._rows(gw, lo, hi)
            if hi - lo != len(sel):
                chunk = chunk[sel - lo]
            if axis == 1 and idx is not None:
                chunk = chunk[:, np.asarray(idx, np.int64)]
            if on_rows is not None:
                on_rows(chunk)
            if keep:
                out.append(chunk)
        if not keep:
            return None
        width = cols if axis == 0 or idx is None else len(idx)
        return np.concatenate(out) if out else np.zeros((0, width), np.float32)

    def metadata(self) -> dict[str, Any]:
        return {
            "producer": self._model.producer_name,
            "onnx.meta": {p.key: p.value for p in self._model.metadata_props},
        }

    def close(self) -> None:
        self._files.close()


def _nbytes(stored: str, count: int, dtype: np.dtype) -> int:
    """Bytes `count` stored numbers take (4-bit types pack two to a byte)."""
    return -(-count // 2) if stored in _PACKED4 else count * dtype.itemsize


def _fit(pdims: tuple[int, ...], dims: tuple[int, ...], d: Dequant) -> tuple[int, ...] | None:
    """The shape a scale or zero point takes to broadcast onto a stored tensor: a scalar,
    a 1-D run along the dequantization axis, blocks along it, or numpy's own broadcasting."""
    n = len(dims)
    size = int(np.prod(pdims)) if pdims else 1
    if size == 1:
        return (1,) * n
    if d.axis is not None and not 0 <= d.axis < n:
        return None
    if d.block and d.axis is not None:
        want = list(dims)
        want[d.axis] = -(-dims[d.axis] // d.block)
        return tuple(pdims) if tuple(pdims) == tuple(want) else None
    if d.axis is not None and len(pdims) == 1:
        if pdims[0] != dims[d.axis]:
            return None
        shape = [1] * n
        shape[d.axis] = pdims[0]
        return tuple(shape)
    full = (1,) * (n - len(pdims)) + tuple(pdims)
    if len(full) != n or any(p not in (1, s) for p, s in zip(full, dims, strict=True)):
        return None
    return full


def _unpack4(data: np.ndarray, count: int, signed: bool) -> np.ndarray:
    """INT4 / UINT4 storage: two values a byte, the first in the low four bits."""
    out = np.empty(2 * data.size, np.uint8)
    out[0::2] = data & 0x0F
    out[1::2] = data >> 4
    out = out[:count]
    return ((out ^ 8).astype(np.int8) - 8) if signed else out


def _unpack_bits(packed: np.ndarray, bits: int) -> np.ndarray:
    """Codes packed into bytes, low bits first (MatMulNBits): one byte -> 8 / bits codes;
    the last axis grows by that factor."""
    packed = np.asarray(packed, dtype=np.uint8)
    if bits == 8:
        return packed
    per = 8 // bits
    mask = (1 << bits) - 1
    parts = [(packed >> (bits * j)) & mask for j in range(per)]
    return np.stack(parts, axis=-1).reshape(*packed.shape[:-1], packed.shape[-1] * per)


# ModelProto's metadata_props (field 14): StringStringEntryProto {key = 1, value = 2}. They
# follow the graph in the file, so the top-level fields are walked (the graph skipped by
# its length) without parsing the model: a few small reads, whatever the model's size.
_METADATA_PROPS = 14
MAX_TOP_LEVEL_FIELDS = 10_000
MAX_PROP_BYTES = 64 * 1024
_VARINT_BYTES = 10
_DECLARED_KEYS = {
    "license": "license",
    "license_name": "license_name",
    "license_link": "license_link",
    "license_url": "license_link",
    "base_model": "base_models",
}


def _varint(data: bytes, pos: int, name: str) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise WeightFormatError(f"{name}: truncated or malformed ONNX protobuf")
        byte = data[pos]
        value |= (byte & 0x7F) << shift
        pos, shift = pos + 1, shift + 7
        if not byte & 0x80:
            return value, pos


def _string_pair(data: bytes, name: str) -> tuple[str, str]:
    """key and value of one StringStringEntryProto."""
    got = {1: "", 2: ""}
    pos = 0
    while pos < len(data):
        tag, pos = _varint(data, pos, name)
        if tag & 7 != 2:
            raise WeightFormatError(f"{name}: malformed ONNX metadata entry")
        length, pos = _varint(data, pos, name)
        got[tag >> 3] = data[pos : pos + length].decode("utf-8", errors="replace")
        pos += length
    return got[1], got[2]


def metadata_props(read: Read, name: str) -> dict[str, str]:
    """The model's metadata_props, read field by field from the file's top level."""
    props: dict[str, str] = {}
    pos = 0
    for _ in range(MAX_TOP_LEVEL_FIELDS):
        head = read(pos, 2 * _VARINT_BYTES)
        if not head:
            return props
        tag, used = _varint(head, 0, name)
        field, wire = tag >> 3, tag & 7
        if wire == 0:
            _, used = _varint(head, used, name)
            pos += used
        elif wire == 1:
            pos += used + 8
        elif wire == 5:
            pos += used + 4
        elif wire == 2:
            length, used = _varint(head, used, name)
            if field == _METADATA_PROPS and length <= MAX_PROP_BYTES:
                key, value = _string_pair(read(pos + used, length), name)
                props.setdefault(key, value)
            pos += used + length
        else:
            raise WeightFormatError(f"{name}: not an ONNX model (protobuf wire type {wire})")
    return props


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

    def declaration(self, read: Read, path: str) -> FileDeclaration | None:
        """metadata_props `license`, `license_name`, `license_link` (or `license_url`) and
        `base_model` (case aside): ONNX has no standard key, these are the card's own."""
        props = metadata_props(read, path.rsplit("/", 1)[-1])
        values: dict[str, str] = {}
        keys: list[str] = []
        for key, value in props.items():
            target = _DECLARED_KEYS.get(key.strip().lower())
            if target and value.strip() and target not in values:
                values[target] = value.strip()
                keys.append(key)
        if not values:
            return None
        bases = values.pop("base_models", None)
        return FileDeclaration(
            path,
            base_models=tuple(b.strip() for b in bases.split(",") if b.strip()) if bases else (),
            keys=tuple(keys),
            **values,
        )


FORMAT = OnnxFormat()

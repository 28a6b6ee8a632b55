"""safetensors, single file or sharded (*.safetensors.index.json), memory-mapped per tensor.

Over 400 lines on purpose: plain, FP8-with-scales and GPTQ / AWQ packed tensors share one
mapping per file and the chunked row and column reads; the header is safetensors_header.py,
the number widening numbers.py, the packed layouts packed.py.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .checks import read_json
from .interface import (
    Checkpoint,
    Fetch,
    RowSink,
    TensorMeta,
    TensorReader,
    WeightFormat,
    WeightFormatError,
    check_count,
    runs_of,
)
from .mapped import MappedFiles
from .numbers import FP8, FP8_SCALES, bf16_to_f32, fp8_table, scale_blocks
from .packed import PARTS, Layout, dequantize, layout_of
from .ranged import RangeFiles
from .safetensors_header import HeaderEntry, parse_header, read_file_header

_DTYPES: dict[str, np.dtype] = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "BF16": np.dtype("<u2"),
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
    "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"),
    "U8": np.dtype("u1"),
    "BOOL": np.dtype("u1"),
    "F8_E4M3": np.dtype("u1"),
    "F8_E5M2": np.dtype("u1"),
}


# Rows widened at a time by read_units: 2 MB of float32 stay in a core's L2 cache while
# the statistics read it.
CHUNK_ELEMENTS = 1 << 19
# More runs of consecutive rows than this are gathered with one fancy index per chunk.
SCATTERED_RUNS = 64


class _BufferPool:
    """Output buffers of whole-tensor reads, reused once nobody holds them any more.

    A fresh 70 MB array costs its page faults and zeroing on every tensor (a third of the
    widening time); the layers of a checkpoint repeat a few shapes, so a handful of buffers
    serve them all. A buffer is free when only the pool refers to it (CPython refcount;
    the arrays handed out are views of it).
    """

    MAX_BYTES = 320 * 1024 * 1024

    def __init__(self) -> None:
        self._bufs: list[np.ndarray] = []
        self._lock = threading.Lock()

    def take(self, count: int) -> np.ndarray | None:
        with self._lock:
            for i in range(len(self._bufs)):
                # refs: the list, the getrefcount argument
                if self._bufs[i].size == count and sys.getrefcount(self._bufs[i]) <= 2:
                    return self._bufs[i]
            held = sum(b.nbytes for b in self._bufs)
            while self._bufs and held + 4 * count > self.MAX_BYTES:
                idle = next(
                    (i for i in range(len(self._bufs)) if sys.getrefcount(self._bufs[i]) <= 2), None
                )
                if idle is None:
                    return None
                held -= self._bufs.pop(idle).nbytes  # by position: == on arrays broadcasts
            if 4 * count > self.MAX_BYTES // 4:
                return None
            buf = np.empty(count, dtype=np.uint32)
            self._bufs.append(buf)
            return buf


def _entries(
    path: Path, files: MappedFiles | RangeFiles
) -> dict[str, tuple[str, tuple[int, ...], int]]:
    """name -> (dtype, shape, data offset) of a file's tensors, from the shared header
    parser; dtypes the format defines but numpy cannot widen here are refused."""
    out = {}
    header: tuple[HeaderEntry, ...]
    if isinstance(files, RangeFiles):
        remote = files.file(path)
        header = parse_header(remote.read, path.name, remote.size)
    else:
        header = read_file_header(path)
    for e in header:
        if e.dtype not in _DTYPES:
            raise WeightFormatError(
                f"{path.name}: tensor {e.name[:200]!r} has unknown dtype {e.dtype}"
            )
        out[e.name] = (e.dtype, e.shape, e.offset)
    return out


def _regular_runs(runs: list[tuple[int, int]]) -> tuple[int, int] | None:
    """(stride, length) when the runs are equally long and equally spaced, else None."""
    length = runs[0][1] - runs[0][0]
    if any(hi - lo != length for lo, hi in runs):
        return None
    if len(runs) == 1:
        return length, length
    stride = runs[1][0] - runs[0][0]
    if any(runs[i + 1][0] - runs[i][0] != stride for i in range(len(runs) - 1)):
        return None
    return stride, length


class SafetensorsReader(TensorReader):
    fmt = "safetensors"

    def __init__(
        self,
        files: list[Path],
        quant_config: dict | None = None,
        source: RangeFiles | None = None,
    ):
        """quant_config: the model's quantization_config (config.json), if it has one;
        source: the files' bytes by remote ranges (ranged.py) instead of mapped from disk."""
        self._where: dict[str, tuple[Path, str, tuple[int, ...], int]] = {}
        self._metas: list[TensorMeta] = []
        self._pool = _BufferPool()
        self._local = threading.local()
        self._files: MappedFiles | RangeFiles = source if source is not None else MappedFiles()
        for path in files:
            for name, (dtype, shape, offset) in _entries(path, self._files).items():
                self._where[name] = (path, dtype, shape, offset)
        check_count(len(self._where), str(files[0].parent))
        # FP8 weights are read with their scale multiplied in; the scales are not listed
        self._scales: dict[str, tuple[str, tuple[int, int] | None]] = {}
        for name, (_path, dtype, shape, _offset) in self._where.items():
            scale = next((name + s for s in FP8_SCALES if name + s in self._where), None)
            if dtype in FP8 and scale is not None:
                self._scales[name] = (scale, scale_blocks(shape, self._where[scale][2]))
        # GPTQ / AWQ Linears: <prefix>.weight stands for its packed parts (packed.py)
        self._packed: dict[str, tuple[dict[str, str], Layout]] = {}
        for name in self._where:
            prefix = name.removesuffix(".qweight")
            if prefix == name or prefix + ".weight" in self._where:
                continue
            parts = {p: f"{prefix}.{p}" for p in PARTS if f"{prefix}.{p}" in self._where}
            lay = layout_of(
                {p: self._where[n][2] for p, n in parts.items()},
                {p: self._where[n][1] for p, n in parts.items()},
                quant_config,
            )
            if lay is not None:
                self._packed[prefix + ".weight"] = (parts, lay)
        hidden = {scale for scale, _ in self._scales.values()} | {
            n for parts, _ in self._packed.values() for n in parts.values()
        }
        for name, (path, dtype, shape, _o) in self._where.items():
            weight = name.removesuffix(".qweight") + ".weight"  # listed where its qweight is
            if name.endswith(".qweight") and weight in self._packed:
                lay = self._packed[weight][1]
                self._metas.append(
                    TensorMeta(weight, lay.dtype, (lay.out, lay.inp), path.name, quantized=True)
                )
            elif name not in hidden:
                self._metas.append(
                    TensorMeta(
                        name,
                        dtype,
                        shape,
                        path.name,
                        quantized=dtype in ("I8", "U8") or dtype in FP8,
                    )
                )
        self._scale_cache: dict[str, np.ndarray] = {}

    def tensors(self) -> list[TensorMeta]:
        return list(self._metas)

    def read(self, name: str) -> np.ndarray:
        if name in self._packed:
            out = self._read_packed(name, 0, None, None, True)
            assert out is not None
            return out
        path, dtype, shape, offset = self._where[name]
        count = int(np.prod(shape, dtype=np.int64))
        if count == 0:
            return np.zeros(shape, np.float32)
        raw = self._mapped(path, _DTYPES[dtype], offset, (count,))
        if dtype == "BF16":
            arr = bf16_to_f32(raw, self._pool.take(count) if count >= 1 << 20 else None)
        elif dtype in FP8:
            arr = fp8_table(dtype)[raw]
        else:
            arr = np.array(raw, dtype=np.float32)  # a copy: the mapping's pages get dropped
        del raw
        self._files.read_done(path, count * _DTYPES[dtype].itemsize)
        arr = arr.reshape(shape)
        if name in self._scales:
            self._rescale(name, arr, None, None)
        return arr

    def _read_packed(
        self, name: str, axis: int, idx: np.ndarray | None, on_rows: RowSink | None, keep: bool
    ) -> np.ndarray | None:
        """Units of a GPTQ / AWQ Linear, dequantized from the words that hold them, a few
        output rows at a time."""
        parts, lay = self._packed[name]
        views = {}
        for part, tensor in parts.items():
            path, dtype, shape, offset = self._where[tensor]
            views[part] = self._mapped(path, _DTYPES[dtype], offset, shape)
            if dtype == "BF16":
                views[part] = bf16_to_f32(views[part])
        want = (
            np.arange(lay.out if axis == 0 else lay.inp)
            if idx is None
            else np.asarray(idx, dtype=np.int64)
        )
        rows, cols = (want, np.arange(lay.inp)) if axis == 0 else (np.arange(lay.out), want)
        step = max(1, CHUNK_ELEMENTS // max(1, len(cols)))
        out = []
        try:
            for a in range(0, len(rows), step):
                chunk = dequantize(
                    lay,
                    views["qweight"],
                    views["qzeros"],
                    views["scales"],
                    views.get("g_idx"),
                    rows[a : a + step],
                    cols,
                )
                if on_rows is not None:
                    on_rows(chunk)
                if keep:
                    out.append(chunk)
        except (ValueError, IndexError) as exc:
            raise WeightFormatError(
                f"{name}: {lay.kind} parts do not fit together ({exc})"
            ) from exc
        del views
        qw = self._where[parts["qweight"]]
        self._files.read_done(qw[0], int(np.prod(qw[2])) * 4)
        if not keep:
            return None
        return np.concatenate(out) if out else np.zeros((len(rows), len(cols)), np.float32)

    def _rescale(
        self, name: str, dst: np.ndarray, rows: np.ndarray | None, cols: np.ndarray | None
    ) -> None:
        """Multiply an FP8 tensor's values (rows x cols of it; None: all) by its scale."""
        scale_name, blocks = self._scales[name]
        shape = self._where[name][2]
        if blocks is None:
            raise WeightFormatError(
                f"{name}: FP8 scale {scale_name} of shape "
                f"{list(self._where[scale_name][2])} does not fit the "
                f"tensor's {list(shape)}"
            )
        scale = self._scale_cache.get(name)
        if scale is None:
            raw = self.read(scale_name)
            scale = self._scale_cache[name] = raw.reshape(
                (-(-shape[0] // blocks[0]), -1) if len(shape) == 2 else (1, 1)
            )
        if dst.ndim != 2:
            dst *= scale.reshape(())
            return
        br, bc = blocks
        per_row = scale[(np.arange(dst.shape[0]) if rows is None else rows) // br]
        dst *= per_row[:, (np.arange(dst.shape[1]) if cols is None else cols) // bc]

    def read_units(
        self,
        name: str,
        axis: int,
        idx: np.ndarray | None,
        on_rows: RowSink | None = None,
        keep: bool = True,
    ) -> np.ndarray | None:
        """Only the wanted rows or columns leave the page cache, widened straight from the
        mapping in chunks of CHUNK_ELEMENTS that `on_rows` sees while they are in cache."""
        if name in self._packed:
            return self._read_packed(name, axis, idx, on_rows, keep)
        path, dtype, shape, offset = self._where[name]
        if len(shape) != 2 or axis not in (0, 1):
            return super().read_units(name, axis, idx, on_rows, keep)
        rows, cols = shape
        if idx is None:
            runs = [(0, shape[axis])]
            n_units = shape[axis]
        else:
            idx = np.asarray(idx, dtype=np.int64)
            if idx.size and (idx[0] < 0 or idx[-1] >= shape[axis] or np.any(np.diff(idx) <= 0)):
                raise ValueError(f"{name}: unit indices out of range or not ascending")
            runs = runs_of(idx)
            n_units = int(idx.size)
        out_shape = (n_units, cols) if axis == 0 else (rows, n_units)
        count = out_shape[0] * out_shape[1]
        step = max(1, CHUNK_ELEMENTS // max(out_shape[1], 1))
        if count == 0:
            empty = np.zeros(out_shape, np.float32)
            if on_rows is not None:
                on_rows(empty)
            return empty if keep else None
        compact = self._files.remote and axis == 0 and idx is not None
        if compact:
            # remote: only the wanted rows are fetched, gathered here in their order
            assert idx is not None
            raw = self._remote_rows(path, _DTYPES[dtype], offset, shape, runs)
        else:
            raw = self._mapped(path, _DTYPES[dtype], offset, shape)
        if keep:
            buf = self._pool.take(count) if count >= 1 << 20 else None
            out = (
                (buf if buf is not None else np.empty(count, np.uint32))
                .view(np.float32)
                .reshape(out_shape)
            )
        else:
            out = self._scratch(min(step, out_shape[0]) * out_shape[1]).reshape(
                min(step, out_shape[0]), out_shape[1]
            )
        widen = dtype == "BF16"
        table = fp8_table(dtype) if dtype in FP8 else None
        scaled = name in self._scales

        def put(dst: np.ndarray, src: np.ndarray) -> None:
            if widen:
                np.left_shift(src, 16, dtype=np.uint32, out=dst.view(np.uint32))
            elif table is not None:
                np.take(table, src, out=dst, mode="clip")  # a byte always indexes the table
            else:
                dst[...] = src

        if axis == 0 and idx is not None and (compact or len(runs) > SCATTERED_RUNS):
            # scattered rows (anchor tokens): one gather per chunk, not a copy per row
            for a in range(0, len(idx), step):
                b = min(len(idx), a + step)
                dst = out[a:b] if keep else out[: b - a]
                put(dst, raw[a:b] if compact else raw[idx[a:b]])
                if scaled:
                    self._rescale(name, dst, idx[a:b], None)
                if on_rows is not None:
                    on_rows(dst)
        elif axis == 0:
            pos = 0
            for lo, hi in runs:
                for a in range(lo, hi, step):
                    b = min(hi, a + step)
                    dst = out[pos : pos + b - a] if keep else out[: b - a]
                    put(dst, raw[a:b])
                    if scaled:
                        self._rescale(name, dst, np.arange(a, b), None)
                    if on_rows is not None:
                        on_rows(dst)
                    pos += b - a
        else:
            regular = _regular_runs(runs)
            for a in range(0, rows, step):
                b = min(rows, a + step)
                dst = out[a:b] if keep else out[: b - a]
                if regular is not None:  # every k-th block of columns: one strided copy
                    stride, length = regular
                    src = raw[a:b, runs[0][0] :]
                    view = np.lib.stride_tricks.as_strided(
                        src,
                        shape=(b - a, len(runs), length),
                        strides=(src.strides[0], stride * src.strides[1], src.strides[1]),
                        writeable=False,
                    )
                    put(dst.reshape(b - a, len(runs), length), view)
                else:
                    pos = 0
                    for lo, hi in runs:
                        put(dst[:, pos : pos + hi - lo], raw[a:b, lo:hi])
                        pos += hi - lo
                if scaled:
                    self._rescale(name, dst, np.arange(a, b), idx)
                if on_rows is not None:
                    on_rows(dst)
        del raw
        row_bytes = shape[1] * _DTYPES[dtype].itemsize
        # pages mapped: the rows read (and the kernel's fault-around), or with columns every
        # row of the tensor
        self._files.read_done(
            path, (n_units * row_bytes + (1 << 16)) if axis == 0 else rows * row_bytes
        )
        return out if keep else None

    def _mapped(
        self, path: Path, dtype: np.dtype, offset: int, shape: tuple[int, ...]
    ) -> np.ndarray:
        """A read-only view of a tensor's bytes in one mapping per file, kept for the reader's
        life: no map/unmap per read."""
        count = int(np.prod(shape, dtype=np.int64))
        region = self._files.region(path, offset, count * dtype.itemsize)
        return np.frombuffer(region, dtype=dtype, count=count).reshape(shape)

    def _remote_rows(
        self,
        path: Path,
        dtype: np.dtype,
        offset: int,
        shape: tuple[int, ...],
        runs: list[tuple[int, int]],
    ) -> np.ndarray:
        """Rows `runs` of a remote 2-D tensor, fetched in few requests, one after another."""
        row = shape[1] * dtype.itemsize
        spans = [(offset + lo * row, (hi - lo) * row) for lo, hi in runs]
        self._files.want(path, spans)
        parts = [
            np.frombuffer(self._files.region(path, s, n), dtype=dtype).reshape(-1, shape[1])
            for s, n in spans
        ]
        return np.concatenate(parts) if parts else np.zeros((0, shape[1]), dtype)

    def close(self) -> None:
        self._files.close()

    def _scratch(self, count: int) -> np.ndarray:
        """A float32 chunk buffer of this thread, reused: fresh pages cost a fault each."""
        buf: np.ndarray | None = getattr(self._local, "scratch", None)
        if buf is None or buf.size < count:
            buf = self._local.scratch = np.empty(max(count, CHUNK_ELEMENTS), np.float32)
        return buf[:count]

    def prefetch(self, name: str, rows: list[tuple[int, int]] | None = None) -> None:
        """Start reading a tensor's bytes (or rows) into the page cache while another is
        computed."""
        if name in self._packed:
            name, rows = self._packed[name][0]["qweight"], None
        path, dtype, shape, offset = self._where[name]
        item = _DTYPES[dtype].itemsize
        size = int(np.prod(shape, dtype=np.int64)) * item
        if self._files.remote or not size or not hasattr(os, "posix_fadvise"):
            return
        row = size // shape[0] if shape and shape[0] else size
        ranges = (
            [(offset + lo * row, (hi - lo) * row) for lo, hi in rows] if rows else [(offset, size)]
        )
        try:
            fd = os.open(path, os.O_RDONLY)
            try:
                for start, length in ranges:
                    os.posix_fadvise(fd, start, length, os.POSIX_FADV_WILLNEED)
            finally:
                os.close(fd)
        except OSError:
            pass  # a hint only


# An index lists every tensor of a model: far larger than a config, still bounded.
_MAX_INDEX_BYTES = 32 * 1024 * 1024
_INDEX = ".safetensors.index.json"


class SafetensorsFormat(WeightFormat):
    """A model's top-level *.safetensors, or the shards its *.safetensors.index.json names."""

    name = "safetensors"
    suffixes = (".safetensors",)

    def checkpoint(self, files: Sequence[str], fetch: Fetch) -> Checkpoint | None:
        index = [f for f in files if f.endswith(_INDEX) and "/" not in f]
        if index:
            shards = _index_shards(fetch(index[0]), files)
            if shards:
                return Checkpoint(self, tuple(shards))
        found = [f for f in files if f.endswith(".safetensors")]
        # Adapters and sub-models are not the model's own checkpoint.
        top = [f for f in found if "/" not in f] or found
        return Checkpoint(self, tuple(top)) if top else None

    def open(self, paths: list[Path], config: dict[str, Any]) -> TensorReader:
        quant = config.get("quantization_config")
        return SafetensorsReader(paths, quant if isinstance(quant, dict) else None)

    def open_ranged(
        self, paths: list[Path], source: RangeFiles, config: dict[str, Any]
    ) -> TensorReader | None:
        quant = config.get("quantization_config")
        return SafetensorsReader(paths, quant if isinstance(quant, dict) else None, source)


def _index_shards(index: Path, files: Sequence[str]) -> list[str]:
    """The shards a *.safetensors.index.json names; each must be a file of the release."""
    try:
        data = read_json(index, _MAX_INDEX_BYTES)
        names = sorted({str(v) for v in data["weight_map"].values()})
    except (ValueError, KeyError, TypeError, AttributeError, OSError) as exc:
        raise WeightFormatError(f"{index.name}: not a safetensors index") from exc
    missing = [n for n in names if n not in files]
    if missing:
        raise WeightFormatError(
            f"{index.name}: shard {missing[0]!r} is missing from the release (or points outside it)"
        )
    return names


FORMAT = SafetensorsFormat()

"""safetensors, single file or sharded (*.safetensors.index.json), memory-mapped per tensor."""

from __future__ import annotations

import json
import os
import struct
import sys
import threading
from pathlib import Path

import numpy as np

from .interface import (
    MAX_HEADER_BYTES,
    TensorMeta,
    TensorReader,
    WeightFormatError,
    check_count,
    check_shape,
)

_DTYPES: dict[str, np.dtype] = {
    "F64": np.dtype("<f8"), "F32": np.dtype("<f4"), "F16": np.dtype("<f2"),
    "BF16": np.dtype("<u2"), "I64": np.dtype("<i8"), "I32": np.dtype("<i4"),
    "I16": np.dtype("<i2"), "I8": np.dtype("i1"), "U8": np.dtype("u1"),
    "BOOL": np.dtype("u1"), "F8_E4M3": np.dtype("u1"), "F8_E5M2": np.dtype("u1"),
}


def bf16_to_f32(raw: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """bfloat16 is the top half of a float32: one widening shift, no zero-filled buffer."""
    flat = np.asarray(raw).reshape(-1).view(np.uint16)
    wide = np.left_shift(flat, 16, dtype=np.uint32, out=out)
    return wide.view(np.float32).reshape(np.shape(raw))


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
                idle = next((i for i in range(len(self._bufs))
                             if sys.getrefcount(self._bufs[i]) <= 2), None)
                if idle is None:
                    return None
                held -= self._bufs.pop(idle).nbytes  # by position: == on arrays broadcasts
            if 4 * count > self.MAX_BYTES // 4:
                return None
            buf = np.empty(count, dtype=np.uint32)
            self._bufs.append(buf)
            return buf


def _parse_header(path: Path) -> tuple[int, dict[str, tuple[str, tuple[int, ...], int, int]]]:
    size = path.stat().st_size
    with open(path, "rb") as fh:
        prefix = fh.read(8)
        if len(prefix) < 8:
            raise WeightFormatError(f"{path.name}: truncated safetensors file (no header length)")
        (n,) = struct.unpack("<Q", prefix)
        if n > MAX_HEADER_BYTES or n + 8 > size:
            raise WeightFormatError(f"{path.name}: safetensors header length {n} is impossible "
                                    f"for a {size} byte file")
        raw = fh.read(n)
    try:
        header = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # nesting bombs recurse in json
        raise WeightFormatError(f"{path.name}: safetensors header is not valid JSON") from exc
    if not isinstance(header, dict):
        raise WeightFormatError(f"{path.name}: safetensors header is not a JSON object")
    check_count(len(header), path.name)
    data_start = 8 + n
    out: dict[str, tuple[str, tuple[int, ...], int, int]] = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype = str(meta["dtype"])
            shape = tuple(meta["shape"])
            start, end = (int(x) for x in meta["data_offsets"])
        except (KeyError, TypeError, ValueError) as exc:
            raise WeightFormatError(f"{path.name}: malformed safetensors entry {name!r}") from exc
        check_shape(shape, name, path.name)
        if dtype not in _DTYPES:
            raise WeightFormatError(f"{path.name}: tensor {name!r} has unknown dtype {dtype}")
        expected = int(np.prod(shape, dtype=np.int64)) * _DTYPES[dtype].itemsize
        if start < 0 or end - start != expected or data_start + end > size:
            raise WeightFormatError(f"{path.name}: tensor {name!r} data offsets [{start}, {end}) "
                                    f"do not fit its shape or the file")
        out[name] = (dtype, shape, data_start + start, expected)
    return data_start, out


class SafetensorsReader(TensorReader):
    fmt = "safetensors"

    def __init__(self, files: list[Path]):
        self._where: dict[str, tuple[Path, str, tuple[int, ...], int]] = {}
        self._metas: list[TensorMeta] = []
        self._pool = _BufferPool()
        for path in files:
            _, entries = _parse_header(path)
            for name, (dtype, shape, offset, _n) in entries.items():
                self._where[name] = (path, dtype, shape, offset)
                self._metas.append(TensorMeta(name, dtype, shape, path.name,
                                              quantized=dtype in ("I8", "U8")))
        check_count(len(self._metas), str(files[0].parent))

    def tensors(self) -> list[TensorMeta]:
        return list(self._metas)

    def read(self, name: str) -> np.ndarray:
        path, dtype, shape, offset = self._where[name]
        count = int(np.prod(shape, dtype=np.int64))
        if count == 0:
            return np.zeros(shape, np.float32)
        raw = np.memmap(path, dtype=_DTYPES[dtype], mode="r", offset=offset, shape=(count,))
        if dtype == "BF16":
            arr = bf16_to_f32(raw, self._pool.take(count) if count >= 1 << 20 else None)
        else:
            arr = np.asarray(raw, dtype=np.float32)
        del raw
        return arr.reshape(shape)

    def prefetch(self, name: str) -> None:
        """Start reading a tensor's bytes into the page cache while another is computed."""
        path, dtype, shape, offset = self._where[name]
        size = int(np.prod(shape, dtype=np.int64)) * _DTYPES[dtype].itemsize
        if size and hasattr(os, "posix_fadvise"):
            try:
                fd = os.open(path, os.O_RDONLY)
                try:
                    os.posix_fadvise(fd, offset, size, os.POSIX_FADV_WILLNEED)
                finally:
                    os.close(fd)
            except OSError:
                pass  # a hint only

    def read_rows(self, name: str, start: int, stop: int) -> np.ndarray:
        path, dtype, shape, offset = self._where[name]
        if len(shape) < 1:
            return self.read(name)
        start, stop = max(0, start), min(shape[0], stop)
        row = int(np.prod(shape[1:], dtype=np.int64))
        item = _DTYPES[dtype].itemsize
        count = (stop - start) * row
        if count <= 0:
            return np.zeros((0, *shape[1:]), np.float32)
        raw = np.memmap(path, dtype=_DTYPES[dtype], mode="r", offset=offset + start * row * item,
                        shape=(count,))
        arr = bf16_to_f32(raw) if dtype == "BF16" else np.asarray(raw, dtype=np.float32)
        del raw
        return arr.reshape(stop - start, *shape[1:])

"""The safetensors header, parsed once for everyone: the reader (a file on disk) and the
sources (two range reads of a remote file, before any weight is downloaded).

A file is 8 bytes of header length (little-endian), a JSON object
{name: {"dtype", "shape", "data_offsets"}, "__metadata__": {...}}, then the data. Every
check either caller ever made is made here, for both. No numpy: the sources import this
at start-up.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ...errors import ProvscanError
from .checks import MAX_HEADER_BYTES, WeightFormatError, check_count, check_shape

# Bits of one value of each dtype the format defines (F4 and F6 pack several to a byte).
DTYPE_BITS = {
    "BOOL": 8,
    "F4": 4,
    "F6_E2M3": 6,
    "F6_E3M2": 6,
    "U8": 8,
    "I8": 8,
    "F8_E5M2": 8,
    "F8_E4M3": 8,
    "F8_E8M0": 8,
    "I16": 16,
    "U16": 16,
    "F16": 16,
    "BF16": 16,
    "I32": 32,
    "U32": 32,
    "F32": 32,
    "C64": 64,
    "F64": 64,
    "I64": 64,
    "U64": 64,
}

Read = Callable[[int, int], bytes]
"""read(start, length) -> the bytes there (fewer at the end of the file)."""


@dataclass(frozen=True)
class HeaderEntry:
    """One tensor as the header declares it."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    offset: int
    """Where its data starts, from the start of the file."""
    nbytes: int


def parse_header(
    read: Read, path: str, size: int | None = None, error: type[ProvscanError] = WeightFormatError
) -> tuple[HeaderEntry, ...]:
    """The tensors of a safetensors file, each checked against the format and, where the
    file's `size` is known, against the file. Every refusal is one `error` line."""
    prefix = read(0, 8)
    if len(prefix) < 8:
        raise error(f"{path}: truncated safetensors file (no header length)")
    (n,) = struct.unpack("<Q", prefix)
    if n > MAX_HEADER_BYTES or (size is not None and n + 8 > size):
        raise error(
            f"{path}: safetensors header length {n} is impossible"
            + (f" for a {size} byte file" if size is not None else "")
        )
    raw = read(8, n)
    if len(raw) < n:
        raise error(f"{path}: truncated safetensors header")
    try:
        header = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # nesting bombs recurse in json
        raise error(f"{path}: safetensors header is not valid JSON") from exc
    if not isinstance(header, dict):
        raise error(f"{path}: safetensors header is not a JSON object")
    check_count(len(header), path, error)
    return tuple(
        _entry(name, meta, 8 + n, size, path, error)
        for name, meta in header.items()
        if name != "__metadata__"
    )


def _entry(
    name: str,
    meta: object,
    data_start: int,
    size: int | None,
    path: str,
    error: type[ProvscanError],
) -> HeaderEntry:
    shape = meta.get("shape") if isinstance(meta, dict) else None
    offsets = meta.get("data_offsets") if isinstance(meta, dict) else None
    if (
        not isinstance(meta, dict)
        or not isinstance(shape, list)
        or not isinstance(offsets, list)
        or len(offsets) != 2
        or any(type(x) is not int for x in offsets)
    ):
        raise error(f"{path}: malformed safetensors entry {name[:200]!r}")
    dtype = meta.get("dtype")
    if not isinstance(dtype, str) or dtype not in DTYPE_BITS:
        raise error(f"{path}: tensor {name[:200]!r} has unknown dtype {str(dtype)[:40]}")
    check_shape(tuple(shape), name, path, error)
    count = 1
    for d in shape:
        count *= d
    bits = count * DTYPE_BITS[dtype]
    start, end = offsets
    if (
        bits % 8
        or start < 0
        or end - start != bits // 8
        or (size is not None and data_start + end > size)
    ):
        raise error(
            f"{path}: tensor {name[:200]!r} data offsets [{start}, {end}) do not "
            f"fit its shape or the file"
        )
    return HeaderEntry(name, dtype, tuple(shape), data_start + start, bits // 8)


def read_file_header(path: Path) -> tuple[HeaderEntry, ...]:
    """The header of a safetensors file on disk."""
    size = path.stat().st_size
    with open(path, "rb") as fh:

        def read(start: int, length: int) -> bytes:
            fh.seek(start)
            return fh.read(length)

        return parse_header(read, path.name, size)

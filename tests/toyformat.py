"""A made-up weight format, ".toyw": a JSON header (tensors, vocabulary), then float32 data.

The one module a new format needs (test_weights_new_format.py adds the registry line).
"""

from __future__ import annotations

import json
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from scanner.weights.formats.interface import (
    Checkpoint,
    Fetch,
    TensorMeta,
    TensorReader,
    WeightFormat,
    WeightFormatError,
)

_MAGIC = b"TOYW"


def write_toy(path: Path, tensors: dict[str, np.ndarray], vocab: list[str]) -> None:
    entries, offset = {}, 0
    for name, arr in tensors.items():
        entries[name] = {"shape": list(arr.shape), "offset": offset}
        offset += arr.size * 4
    head = json.dumps({"tensors": entries, "vocab": vocab}).encode()
    data = b"".join(np.ascontiguousarray(a, dtype="<f4").tobytes() for a in tensors.values())
    path.write_bytes(_MAGIC + struct.pack("<I", len(head)) + head + data)


class ToyReader(TensorReader):
    fmt = "toyw"

    def __init__(self, path: Path):
        raw = path.read_bytes()
        if raw[:4] != _MAGIC:
            raise WeightFormatError(f"{path.name}: not a toy weight file")
        (n,) = struct.unpack("<I", raw[4:8])
        self.header = json.loads(raw[8 : 8 + n])
        self._data = raw[8 + n :]
        self._file = path.name

    def tensors(self) -> list[TensorMeta]:
        return [
            TensorMeta(k, "F32", tuple(v["shape"]), self._file)
            for k, v in self.header["tensors"].items()
        ]

    def read(self, name: str) -> np.ndarray:
        t = self.header["tensors"][name]
        count = int(np.prod(t["shape"]))
        return np.frombuffer(self._data, "<f4", count, t["offset"]).reshape(t["shape"]).copy()


class ToyFormat(WeightFormat):
    name = "toyw"
    suffixes = (".toyw",)

    def checkpoint(self, files: Sequence[str], fetch: Fetch) -> Checkpoint | None:
        found = sorted(f for f in files if self.holds(f))
        return Checkpoint(self, (found[0],)) if found else None

    def open(self, paths: list[Path], config: dict[str, Any]) -> TensorReader:
        return ToyReader(paths[0])

    def vocab(self, reader: TensorReader) -> list[str] | None:
        assert isinstance(reader, ToyReader)
        return list(reader.header["vocab"])


FORMAT = ToyFormat()

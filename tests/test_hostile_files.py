"""Hostile weight headers and config files: one clear error or a not-analysed finding."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from scanner.errors import SourceError
from scanner.sources.interface import parse_safetensors_header
from scanner.sources.local import FolderReader
from scanner.weights.formats.interface import WeightFormatError
from scanner.weights.formats.registry import open_weight_file


def _header_of(data: bytes, tmp_path: Path):
    """The header as a source reads it: range reads through the snapshot's reader."""
    (tmp_path / "m.safetensors").write_bytes(data)
    reader = FolderReader(tmp_path, {"m.safetensors": tmp_path / "m.safetensors"})
    return parse_safetensors_header(
        lambda start, n: reader.read_range("m.safetensors", start, n), "m.safetensors"
    )


def _safetensors(header: str | bytes) -> bytes:
    raw = header.encode() if isinstance(header, str) else header
    return struct.pack("<Q", len(raw)) + raw


def _entry(**meta: object) -> bytes:
    """A one-tensor header; the fields given replace those of a valid F32 [2] entry."""
    entry = {"dtype": "F32", "shape": [2], "data_offsets": [0, 8], **meta}
    return _safetensors(json.dumps({"a": entry})) + bytes(8)


HOSTILE_HEADERS = [
    struct.pack("<Q", 2**64 - 1) + b"{}",  # length 'negative' as signed
    struct.pack("<Q", 1000) + b"{}",  # points past the end
    b"\x01\x02",  # truncated before the length
    _safetensors(b"\xff\xfe\x00"),  # not JSON
    _safetensors("[]"),  # not an object
    _safetensors("[" * 100_000 + "]" * 100_000),  # nested past the recursion limit
    _safetensors('{"a": {"dtype": "F32", "shape": [1e400], "data_offsets": [0, 4]}}'),
    _entry(shape=["x"]),
    _entry(shape=5),
    _entry(shape=[-1]),
    _entry(shape=[1.5]),
    _entry(shape=[None]),
    _entry(shape=[True]),
    _entry(shape=[0, 99999999999999999999999]),
    _entry(shape=[2] * 12),
    _entry(dtype={}),
    _entry(dtype="Q4_K"),  # not a safetensors dtype
    _entry(data_offsets=None),
    _entry(data_offsets=[0, 4]),  # fewer bytes than the shape
    _entry(data_offsets=[0, "8"]),
    _entry(data_offsets=[0, 8, 16]),
]


@pytest.mark.parametrize(
    "data",
    HOSTILE_HEADERS,
    ids=lambda data: data[8:60].decode(errors="replace").replace("\x00", "0"),
)
def test_hostile_safetensors_header_is_a_source_error(data: bytes, tmp_path: Path) -> None:
    with pytest.raises(SourceError):
        _header_of(data, tmp_path)


@pytest.mark.parametrize(
    "data",
    HOSTILE_HEADERS,
    ids=lambda data: data[8:60].decode(errors="replace").replace("\x00", "0"),
)
def test_the_weights_reader_refuses_the_same_headers(data: bytes, tmp_path: Path) -> None:
    (tmp_path / "m.safetensors").write_bytes(data)
    with pytest.raises(WeightFormatError):
        open_weight_file(tmp_path / "m.safetensors")


def test_ordinary_safetensors_header_still_parses(tmp_path: Path) -> None:
    header = {
        "__metadata__": {"format": "pt"},
        "w": {"dtype": "BF16", "shape": [4, 2], "data_offsets": [0, 16]},
        "s": {"dtype": "F32", "shape": [], "data_offsets": [16, 20]},
    }
    tensors = _header_of(_safetensors(json.dumps(header)) + bytes(20), tmp_path)
    assert [(t.name, t.dtype, t.shape) for t in tensors] == [
        ("w", "BF16", (4, 2)),
        ("s", "F32", ()),
    ]


def test_deeply_nested_config_does_not_stop_the_reports(cli, tmp_path: Path) -> None:
    rel = tmp_path / "rel"
    rel.mkdir()
    (rel / "config.json").write_text("[" * 100_000 + "]" * 100_000)
    bom = tmp_path / "bom.json"
    r = cli("scan", str(rel), "--cyclonedx", str(bom), "--json", str(tmp_path / "r.json"))
    assert r.returncode == 0, r.stderr
    assert json.loads(bom.read_text())["bomFormat"] == "CycloneDX"

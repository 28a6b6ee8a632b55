"""Hostile weight headers and config files: one clear error or a not-analysed finding."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from scanner.errors import SourceError
from scanner.sources.interface import parse_safetensors_header


def _reader(data: bytes):
    return lambda start, n: data[start:start + n]


def _safetensors(header: str | bytes) -> bytes:
    raw = header.encode() if isinstance(header, str) else header
    return struct.pack("<Q", len(raw)) + raw


@pytest.mark.parametrize("data", [
    struct.pack("<Q", 2**64 - 1) + b"{}",                 # length 'negative' as signed
    struct.pack("<Q", 1000) + b"{}",                      # points past the end
    b"\x01\x02",                                          # truncated before the length
    _safetensors(b"\xff\xfe\x00"),                        # not JSON
    _safetensors("[]"),                                   # not an object
    _safetensors("[" * 100_000 + "]" * 100_000),          # nested past the recursion limit
    _safetensors('{"a": {"dtype": "F32", "shape": ["x"]}}'),
    _safetensors('{"a": {"dtype": "F32", "shape": 5}}'),
    _safetensors('{"a": {"dtype": "F32", "shape": [-1]}}'),
    _safetensors('{"a": {"dtype": "F32", "shape": [1e400]}}'),
    _safetensors('{"a": {"dtype": "F32", "shape": [1.5]}}'),
    _safetensors('{"a": {"dtype": "F32", "shape": [null]}}'),
    _safetensors('{"a": {"dtype": "F32", "shape": [true]}}'),
    _safetensors('{"a": {"dtype": {}, "shape": [2]}}'),
    _safetensors('{"a": {"dtype": "F32", "shape": [99999999999999999999999]}}'),
], ids=lambda data: data[8:40].decode(errors="replace").replace("\x00", "0"))
def test_hostile_safetensors_header_is_a_source_error(data: bytes) -> None:
    with pytest.raises(SourceError):
        parse_safetensors_header(_reader(data), "m.safetensors")


def test_ordinary_safetensors_header_still_parses() -> None:
    header = {"__metadata__": {"format": "pt"},
              "w": {"dtype": "BF16", "shape": [4, 2], "data_offsets": [0, 16]},
              "s": {"dtype": "F32", "shape": [], "data_offsets": [16, 20]}}
    tensors = parse_safetensors_header(_reader(_safetensors(json.dumps(header))), "m")
    assert [(t.name, t.dtype, t.shape) for t in tensors] == [("w", "BF16", (4, 2)),
                                                             ("s", "F32", ())]


def test_deeply_nested_config_does_not_stop_the_reports(cli, tmp_path: Path) -> None:
    rel = tmp_path / "rel"
    rel.mkdir()
    (rel / "config.json").write_text("[" * 100_000 + "]" * 100_000)
    bom = tmp_path / "bom.json"
    r = cli("scan", str(rel), "--cyclonedx", str(bom), "--json", str(tmp_path / "r.json"))
    assert r.returncode == 0, r.stderr
    assert json.loads(bom.read_text())["bomFormat"] == "CycloneDX"

"""provscan's GGUF header parser reads what the `gguf` package reads, and refuses hostile
headers with one clear line (the package's own GGUFReader is the reference here)."""

from __future__ import annotations

import struct
from pathlib import Path

import gguf
import numpy as np
import pytest

from scanner.weights.formats.gguf import GGUFTensorReader
from scanner.weights.formats.interface import WeightFormatError

Q = gguf.GGMLQuantizationType


def _write(path: Path, alignment: int | None = None) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    tensors = {
        "blk.0.attn_q.weight": (rng.standard_normal((96, 256)), Q.Q8_0),
        "blk.0.ffn_down.weight": (rng.standard_normal((64, 512)), Q.Q4_0),
        "blk.0.ffn_up.weight": (rng.standard_normal((40, 64)), Q.F16),
        "blk.0.attn_norm.weight": (rng.standard_normal(64), Q.F32),
        "output.weight": (rng.standard_normal((48, 256)), Q.BF16),
    }
    w = gguf.GGUFWriter(str(path), "llama")
    if alignment:
        w.add_custom_alignment(alignment)
    w.add_block_count(1)
    w.add_embedding_length(64)
    w.add_float32("llama.rope.freq_base", 500000.0)
    w.add_bool("tokenizer.ggml.add_bos_token", True)
    w.add_string("general.name", "tiny ünïcode")
    w.add_tokenizer_model("gpt2")
    w.add_token_list(["<s>", "Ġthe", "日本", ""] + [f"t{i}" for i in range(300)])
    w.add_token_merges(["Ġ t", "h e"] * 200)
    w.add_token_types([1] * 304)
    w.add_token_scores([0.5] * 304)
    for name, (value, qtype) in tensors.items():
        v = value.astype(np.float32)
        if qtype in (Q.F32, Q.F16):
            w.add_tensor(name, v.astype(np.float16 if qtype == Q.F16 else np.float32))
        else:
            w.add_tensor(name, gguf.quants.quantize(v, qtype), raw_dtype=qtype)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return {name: v for name, (v, _) in tensors.items()}


@pytest.mark.parametrize("alignment", [None, 64])
def test_tensors_and_metadata_are_those_the_gguf_package_reads(
    tmp_path: Path, alignment: int | None
) -> None:
    path = tmp_path / "m.gguf"
    _write(path, alignment)
    ref = gguf.GGUFReader(str(path))
    ours = GGUFTensorReader(path)
    assert [(m.name, m.shape, m.dtype) for m in ours.tensors()] == [
        (t.name, tuple(reversed(t.shape.tolist())), t.tensor_type.name) for t in ref.tensors
    ]
    for t in ref.tensors:
        if t.tensor_type in (Q.F32, Q.F16):
            expected = np.asarray(t.data, dtype=np.float32)
        elif t.tensor_type == Q.BF16:
            expected = (np.asarray(t.data).view(np.uint16).astype(np.uint32) << 16).view(np.float32)
        else:
            expected = gguf.quants.dequantize(t.data, t.tensor_type)
        expected = expected.reshape(tuple(reversed(t.shape.tolist())))
        np.testing.assert_array_equal(ours.read(t.name), expected)
    meta = ours.metadata()
    for key, field in ref.fields.items():
        if key.startswith("GGUF."):
            continue
        if len(field.types) == 1 or key == "tokenizer.ggml.tokens":
            assert meta[key] == field.contents(), key
        else:
            assert key not in meta  # arrays other than the vocabulary are stepped over
    assert meta["tokenizer.ggml.tokens"][:3] == ["<s>", "Ġthe", "日本"]
    ours.close()


@pytest.mark.parametrize(
    "name", ["blk.0.attn_q.weight", "blk.0.ffn_down.weight", "blk.0.ffn_up.weight", "output.weight"]
)
def test_units_are_read_from_the_blocks_that_hold_them(tmp_path: Path, name: str) -> None:
    _write(tmp_path / "m.gguf")
    r = GGUFTensorReader(tmp_path / "m.gguf")
    whole = r.read(name)
    rows, cols = whole.shape
    for idx in (np.arange(cols // 8), np.arange(cols // 8) + 37, np.array([1, 5, cols - 1])):
        seen: list[np.ndarray] = []
        got = r.read_units(name, 1, idx, seen.append)
        np.testing.assert_array_equal(got, whole[:, idx])
        np.testing.assert_array_equal(np.concatenate(seen), whole[:, idx])
    idx = np.array([0, 1, 2, 9, rows - 1])
    np.testing.assert_array_equal(r.read_units(name, 0, idx), whole[idx])
    assert r.read_units(name, 1, np.arange(3), keep=False) is None


def _header(n_tensors: int = 0, n_kv: int = 1, version: int = 3) -> bytes:
    return b"GGUF" + struct.pack("<IQQ", version, n_tensors, n_kv)


def _s(text: bytes, length: int | None = None) -> bytes:
    return struct.pack("<Q", len(text) if length is None else length) + text


@pytest.mark.parametrize(
    "data, message",
    [
        (_header(n_kv=10**9), "beyond any real model"),
        (_header(version=3 << 24), "big-endian"),
        (_header() + _s(b"k", 10**12), "truncated"),
        (_header() + _s(b"k") + struct.pack("<IIQ", 9, 8, 10**15), "truncated"),
        (
            _header() + _s(b"k") + struct.pack("<IIQ", 9, 8, 3) + _s(b"ab") + _s(b"c", 99),
            "truncated",
        ),
        (_header() + _s(b"k") + struct.pack("<IIQ", 9, 4, 10**15), "truncated"),
        (_header() + _s(b"k") + struct.pack("<I", 42), "unknown GGUF value type"),
        (_header() + _s(b"general.alignment") + struct.pack("<II", 4, 3), "alignment"),
        (_header() + _s(b"\xff\xfe") + struct.pack("<IB", 0, 1), "not UTF-8"),
        (_header(n_tensors=1, n_kv=0) + _s(b"t") + struct.pack("<I", 9), "dimensions"),
        (
            _header(n_tensors=1, n_kv=0) + _s(b"t") + struct.pack("<IQQIQ", 2, 2**40, 2**40, 0, 0),
            "elements",
        ),
        (
            _header(n_tensors=1, n_kv=0) + _s(b"t") + struct.pack("<IQIQ", 1, 8, 99, 0),
            "unknown type",
        ),
        (
            _header(n_tensors=1, n_kv=0) + _s(b"t") + struct.pack("<IQIQ", 1, 30, 8, 0),
            "do not fill Q8_0 blocks",
        ),
        (
            _header(n_tensors=2, n_kv=0)
            + (_s(b"t") + struct.pack("<IQIQ", 1, 4, 0, 0)) * 2
            + bytes(64),
            "listed twice",
        ),
        (
            _header(n_tensors=1, n_kv=0) + _s(b"t") + struct.pack("<IQIQ", 1, 4, 0, 10**6),
            "runs past the end",
        ),
    ],
)
def test_hostile_headers_give_one_clear_error(tmp_path: Path, data: bytes, message: str) -> None:
    (tmp_path / "h.gguf").write_bytes(data + bytes(8))
    with pytest.raises(WeightFormatError, match=message) as err:
        GGUFTensorReader(tmp_path / "h.gguf")
    assert "\n" not in str(err.value)


def test_dropping_mapped_pages_changes_no_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scanner.weights.formats import mapped

    _write(tmp_path / "m.gguf")
    r = GGUFTensorReader(tmp_path / "m.gguf")
    names = [m.name for m in r.tensors()]
    kept = {n: r.read(n) for n in names}
    monkeypatch.setattr(mapped, "RELEASE_BYTES", 1)  # drop the pages after every read
    for n in names:
        np.testing.assert_array_equal(r.read(n), kept[n])
        if kept[n].ndim == 2:
            np.testing.assert_array_equal(r.read_units(n, 1, np.arange(8)), kept[n][:, :8])
    r.close()  # and a read after close() maps the file again
    np.testing.assert_array_equal(r.read(names[0]), kept[names[0]])

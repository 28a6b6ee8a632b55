"""Readers: safetensors (single, sharded), GGUF with quantized blocks, ONNX int8; hostile input."""

from __future__ import annotations

import json
import pickle
import struct
from pathlib import Path

import gguf
import numpy as np
import pytest
import synth
from safetensors.numpy import save_file

from scanner.weights.formats.interface import WeightFormatError
from scanner.weights.formats.registry import open_weight_file
from scanner.weights.loader import load_model


def _tensors(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "a.weight": rng.standard_normal((64, 32)).astype(np.float32),
        "b.weight": rng.standard_normal((32,)).astype(np.float32),
        "c.weight": rng.standard_normal((96, 64)).astype(np.float32),
    }


def test_sharded_safetensors_reads_every_tensor_through_the_index(tmp_path: Path) -> None:
    cfg = synth.llama_config(200, d=32, layers=2, heads=2, kv=2, ff=64)
    t = synth.random_llama(0, cfg)
    synth.save_model(tmp_path / "m", t, cfg, shards=3)
    model = load_model(str(tmp_path / "m"))
    names = {m.name for m in model.reader.tensors()}
    assert names == set(t)
    assert len(model.weight_files) == 3
    for k, v in t.items():
        np.testing.assert_array_equal(model.reader.read(k), v)


def test_bf16_is_widened_exactly(tmp_path: Path) -> None:
    x = np.random.default_rng(1).standard_normal((8, 8)).astype(np.float32)
    bits = (x.view(np.uint32) >> 16).astype(np.uint16)
    header = json.dumps({"w": {"dtype": "BF16", "shape": [8, 8], "data_offsets": [0, 128]}})
    raw = header.encode()
    (tmp_path / "m.safetensors").write_bytes(struct.pack("<Q", len(raw)) + raw + bits.tobytes())
    got = open_weight_file(tmp_path / "m.safetensors").read("w")
    np.testing.assert_array_equal(got, (bits.astype(np.uint32) << 16).view(np.float32))


def test_gguf_quantized_tensors_are_dequantized(tmp_path: Path) -> None:
    t = _tensors()
    path = tmp_path / "m.gguf"
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_tensor(
        "a.weight",
        gguf.quants.quantize(t["a.weight"], gguf.GGMLQuantizationType.Q8_0),
        raw_dtype=gguf.GGMLQuantizationType.Q8_0,
    )
    w.add_tensor(
        "c.weight",
        gguf.quants.quantize(t["c.weight"], gguf.GGMLQuantizationType.Q4_0),
        raw_dtype=gguf.GGMLQuantizationType.Q4_0,
    )
    w.add_tensor("b.weight", t["b.weight"])
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    r = open_weight_file(path)
    metas = {m.name: m for m in r.tensors()}
    assert metas["a.weight"].dtype == "Q8_0" and metas["a.weight"].quantized
    assert metas["c.weight"].shape == (96, 64)
    a, c = r.read("a.weight"), r.read("c.weight")
    assert a.shape == (64, 32) and c.shape == (96, 64)
    # Q8_0 keeps ~2 decimal digits, Q4_0 about one: errors bounded by the block scales.
    assert np.abs(a - t["a.weight"]).max() < 0.05
    cos = float((c * t["c.weight"]).sum() / np.linalg.norm(c) / np.linalg.norm(t["c.weight"]))
    assert 0.97 < cos < 1.0
    np.testing.assert_array_equal(r.read("b.weight"), t["b.weight"])


def test_onnx_int8_with_scale_is_dequantized(tmp_path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = _tensors()["c.weight"]
    scale = (np.abs(w).max(axis=1) / 127).astype(np.float32)
    q = np.round(w / scale[:, None]).astype(np.int8)
    inits = [
        numpy_helper.from_array(q, "layer.weight_quantized"),
        numpy_helper.from_array(scale, "layer.weight_scale"),
        numpy_helper.from_array(np.zeros(96, np.int8), "layer.weight_zero_point"),
    ]
    node = helper.make_node(
        "DequantizeLinear",
        ["layer.weight_quantized", "layer.weight_scale", "layer.weight_zero_point"],
        ["layer.weight"],
        axis=0,
    )
    graph = helper.make_graph(
        [node],
        "g",
        [],
        [helper.make_tensor_value_info("layer.weight", TensorProto.FLOAT, [96, 64])],
        inits,
    )
    onnx.save(helper.make_model(graph), str(tmp_path / "model.onnx"))
    r = open_weight_file(tmp_path / "model.onnx")
    metas = {m.name: m for m in r.tensors()}
    assert list(metas) == ["layer.weight"] and metas["layer.weight"].quantized
    got = r.read("layer.weight")
    assert np.abs(got - w).max() <= scale.max() / 2 + 1e-6


def test_pickle_checkpoint_is_never_loaded(tmp_path: Path) -> None:
    class Boom:
        def __reduce__(self):  # executing this would create the marker file
            return (Path.touch, (tmp_path / "PWNED",))

    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "pytorch_model.bin").write_bytes(pickle.dumps(Boom()))
    model = load_model(str(tmp_path / "m"))
    assert model.reader is None and model.pickles == ["pytorch_model.bin"]
    with pytest.raises(WeightFormatError, match="never unpickles"):
        open_weight_file(tmp_path / "m" / "pytorch_model.bin")
    assert not (tmp_path / "PWNED").exists()


def _st(header: dict) -> bytes:
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + b"\0" * 16


@pytest.mark.parametrize(
    "payload, message",
    [
        (struct.pack("<Q", 1 << 60) + b"{}", "impossible"),
        (struct.pack("<Q", 2) + b"[]", "not a JSON object"),
        (b"\x01\x02", "truncated"),
        (
            _st({"w": {"dtype": "F32", "shape": [1 << 20, 1 << 20], "data_offsets": [0, 16]}}),
            "do not fit",
        ),
        (_st({"w": {"dtype": "F32", "shape": [-4], "data_offsets": [0, 16]}}), "bad dimension"),
        (_st({"w": {"dtype": "F32", "shape": [2] * 12, "data_offsets": [0, 16]}}), "dimensions"),
    ],
)
def test_hostile_safetensors_headers_give_one_clear_error(
    tmp_path: Path, payload: bytes, message: str
) -> None:
    path = tmp_path / "m.safetensors"
    path.write_bytes(payload)
    with pytest.raises(WeightFormatError, match=message):
        open_weight_file(path)


def test_hostile_gguf_counts_are_refused_before_allocation(tmp_path: Path) -> None:
    path = tmp_path / "m.gguf"
    path.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 1 << 40, 1 << 40) + b"\0" * 64)
    with pytest.raises(WeightFormatError, match="beyond any real model"):
        open_weight_file(path)
    path.write_bytes(b"GGML" + b"\0" * 40)
    with pytest.raises(WeightFormatError, match="not a GGUF"):
        open_weight_file(path)


def test_safetensors_written_by_the_library_round_trips(tmp_path: Path) -> None:
    t = _tensors()
    save_file(t, str(tmp_path / "x.safetensors"))
    r = open_weight_file(tmp_path / "x.safetensors")
    for k, v in t.items():
        np.testing.assert_array_equal(r.read(k), v)


def test_index_naming_a_missing_or_outside_shard_is_refused(tmp_path: Path) -> None:
    cfg = synth.llama_config(100, d=16, layers=1, heads=2, kv=2, ff=32)
    synth.save_model(tmp_path / "m", synth.random_llama(0, cfg), cfg, shards=2)
    index = tmp_path / "m" / "model.safetensors.index.json"
    data = json.loads(index.read_text())
    data["weight_map"]["lm_head.weight"] = "../../etc/passwd"
    index.write_text(json.dumps(data))
    with pytest.raises(WeightFormatError, match="missing from the release"):
        load_model(str(tmp_path / "m"))


def test_onnx_external_data_is_read_in_place(tmp_path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = _tensors()["c.weight"]
    init = numpy_helper.from_array(w, "proj.weight")
    graph = helper.make_graph(
        [helper.make_node("Identity", ["proj.weight"], ["y"])],
        "g",
        [],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [96, 64])],
        [init],
    )
    model = helper.make_model(graph)
    onnx.save(
        model,
        str(tmp_path / "model.onnx"),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location="model.onnx_data",
        size_threshold=0,
    )
    assert (tmp_path / "model.onnx_data").stat().st_size >= w.nbytes
    r = open_weight_file(tmp_path / "model.onnx")
    np.testing.assert_array_equal(r.read("proj.weight"), w)


def test_truncated_gguf_and_corrupt_onnx_give_one_clear_error(tmp_path: Path) -> None:
    w = gguf.GGUFWriter(str(tmp_path / "t.gguf"), "llama")
    w.add_tensor("a.weight", np.ones((64, 64), np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    data = (tmp_path / "t.gguf").read_bytes()
    (tmp_path / "t.gguf").write_bytes(data[: len(data) - 5000])
    with pytest.raises(WeightFormatError, match="runs past the end"):
        open_weight_file(tmp_path / "t.gguf")
    (tmp_path / "bad.onnx").write_bytes(b"garbage" * 10)
    with pytest.raises(WeightFormatError, match="not a readable ONNX"):
        open_weight_file(tmp_path / "bad.onnx")

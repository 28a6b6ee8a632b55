"""ONNX files made by the real exporters and quantizers read as the model they came from.

A small BERT and a small Llama are built from configs (fixed seeds) and saved as
safetensors; torch.onnx.export (TorchScript and dynamo) and onnxruntime's quantizers make
the ONNX files at test time (tests/onnxexports.py). Each must give the roles of its source,
the same number of recognised tensors, values that match the source's, and the verdict
its making deserves.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")  # the dynamo exporter writes through it

import onnxexports as ox  # noqa: E402

from scanner.weights.compare import compare_models  # noqa: E402
from scanner.weights.loader import load_model  # noqa: E402
from scanner.weights.roles import Heads, map_roles  # noqa: E402

LOSSLESS = ("torchscript", "dynamo", "anonymous")
QUANTIZED = ("int8", "qdq", "qdq-per-channel", "q4", "q4-asym", "cast-mul")


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("onnx-exports")
    bert = ox.tiny_bert(root / "bert")
    llama = ox.tiny_llama(root / "llama")
    out = {"bert": bert, "llama": llama}
    out["torchscript"] = ox.export(bert, root / "torchscript", dynamo=False)
    out["dynamo"] = ox.export(bert, root / "dynamo", dynamo=True)
    out["int8"] = ox.quantize_int8(out["torchscript"], root / "int8")
    out["qdq"] = ox.quantize_qdq(out["torchscript"], root / "qdq", per_channel=False)
    out["qdq-per-channel"] = ox.quantize_qdq(out["dynamo"], root / "qdqc", per_channel=True)
    out["q4"] = ox.quantize_nbits(out["torchscript"], root / "q4")
    out["q4-asym"] = ox.quantize_nbits(out["dynamo"], root / "q4a", symmetric=False)
    out["cast-mul"] = ox.cast_mul(out["dynamo"], root / "cast-mul")
    llama_ts = ox.export(llama, root / "llama-torchscript", dynamo=False)
    out["anonymous"] = ox.anonymous(llama_ts, root / "anonymous")
    return out


def _source(variant: str) -> str:
    return "llama" if variant == "anonymous" else "bert"


def _roles(folder: Path) -> tuple[dict[str, np.ndarray], list[str]]:
    model = load_model(str(folder))
    assert model.reader is not None
    try:
        canon, unknown = map_roles(model.reader.tensors(), Heads(None, None, None))
        return {c.key.label(): model.reader.read(c.source) for c in canon}, unknown
    finally:
        model.close()


@pytest.mark.parametrize("variant", LOSSLESS + QUANTIZED)
def test_an_export_gets_the_roles_and_values_of_its_source(
    made: dict[str, Path], variant: str
) -> None:
    source, _ = _roles(made[_source(variant)])
    got, unknown = _roles(made[variant])
    assert not unknown
    assert set(got) == set(source) and len(got) == len(source)
    for role, want in source.items():
        have = got[role]
        assert have.shape == want.shape, role
        if variant in LOSSLESS:
            np.testing.assert_array_equal(have, want, err_msg=role)
        else:  # int8: within a few hundredths of the largest value; 4-bit blocks: close
            assert np.corrcoef(have.ravel(), want.ravel())[0, 1] > 0.99, role


@pytest.mark.parametrize("variant", LOSSLESS)
def test_a_lossless_export_is_judged_identical_to_its_source(
    made: dict[str, Path], variant: str
) -> None:
    cmp = compare_models(str(made[_source(variant)]), str(made[variant]))
    assert cmp.verdict == "identical", cmp.reasons


@pytest.mark.parametrize("variant", QUANTIZED)
def test_a_quantized_export_is_judged_derived_quantized(
    made: dict[str, Path], variant: str
) -> None:
    cmp = compare_models(str(made["bert"]), str(made[variant]))
    assert (cmp.verdict, cmp.relation) == ("derived", "quantized"), cmp.reasons
    assert cmp.coverage is not None and cmp.coverage[0].complete and cmp.coverage[1].complete


def test_an_unrelated_export_is_not_judged_derived(made: dict[str, Path], tmp_path: Path) -> None:
    other = ox.tiny_bert(tmp_path / "other", seed=5)
    cmp = compare_models(str(other), str(made["int8"]))
    assert cmp.verdict not in ("identical", "derived", "shared-components"), cmp.reasons


@pytest.mark.parametrize("bits,symmetric", [(4, True), (4, False), (8, True)])
def test_matmulnbits_weights_multiply_as_onnxruntime_multiplies(
    tmp_path: Path, bits: int, symmetric: bool
) -> None:
    """The packing (codes low bits first along K, zero points packed, 2^(bits-1) when none)
    checked against onnxruntime running the node: x @ W^T from our W equals its output."""
    import onnx
    import onnxruntime
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(bits + symmetric)
    w = rng.normal(size=(96, 40)).astype(np.float32)  # stored (in=K, out=N); K not a block
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "proj.weight"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 96])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3, 40])],
        [numpy_helper.from_array(w, "proj.weight")],
    )
    plain = tmp_path / "plain"
    plain.mkdir()
    onnx.save(
        helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), plain / "model.onnx"
    )
    (plain / "config.json").write_text("{}")
    (plain / "tokenizer.json").write_text(ox.TOKENIZER)
    folder = ox.quantize_nbits(plain, tmp_path / "q", bits=bits, symmetric=symmetric)
    model = onnx.load(folder / "model.onnx")
    assert [n.op_type for n in model.graph.node] == ["MatMulNBits"]
    x = rng.normal(size=(3, 96)).astype(np.float32)
    session = onnxruntime.InferenceSession(
        str(folder / "model.onnx"), providers=["CPUExecutionProvider"]
    )
    want = session.run(None, {"x": x})[0]
    reader = load_model(str(folder)).reader
    assert reader is not None
    (meta,) = reader.tensors()
    assert meta.name == "proj.weight" and meta.shape == (40, 96) and meta.quantized
    got = x @ reader.read("proj.weight").T
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)

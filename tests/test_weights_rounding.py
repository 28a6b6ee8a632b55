"""Quantized copies are told from further training by the rounding their own scales give.

Real trained matrices hold a few values far above their RMS (all-MiniLM-L6-v2's mlp_down@0:
175 times), and onnxruntime's int8 keeps one scale a tensor: the rounding noise of such a
tensor is 0.4 of its RMS, not the 0.01 of a Gaussian block. The readers hand the stored
scales on (TensorReader.step), the fingerprint turns them into each tensor's noise, and the
verdict measures the difference against it: rounding alone gives 1 times the noise, an
update made before quantizing adds in quadrature (deltas.BEYOND_ROUNDING).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import synth
from ggufexport import write_gguf

from scanner.weights.compare import compare_models
from scanner.weights.fingerprint import fingerprint_of
from scanner.weights.loader import load_model

VOCAB = {f"w{i}": i for i in range(256)}
TOKENIZER = json.dumps({"model": {"type": "WordLevel", "vocab": VOCAB, "unk_token": "w0"}})
CFG = synth.llama_config(256, d=64, layers=2, heads=4, kv=4, ff=128)


# ---- GGUF Q8_0 as llama.cpp's gguf-py writes it ----------------------------------------------
@pytest.fixture(scope="module")
def gguf_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    import gguf

    root = tmp_path_factory.mktemp("rounding-gguf")
    base = synth.random_llama(3, CFG)
    q8 = gguf.GGMLQuantizationType.Q8_0
    out = {"base": synth.save_model(root / "base", base, CFG, TOKENIZER)}
    # a Gaussian block of 32 rounds to Q8_0 with noise ~0.005 of its RMS: an update of 0.004
    # (0.8 of the noise) is seen, one of 0.0005 (0.1 of it) cannot be
    for name, tensors in (
        ("q8", base),
        ("tuned-q8", synth.perturb(base, 4, 0.004)),
        ("slightly-tuned-q8", synth.perturb(base, 5, 0.0005)),
    ):
        folder = root / name
        folder.mkdir()
        write_gguf(folder / "model.gguf", tensors, TOKENIZER, 4, 4, quant=q8)
        out[name] = folder
    return out


def test_a_gguf_q8_0_tensor_gives_the_noise_its_block_scales_make(
    gguf_models: dict[str, Path],
) -> None:
    """The noise the fingerprint records is the rounding error the file really holds."""
    fp = fingerprint_of(str(gguf_models["q8"]))
    base = load_model(str(gguf_models["base"]))
    q8 = load_model(str(gguf_models["q8"]))
    assert base.reader is not None and q8.reader is not None
    try:
        read = {m.name: m for m in q8.reader.tensors()}
        checked = 0
        for key, entry in fp.tensors.items():
            if key.role != "attn_v" or key.layer < 0:
                continue
            want = base.reader.read(f"model.layers.{key.layer}.self_attn.v_proj.weight")
            got = q8.reader.read(entry["source"])
            assert read[entry["source"]].quantized
            err = float(np.linalg.norm(got - want) / np.linalg.norm(want))
            assert entry["noise"] == pytest.approx(err, rel=0.1), key
            checked += 1
        assert checked == CFG["num_hidden_layers"]
    finally:
        base.close()
        q8.close()


def test_a_q8_0_copy_is_quantized_and_an_update_before_it_is_named_with_it(
    gguf_models: dict[str, Path],
) -> None:
    base = str(gguf_models["base"])
    plain = compare_models(base, str(gguf_models["q8"]))
    assert (plain.verdict, plain.relation) == ("derived", "quantized"), plain.reasons
    tuned = compare_models(base, str(gguf_models["tuned-q8"]))
    assert (tuned.verdict, tuned.relation) == ("derived", "quantized-fine-tune"), tuned.reasons
    assert "rounding noise measured from the stored scales" in " ".join(tuned.reasons)


def test_saved_fingerprints_judge_the_rounding_as_fresh_ones_do(
    gguf_models: dict[str, Path], tmp_path: Path
) -> None:
    """A fingerprint file stores its sketches as int8: that rounding (about 0.01, twice the
    Q8_0 noise here) must not read as an update (a library entry, --against FILE): a plain
    Q8_0 copy was called quantized-fine-tune from saved fingerprints before."""
    from scanner.weights.compare import compare_fingerprints
    from scanner.weights.fingerprint import Fingerprint

    def saved(name: str) -> Fingerprint:
        fingerprint_of(str(gguf_models[name])).save(tmp_path / f"{name}.npz")
        return Fingerprint.load(tmp_path / f"{name}.npz")

    plain = compare_fingerprints(saved("base"), saved("q8"))
    assert (plain.verdict, plain.relation) == ("derived", "quantized"), plain.reasons
    # An update of 0.8 times the rounding is below what the stored sketches resolve: seen by
    # fresh fingerprints (above), not claimed from saved ones.
    tuned = compare_fingerprints(saved("base"), saved("tuned-q8"))
    assert tuned.verdict == "derived" and tuned.relation in ("quantized", "quantized-fine-tune")


def test_a_saved_fingerprint_against_the_same_values_dequantized_is_no_fine_tune(
    tmp_path: Path,
) -> None:
    """The same values on both sides (a Q4_0 model and its dequantized float16 copy, as the
    panel's SmolLM2 f16 GGUF holds its Q4_1 values), one side a saved fingerprint: the int8
    sketch's own rounding, known in expectation only, left tensors a few 1e-4 apart, far
    below the Q4_0 rounding and above float16's, and the pair was called a fine-tune. Within
    what the stored sketches resolve the difference reads as 0: a re-typed copy, and the
    reason says so."""
    import gguf

    from scanner.weights.compare import compare_fingerprints
    from scanner.weights.fingerprint import Fingerprint

    base = synth.random_llama(3, CFG)
    (tmp_path / "q4").mkdir()
    write_gguf(
        tmp_path / "q4" / "model.gguf", base, TOKENIZER, 4, 4, gguf.GGMLQuantizationType.Q4_0
    )
    q4 = load_model(str(tmp_path / "q4"))
    assert q4.reader is not None
    try:
        values = {m.name: q4.reader.read(m.name) for m in q4.reader.tensors()}
    finally:
        q4.close()
    dequantized = _from_gguf_names(values, base)
    halves = {k: v.astype(np.float16) for k, v in dequantized.items()}
    folder = synth.save_model(tmp_path / "dequantized", halves, CFG, TOKENIZER)
    fingerprint_of(str(tmp_path / "q4")).save(tmp_path / "q4.npz")
    saved = Fingerprint.load(tmp_path / "q4.npz")
    cmp = compare_fingerprints(saved, fingerprint_of(str(folder)))
    assert (cmp.verdict, cmp.relation) == ("derived", "quantized"), cmp.reasons
    assert "int8 sketches tell apart from equal" in cmp.reasons[-1]


def test_an_update_far_below_the_rounding_is_not_claimed(gguf_models: dict[str, Path]) -> None:
    """0.1 of the rounding noise adds 0.5% to the difference: the copy is called quantized."""
    cmp = compare_models(str(gguf_models["base"]), str(gguf_models["slightly-tuned-q8"]))
    assert (cmp.verdict, cmp.relation) == ("derived", "quantized"), cmp.reasons


def test_a_float_fine_tune_of_a_quantized_model_stays_a_fine_tune(
    gguf_models: dict[str, Path], tmp_path: Path
) -> None:
    """The Q8_0 side is the source here: its rounding was made before the update, and the
    difference (the update alone, 0.16 of it) is far below it."""
    q8 = load_model(str(gguf_models["q8"]))
    assert q8.reader is not None
    try:
        values = {m.name: q8.reader.read(m.name) for m in q8.reader.tensors()}
    finally:
        q8.close()
    # back to the safetensors names (ggufexport's own map, inverted), then an update
    dequantized = _from_gguf_names(values, synth.random_llama(3, CFG))
    tuned = synth.perturb(dequantized, 6, 0.0008)
    folder = synth.save_model(tmp_path / "tuned", tuned, CFG, TOKENIZER)
    cmp = compare_models(str(gguf_models["q8"]), str(folder))
    assert (cmp.verdict, cmp.relation) == ("derived", "fine-tune"), cmp.reasons


def _from_gguf_names(
    values: dict[str, np.ndarray], like: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """The GGUF file's tensors under the safetensors names of `like` (ggufexport's map)."""
    import ggufexport

    out = {}
    for name in like:
        gname = ggufexport._NAMES.get(name)
        if gname is None:
            parts = name.split(".")  # model.layers.N.<module...>.weight
            module = ".".join(parts[3:-1])
            gname = f"blk.{parts[2]}.{ggufexport._SHORT[module]}.{parts[-1]}"
        out[name] = np.asarray(values[gname], dtype=np.float32).reshape(like[name].shape)
    return out


# ---- onnxruntime int8 (one scale a tensor) of a model with outlier weights ---------------------
@pytest.fixture(scope="module")
def onnx_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    pytest.importorskip("onnxruntime")
    import onnxexports as ox
    from safetensors.numpy import load_file, save_file

    root = tmp_path_factory.mktemp("rounding-onnx")
    bert = ox.tiny_bert(root / "bert")
    # as trained models have: a value at 150 times its matrix's RMS in every attention output
    # and MLP output matrix, so one int8 scale a tensor rounds them with noise ~0.35 of the RMS
    tensors = load_file(str(bert / "model.safetensors"))
    for name, w in tensors.items():
        if name.endswith(("attention.output.dense.weight", "output.dense.weight")):
            w[0, 0] = 150.0 * float(np.sqrt(np.mean(np.square(w))))
    save_file(tensors, str(bert / "model.safetensors"))
    exported = ox.export(bert, root / "torchscript", dynamo=False)
    return {
        "bert": bert,
        "int8": ox.quantize_int8(exported, root / "int8"),
        "qdq": ox.quantize_qdq(exported, root / "qdq", per_channel=False),
    }


@pytest.mark.parametrize("variant", ["int8", "qdq"])
def test_per_tensor_int8_of_outlier_weights_is_judged_quantized(
    onnx_models: dict[str, Path], variant: str
) -> None:
    fp = fingerprint_of(str(onnx_models[variant]))
    noises = [t["noise"] for k, t in fp.tensors.items() if k.layer >= 0 and "noise" in t]
    assert noises and max(noises) > 0.1  # the outliers' tensors: far above a Gaussian's 0.01
    cmp = compare_models(str(onnx_models["bert"]), str(onnx_models[variant]))
    assert (cmp.verdict, cmp.relation) == ("derived", "quantized"), cmp.reasons

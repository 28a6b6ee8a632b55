"""GPTQ and AWQ checkpoints: the packed Linears are read as the weights they stand for, and a
4-bit copy of a model is found to be its quantized copy.

The files are packed here from the layouts' description (scanner/weights/formats/packed.py);
bench/packed_reference_check.py checks the reader against AutoAWQ's and auto-gptq's own code.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import synth
from safetensors.numpy import save_file

from scanner.weights.compare import compare_fingerprints, fingerprint_of
from scanner.weights.formats.interface import WeightFormatError
from scanner.weights.formats.safetensors import SafetensorsReader

TOK = json.dumps(
    {
        "model": {
            "type": "WordLevel",
            "vocab": {f"t{i}": i for i in range(3000)},
            "unk_token": "t0",
        },
        "added_tokens": [],
    }
)
GROUP = 32
AWQ_ORDER = [0, 2, 4, 6, 1, 3, 5, 7]  # output o + k of a word sits in slot AWQ_ORDER.index(k)


def _quantize(w: np.ndarray, bits: int, groups_of: np.ndarray) -> tuple:
    """Asymmetric min-max integers of W^T (in, out) per (group, output)."""
    wt = w.T.astype(np.float64)
    n_groups = int(groups_of.max()) + 1
    top = (1 << bits) - 1
    scale = np.zeros((n_groups, wt.shape[1]))
    zero = np.zeros((n_groups, wt.shape[1]), dtype=np.int64)
    for g in range(n_groups):
        block = wt[groups_of == g]
        lo, hi = block.min(0), block.max(0)
        scale[g] = np.maximum(hi - lo, 1e-8) / top
        zero[g] = np.clip(np.round(-lo / scale[g]), 0, top)
    q = np.clip(np.round(wt / scale[groups_of]) + zero[groups_of], 0, top).astype(np.int64)
    return q, zero, scale.astype(np.float16)


def _pack(values: np.ndarray, bits: int, axis: int, order: list[int] | None = None) -> np.ndarray:
    """Pack 32 / bits values along `axis` into each int32, value k at bits k * bits (or at the
    slot `order` gives it)."""
    n = 32 // bits
    v = np.moveaxis(values, axis, -1)
    v = v.reshape(*v.shape[:-1], -1, n).astype(np.uint64)
    if order is not None:
        v = v[..., order]  # slot s holds the value order[s]
    word = np.zeros(v.shape[:-1], dtype=np.uint64)
    for s in range(n):
        word |= (v[..., s] & ((1 << bits) - 1)) << np.uint64(bits * s)
    return np.moveaxis(word.astype(np.uint32).view(np.int32), -1, axis)


def pack_gptq(
    w: np.ndarray, bits: int = 4, v2: bool = False, act_order: bool = False, seed: int = 0
) -> dict[str, np.ndarray]:
    inp = w.shape[1]
    g_idx = np.arange(inp) // GROUP
    if act_order:  # inputs quantized in another order: any input may sit in any group
        g_idx = np.random.default_rng(seed).permutation(g_idx)
    q, zero, scale = _quantize(w, bits, g_idx)
    stored = zero if v2 else (zero - 1) & ((1 << bits) - 1)
    return {
        "qweight": _pack(q, bits, 0),
        "qzeros": _pack(stored, bits, 1),
        "scales": scale,
        "g_idx": g_idx.astype(np.int32),
    }


def pack_awq(w: np.ndarray) -> dict[str, np.ndarray]:
    q, zero, scale = _quantize(w, 4, np.arange(w.shape[1]) // GROUP)
    return {
        "qweight": _pack(q, 4, 1, AWQ_ORDER),
        "qzeros": _pack(zero, 4, 1, AWQ_ORDER),
        "scales": scale,
    }


def _save(
    folder: Path,
    tensors: dict[str, np.ndarray],
    cfg: dict,
    pack: Callable[[np.ndarray], dict[str, np.ndarray]],
) -> None:
    out: dict[str, np.ndarray] = {}
    for name, w in tensors.items():
        if ".layers." in name and w.ndim == 2:
            prefix = name.removesuffix(".weight")
            out.update({f"{prefix}.{k}": np.ascontiguousarray(v) for k, v in pack(w).items()})
        else:
            out[name] = w.astype(np.float16)
    folder.mkdir(parents=True)
    save_file(out, str(folder / "model.safetensors"))
    (folder / "config.json").write_text(json.dumps(cfg))
    (folder / "tokenizer.json").write_text(TOK)


CFG = synth.llama_config(3000, d=256, layers=2, heads=4, kv=2, ff=512)
FORMATS = {
    "gptq": ({"quant_method": "gptq", "bits": 4, "checkpoint_format": "gptq"}, pack_gptq),
    "gptq_v2_act_order": (
        {"quant_method": "gptq", "checkpoint_format": "gptq_v2", "desc_act": True},
        lambda w: pack_gptq(w, v2=True, act_order=True),
    ),
    "gptq8": ({"quant_method": "gptq", "bits": 8}, lambda w: pack_gptq(w, bits=8)),
    "awq": ({"quant_method": "awq", "bits": 4, "version": "gemm"}, pack_awq),
}


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("packed")
    base = synth.random_llama(31, CFG)
    synth.save_model(root / "base", base, CFG, TOK)
    for fmt, (quant, pack) in FORMATS.items():
        _save(root / fmt, base, dict(CFG, quantization_config=quant), pack)
    synth.save_model(root / "other", synth.random_llama(32, CFG), CFG, TOK)
    return {"root": root, "base": base}


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_packed_linears_read_as_their_weights(models: dict, fmt: str) -> None:
    quant = FORMATS[fmt][0]
    r = SafetensorsReader([models["root"] / fmt / "model.safetensors"], quant)
    metas = {m.name: m for m in r.tensors()}
    assert not any(n.endswith((".qweight", ".qzeros", ".scales", ".g_idx")) for n in metas)
    name = "model.layers.1.mlp.down_proj.weight"
    meta = metas[name]
    bits = 8 if fmt == "gptq8" else 4
    assert meta.shape == (256, 512) and meta.quantized and meta.dtype.endswith(f"INT{bits}")
    w, got = models["base"][name], r.read(name)
    step = (w.max() - w.min()) / ((1 << bits) - 1)  # a group's step is at most this
    assert np.abs(got - w).max() <= 0.51 * step + 1e-3 * np.abs(w).max()
    assert np.corrcoef(got.ravel(), w.ravel())[0, 1] > (0.999 if bits == 8 else 0.97)
    rows, cols = np.array([0, 3, 8, 9, 255]), np.array([1, 31, 32, 100, 511])
    np.testing.assert_array_equal(r.read_units(name, 0, rows), got[rows])
    np.testing.assert_array_equal(r.read_units(name, 1, cols), got[:, cols])
    seen: list[np.ndarray] = []
    assert r.read_units(name, 1, np.arange(64), seen.append, keep=False) is None
    np.testing.assert_array_equal(np.concatenate(seen), got[:, :64])


@pytest.mark.parametrize("fmt", ["gptq", "awq"])
def test_a_4_bit_copy_is_the_model_quantized(models: dict, fmt: str) -> None:
    base = fingerprint_of(str(models["root"] / "base"))
    copy = fingerprint_of(str(models["root"] / fmt))
    cmp = compare_fingerprints(base, copy)
    assert cmp.verdict == "derived" and cmp.relation == "quantized", cmp.reasons
    assert copy.meta["quantized_dtypes"] == [f"{fmt.upper()}-INT4"]
    other = compare_fingerprints(copy, fingerprint_of(str(models["root"] / "other")))
    assert other.verdict == "unrelated", other.reasons


def test_parts_that_do_not_fit_together_are_one_clear_error(tmp_path: Path) -> None:
    parts = pack_gptq(np.random.default_rng(0).standard_normal((64, 128)).astype(np.float32))
    parts["g_idx"] = np.full(128, 99, dtype=np.int32)  # groups the scales do not have
    save_file(
        {f"a.{k}": np.ascontiguousarray(v) for k, v in parts.items()},
        str(tmp_path / "m.safetensors"),
    )
    r = SafetensorsReader([tmp_path / "m.safetensors"])
    assert [m.name for m in r.tensors()] == ["a.weight"]
    with pytest.raises(WeightFormatError, match="do not fit together"):
        r.read("a.weight")


def test_parts_of_no_known_layout_stay_as_they_are(tmp_path: Path) -> None:
    parts = pack_gptq(np.random.default_rng(0).standard_normal((64, 128)).astype(np.float32))
    parts["qzeros"] = parts["qzeros"][:, :3]  # 24 zeros for 64 outputs: no bit width fits
    save_file(
        {f"a.{k}": np.ascontiguousarray(v) for k, v in parts.items()},
        str(tmp_path / "m.safetensors"),
    )
    names = {m.name for m in SafetensorsReader([tmp_path / "m.safetensors"]).tensors()}
    assert names == {"a.qweight", "a.qzeros", "a.scales", "a.g_idx"}

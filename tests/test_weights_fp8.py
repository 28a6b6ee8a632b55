"""FP8 checkpoints (DeepSeek V3 / Qwen3-FP8 block scales, compressed-tensors per-row scales)
are read as the numbers they stand for, and an FP8 copy of a model is found to be its copy.
torch writes the files (its float8 types and safetensors.torch), provscan reads them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import synth

from scanner.weights.compare import compare_fingerprints, fingerprint_of
from scanner.weights.formats.safetensors import SafetensorsReader, fp8_table

torch = pytest.importorskip("torch")
safetensors_torch = pytest.importorskip("safetensors.torch")

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
FP8_MAX = 448.0  # the largest float8_e4m3fn


@pytest.mark.parametrize(
    "dtype, torch_type", [("F8_E4M3", "float8_e4m3fn"), ("F8_E5M2", "float8_e5m2")]
)
def test_every_byte_decodes_as_torch_reads_it(dtype: str, torch_type: str) -> None:
    as_fp8 = torch.arange(256, dtype=torch.uint8).view(getattr(torch, torch_type))
    expected = as_fp8.to(torch.float32).numpy()
    np.testing.assert_array_equal(fp8_table(dtype), expected)  # NaNs compare equal here


def _fp8_blocks(w: np.ndarray, block: int = 128) -> tuple:
    """DeepSeek V3's layout: float8_e4m3fn values and one float32 scale a block x block."""
    t = torch.from_numpy(w)
    rows, cols = t.shape
    br, bc = -(-rows // block), -(-cols // block)
    padded = torch.zeros(br * block, bc * block)
    padded[:rows, :cols] = t
    blocks = padded.reshape(br, block, bc, block)
    scale = blocks.abs().amax(dim=(1, 3)).clamp(min=1e-12) / FP8_MAX
    q = (blocks / scale[:, None, :, None]).reshape(br * block, bc * block)[:rows, :cols]
    return q.to(torch.float8_e4m3fn), scale.to(torch.float32)


def _save_fp8(folder: Path, tensors: dict[str, np.ndarray], cfg: dict, per_row: bool) -> None:
    out = {}
    for name, w in tensors.items():
        if w.ndim == 2 and name != "model.embed_tokens.weight":
            if per_row:  # compressed-tensors: one scale an output row
                t = torch.from_numpy(w)
                scale = t.abs().amax(dim=1, keepdim=True).clamp(min=1e-12) / FP8_MAX
                out[name] = (t / scale).to(torch.float8_e4m3fn)
                out[name + "_scale"] = scale
            else:
                out[name], out[name + "_scale_inv"] = _fp8_blocks(w)
        else:
            out[name] = torch.from_numpy(w).to(torch.bfloat16)
    folder.mkdir(parents=True)
    safetensors_torch.save_file(out, str(folder / "model.safetensors"))
    (folder / "config.json").write_text(json.dumps(cfg))
    (folder / "tokenizer.json").write_text(TOK)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("fp8")
    cfg = synth.llama_config(3000, d=320, layers=2, heads=5, kv=5, ff=704)
    base = synth.random_llama(21, cfg)
    synth.save_model(root / "base", base, cfg, TOK)
    _save_fp8(root / "blocks", base, cfg, per_row=False)
    _save_fp8(root / "rows", base, cfg, per_row=True)
    synth.save_model(root / "other", synth.random_llama(22, cfg), cfg, TOK)
    return {"root": root, "base": base}


@pytest.mark.parametrize("layout", ["blocks", "rows"])
def test_fp8_values_are_the_weights_to_fp8_precision(models: dict, layout: str) -> None:
    r = SafetensorsReader([models["root"] / layout / "model.safetensors"])
    names = {m.name for m in r.tensors()}
    assert not any(n.endswith(("_scale", "_scale_inv")) for n in names)  # part of the weight
    name = "model.layers.1.mlp.down_proj.weight"  # 320 x 704: blocks that overhang the edge
    meta = next(m for m in r.tensors() if m.name == name)
    assert meta.dtype == "F8_E4M3" and meta.quantized
    w, got = models["base"][name], r.read(name)
    assert np.abs(got - w).max() <= 0.07 * np.abs(w).max()  # 3 mantissa bits
    assert np.corrcoef(got.ravel(), w.ravel())[0, 1] > 0.999
    idx = np.array([0, 1, 127, 128, 300, 703])
    np.testing.assert_array_equal(r.read_units(name, 1, idx), got[:, idx])
    rows = np.arange(130, 260)
    np.testing.assert_array_equal(r.read_units(name, 0, rows), got[rows])
    seen: list[np.ndarray] = []
    r.read_units(name, 1, np.arange(88), seen.append, keep=False)
    np.testing.assert_array_equal(np.concatenate(seen), got[:, :88])


@pytest.mark.parametrize("layout", ["blocks", "rows"])
def test_an_fp8_copy_is_the_model_quantized(models: dict, layout: str) -> None:
    base = fingerprint_of(str(models["root"] / "base"))
    copy = compare_fingerprints(base, fingerprint_of(str(models["root"] / layout)))
    assert copy.verdict == "derived" and copy.relation == "quantized", copy.reasons
    other = compare_fingerprints(
        fingerprint_of(str(models["root"] / layout)), fingerprint_of(str(models["root"] / "other"))
    )
    assert other.verdict == "unrelated", other.reasons


def test_a_scale_that_fits_no_layout_is_one_clear_error(tmp_path: Path) -> None:
    w = torch.randn(64, 64).to(torch.float8_e4m3fn)
    safetensors_torch.save_file(
        {"a.weight": w, "a.weight_scale_inv": torch.ones(100, 3)}, str(tmp_path / "m.safetensors")
    )
    r = SafetensorsReader([tmp_path / "m.safetensors"])
    from scanner.weights.formats.interface import WeightFormatError

    with pytest.raises(WeightFormatError, match="does not fit"):
        r.read("a.weight")

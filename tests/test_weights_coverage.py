"""What the role rules recognised of each checkpoint is said, and nothing recognised is an error."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import synth

from scanner.weights.coverage import coverage_of
from scanner.weights.formats.interface import TensorMeta

TOK = json.dumps({"model": {"type": "WordLevel", "vocab": {f"w{i}": i for i in range(300)}}})


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("coverage")
    cfg = synth.llama_config(300, d=32, layers=2, heads=4, kv=4, ff=64)
    base = synth.random_llama(1, cfg)
    synth.save_model(root / "base", base, cfg, TOK)
    rng = np.random.default_rng(2)
    extra = {
        f"vision_tower.blocks.{i}.attn.qkv.weight": rng.normal(size=(96, 32)).astype(np.float32)
        for i in range(2)
    }
    extra["embeddings.position_ids"] = np.arange(16, dtype=np.float32)[None]  # a buffer
    synth.save_model(root / "with-vision", {**synth.perturb(base, 3, 0.05), **extra}, cfg, TOK)
    strange = {
        f"StatefulPartitionedCall/dense_{i}/kernel:0": rng.normal(size=(32, 32)).astype(np.float32)
        for i in range(3)
    }
    synth.save_model(root / "strange", strange, {}, None)
    return root


def test_groups_of_unrecognised_tensors_are_counted_largest_first() -> None:
    metas = [
        TensorMeta("model.layers.0.self_attn.q_proj.weight", "F32", (8, 8), "f"),
        TensorMeta("adapter.0.up.weight", "F32", (2, 8), "f"),
        TensorMeta("adapter.1.up.weight", "F32", (2, 8), "f"),
        TensorMeta("vision.patch_embed.weight", "F32", (64, 8), "f"),
        TensorMeta("embeddings.position_ids", "I64", (1, 512), "f"),
    ]
    unknown = ["adapter.0.up.weight", "adapter.1.up.weight", "vision.patch_embed.weight"]
    cov = coverage_of(metas, unknown)
    assert (cov.tensors, cov.tensors_recognised) == (4, 1)
    assert (cov.parameters, cov.parameters_recognised) == (64 + 32 + 512, 64)
    assert [(g.pattern, g.tensors, g.parameters) for g in cov.unrecognised] == [
        ("vision.patch_embed.weight", 1, 512),
        ("adapter.*.up.weight", 2, 32),
    ]
    assert "1 of 4 tensors recognised" in cov.describe()
    assert "not recognised: 1 x vision.patch_embed.weight, 2 x adapter.*.up.weight" in (
        cov.describe()
    )


def test_fingerprint_and_compare_say_what_each_side_recognised(
    cli, models: Path, tmp_path: Path
) -> None:
    n = len(synth.random_llama(1, synth.llama_config(300, d=32, layers=2, heads=4, kv=4, ff=64)))
    r = cli("fingerprint", str(models / "with-vision"), "-o", str(tmp_path / "v.npz"))
    assert r.returncode == 0, r.stderr
    assert f"{n} of {n + 2} tensors recognised" in r.stdout
    assert "not recognised: 2 x vision_tower.blocks.*.attn.qkv.weight" in r.stdout
    out = tmp_path / "c.json"
    r = cli("compare", str(models / "base"), str(tmp_path / "v.npz"), "--json", str(out))
    assert r.returncode == 0, r.stderr
    assert f"A: {n} of {n} tensors recognised" in r.stdout
    assert f"B: {n} of {n + 2} tensors recognised" in r.stdout
    sides = json.loads(out.read_text())["sides"]
    assert [s["tensors_recognised"] for s in sides] == [n, n]
    assert [s["tensors"] for s in sides] == [n, n + 2]
    assert sides[1]["parameters"] - sides[1]["parameters_recognised"] == 2 * 96 * 32
    assert sides[1]["unrecognised"] == [
        {"group": "vision_tower.blocks.*.attn.qkv.weight", "tensors": 2, "parameters": 6144}
    ]


@pytest.mark.parametrize("command", ["fingerprint", "compare"])
def test_a_checkpoint_with_no_recognised_tensor_is_one_error_line(
    cli, models: Path, tmp_path: Path, command: str
) -> None:
    args = ["-o", str(tmp_path / "s.npz")] if command == "fingerprint" else [str(models / "base")]
    r = cli(command, str(models / "strange"), *args)
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert "none of its 3 tensors has a role provscan knows" in r.stderr
    assert "StatefulPartitionedCall/dense_*/kernel:*" in r.stderr
    assert not (tmp_path / "s.npz").exists()

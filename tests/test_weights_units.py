"""Reading only some units of wide matrices: same values whichever reader, same verdicts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import synth

from scanner.weights.compare import compare_fingerprints, fingerprint_of
from scanner.weights.fingerprint.forms import repeat_kv
from scanner.weights.formats import safetensors as safetensors_fmt
from scanner.weights.formats.safetensors import SafetensorsReader
from scanner.weights.roles import Heads, RoleKey
from scanner.weights.units import ALL_UNITS, Sampling, head_plan
from tests.ggufexport import write_gguf
from tests.test_weights_speed import _save_bf16

TOK = json.dumps(
    {"model": {"type": "WordLevel", "vocab": {f"t{i}": i for i in range(3000)}, "unk_token": "t0"}}
)
# Sampling even these small models: the first quarter of the hidden units and heads.
SMALL = Sampling(every=4, above=0, block=8, embed_above=0)


@pytest.mark.parametrize("axis", [0, 1])
@pytest.mark.parametrize("kind", ["blocks", "prefix", "scattered", "many", "all"])
def test_read_units_gives_the_rows_or_columns_of_the_whole_tensor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, axis: int, kind: str
) -> None:
    monkeypatch.setattr(safetensors_fmt, "CHUNK_ELEMENTS", 256)  # many chunks
    x = np.random.default_rng(0).standard_normal((200, 96)).astype(np.float32)
    _save_bf16(tmp_path / "m", {"w": x}, {})
    reader = SafetensorsReader([tmp_path / "m" / "model.safetensors"])
    n = x.shape[axis]
    idx = {
        "blocks": (np.arange(0, n, 16)[:, None] + np.arange(4)).reshape(-1),
        "prefix": Sampling(every=4, above=0, block=4).units(n),
        "scattered": np.array([0, 1, 2, 7, 11, 12, n - 1]),
        "many": np.unique(np.random.default_rng(1).integers(0, n, 90)),  # > 64 runs
        "all": None,
    }[kind]
    whole = reader.read("w")
    want = whole if idx is None else np.take(whole, idx, axis=axis)
    seen: list[np.ndarray] = []
    got = reader.read_units("w", axis, idx, seen.append)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(np.concatenate(seen), want)  # rows in order, in chunks
    assert len(seen) > 1
    assert reader.read_units("w", axis, idx, seen.append, keep=False) is None
    with pytest.raises(ValueError, match="ascending"):
        reader.read_units("w", axis, np.array([3, 1]))


def test_head_plan_pairs_query_heads_with_their_key_value_heads() -> None:
    heads = Heads(8, 2, 4)
    every = head_plan(heads, ALL_UNITS)
    assert every is not None and not every.sampled
    r = np.random.default_rng(1).standard_normal((5, 2 * 4))
    np.testing.assert_array_equal(every.expand(r), repeat_kv(r, 8, 2))
    some = head_plan(heads, Sampling(every=4, above=0))
    assert some is not None and some.sampled
    # the first quarter of the query heads, and the one key/value head they share
    assert some.q_heads.tolist() == [0, 1] and some.kv_heads.tolist() == [0]
    assert some.q_units().tolist() == [0, 1, 2, 3, 4, 5, 6, 7]
    one = r[:, :4]
    np.testing.assert_array_equal(some.expand(one), np.concatenate([one, one], axis=1))
    assert head_plan(Heads(None, None, None), ALL_UNITS) is None


def _cfg() -> dict:
    return synth.llama_config(3000, d=64, layers=3, heads=8, kv=2, ff=256)


def test_sampled_units_are_the_same_values_whichever_reader(tmp_path: Path) -> None:
    cfg = _cfg()
    base = synth.random_llama(11, cfg)
    synth.save_model(tmp_path / "st", base, cfg, TOK)
    write_gguf(tmp_path / "m.gguf", base, TOK, heads=8, kv=2)  # read whole, then cut
    a = fingerprint_of(str(tmp_path / "st"), sampling=SMALL)
    b = fingerprint_of(str(tmp_path / "m.gguf"), sampling=SMALL)
    assert a.tensors[RoleKey("mlp_up", 0)]["read"] == [64, 64]  # 64 of 256 hidden units
    assert a.tensors[RoleKey("mlp_down", 0)]["read"] == [64, 64]
    assert a.tensors[RoleKey("attn_q", 0)]["read"] == [16, 64]  # query heads 0 and 1
    assert a.tensors[RoleKey("attn_k", 0)]["read"] == [8, 64]  # the key head they share
    assert a.tensors[RoleKey("attn_o", 0)]["read"] == [64, 16]
    assert a.meta["sampling"]["every"] == 4 and a.meta["heads_read"] == 2
    for label, ta in a.tensors.items():
        tb = b.tensors[label]
        assert (ta.get("read"), ta["hash"]) == (tb.get("read"), tb["hash"]), label
        assert abs(ta["std"] - tb["std"]) <= 1e-6 * max(ta["std"], 1e-6), label
    assert compare_fingerprints(a, b).verdict == "identical"


@pytest.fixture(scope="module")
def sampled(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("sampled")
    cfg = _cfg()
    base = synth.random_llama(21, cfg)
    models = {
        "base": base,
        "fine-tune": synth.perturb(base, 1, 0.1),
        "permuted": synth.permute_mlp(base, 2),
        "rotated": synth.rotate_residual(base, 3),
        "unrelated": synth.random_llama(22, cfg),
    }
    return {
        name: fingerprint_of(str(synth.save_model(root / name, t, cfg, TOK)), sampling=SMALL)
        for name, t in models.items()
    }


@pytest.mark.parametrize(
    "name,relation", [("fine-tune", "fine-tune"), ("permuted", "permuted"), ("rotated", "rotated")]
)
def test_a_quarter_of_the_units_still_shows_the_lineage(
    sampled: dict, name: str, relation: str
) -> None:
    cmp = compare_fingerprints(sampled["base"], sampled[name])
    assert (cmp.verdict, cmp.relation) == ("derived", relation), cmp.reasons
    assert cmp.signal("aligned_forms").p_value < 1e-6


def test_a_quarter_of_the_units_keeps_unrelated_models_apart(sampled: dict) -> None:
    cmp = compare_fingerprints(sampled["base"], sampled["unrelated"])
    assert cmp.verdict == "unrelated", cmp.reasons
    assert cmp.signal("aligned_forms").p_value > 0.01


def test_wide_matrices_are_sampled_by_default_and_whole_with_all_units(tmp_path: Path) -> None:
    from scanner.cli import main
    from scanner.weights.fingerprint import Fingerprint

    cfg = synth.llama_config(3000, d=32, layers=2, heads=4, kv=2, ff=4096)  # 4096 > 2048
    synth.save_model(tmp_path / "m", synth.random_llama(31, cfg), cfg, TOK)
    assert main(["fingerprint", str(tmp_path / "m"), "-o", str(tmp_path / "s.npz")]) == 0
    assert (
        main(["fingerprint", str(tmp_path / "m"), "-o", str(tmp_path / "a.npz"), "--all-units"])
        == 0
    )
    sampled, whole = (Fingerprint.load(tmp_path / f) for f in ("s.npz", "a.npz"))
    assert sampled.tensors[RoleKey("mlp_gate", 1)]["read"] == [512, 32]  # the first eighth
    assert sampled.tensors[RoleKey("mlp_down", 1)]["read"] == [32, 512]
    assert "read" not in sampled.tensors[RoleKey("attn_q", 1)]  # 32 query dims: below the threshold
    assert not any("read" in t for t in whole.tensors.values())
    assert whole.meta["sampling"]["every"] == 1


def test_sampled_statistics_are_the_same_however_the_rows_arrive() -> None:
    from scanner.weights.reduce import Reduction
    from scanner.weights.roles import CanonTensor, RoleKey
    from scanner.weights.sketch import StreamingStats

    x = np.random.default_rng(4).standard_normal((700, 2000)).astype(np.float32)
    blocks = Sampling().stat_blocks(x.shape)
    assert blocks == [(0, 64), (512, 576)]  # one block of 64 rows in 8
    ct = CanonTensor(RoleKey("mlp_up", 0), "w", x.shape, "F32", False)
    whole = Reduction(x.shape, None, blocks)
    whole.feed(x)
    chunked = Reduction(x.shape, None, blocks)
    for i in range(0, 700, 97):
        chunked.feed(x[i : i + 97])
    a, b = whole.finish(ct, None), chunked.finish(ct, None)
    rows = np.concatenate([x[lo:hi] for lo, hi in blocks])
    ref = StreamingStats(rows.size)
    ref.feed(rows)
    mean, std, digest, _ = ref.finish()
    assert a.entry["hash"] == b.entry["hash"] == digest
    assert a.entry["stat_values"] == rows.size == 128 * 2000
    assert abs(a.entry["std"] - std) < 1e-6 and abs(b.entry["mean"] - mean) < 1e-6
    assert Sampling().stat_blocks((100, 100)) is None  # small: every row


def test_gguf_rows_are_dequantized_alone_and_equal_the_whole_tensor(tmp_path: Path) -> None:
    import gguf

    from scanner.weights.formats.gguf import GGUFTensorReader

    cfg = _cfg()
    write_gguf(
        tmp_path / "q.gguf",
        synth.random_llama(13, cfg),
        TOK,
        heads=8,
        kv=2,
        quant=gguf.GGMLQuantizationType.Q8_0,
    )
    reader = GGUFTensorReader(tmp_path / "q.gguf")
    idx = np.array([0, 1, 2, 3, 40, 41, 200, 255])
    seen: list[np.ndarray] = []
    got = reader.read_units("blk.0.ffn_up.weight", 0, idx, seen.append)
    np.testing.assert_array_equal(got, reader.read("blk.0.ffn_up.weight")[idx])
    np.testing.assert_array_equal(np.concatenate(seen), got)

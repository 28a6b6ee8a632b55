"""Fingerprint files: compact, safe to load, and as good as the model to compare against."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import synth

from scanner.weights import fingerprint as fpmod
from scanner.weights.compare import compare_fingerprints, compare_models, fingerprint_of
from scanner.weights.fingerprint import FormKey
from scanner.weights.formats import safetensors as safetensors_fmt
from scanner.weights.formats.interface import WeightFormatError
from scanner.weights.roles import RoleKey
from scanner.weights.sketch import StreamingStats, _signs, sketch_size

TOK = json.dumps(
    {"model": {"type": "WordLevel", "vocab": {f"t{i}": i for i in range(12000)}, "unk_token": "t0"}}
)


def _reference_sketch(x: np.ndarray) -> np.ndarray:
    """The definition: s_j = sum_r sign_r * (x - mean)[r*k + j], the tail zero-padded."""
    flat = x.astype(np.float64).reshape(-1)
    n, k = flat.size, sketch_size(flat.size)
    centred = flat - flat.mean()
    if n <= k:
        return centred
    rows = -(-n // k)
    padded = np.zeros(rows * k)
    padded[:n] = centred
    return _signs(rows, n).astype(np.float64) @ padded.reshape(rows, k)


def test_streamed_statistics_equal_whole_tensor_ones() -> None:
    x = np.random.default_rng(0).standard_normal((12293, 3)).astype(np.float32) + 0.3
    st = StreamingStats(x.size)
    for i in range(0, len(x), 77):
        st.feed(x[i : i + 77])
    mean, std, _, sketch = st.finish()
    assert abs(mean - x.mean()) < 1e-5 and abs(std - x.std()) < 1e-4
    np.testing.assert_allclose(sketch, _reference_sketch(x), atol=1e-4)


def test_fingerprint_is_small_and_compares_like_the_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = synth.llama_config(12000, d=256, layers=4, heads=4, kv=4, ff=688)
    base = synth.random_llama(1, cfg)
    synth.save_model(tmp_path / "base", base, cfg, TOK)
    synth.save_model(tmp_path / "rot", synth.rotate_residual(base, 2), cfg, TOK)
    # read in many small chunks, as the rows of a large checkpoint are
    monkeypatch.setattr(safetensors_fmt, "CHUNK_ELEMENTS", 1 << 12)
    r = compare_models(str(tmp_path / "base"), str(tmp_path / "rot"))
    fp = fingerprint_of(str(tmp_path / "base"))
    fp.save(tmp_path / "base.npz")
    size = (tmp_path / "base.npz").stat().st_size
    total = sum(p.stat().st_size for p in (tmp_path / "base").iterdir())
    assert size <= 0.01 * total, (size, total)
    from_file = compare_models(str(tmp_path / "base.npz"), str(tmp_path / "rot"))
    assert (r.verdict, r.relation) == ("derived", "rotated")
    assert (from_file.verdict, from_file.relation) == ("derived", "rotated")
    assert from_file.signal("aligned_forms").p_value < 1e-9


def test_fingerprint_round_trip_keeps_every_signal(tmp_path: Path) -> None:
    cfg = synth.llama_config(500, d=32, layers=3, heads=2, kv=2, ff=64)
    t = synth.random_llama(3, cfg)
    synth.save_model(tmp_path / "m", t, cfg, TOK)
    synth.save_model(tmp_path / "ft", synth.perturb(t, 1, 0.2), cfg, TOK)
    live = fingerprint_of(str(tmp_path / "m"))
    live.save(tmp_path / "m.npz")
    loaded = fingerprint_of(str(tmp_path / "m.npz"))
    other = fingerprint_of(str(tmp_path / "ft"))
    # the anchors come back in the order they were taken (tokens.anchor_order), not sorted
    np.testing.assert_array_equal(loaded.anchor_hashes, live.anchor_hashes)
    assert loaded.meta["anchors_form"] == live.meta["anchors_form"] > 0
    assert loaded.vocab is not None and live.vocab is not None
    np.testing.assert_array_equal(loaded.vocab.hashes, live.vocab.hashes)
    a, b = compare_fingerprints(live, other), compare_fingerprints(loaded, other)
    assert [s.name for s in a.signals] == [s.name for s in b.signals]
    for sa, sb in zip(a.signals, b.signals, strict=True):
        assert abs(sa.score - sb.score) < 0.01, sa.name
    assert (a.verdict, a.relation) == (b.verdict, b.relation) == ("derived", "fine-tune")


def test_a_saved_fingerprint_keeps_its_keys_as_values(tmp_path: Path) -> None:
    cfg = synth.llama_config(500, d=32, layers=2, heads=2, kv=2, ff=64)
    synth.save_model(tmp_path / "m", synth.random_llama(3, cfg), cfg, TOK)
    live = fingerprint_of(str(tmp_path / "m"))
    live.save(tmp_path / "m.npz")
    loaded = fpmod.Fingerprint.load(tmp_path / "m.npz")
    assert list(loaded.tensors) == list(live.tensors)
    assert list(loaded.sketches) == list(live.sketches)
    assert list(loaded.forms) == list(live.forms) and list(loaded.spectra) == list(live.spectra)
    assert RoleKey("attn_q", 1) in loaded.tensors and FormKey("du", 1) in loaded.forms
    with np.load(tmp_path / "m.npz") as data:  # labels only name the values on disk
        layout = json.loads(bytes(data["header"]).decode())["layout"]
    named = {f"{group}/{entry[0]}" for group, entries in layout.items() for entry in entries}
    assert {"sketch/attn_q@1", "form/du@1", "spectrum/qk@1"} <= named


def test_form_labels_name_the_block_and_the_expert() -> None:
    assert FormKey("qk", 3).label() == "qk@3"
    assert FormKey("du", 3, expert=1).label() == "du@3#e1"
    assert FormKey("dg", 0, shared=True).label() == "dg@0#shared"
    assert FormKey("head").label() == "head"


def _rewrite_header(src: Path, dst: Path, change) -> None:
    with np.load(src) as data:
        arrays = {k: data[k] for k in data.files}
    head = json.loads(bytes(arrays["header"]).decode())
    change(head)
    arrays["header"] = np.frombuffer(json.dumps(head).encode(), dtype=np.uint8)
    np.savez(dst, **arrays)


@pytest.mark.parametrize(
    "change",
    [
        lambda h: h["forms"].update({k: ["qk", "1", -1, False] for k in h["forms"]}),
        lambda h: h["forms"].update({k: ["qk", 1] for k in h["forms"]}),
        lambda h: h.update(forms=[]),
        lambda h: h["tensors"][next(iter(h["tensors"]))].update(layer=None),
        lambda h: h.update(tensors={}),  # sketches of tensors it does not list
    ],
)
def test_a_fingerprint_with_malformed_keys_is_refused(tmp_path: Path, change) -> None:
    cfg = synth.llama_config(500, d=32, layers=2, heads=2, kv=2, ff=64)
    synth.save_model(tmp_path / "m", synth.random_llama(3, cfg), cfg, TOK)
    fingerprint_of(str(tmp_path / "m")).save(tmp_path / "m.npz")
    _rewrite_header(tmp_path / "m.npz", tmp_path / "bad.npz", change)
    with pytest.raises(WeightFormatError, match="not a provscan fingerprint"):
        fpmod.Fingerprint.load(tmp_path / "bad.npz")


def test_npz_with_pickled_objects_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "evil.npz"
    np.savez(bad, header=np.array([{"x": 1}], dtype=object), anchor_hashes=np.zeros(2))
    with pytest.raises(WeightFormatError):
        fpmod.Fingerprint.load(bad)


def test_fingerprint_of_an_older_format_asks_for_a_new_one(tmp_path: Path) -> None:
    cfg = synth.llama_config(500, d=32, layers=2, heads=2, kv=2, ff=64)
    synth.save_model(tmp_path / "m", synth.random_llama(3, cfg), cfg, TOK)
    fp = fingerprint_of(str(tmp_path / "m"))
    fp.save(tmp_path / "m.npz")
    _rewrite_header(
        tmp_path / "m.npz",
        tmp_path / "old.npz",
        lambda head: head.update(fingerprint_version=fpmod.FORMAT_VERSION - 1),
    )
    with pytest.raises(WeightFormatError, match="run `provscan fingerprint` on the model again"):
        fpmod.Fingerprint.load(tmp_path / "old.npz")


def _vocab_hashes(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.integers(0, 2**62, size=n, dtype=np.int64)


def test_whole_vocabularies_give_exact_overlaps() -> None:
    from scanner.weights.fingerprint.vocab import VocabSample, overlap

    rng = np.random.default_rng(1)
    a = _vocab_hashes(rng, 1000)
    b = np.concatenate([a[:300], _vocab_hashes(rng, 500)])  # 300 shared, all at their ids
    o = overlap(VocabSample.of(a), VocabSample.of(b))
    assert o.exact and o.shared == 300
    assert o.jaccard == pytest.approx(300 / 1500) and o.same_id_fraction == 1.0


def test_sampled_vocabularies_estimate_overlap_and_same_ids_without_bias() -> None:
    """Bottom-k samples (the smallest hashes) of a 60k and a 40k vocabulary sharing 20k
    tokens, half of those at the same id: the estimates land within their error."""
    from scanner.weights.fingerprint.vocab import VocabSample, overlap

    rng = np.random.default_rng(2)
    shared = _vocab_hashes(rng, 20_000)
    a = np.concatenate([shared, _vocab_hashes(rng, 40_000)])
    b = np.concatenate([shared[:10_000], _vocab_hashes(rng, 20_000), shared[10_000:]])
    truth = 20_000 / 80_000
    o = overlap(VocabSample.of(a, 4096), VocabSample.of(b, 3000))
    assert not o.exact and o.sample == 3000
    assert abs(o.jaccard - truth) < 4 * (truth * (1 - truth) / 3000) ** 0.5
    assert abs(o.shared - 20_000) < 2000
    assert 0.35 < o.same_id_fraction < 0.65


def test_a_sampled_vocabulary_survives_the_fingerprint_file(tmp_path: Path) -> None:
    from scanner.weights.fingerprint.vocab import VocabSample

    fp = fpmod.Fingerprint(
        "m",
        {},
        {},
        {},
        VocabSample.of(_vocab_hashes(np.random.default_rng(3), 5000), 2048),
        np.zeros(0, np.int64),
        None,
    )
    fp.save(tmp_path / "m.npz")
    back = fpmod.Fingerprint.load(tmp_path / "m.npz")
    assert back.vocab is not None and fp.vocab is not None
    assert back.vocab.size == 5000 and not back.vocab.complete
    np.testing.assert_array_equal(back.vocab.hashes, fp.vocab.hashes)
    np.testing.assert_array_equal(back.vocab.ids, fp.vocab.ids)


def test_a_4bit_gguf_fingerprint_stays_under_one_percent_and_compares_to_its_original(
    tmp_path: Path,
) -> None:
    """A model past the tiny size, as a Q4_0 GGUF (4.5 bits a weight): its fingerprint keeps
    under 1% of the file, and still finds the float original it came from."""
    import gguf

    from tests.ggufexport import write_gguf

    vocab = {f"t{i}": i for i in range(32000)}
    tok = json.dumps({"model": {"type": "WordLevel", "vocab": vocab, "unk_token": "t0"}})
    cfg = synth.llama_config(32000, d=256, layers=4, heads=4, kv=4, ff=1024)
    t = synth.random_llama(11, cfg)
    synth.save_model(tmp_path / "f32", t, cfg, tok)
    (tmp_path / "q4").mkdir()
    write_gguf(tmp_path / "q4" / "m.gguf", t, tok, 4, 4, gguf.GGMLQuantizationType.Q4_0)
    params = sum(v.size for v in t.values())
    assert 2 * params > 16 * 1024 * 1024  # not a tiny checkpoint: the budget binds
    fp = fingerprint_of(str(tmp_path / "q4"))
    fp.save(tmp_path / "q4.npz")
    size, file = (tmp_path / "q4.npz").stat().st_size, (tmp_path / "q4" / "m.gguf").stat().st_size
    assert size <= 0.01 * file, (size, file)
    assert fp.vocab is not None and not fp.vocab.complete  # 32k tokens do not fit whole
    cmp = compare_models(str(tmp_path / "f32"), str(tmp_path / "q4.npz"))
    assert (cmp.verdict, cmp.relation) == ("derived", "quantized"), cmp.reasons

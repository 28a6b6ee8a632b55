"""Signals and verdicts on numpy-made tiny models: disguises survive, unrelated stays unrelated."""

from __future__ import annotations

import json
import sysconfig
from pathlib import Path

import gguf
import numpy as np
import pytest
import synth

from scanner.weights.compare import compare_fingerprints, fingerprint_of
from tests.ggufexport import write_gguf

VOCAB = 600


@pytest.fixture(scope="module")
def tokenizer_json() -> str:
    """A real BPE tokenizer trained on the standard library's own sources."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    lib = Path(sysconfig.get_paths()["stdlib"])
    text = [p.read_text(errors="replace") for p in sorted(lib.glob("json/*.py"))]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.train_from_iterator(text, trainers.BpeTrainer(vocab_size=VOCAB, show_progress=False))
    return tok.to_str()


@pytest.fixture(scope="module")
def zoo(tmp_path_factory: pytest.TempPathFactory, tokenizer_json: str) -> dict:
    root = tmp_path_factory.mktemp("zoo")
    n_vocab = len(json.loads(tokenizer_json)["model"]["vocab"])
    cfg = synth.llama_config(n_vocab, d=64, layers=4, heads=4, kv=2, ff=128)
    base = synth.random_llama(1, cfg)
    models = {
        "base": base,
        "ft": synth.perturb(base, 3, 0.3),
        "mlp_perm": synth.permute_mlp(base, 5),
        "rotated": synth.rotate_residual(base, 4),
        "resid_perm": synth.rotate_residual(base, 4, permutation=True),
        "rescaled": synth.rescale_qk(base, 6),
    }
    for seed in (11, 12, 13):
        models[f"indep{seed}"] = synth.random_llama(seed, cfg)
    fps = {}
    for name, t in models.items():
        synth.save_model(root / name, t, cfg, tokenizer_json)
        fps[name] = fingerprint_of(str(root / name))
    return {"root": root, "cfg": cfg, "base": base, "fps": fps, "tok": tokenizer_json}


def _cmp(zoo: dict, a: str, b: str):
    return compare_fingerprints(zoo["fps"][a], zoo["fps"][b])


def test_independent_random_models_are_unrelated_with_honest_p_values(zoo: dict) -> None:
    ps = []
    for a, b in (("indep11", "indep12"), ("indep11", "indep13"), ("base", "indep12")):
        cmp = _cmp(zoo, a, b)
        assert cmp.verdict == "unrelated", cmp.reasons
        for name in ("direct_cosine", "aligned_forms", "aligned_embed", "embed_rows"):
            ps.append(cmp.signal(name).p_value)
    # Under the null p is uniform: none of 12 should be near zero (P(min < 1e-3) ~ 1%).
    assert min(ps) > 1e-3, ps
    assert max(ps) > 0.2, ps


def test_same_checkpoint_is_identical(zoo: dict) -> None:
    assert _cmp(zoo, "base", "base").verdict == "identical"


@pytest.mark.parametrize(
    "name, relation",
    [
        ("ft", "fine-tune"),
        ("mlp_perm", "permuted"),
        ("rotated", "rotated"),
        ("resid_perm", "permuted"),
        ("rescaled", "unknown"),
    ],
)
def test_disguised_derivatives_are_derived_with_their_relation(
    zoo: dict, name: str, relation: str
) -> None:
    cmp = _cmp(zoo, "base", name)
    assert cmp.verdict == "derived", cmp.reasons
    assert cmp.relation == relation, cmp.reasons


@pytest.mark.parametrize("name", ["mlp_perm", "rotated", "resid_perm", "rescaled"])
def test_aligned_signals_are_invariant_to_function_preserving_disguises(
    zoo: dict, name: str
) -> None:
    cmp = _cmp(zoo, "base", name)
    assert cmp.signal("aligned_forms").score > 0.999
    assert cmp.signal("aligned_embed").score > 0.999
    # per-head QK / OV spectra with norm gains folded are unchanged
    assert cmp.signal("spectra_qk").score > -1e-3
    assert cmp.signal("spectra_ov").score > -1e-3


def test_rotation_breaks_direct_cosine_but_not_the_aligned_forms(zoo: dict) -> None:
    cmp = _cmp(zoo, "base", "rotated")
    assert cmp.signal("embed_rows").p_value > 1e-3
    assert cmp.signal("direct_cosine").score < 0.1
    assert cmp.signal("aligned_forms").p_value < 1e-9


def _layers(t: dict, keep: list[int]) -> dict:
    out = {k: v for k, v in t.items() if ".layers." not in k}
    for new, old in enumerate(keep):
        for k, v in t.items():
            if f".layers.{old}." in k:
                out[k.replace(f".layers.{old}.", f".layers.{new}.")] = v
    return out


def test_pruned_and_depth_upscaled_models_are_mapped_over_depth(zoo: dict, tmp_path: Path) -> None:
    cfg, base = zoo["cfg"], synth.random_llama(21, dict(zoo["cfg"], num_hidden_layers=6))
    cfg6 = dict(cfg, num_hidden_layers=6)
    synth.save_model(tmp_path / "b6", base, cfg6, zoo["tok"])
    synth.save_model(
        tmp_path / "pruned", _layers(base, [0, 1, 3, 5]), dict(cfg, num_hidden_layers=4), zoo["tok"]
    )
    synth.save_model(
        tmp_path / "up",
        _layers(base, [0, 1, 2, 3, 2, 3, 4, 5]),
        dict(cfg, num_hidden_layers=8),
        zoo["tok"],
    )
    fb = fingerprint_of(str(tmp_path / "b6"))
    pruned = compare_fingerprints(fb, fingerprint_of(str(tmp_path / "pruned")))
    assert (pruned.verdict, pruned.relation) == ("derived", "pruned"), pruned.reasons
    assert pruned.signal("layer_alignment").details["map_b_to_a"] == {
        "0": 0,
        "1": 1,
        "2": 3,
        "3": 5,
    }
    up = compare_fingerprints(fb, fingerprint_of(str(tmp_path / "up")))
    assert (up.verdict, up.relation) == ("derived", "depth-upscaled"), up.reasons


def test_moe_upcycled_from_dense_is_detected(zoo: dict, tmp_path: Path) -> None:
    base = zoo["base"]
    rng = np.random.default_rng(5)
    moe = {k: v for k, v in base.items() if ".mlp." not in k}
    for k, v in base.items():
        if ".mlp." in k:
            for e in range(4):
                name = k.replace(".mlp.", f".mlp.experts.{e}.")
                moe[name] = (v + 0.2 * v.std() * rng.standard_normal(v.shape)).astype(np.float32)
    for i in range(4):
        moe[f"model.layers.{i}.mlp.gate.weight"] = rng.standard_normal((4, 64)).astype(np.float32)
    synth.save_model(tmp_path / "moe", moe, dict(zoo["cfg"], num_experts=4), zoo["tok"])
    cmp = compare_fingerprints(zoo["fps"]["base"], fingerprint_of(str(tmp_path / "moe")))
    assert (cmp.verdict, cmp.relation) == ("derived", "upcycled-moe"), cmp.reasons
    assert cmp.signal("experts_vs_dense").details["experts"] == 4


def test_q8_gguf_export_is_derived_quantized(zoo: dict, tmp_path: Path) -> None:
    base, cfg = zoo["base"], zoo["cfg"]
    path = tmp_path / "m.gguf"
    write_gguf(path, base, zoo["tok"], heads=4, kv=2, quant=gguf.GGMLQuantizationType.Q8_0)
    cmp = compare_fingerprints(zoo["fps"]["base"], fingerprint_of(str(path)))
    assert (cmp.verdict, cmp.relation) == ("derived", "quantized"), cmp.reasons
    # the GGUF's own token list matches tokenizer.json's strings: every token is shared
    assert cmp.signal("tokenizer").score == 1.0
    assert cmp.signal("aligned_forms").score > 0.99
    del cfg


def test_vocabulary_change_still_matches_by_token_string(zoo: dict, tmp_path: Path) -> None:
    tok = json.loads(zoo["tok"])
    vocab = tok["model"]["vocab"]
    rng = np.random.default_rng(3)
    items = sorted(vocab.items(), key=lambda kv: kv[1])
    keep = [items[i] for i in sorted(rng.permutation(len(items))[: int(len(items) * 0.8)])]
    order = rng.permutation(len(keep))
    new_vocab = {keep[j][0]: i for i, j in enumerate(order)}
    tok["model"]["vocab"] = new_vocab
    tok["model"]["merges"] = []
    old_ids = np.array([keep[j][1] for j in order])
    t = dict(zoo["base"])
    t["model.embed_tokens.weight"] = t["model.embed_tokens.weight"][old_ids]
    t["lm_head.weight"] = t["lm_head.weight"][old_ids]
    cfg = dict(zoo["cfg"], vocab_size=len(new_vocab))
    synth.save_model(tmp_path / "v", synth.perturb(t, 9, 0.2), cfg, json.dumps(tok))
    cmp = compare_fingerprints(zoo["fps"]["base"], fingerprint_of(str(tmp_path / "v")))
    assert cmp.verdict == "derived", cmp.reasons
    assert cmp.signal("aligned_forms").p_value < 1e-9


def test_reused_embeddings_alone_are_shared_components(zoo: dict, tmp_path: Path) -> None:
    other = synth.random_llama(31, zoo["cfg"])
    for k in ("model.embed_tokens.weight", "lm_head.weight"):
        other[k] = zoo["base"][k].copy()
    synth.save_model(tmp_path / "emb", other, zoo["cfg"], zoo["tok"])
    cmp = compare_fingerprints(zoo["fps"]["base"], fingerprint_of(str(tmp_path / "emb")))
    assert cmp.verdict == "shared-components", cmp.reasons
    assert cmp.signal("embed_rows").p_value < 1e-9
    assert cmp.signal("aligned_forms").p_value > 1e-3


def test_nothing_comparable_is_inconclusive(tmp_path: Path) -> None:
    def tok(prefix: str) -> str:
        return json.dumps(
            {
                "model": {
                    "type": "WordLevel",
                    "unk_token": f"{prefix}0",
                    "vocab": {f"{prefix}{i}": i for i in range(300)},
                }
            }
        )

    ca = synth.llama_config(300, d=32, layers=2, heads=2, kv=2, ff=64)
    cb = synth.llama_config(300, d=48, layers=2, heads=4, kv=4, ff=96)
    synth.save_model(tmp_path / "a", synth.random_llama(1, ca), ca, tok("x"))
    synth.save_model(tmp_path / "b", synth.random_llama(2, cb), cb, tok("y"))
    cmp = compare_fingerprints(
        fingerprint_of(str(tmp_path / "a")), fingerprint_of(str(tmp_path / "b"))
    )
    assert cmp.verdict == "inconclusive", cmp.reasons
    # the reason is this pair's: different widths, and no token in common to line them up
    assert cmp.reasons[0].startswith("nothing comparable: ")
    assert "share 0 anchor tokens" in cmp.reasons[0]
    assert "no block tensor has the same role and shape" in cmp.reasons[0]


def test_dtype_conversion_is_quantized_not_fine_tune(zoo: dict, tmp_path: Path) -> None:
    from safetensors.numpy import save_file

    (tmp_path / "f16").mkdir()
    save_file(
        {k: v.astype(np.float16) for k, v in zoo["base"].items()},
        str(tmp_path / "f16" / "model.safetensors"),
    )
    (tmp_path / "f16" / "config.json").write_text(json.dumps(zoo["cfg"]))
    (tmp_path / "f16" / "tokenizer.json").write_text(zoo["tok"])
    cmp = compare_fingerprints(zoo["fps"]["base"], fingerprint_of(str(tmp_path / "f16")))
    assert (cmp.verdict, cmp.relation) == ("derived", "quantized"), cmp.reasons


def test_procrustes_with_fewer_anchors_than_dimensions_fits_on_their_span() -> None:
    from scanner.weights.align import procrustes, procrustes_factors

    rng = np.random.default_rng(5)
    d = 300
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    x = rng.standard_normal((500, d))
    y = x @ q + 0.01 * rng.standard_normal((500, d))
    u, _, vt = np.linalg.svd(x.T @ y)
    np.testing.assert_allclose(procrustes(x, y), u @ vt, atol=1e-10)  # enough rows: as before
    few, yf = x[:80], y[:80]
    a, b = procrustes_factors(few, yf)
    assert a.shape == (d, 80) and b.shape == (80, d)  # never the d x d SVD
    r = a @ b
    u, _, vt = np.linalg.svd(few.T @ yf)
    # the same least-squares fit as any full orthogonal solution, and an isometry on the span
    assert np.linalg.norm(few @ r - yf) <= np.linalg.norm(few @ (u @ vt) - yf) + 1e-9
    np.testing.assert_allclose(np.linalg.norm(few @ r, axis=1), np.linalg.norm(few, axis=1))


def _orthogonal(d: int, seed: int) -> np.ndarray:
    q, r = np.linalg.qr(np.random.default_rng(seed).standard_normal((d, d)))
    return q * np.sign(np.diag(r))


def _embedding_fp(rows: np.ndarray):
    from scanner.weights.fingerprint import Fingerprint

    return Fingerprint(
        "e", {}, {}, {}, None, np.arange(len(rows), dtype=np.int64), rows.astype(np.float32), {}, {}
    )


def test_aligned_embed_holds_when_anchor_tokens_are_fewer_than_dimensions() -> None:
    """A large model: 400 shared tokens in 768 dimensions. A rotation fitted in every
    dimension would be free on the held-out tokens; the fit in the leading principal
    directions still tells a rotated, fine-tuned copy from an unrelated model."""
    from scanner.weights.signals import aligned_embed

    m, d = 400, 768
    scale = np.arange(1, d + 1) ** -0.6  # embeddings are anisotropic

    def embedding(seed: int) -> np.ndarray:
        rng = np.random.default_rng(seed)
        return (rng.standard_normal((m, d)) * scale) @ _orthogonal(d, seed + 100)

    x = embedding(1)
    noise = np.random.default_rng(2).standard_normal((m, d))
    copy = x @ _orthogonal(d, 3) + 0.3 * noise * np.linalg.norm(x) / np.sqrt(m * d)
    derived = aligned_embed(_embedding_fp(x), _embedding_fp(copy))
    assert derived is not None and derived.details["fitted_dims"] < d
    assert derived.score > 0.9 and derived.p_value < 1e-6, derived
    for seed in (4, 5):
        other = aligned_embed(_embedding_fp(x), _embedding_fp(embedding(seed)))
        assert other is not None and other.p_value > 0.05 and abs(other.score) < 0.1, other


@pytest.mark.parametrize("rows, dims", [(60, 90), (90, 60)])
def test_linear_cka_is_the_same_from_either_gram_matrix(rows: int, dims: int) -> None:
    from scanner.weights.signals import _linear_cka

    rng = np.random.default_rng(rows)
    x = rng.standard_normal((rows, dims))
    y = x @ _orthogonal(dims, 1) + rng.standard_normal((rows, dims))
    xc, yc = x - x.mean(0), y - y.mean(0)
    features = np.linalg.norm(xc.T @ yc) ** 2 / (
        np.linalg.norm(xc.T @ xc) * np.linalg.norm(yc.T @ yc)
    )
    assert _linear_cka(x, y) == pytest.approx(features, rel=1e-9)
    assert 0.3 < _linear_cka(x, y) < 0.95  # related, not identical
    assert _linear_cka(x, x @ _orthogonal(dims, 2)) == pytest.approx(1.0)


def _two_prunings(zoo: dict, tmp_path: Path) -> None:
    """p1 and p2: two 4-layer prunings of one 6-layer model, at the same depth."""
    cfg, base = zoo["cfg"], synth.random_llama(23, dict(zoo["cfg"], num_hidden_layers=6))
    cfg4 = dict(cfg, num_hidden_layers=4)
    synth.save_model(tmp_path / "p1", _layers(base, [0, 1, 2, 4]), cfg4, zoo["tok"])
    synth.save_model(tmp_path / "p2", _layers(base, [0, 1, 3, 5]), cfg4, zoo["tok"])


def test_two_prunings_of_one_model_are_siblings_not_pruned_from_each_other(
    zoo: dict, tmp_path: Path
) -> None:
    _two_prunings(zoo, tmp_path)
    cmp = compare_fingerprints(
        fingerprint_of(str(tmp_path / "p1")), fingerprint_of(str(tmp_path / "p2"))
    )
    assert (cmp.verdict, cmp.relation) == ("derived", "sibling"), cmp.reasons
    assert "common ancestor" in cmp.reasons[-1]


def test_a_sibling_in_the_library_is_a_common_ancestor_not_an_undeclared_base(
    zoo: dict, tmp_path: Path
) -> None:
    from scanner.analyzers import AuditOptions
    from scanner.audit import analyze_target
    from scanner.weights.analyzer import WeightsAnalyzer
    from scanner.weights.library import LibraryStore, add_model

    _two_prunings(zoo, tmp_path)
    add_model(str(tmp_path / "p1"), "acme/pruned-a", lib=LibraryStore())
    result = analyze_target(str(tmp_path / "p2"), AuditOptions(), analyzers=[WeightsAnalyzer()])
    kinds = {f.kind: f for f in result.findings}
    assert "undeclared-base-model" not in kinds and "weights-derived" not in kinds
    lineage = kinds["weights-lineage"]
    assert lineage.evidence.matched == "acme/pruned-a" and "share an ancestor" in lineage.message
    assert "no entry matches" in kinds["library-search"].message


def test_the_same_weights_without_a_head_are_named_so_and_a_changed_block_is_not(
    zoo: dict, tmp_path: Path
) -> None:
    """An export that leaves out a head the source keeps (ONNX exports drop an unused
    pooler) holds the same weights: `same-weights`, not a quantized copy with a difference of
    0; one changed block value makes it a derivation of another kind."""
    base, cfg = zoo["base"], zoo["cfg"]
    headless = {k: v for k, v in base.items() if k != "lm_head.weight"}
    synth.save_model(
        tmp_path / "headless", headless, dict(cfg, tie_word_embeddings=True), zoo["tok"]
    )
    fb = zoo["fps"]["base"]
    same = compare_fingerprints(fb, fingerprint_of(str(tmp_path / "headless")))
    assert (same.verdict, same.relation) == ("derived", "same-weights"), same.reasons
    assert "only A holds lm_head" in same.reasons[-1]
    touched = dict(headless)
    w = touched["model.layers.1.mlp.up_proj.weight"].copy()
    w[0, 0] += 0.5
    touched["model.layers.1.mlp.up_proj.weight"] = w
    synth.save_model(tmp_path / "touched", touched, dict(cfg, tie_word_embeddings=True), zoo["tok"])
    other = compare_fingerprints(fb, fingerprint_of(str(tmp_path / "touched")))
    assert other.verdict == "derived" and other.relation != "same-weights", other.reasons

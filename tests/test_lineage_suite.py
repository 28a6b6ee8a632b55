"""The lineage evaluation suite is honest (its disguises do what they claim) and provscan's
comparison gets every pair of the quick suite right."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the suite generator needs the eval extra (torch)")
gguf = pytest.importorskip("gguf")

from bench.lineage import export  # noqa: E402
from bench.lineage.make_suite import QUICK, build  # noqa: E402
from bench.lineage.tinyllama import forward, layer_count, load_model  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("lineage-suite")
    build(out, QUICK, log=lambda _msg: None)
    return out


@pytest.fixture(scope="module")
def manifest(suite: Path) -> dict:
    return json.loads((suite / "pairs.json").read_text())


def _model(suite: Path, name: str) -> tuple[dict, dict]:
    return load_model(suite / "models" / name)


def _probe(suite: Path) -> torch.Tensor:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(suite / "models" / "base" / "tokenizer.json"))
    ids = tok.encode("def read(path):\n    with open(path) as f:\n        return f.read()\n").ids
    return torch.tensor(ids[:32])[None]


def test_pairs_json_names_existing_models_with_consistent_configs(
    suite: Path, manifest: dict
) -> None:
    assert {p["label"] for p in manifest["pairs"]} == {"derived", "unrelated"}
    for pair in manifest["pairs"]:
        assert (suite / pair["a"]).exists() and (suite / pair["b"]).exists()
        if pair["label"] == "derived":
            assert pair["relation"] in pair["accept"]
        else:
            assert pair["relation"] is None and pair["accept"] == []
    for name, info in manifest["models"].items():
        folder = suite / info["path"]
        if folder.is_dir() and (folder / "model.safetensors").exists():
            params, cfg = _model(suite, name)
            assert cfg["vocab_size"] == params["model.embed_tokens.weight"].shape[0]
            assert cfg["num_hidden_layers"] == layer_count(params)
            vocab = json.loads((folder / "tokenizer.json").read_text())
            size = len(vocab["model"]["vocab"]) + sum(
                a["content"] not in vocab["model"]["vocab"] for a in vocab["added_tokens"]
            )
            assert size == cfg["vocab_size"], name


@pytest.mark.parametrize("name", ["base", "moe"])
def test_suite_models_are_real_hf_llama_and_mixtral_checkpoints(suite: Path, name: str) -> None:
    """transformers loads the folder as it is and computes the generator's logits."""
    transformers = pytest.importorskip("transformers")
    params, cfg = _model(suite, name)
    model = transformers.AutoModelForCausalLM.from_pretrained(
        str(suite / "models" / name), dtype=torch.float32
    ).eval()
    assert type(model).__name__ == cfg["architectures"][0]
    ids = _probe(suite)
    with torch.no_grad():
        diff = (model(ids).logits - forward(params, cfg, ids)).abs().max().item()
    assert diff < 1e-4


@pytest.mark.parametrize("name", ["permuted", "rotated", "rescaled"])
def test_reparametrised_models_keep_the_function_but_not_the_weights(
    suite: Path, name: str
) -> None:
    base, cfg = _model(suite, "base")
    other, _ = _model(suite, name)
    ids = _probe(suite)
    with torch.no_grad():
        diff = (forward(base, cfg, ids) - forward(other, cfg, ids)).abs().max().item()
    assert diff < 1e-3
    key = "model.layers.1.self_attn.q_proj.weight"
    moved = (base[key] - other[key]).abs().max().item()
    assert moved > 0.1 * base[key].abs().max().item()


def test_rotated_model_has_folded_norm_gains(suite: Path) -> None:
    base, _ = _model(suite, "base")
    rotated, _ = _model(suite, "rotated")
    assert not torch.allclose(base["model.norm.weight"], torch.ones(64))
    assert torch.allclose(rotated["model.norm.weight"], torch.ones(64))


@pytest.mark.parametrize("name,qtype,min_corr", [("q8_0", "Q8_0", 0.999), ("q4_0", "Q4_0", 0.98)])
def test_gguf_exports_are_readable_and_dequantize_to_the_base(
    suite: Path, name: str, qtype: str, min_corr: float
) -> None:
    base, cfg = _model(suite, "base")
    reader = gguf.GGUFReader(str(suite / "models" / name / f"model-{name}.gguf"))
    tensors = {t.name: t for t in reader.tensors}
    assert len(tensors) == 2 + 1 + 9 * layer_count(base)
    t = tensors["blk.2.attn_q.weight"]
    assert t.tensor_type == getattr(gguf.GGMLQuantizationType, qtype)
    deq = gguf.quants.dequantize(t.data, t.tensor_type)
    want = export.rope_interleave(
        base["model.layers.2.self_attn.q_proj.weight"].numpy(), cfg["num_attention_heads"]
    )
    assert np.corrcoef(deq.ravel(), want.ravel())[0, 1] > min_corr
    tokens = reader.fields["tokenizer.ggml.tokens"]
    assert len(tokens.data) == cfg["vocab_size"]


def test_onnx_int8_export_dequantizes_to_the_base(suite: Path) -> None:
    base, _ = _model(suite, "base")
    weights = export.dequantize_onnx(suite / "models" / "int8_onnx" / "model.onnx")
    assert set(weights) == set(base)
    for key, value in base.items():
        step = value.abs().max().item() / 127
        assert np.abs(weights[key] - value.numpy()).max() <= step


def test_vocabulary_change_moves_rows_with_their_tokens(suite: Path) -> None:
    base, _ = _model(suite, "base")
    changed, _ = _model(suite, "vocab")
    old = json.loads((suite / "models/base/tokenizer.json").read_text())["model"]["vocab"]
    new = json.loads((suite / "models/vocab/tokenizer.json").read_text())["model"]["vocab"]
    shared = sorted(set(old) & set(new))
    assert len(set(old) - set(new)) > 0 and len(set(new) - set(old)) > 0
    assert sum(old[t] != new[t] for t in shared) > 0.9 * len(shared)
    a = base["model.embed_tokens.weight"][[old[t] for t in shared]]
    b = changed["model.embed_tokens.weight"][[new[t] for t in shared]]
    cos = torch.nn.functional.cosine_similarity(a, b, dim=1)
    assert cos.median().item() > 0.9


def test_structural_variants_reuse_the_base_layers(suite: Path) -> None:
    base, _ = _model(suite, "base")
    pruned, _ = _model(suite, "pruned")
    upscaled, _ = _model(suite, "upscaled")
    moe, _ = _model(suite, "moe")
    assert (layer_count(base), layer_count(pruned), layer_count(upscaled)) == (6, 4, 8)

    def cos(x: torch.Tensor, y: torch.Tensor) -> float:
        return torch.nn.functional.cosine_similarity(x.ravel(), y.ravel(), dim=0).item()

    v = "self_attn.v_proj.weight"
    assert cos(pruned[f"model.layers.3.{v}"], base[f"model.layers.5.{v}"]) > 0.9
    assert cos(upscaled[f"model.layers.4.{v}"], base[f"model.layers.2.{v}"]) > 0.9
    dense = base["model.layers.0.mlp.up_proj.weight"]
    for e in range(4):
        assert cos(moe[f"model.layers.0.block_sparse_moe.experts.{e}.w3.weight"], dense) > 0.9


def test_provscan_judges_every_pair_of_the_quick_suite(suite: Path, manifest: dict) -> None:
    compare = pytest.importorskip(
        "scanner.weights.compare", reason="the weight analyzer (compare_models) has not landed"
    )
    wrong, wrong_relation, positives = [], [], 0
    for pair in manifest["pairs"]:
        cmp = compare.compare_models(str(suite / pair["a"]), str(suite / pair["b"]))
        want = "derived" if pair["label"] == "derived" else "unrelated"
        if cmp.verdict != want:
            wrong.append(
                f"{pair['a_name']}~{pair['b_name']}: {cmp.verdict} ({'; '.join(cmp.reasons)})"
            )
        if want == "derived":
            positives += 1
            if cmp.relation not in pair["accept"]:
                wrong_relation.append(f"{pair['b_name']}: {cmp.relation}")
        if {pair["a_name"], pair["b_name"]} == {"random_a", "random_b"}:
            # honest calibration: two unrelated random models are not "significant"
            assert min(s.p_value for s in cmp.signals) > 1e-3, cmp.signals
    assert not wrong, wrong
    assert len(wrong_relation) <= 0.2 * positives, wrong_relation

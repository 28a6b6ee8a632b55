"""A checkpoint that ships no tokenizer is still compared on its embedding, row by token id.

Real ONNX exports are often published bare (paraphrase-MiniLM-L3-v2.onnx: no tokenizer.json),
so no token lines up with the other model's by its string. With the same vocabulary size
and width, a reused embedding still keeps its rows at their ids (signals.embed_by_id):
MiniLM-L3 and all-MiniLM-L6, both cut from MiniLM-L12 and fine-tuned apart, keep a cosine
of 0.89 there, where their blocks no longer match at all.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("onnx")

import onnxexports as ox  # noqa: E402

from scanner.weights.compare import compare_models  # noqa: E402

EMBED = "embeddings.word_embeddings.weight"


def _bare_export(src: Path, out: Path) -> Path:
    """torch.onnx.export (TorchScript) of `src`, published without its tokenizer."""
    folder = ox.export(src, out, dynamo=False)
    (folder / "tokenizer.json").unlink(missing_ok=True)
    return folder


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from safetensors.numpy import load_file, save_file

    root = tmp_path_factory.mktemp("no-tokenizer")
    base = ox.tiny_bert(root / "base", seed=0)
    # a sibling: the base's token embedding, trained further, under blocks of its own
    sibling = ox.tiny_bert(root / "sibling", seed=7)
    tensors = load_file(str(sibling / "model.safetensors"))
    shared = load_file(str(base / "model.safetensors"))[EMBED]
    rng = np.random.default_rng(1)
    tensors[EMBED] = (shared + 0.4 * shared.std() * rng.standard_normal(shared.shape)).astype(
        np.float32
    )
    save_file(tensors, str(sibling / "model.safetensors"))
    other = ox.tiny_bert(root / "other", seed=11)
    return {
        "base": base,
        "sibling": _bare_export(sibling, root / "sibling-onnx"),
        "other": _bare_export(other, root / "other-onnx"),
    }


def test_a_bare_export_sharing_the_embedding_by_id_shares_components(
    made: dict[str, Path],
) -> None:
    cmp = compare_models(str(made["base"]), str(made["sibling"]))
    assert cmp.verdict == "shared-components", cmp.reasons
    by = {s.name: s for s in cmp.signals}
    assert by["embed_by_id"].score > 0.5 and by["embed_by_id"].z > 5


def test_a_bare_export_of_an_unrelated_model_stays_unrelated(made: dict[str, Path]) -> None:
    cmp = compare_models(str(made["base"]), str(made["other"]))
    assert cmp.verdict == "unrelated", cmp.reasons
    by = {s.name: s for s in cmp.signals}
    assert abs(by["embed_by_id"].z) < 3

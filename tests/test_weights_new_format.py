"""Adding a weight format is one module and one registry line.

tests/toyformat.py is that module for a made-up format; the test adds it to
formats.registry.READERS, as the one line would, and a model stored in it is opened,
fingerprinted and compared like any other.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import synth

from scanner.weights.compare import compare_models
from scanner.weights.finite import FiniteReader
from scanner.weights.formats import registry
from scanner.weights.loader import load_model
from tests.toyformat import ToyReader, write_toy


def test_a_format_added_by_one_registry_line_is_fingerprinted_like_any_other(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    vocab = [f"w{i}" for i in range(300)]
    tok = json.dumps(
        {
            "model": {
                "type": "WordLevel",
                "vocab": {t: i for i, t in enumerate(vocab)},
                "unk_token": "w0",
            }
        }
    )
    cfg = synth.llama_config(300, d=32, layers=2, heads=4, kv=2, ff=64)
    tensors = synth.random_llama(5, cfg)
    synth.save_model(tmp_path / "st", tensors, cfg, tok)
    (tmp_path / "toy").mkdir()
    write_toy(tmp_path / "toy" / "model.toyw", tensors, vocab)  # vocabulary inside
    (tmp_path / "toy" / "config.json").write_text(json.dumps(cfg))
    assert load_model(str(tmp_path / "toy")).reader is None  # not a format yet

    monkeypatch.setattr(registry, "READERS", (*registry.READERS, "tests.toyformat"))
    model = load_model(str(tmp_path / "toy"))
    # every format's reader is handed on wrapped: its tensors come out finite (finite.py)
    assert isinstance(model.reader, FiniteReader) and isinstance(model.reader.inner, ToyReader)
    assert model.vocab == vocab
    assert model.weight_files == ["model.toyw"]
    model.close()
    same = compare_models(str(tmp_path / "st"), str(tmp_path / "toy"))
    assert same.verdict == "identical"
    other = tmp_path / "other.toyw"
    write_toy(other, synth.perturb(tensors, 1, 0.1), vocab)
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    tuned = compare_models(str(tmp_path / "st"), str(other))
    assert (tuned.verdict, tuned.relation) == ("derived", "fine-tune")

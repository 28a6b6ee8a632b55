"""Vocabularies decoded in one pass give what decoding each token alone gives."""

from __future__ import annotations

import random

import numpy as np
import pytest

from scanner.weights.tokens import (
    _byte_decoder,
    decode_byte_level,
    decode_vocab,
    normalise,
    token_hashes,
    vocab_from_tokenizer_json,
)


def _byte_level(text: bytes) -> str:
    """How byte-level BPE writes bytes (the inverse of the decoder table)."""
    encoder = {b: ch for ch, b in _byte_decoder().items()}
    return "".join(encoder[b] for b in text)


def test_byte_level_tokens_decode_to_their_text() -> None:
    tokens = [
        _byte_level(b" hello"),
        _byte_level("naïve".encode()),
        _byte_level("日本".encode()),
        _byte_level("日".encode()[:2]),
        "",
    ]
    assert decode_vocab(tokens, byte_level=True) == [" hello", "naïve", "日本", "\\xe6\\x97", ""]


@pytest.mark.parametrize("byte_level", [True, False])
def test_one_pass_equals_token_by_token_on_hostile_vocabularies(byte_level: bool) -> None:
    rng = random.Random(7)
    alphabet = list(_byte_decoder())
    # characters a byte-level vocabulary cannot hold: raw space, DEL, soft hyphen, the
    # SentencePiece space, an emoji, a lone surrogate
    odd = [" ", "\x7f", "\xad", "\u2581", "\U0001f600", "\ud800"]
    words = [
        " ".join(rng.choice(["the", "naïve", "日本", "ok"]) for _ in range(3)) for _ in range(200)
    ]
    tokens = [_byte_level(w.encode()[: rng.randint(0, 12)]) for w in words]
    tokens += [
        "".join(rng.choice(alphabet + odd) for _ in range(rng.randint(0, 9))) for _ in range(5000)
    ]
    expected = [normalise(decode_byte_level(t) if byte_level else t) for t in tokens]
    assert decode_vocab(tokens, byte_level) == expected
    assert any(t != e for t, e in zip(tokens, expected, strict=True))  # decoding did work


def test_token_hashes_depend_on_the_string_alone() -> None:
    rng = random.Random(3)
    alphabet = "ab日\u2581 \ud800\U0001f600"
    tokens = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 7))) for _ in range(20000)]
    h = token_hashes(tokens)
    assert h.dtype == np.int64 and (h >= 0).all()
    # where a token sits in the vocabulary, and what is around it, does not matter
    alone = {t: int(token_hashes([t])[0]) for t in set(tokens[:300])}
    assert all(int(h[i]) == alone[t] for i, t in enumerate(tokens[:300]))
    shuffled = tokens[::-1]
    assert token_hashes(shuffled).tolist() == h[::-1].tolist()
    # distinct strings, distinct hashes (order and length count: "ab" / "ba", "" / "a")
    distinct = sorted(set(tokens)) + [f"tok{i}" for i in range(200_000)]
    assert len(set(token_hashes(distinct).tolist())) == len(set(distinct))
    assert len({int(x) for x in token_hashes(["ab", "ba", "", "a", "aa", "a\x00"])}) == 6


def _trained_tokenizer() -> dict:
    """A real byte-level BPE tokenizer (the tokenizers library), as Hugging Face writes it."""
    import json
    import sysconfig
    from pathlib import Path

    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    lib = Path(sysconfig.get_paths()["stdlib"])
    text = [p.read_text(errors="replace") for p in sorted(lib.glob("email/*.py"))]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(["<|end|>"])
    tok.train_from_iterator(text, trainers.BpeTrainer(vocab_size=3000, show_progress=False))
    return json.loads(tok.to_str())


def _expected(doc: dict) -> list[str]:
    pairs = {i: t for t, i in doc["model"]["vocab"].items()}
    pairs.update({a["id"]: a["content"] for a in doc["added_tokens"]})
    tokens = [pairs.get(i, "") for i in range(max(pairs) + 1)]
    return [normalise(decode_byte_level(t)) for t in tokens]


def test_tokenizer_files_give_the_same_vocabulary_however_they_are_laid_out() -> None:
    import json

    doc = _trained_tokenizer()
    assert doc["model"]["merges"] and list(doc)[-1] == "model"
    expected = _expected(doc)
    assert len(expected) > 2000 and " the" in expected
    # as written (the merges close the file: they are skipped), compact, merges first,
    # a token spelled "merges", and ids not in order
    compact = json.dumps(doc, separators=(",", ":")).encode()
    merges_first = dict(
        doc,
        model={
            "merges": doc["model"]["merges"],
            **{k: v for k, v in doc["model"].items() if k != "merges"},
        },
    )
    with_token = json.loads(json.dumps(doc))
    with_token["model"]["vocab"] = dict(with_token["model"]["vocab"], merges=len(expected))
    shuffled = json.loads(json.dumps(doc))
    shuffled["model"]["vocab"] = dict(reversed(list(doc["model"]["vocab"].items())))
    for text in (
        json.dumps(doc, indent=2, ensure_ascii=False).encode(),
        compact,
        json.dumps(merges_first).encode(),
        json.dumps(shuffled).encode(),
    ):
        assert vocab_from_tokenizer_json(text) == expected
    assert vocab_from_tokenizer_json(json.dumps(with_token).encode()) == expected + ["merges"]


@pytest.mark.parametrize("vocab", [{"a": [1]}, {"a": -1}, {"a": 1.5}, {"a": 10**9}, [], "text"])
def test_impossible_vocabularies_are_refused_with_a_value_error(vocab: object) -> None:
    import json

    with pytest.raises(ValueError):
        vocab_from_tokenizer_json(json.dumps({"model": {"vocab": vocab, "merges": []}}).encode())


def test_merges_that_close_the_file_are_not_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    import json
    import types

    from scanner.weights import tokens as tokens_module

    doc = _trained_tokenizer()
    text = json.dumps(doc, indent=2).encode()
    parsed: list[int] = []

    def loads(data: bytes) -> object:
        parsed.append(len(data))
        return json.loads(data)

    monkeypatch.setattr(tokens_module, "json", types.SimpleNamespace(loads=loads, dumps=json.dumps))
    assert vocab_from_tokenizer_json(text) == _expected(doc)
    merges = len(json.dumps(doc["model"]["merges"], indent=2))
    assert parsed and max(parsed) < len(text) - merges + 16

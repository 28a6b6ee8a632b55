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
)


def _byte_level(text: bytes) -> str:
    """How byte-level BPE writes bytes (the inverse of the decoder table)."""
    encoder = {b: ch for ch, b in _byte_decoder().items()}
    return "".join(encoder[b] for b in text)


def test_byte_level_tokens_decode_to_their_text() -> None:
    tokens = [_byte_level(b" hello"), _byte_level("naïve".encode()),
              _byte_level("日本".encode()), _byte_level("日".encode()[:2]), ""]
    assert decode_vocab(tokens, byte_level=True) == [" hello", "naïve", "日本", "\\xe6\\x97", ""]


@pytest.mark.parametrize("byte_level", [True, False])
def test_one_pass_equals_token_by_token_on_hostile_vocabularies(byte_level: bool) -> None:
    rng = random.Random(7)
    alphabet = list(_byte_decoder())
    # characters a byte-level vocabulary cannot hold: raw space, DEL, soft hyphen, the
    # SentencePiece space, an emoji, a lone surrogate
    odd = [" ", "\x7f", "\xad", "\u2581", "\U0001F600", "\ud800"]
    words = [" ".join(rng.choice(["the", "naïve", "日本", "ok"]) for _ in range(3))
             for _ in range(200)]
    tokens = [_byte_level(w.encode()[: rng.randint(0, 12)]) for w in words]
    tokens += ["".join(rng.choice(alphabet + odd) for _ in range(rng.randint(0, 9)))
               for _ in range(5000)]
    expected = [normalise(decode_byte_level(t) if byte_level else t) for t in tokens]
    assert decode_vocab(tokens, byte_level) == expected
    assert any(t != e for t, e in zip(tokens, expected, strict=True))  # decoding did work


def test_token_hashes_depend_on_the_string_alone() -> None:
    rng = random.Random(3)
    alphabet = "ab日\u2581 \ud800\U0001F600"
    tokens = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 7)))
              for _ in range(20000)]
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

"""Vocabularies as token strings, so tokens can be matched across tokenizers by what they spell.

Byte-level BPE (GPT-2, Llama 3, Qwen) writes bytes as printable stand-ins ("Ġ" for a space);
SentencePiece writes "▁". Both are mapped back to the text they stand for.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from typing import Any

import numpy as np

MAX_TOKENIZER_BYTES = 64 * 1024 * 1024
MAX_VOCAB = 4_000_000


@cache
def _byte_decoder() -> dict[str, int]:
    """The inverse of byte-level BPE's byte -> printable character table."""
    printable = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
                 + list(range(ord("®"), ord("ÿ") + 1)))
    chars = list(printable)
    n = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(printable, chars, strict=True)}


@cache
def _byte_translation() -> tuple[dict[int, int], frozenset[str]]:
    table = _byte_decoder()
    return {ord(ch): b for ch, b in table.items()}, frozenset(table)


def decode_byte_level(token: str) -> str:
    """The text of a byte-level BPE token (a token with other characters is kept as is)."""
    trans, alphabet = _byte_translation()
    if not alphabet.issuperset(token):
        return token
    raw = token.translate(trans).encode("latin-1")  # every character is now one byte
    return raw.decode("utf-8", errors="backslashreplace")


def _is_byte_level(tok: dict[str, Any]) -> bool:
    text = json.dumps(tok.get("pre_tokenizer")) + json.dumps(tok.get("decoder"))
    return "ByteLevel" in text


def vocab_from_tokenizer_json(data: bytes) -> list[str]:
    """Token strings in id order from a tokenizer.json (BPE, WordPiece or Unigram)."""
    try:
        tok = json.loads(data)
        model = tok.get("model") or {}
        vocab = model.get("vocab")
    except (ValueError, AttributeError, RecursionError) as exc:
        raise ValueError("tokenizer.json is not a tokenizer file") from exc
    pairs: dict[int, str] = {}
    if isinstance(vocab, dict):
        for t, i in vocab.items():
            pairs[int(i)] = str(t)
    elif isinstance(vocab, list):
        for i, item in enumerate(vocab):
            pairs[i] = str(item[0] if isinstance(item, list) else item)
    for added in tok.get("added_tokens") or []:
        if isinstance(added, dict) and "id" in added:
            pairs[int(added["id"])] = str(added.get("content", ""))
    if not pairs or len(pairs) > MAX_VOCAB or max(pairs) > MAX_VOCAB:
        raise ValueError("tokenizer.json has no vocabulary or an impossible one")
    byte_level = _is_byte_level(tok)
    out = [""] * (max(pairs) + 1)
    for i, t in pairs.items():
        out[i] = normalise(decode_byte_level(t) if byte_level else t)
    return out


def normalise(token: str) -> str:
    return token.replace("▁", " ")


def token_hashes(vocab: list[str]) -> np.ndarray:
    """A 63-bit hash of each token string (public, seedless: fingerprints compare by it)."""
    out = np.empty(len(vocab), dtype=np.int64)
    for i, t in enumerate(vocab):
        h = hashlib.blake2b(t.encode("utf-8", "surrogatepass"), digest_size=8).digest()
        out[i] = int.from_bytes(h, "little") >> 1
    return out

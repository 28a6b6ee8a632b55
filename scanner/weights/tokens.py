"""Vocabularies as token strings, so tokens can be matched across tokenizers by what they spell.

Byte-level BPE (GPT-2, Llama 3, Qwen) writes bytes as printable stand-ins ("Ġ" for a space);
SentencePiece writes "▁". Both are mapped back to the text they stand for.
"""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Any

import numpy as np

from .sketch import PUBLIC_SEED, mix64

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


@cache
def _outside_alphabet() -> re.Pattern[str]:
    _, alphabet = _byte_translation()
    return re.compile("[^" + "".join(re.escape(c) for c in sorted(alphabet)) + "]")


def decode_vocab(tokens: list[str], byte_level: bool) -> list[str]:
    """normalise(decode_byte_level(t)) of every token (or normalise(t)): the checks and the
    translation in passes over the whole vocabulary, one utf-8 decode per token.

    Byte-level characters stand for one byte each, so token i keeps its offsets in the
    translated text; tokens with characters outside that alphabet are kept as they are.
    """
    if byte_level and tokens:
        trans, _ = _byte_translation()
        lengths = np.fromiter(map(len, tokens), dtype=np.int64, count=len(tokens))
        ends = np.cumsum(lengths)
        joined = "".join(tokens)
        odd = {int(i) for i in np.searchsorted(
            ends, [m.start() for m in _outside_alphabet().finditer(joined)], side="right")}
        if odd:  # blank them: what is left translates to one byte a character
            tokens_in = ["" if i in odd else t for i, t in enumerate(tokens)]
            lengths[list(odd)] = 0
            ends = np.cumsum(lengths)
            joined = "".join(tokens_in)
        raw = joined.translate(trans).encode("latin-1")
        bounds = zip((ends - lengths).tolist(), ends.tolist(), strict=True)
        out = [raw[a:b].decode("utf-8", errors="backslashreplace") for a, b in bounds]
        for i in odd:
            out[i] = tokens[i]
    else:
        out = list(tokens)
    if any("▁" in t for t in (out if len(out) < 64 else ["".join(out)])):
        out = [normalise(t) for t in out]
    return out


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
        pairs = {int(i): str(t) for t, i in vocab.items()}
    elif isinstance(vocab, list):
        for i, item in enumerate(vocab):
            pairs[i] = str(item[0] if isinstance(item, list) else item)
    for added in tok.get("added_tokens") or []:
        if isinstance(added, dict) and "id" in added:
            pairs[int(added["id"])] = str(added.get("content", ""))
    if not pairs or len(pairs) > MAX_VOCAB or max(pairs) > MAX_VOCAB:
        raise ValueError("tokenizer.json has no vocabulary or an impossible one")
    tokens = [""] * (max(pairs) + 1)
    for i, t in pairs.items():
        tokens[i] = t
    return decode_vocab(tokens, _is_byte_level(tok))


def normalise(token: str) -> str:
    return token.replace("▁", " ")


def token_hashes(vocab: list[str]) -> np.ndarray:
    """A 63-bit hash of each token string: public and seedless, so fingerprints compare by it.

    Computed over the whole vocabulary at once (a hash call per token cost 0.6 us, 90 ms for
    a 150k vocabulary): each code point is mixed with its position in the token
    (splitmix64), the mixes of a token are summed and mixed again with its length. Equal
    strings hash equal; it is not a cryptographic hash (nothing here needs one: a vocabulary
    can be changed at will, colliding with it gains nothing).
    """
    n = len(vocab)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    lengths = np.fromiter(map(len, vocab), dtype=np.int64, count=n)
    points = np.frombuffer("".join(vocab).encode("utf-32-le", "surrogatepass"),
                           dtype="<u4").astype(np.uint64)
    starts = np.cumsum(lengths) - lengths
    pos = np.arange(points.size, dtype=np.int64) - np.repeat(starts, lengths)
    with np.errstate(over="ignore"):
        terms = mix64(((pos.astype(np.uint64) << np.uint64(32)) | points) * _TOKEN_ODD
                      + _TOKEN_SEED)
        sums = np.zeros(n, dtype=np.uint64)
        filled = lengths > 0
        if points.size:  # a token's terms run from its start to the next token's
            sums[filled] = np.add.reduceat(terms, starts[filled])
        h = mix64(sums ^ mix64(lengths.astype(np.uint64) * _TOKEN_ODD + _TOKEN_SEED))
    return (h >> np.uint64(1)).astype(np.int64)


_TOKEN_SEED = np.uint64(PUBLIC_SEED)
_TOKEN_ODD = np.uint64(0x9E3779B97F4A7C15)

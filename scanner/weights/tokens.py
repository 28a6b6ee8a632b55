"""Vocabularies as token strings, so tokens can be matched across tokenizers by what they spell.

Byte-level BPE (GPT-2, Llama 3, Qwen) writes bytes as printable stand-ins ("Ġ" for a space);
SentencePiece writes "▁". Both are mapped back to the text they stand for. WordPiece (BERT)
marks the other side: a word's continuation starts with "##", so its word-initial pieces
are written as the others write them, after a space (" the", "ing"), as llama.cpp writes
a BERT vocabulary into GGUF.
"""

from __future__ import annotations

import gc
import json
import re
from collections.abc import Iterable
from functools import cache
from typing import Any

import numpy as np

from .sketch import PUBLIC_SEED, mix64

MAX_TOKENIZER_BYTES = 64 * 1024 * 1024
MAX_VOCAB = 1 << 21
"""Tokens of a vocabulary (tokenizer.json or a GGUF token list): the largest real ones hold
~2.6e5; a list of millions of one-byte tokens only costs memory (a 50 MB GGUF of them once
took 7 GB)."""


@cache
def _byte_decoder() -> dict[str, int]:
    """The inverse of byte-level BPE's byte -> printable character table."""
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
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
        odd = {
            int(i)
            for i in np.searchsorted(
                ends, [m.start() for m in _outside_alphabet().finditer(joined)], side="right"
            )
        }
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
    if "▁" in "".join(out):
        out = [normalise(t) for t in out]
    return out


def _is_byte_level(tok: dict[str, Any]) -> bool:
    text = json.dumps(tok.get("pre_tokenizer")) + json.dumps(tok.get("decoder"))
    return "ByteLevel" in text


def vocab_from_tokenizer_json(data: bytes) -> list[str]:
    """Token strings in id order from a tokenizer.json (BPE, WordPiece or Unigram)."""
    paused = gc.isenabled()
    gc.disable()  # a vocabulary is ~10^5 acyclic objects: collections would only re-walk them
    try:
        tok = _parse(data)
        model = tok.get("model") or {}
        vocab = model.get("vocab")
        tokens: list[str] = []
        if isinstance(vocab, dict):
            ids = list(vocab.values())
            if all(type(i) is int for i in ids) and ids == list(range(len(ids))):
                tokens = list(vocab)  # the usual layout: written in id order
            else:
                tokens = _placed((_token_id(i), str(t)) for t, i in vocab.items())
        elif isinstance(vocab, list):
            tokens = [str(item[0] if isinstance(item, list) and item else item) for item in vocab]
        added = [
            (_token_id(a["id"]), str(a.get("content", "")))
            for a in tok.get("added_tokens") or []
            if isinstance(a, dict) and "id" in a
        ]
        if model.get("type") == "WordPiece":
            tokens = word_pieces(tokens, str(model.get("continuing_subword_prefix") or "##"))
        if added:
            tokens = _placed(added, tokens)
        if not tokens or len(tokens) > MAX_VOCAB:
            raise ValueError("tokenizer.json has no vocabulary or an impossible one")
        return decode_vocab(tokens, _is_byte_level(tok))
    except (AttributeError, TypeError, RecursionError) as exc:
        raise ValueError("tokenizer.json is not a tokenizer file") from exc
    finally:
        if paused:
            gc.enable()


def word_pieces(tokens: list[str], prefix: str = "##") -> list[str]:
    """WordPiece tokens as text: "##ing" continues a word ("ing"), a word-initial piece
    starting with a letter or digit follows a space (" the"); punctuation and special
    tokens stay as they are (BERT splits punctuation off, mostly without a space)."""
    out = []
    for t in tokens:
        if t.startswith(prefix) and len(t) > len(prefix):
            out.append(t[len(prefix) :])
        elif t[:1].isalnum():
            out.append(" " + t)
        else:
            out.append(t)
    return out


def _token_id(i: object) -> int:
    if type(i) is not int or not 0 <= i <= MAX_VOCAB:
        raise ValueError(f"tokenizer.json has an impossible token id {str(i)[:40]!r}")
    return i


def _placed(pairs: Iterable[tuple[int, str]], tokens: list[str] | None = None) -> list[str]:
    """tokens with each (id, string) put at its id (the list grows as needed)."""
    out = list(tokens or [])
    for i, t in pairs:
        if i >= len(out):
            out.extend([""] * (i + 1 - len(out)))
        out[i] = t
    return out


# Hugging Face writes the BPE merges last: `"merges": [ ... ]` closes the model and the file.
_MERGES_END = re.compile(rb"\]\s*}\s*}\s*\Z")
_MERGES_KEY = re.compile(rb'"merges"\s*:\s*\[')


def _parse(data: bytes) -> dict[str, Any]:
    """json.loads, without building the merges (half of a large tokenizer.json, unused here)
    when they close the file as Hugging Face writes them; otherwise the whole text."""
    end = _MERGES_END.search(data, max(0, len(data) - 64))
    start = data.rfind(b'"merges"')
    key = _MERGES_KEY.match(data, start) if end and start > 0 else None
    if key and end and data[start - 1 : start] != b"\\" and key.end() <= end.start():
        try:
            tok = json.loads(data[: key.end()] + data[end.start() :])
            model = tok.get("model") if isinstance(tok, dict) else None
            if isinstance(model, dict) and model.get("merges") == [] and "vocab" in model:
                return tok
        except ValueError:
            pass
    try:
        tok = json.loads(data)
    except ValueError as exc:
        raise ValueError("tokenizer.json is not valid JSON") from exc
    if not isinstance(tok, dict):
        raise ValueError("tokenizer.json is not a JSON object")
    return tok


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
    points = np.frombuffer("".join(vocab).encode("utf-32-le", "surrogatepass"), dtype="<u4").astype(
        np.uint64
    )
    starts = np.cumsum(lengths) - lengths
    pos = np.arange(points.size, dtype=np.int64) - np.repeat(starts, lengths)
    with np.errstate(over="ignore"):
        terms = mix64(
            ((pos.astype(np.uint64) << np.uint64(32)) | points) * _TOKEN_ODD + _TOKEN_SEED
        )
        sums = np.zeros(n, dtype=np.uint64)
        filled = lengths > 0
        if points.size:  # a token's terms run from its start to the next token's
            sums[filled] = np.add.reduceat(terms, starts[filled])
        h = mix64(sums ^ mix64(lengths.astype(np.uint64) * _TOKEN_ODD + _TOKEN_SEED))
    return (h >> np.uint64(1)).astype(np.int64)


@cache
def common_token_hashes() -> np.ndarray:
    """Hashes of rules/anchor_tokens.toml's tokens, in the list's order (see anchor_order)."""
    from ..rules import load_rules

    return token_hashes([str(t) for t in load_rules("anchor_tokens").get("tokens", [])])


def anchor_order(hashes: np.ndarray, prefer: np.ndarray | None = None) -> np.ndarray:
    """Token ids in the order anchors are taken: first the tokens of `prefer` (hashes, in
    its order: another model's anchors, or what two vocabularies share), then those of the
    common list (rules/anchor_tokens.toml), then the rest by public hash. A token listed
    twice comes once (its first id).

    Lowest hash alone made two vocabularies share anchors by luck: a token's rank depended
    on the rest of its vocabulary. A common list ranks a token by its string alone.
    """
    n = len(hashes)
    rank = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
    offset = 0
    for ranked in (prefer, common_token_hashes()):
        if ranked is None or len(ranked) == 0:
            continue
        ranked = np.asarray(ranked, dtype=np.int64)
        order = np.argsort(ranked, kind="stable")
        pos = np.searchsorted(ranked[order], hashes)
        pos = np.minimum(pos, len(ranked) - 1)
        hit = ranked[order][pos] == hashes
        r = np.where(hit, order[pos] + offset, rank)
        rank = np.minimum(rank, r)
        offset += len(ranked)
    ids = np.lexsort((hashes, rank))
    _, first = np.unique(hashes[ids], return_index=True)
    return ids[np.sort(first)]


_TOKEN_SEED = np.uint64(PUBLIC_SEED)
_TOKEN_ODD = np.uint64(0x9E3779B97F4A7C15)

"""Vocabulary surgery: tokens removed, added (new BPE merges and new special tokens) and
re-ordered, with the embedding and lm_head rows moved along and tokenizer.json rewritten."""

from __future__ import annotations

import json
from collections import Counter

import torch
from tokenizers import Tokenizer

from .tinyllama import Params

NEW_SPECIALS = ["<|im_start|>", "<|im_end|>", "<|tool_call|>", "<|pad|>"]


def _merge_parts(merge: list[str] | str) -> tuple[str, str]:
    if isinstance(merge, str):
        a, b = merge.split(" ")
        return a, b
    return merge[0], merge[1]


def _removable(vocab: dict[str, int], merges: list, specials: set[str]) -> list[str]:
    """Merged tokens no other merge builds on: removing them keeps the BPE model consistent."""
    parts = {part for m in merges for part in _merge_parts(m)}
    made = {"".join(_merge_parts(m)) for m in merges}
    return sorted(t for t in vocab if t in made and t not in parts and t not in specials)


def _new_merges(
    tok: Tokenizer, text: str, vocab: dict[str, int], count: int
) -> list[tuple[str, str]]:
    """Continue BPE training for `count` merges on new text (most frequent in-word pairs)."""
    words = Counter(w for w, _ in tok.pre_tokenizer.pre_tokenize_str(text))
    pairs: Counter[tuple[str, str]] = Counter()
    for word, freq in words.items():
        pieces = [t.value for t in tok.model.tokenize(word)]
        for a, b in zip(pieces, pieces[1:], strict=False):
            if a + b not in vocab:
                pairs[(a, b)] += freq
    chosen: list[tuple[str, str]] = []
    seen: set[str] = set()
    for (a, b), _ in sorted(pairs.items(), key=lambda kv: (-kv[1], kv[0])):
        if a + b not in seen:
            chosen.append((a, b))
            seen.add(a + b)
        if len(chosen) == count:
            break
    return chosen


def change_vocabulary(
    tok: Tokenizer, p: Params, text: str, seed: int, remove: int = 48, add: int = 32
) -> tuple[Tokenizer, Params, dict[str, int]]:
    """New tokenizer, new params and the old-id -> new-id map of the surviving tokens."""
    gen = torch.Generator().manual_seed(seed)
    spec = json.loads(tok.to_str())
    vocab: dict[str, int] = spec["model"]["vocab"]
    merges: list = spec["model"]["merges"]
    specials = {a["content"] for a in spec["added_tokens"]}
    added = _new_merges(tok, text, vocab, add)
    building = {part for m in added for part in m}
    candidates = [t for t in _removable(vocab, merges, specials) if t not in building]
    picks = torch.randperm(len(candidates), generator=gen)[:remove].tolist()
    removed = {candidates[i] for i in picks}
    kept_merges = [m for m in merges if "".join(_merge_parts(m)) not in removed]

    ordinary = [t for t in vocab if t not in specials and t not in removed]
    ordinary += ["".join(m) for m in added]
    order = torch.randperm(len(ordinary), generator=gen).tolist()
    fixed = sorted(specials, key=lambda t: vocab[t])
    new_tokens = fixed + [ordinary[i] for i in order]
    new_vocab = {t: i for i, t in enumerate(new_tokens)}

    spec["model"]["vocab"] = new_vocab
    spec["model"]["merges"] = kept_merges + [list(m) for m in added]
    for entry in spec["added_tokens"]:
        entry["id"] = new_vocab[entry["content"]]
    size = len(new_vocab)
    for offset, content in enumerate(NEW_SPECIALS):
        spec["added_tokens"].append(
            {
                "id": size + offset,
                "content": content,
                "single_word": False,
                "lstrip": False,
                "rstrip": False,
                "normalized": False,
                "special": True,
            }
        )
    new_tok = Tokenizer.from_str(json.dumps(spec))

    id_map = {vocab[t]: new_vocab[t] for t in new_tokens if t in vocab}
    q = {k: v.clone() for k, v in p.items()}
    for key in ("model.embed_tokens.weight", "lm_head.weight"):
        old = p[key]
        new = torch.empty(size + len(NEW_SPECIALS), old.shape[1])
        src = torch.tensor(list(id_map.keys()))
        dst = torch.tensor(list(id_map.values()))
        new[dst] = old[src]
        for a, b in added:
            new[new_vocab[a + b]] = (old[vocab[a]] + old[vocab[b]]) / 2
        noise = torch.randn(len(NEW_SPECIALS), old.shape[1], generator=gen) * old.std() * 0.1
        new[size:] = old.mean(0, keepdim=True) + noise
        q[key] = new
    return new_tok, q, id_map

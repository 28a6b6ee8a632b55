"""Real text for the suite, taken from installed packages, and BPE tokenizers trained on it.

Three corpora that differ the way pre-training mixes do: Python standard library code
("code"), the English prose of Python's documentation topics ("prose"), and model code from the
installed transformers package ("hf"). Files are read in sorted order so every run sees the
same bytes.
"""

from __future__ import annotations

import importlib.util
import json
import sysconfig
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

SPECIAL_TOKENS = ["<|bos|>", "<|eos|>"]


def _read_files(paths: list[Path], limit: int) -> str:
    parts: list[str] = []
    size = 0
    for path in paths:
        text = path.read_text(encoding="utf-8", errors="replace")
        parts.append(text)
        size += len(text)
        if size >= limit:
            break
    return "\n".join(parts)[:limit]


def corpus(name: str, limit: int = 1_500_000) -> str:
    """The text of one corpus, at most `limit` characters."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    if name == "code":
        return _read_files(sorted(stdlib.glob("*.py")), limit)
    if name == "prose":
        return _read_files([stdlib / "pydoc_data" / "topics.py"], limit)
    if name == "hf":
        spec = importlib.util.find_spec("transformers")
        if spec is None or spec.origin is None:
            raise RuntimeError("the hf corpus needs the transformers package installed")
        root = Path(spec.origin).parent / "models"
        return _read_files(sorted(root.glob("*/modeling_*.py")), limit)
    raise ValueError(f"unknown corpus {name!r}")


def train_tokenizer(text: str, vocab_size: int) -> Tokenizer:
    """Byte-level BPE as GPT-2, Llama 3 and Qwen use it."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    chunks = [text[i : i + 4096] for i in range(0, len(text), 4096)]
    tok.train_from_iterator(chunks, trainer=trainer)
    return tok


def encode(tok: Tokenizer, text: str) -> torch.Tensor:
    """The whole text as one token stream (documents are concatenated, as in pre-training)."""
    chunks = [text[i : i + 8192] for i in range(0, len(text), 8192)]
    ids: list[int] = []
    for enc in tok.encode_batch(chunks):
        ids.extend(enc.ids)
    return torch.tensor(ids, dtype=torch.long)


def tokenizer_json(tok: Tokenizer) -> str:
    """Canonical tokenizer.json text (sorted vocabulary written by id)."""
    return json.dumps(json.loads(tok.to_str()), indent=1, ensure_ascii=False) + "\n"

"""Generated releases for the batch tests and benchmark: small, alike, each different.

A release is a folder like a model repository: a card (license, sometimes a base_model),
a LICENSE, a code file with a copyright header, config.json, tokenizer.json and a
safetensors checkpoint of a tiny Llama-style model. Releases of one family derive from one
base (the base's tensors plus noise, as a light fine-tune moves them); the others are
independently initialised. The text files repeat across releases (a few variants), so the
license scan's cache serves most of them, as it serves a hub's many near-identical repos.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

VOCAB = 320
D, LAYERS, HEADS, KV, FF = 48, 2, 4, 2, 96
LICENSES = ("apache-2.0", "mit", "llama3")
MIT = """MIT License

Copyright (c) 2025 Example Labs

Permission is hereby granted, free of charge, to any person obtaining a copy of this software
and associated documentation files (the "Software"), to deal in the Software without
restriction, including without limitation the rights to use, copy, modify, merge, publish,
distribute, sublicense, and/or sell copies of the Software, and to permit persons to whom the
Software is furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all copies or
substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED.
"""
CODE = '''# Copyright 2024 The Qwen team, Alibaba Group and the HuggingFace Inc. team.
# Licensed under the Apache License, Version 2.0.
"""A tiny model definition."""


def rms_norm(x, weight, eps=1e-6):
    return x * weight / ((x * x).mean(-1, keepdims=True) + eps) ** 0.5
'''


def config() -> dict:
    return {
        "model_type": "llama",
        "architectures": ["LlamaForCausalLM"],
        "hidden_size": D,
        "num_hidden_layers": LAYERS,
        "num_attention_heads": HEADS,
        "num_key_value_heads": KV,
        "intermediate_size": FF,
        "vocab_size": VOCAB,
        "head_dim": D // HEADS,
        "tie_word_embeddings": False,
    }


def tokenizer_json() -> str:
    vocab = {f"tok{i}": i for i in range(VOCAB)}
    return json.dumps({"model": {"type": "WordLevel", "vocab": vocab, "unk_token": "tok0"}})


def init_weights(seed: int) -> dict[str, np.ndarray]:
    """A freshly initialised Llama-style state dict (HF tensor names)."""
    rng = np.random.default_rng(seed)
    hd = D // HEADS

    def w(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape) * 0.02).astype(np.float32)

    out = {
        "model.embed_tokens.weight": w(VOCAB, D),
        "lm_head.weight": w(VOCAB, D),
        "model.norm.weight": np.ones(D, np.float32),
    }
    for i in range(LAYERS):
        p = f"model.layers.{i}."
        out |= {
            p + "self_attn.q_proj.weight": w(HEADS * hd, D),
            p + "self_attn.k_proj.weight": w(KV * hd, D),
            p + "self_attn.v_proj.weight": w(KV * hd, D),
            p + "self_attn.o_proj.weight": w(D, HEADS * hd),
            p + "mlp.gate_proj.weight": w(FF, D),
            p + "mlp.up_proj.weight": w(FF, D),
            p + "mlp.down_proj.weight": w(D, FF),
            p + "input_layernorm.weight": np.ones(D, np.float32),
            p + "post_attention_layernorm.weight": np.ones(D, np.float32),
        }
    return out


def fine_tuned(base: dict[str, np.ndarray], seed: int, rel: float = 0.05) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        k: (v + rel * v.std() * rng.standard_normal(v.shape)).astype(np.float32)
        for k, v in base.items()
    }


def write_release(
    folder: Path, tensors: dict[str, np.ndarray], license: str, base_model: str | None
) -> Path:
    from safetensors.numpy import save_file

    folder.mkdir(parents=True, exist_ok=True)
    save_file(
        {k: np.ascontiguousarray(v) for k, v in sorted(tensors.items())},
        str(folder / "model.safetensors"),
    )
    (folder / "config.json").write_text(json.dumps(config(), indent=1))
    (folder / "tokenizer.json").write_text(tokenizer_json())
    front = f"license: {license}\n" + (f"base_model: {base_model}\n" if base_model else "")
    (folder / "README.md").write_text(f"---\n{front}---\n# A small model\n")
    (folder / "LICENSE").write_text(MIT)
    (folder / "modeling.py").write_text(CODE)
    return folder


def make_releases(root: Path, count: int, family_every: int = 3) -> list[Path]:
    """COUNT releases under ROOT; every FAMILY_EVERY-th derives from the family base
    (root/base), saying so on its card half of the time."""
    base = init_weights(1)
    write_release(root / "base", base, "apache-2.0", None)
    out = []
    for i in range(count):
        if i % family_every == 0:
            tensors = fine_tuned(base, 1000 + i)
            declared = "example/base" if i % (2 * family_every) == 0 else None
        else:
            tensors, declared = init_weights(2000 + i), None
        out.append(write_release(root / f"r{i:04d}", tensors, LICENSES[i % 3], declared))
    return out

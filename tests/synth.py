"""Tiny random Llama-style checkpoints in numpy, and the disguises used to hide lineage.

Test-only (it lives in tests/, out of the wheel); the lineage suite in bench/ trains its own
models (bench/lineage/tinyllama.py). Each transformation is exact (function-preserving)
where the real trick is: permuting hidden units, rotating the residual stream with norm
gains folded in, rescaling Q/K per layer.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def llama_config(
    vocab: int, d: int = 64, layers: int = 4, heads: int = 4, kv: int = 2, ff: int = 128
) -> dict:
    return {
        "model_type": "llama",
        "architectures": ["LlamaForCausalLM"],
        "hidden_size": d,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "num_key_value_heads": kv,
        "intermediate_size": ff,
        "vocab_size": vocab,
        "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0,
        "tie_word_embeddings": False,
        "head_dim": d // heads,
    }


def random_llama(seed: int, cfg: dict) -> dict[str, np.ndarray]:
    """A freshly initialised model (normal(0, 0.02), norm gains around 1)."""
    rng = np.random.default_rng(seed)
    d, ff, v = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    hd = cfg["head_dim"]
    nq, nkv = cfg["num_attention_heads"] * hd, cfg["num_key_value_heads"] * hd

    def w(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape) * 0.02).astype(np.float32)

    out = {
        "model.embed_tokens.weight": w(v, d),
        "lm_head.weight": w(v, d),
        "model.norm.weight": (1 + 0.1 * rng.standard_normal(d)).astype(np.float32),
    }
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        out.update(
            {
                p + "self_attn.q_proj.weight": w(nq, d),
                p + "self_attn.k_proj.weight": w(nkv, d),
                p + "self_attn.v_proj.weight": w(nkv, d),
                p + "self_attn.o_proj.weight": w(d, nq),
                p + "mlp.gate_proj.weight": w(ff, d),
                p + "mlp.up_proj.weight": w(ff, d),
                p + "mlp.down_proj.weight": w(d, ff),
                p + "input_layernorm.weight": (1 + 0.1 * rng.standard_normal(d)).astype(np.float32),
                p + "post_attention_layernorm.weight": (1 + 0.1 * rng.standard_normal(d)).astype(
                    np.float32
                ),
            }
        )
    return out


def perturb(t: dict[str, np.ndarray], seed: int, rel: float) -> dict[str, np.ndarray]:
    """Stand-in for training: every tensor moved by rel times its own scale."""
    rng = np.random.default_rng(seed)
    return {
        k: (v + rel * v.std() * rng.standard_normal(v.shape)).astype(np.float32)
        for k, v in t.items()
    }


def permute_mlp(t: dict[str, np.ndarray], seed: int) -> dict[str, np.ndarray]:
    """Shuffle each MLP's hidden units (gate/up rows, down columns): same function."""
    rng = np.random.default_rng(seed)
    out = dict(t)
    for k in t:
        if k.endswith("mlp.up_proj.weight"):
            p = k[: -len("up_proj.weight")]
            perm = rng.permutation(t[k].shape[0])
            out[p + "up_proj.weight"] = t[p + "up_proj.weight"][perm]
            out[p + "gate_proj.weight"] = t[p + "gate_proj.weight"][perm]
            out[p + "down_proj.weight"] = t[p + "down_proj.weight"][:, perm]
    return out


def rotate_residual(
    t: dict[str, np.ndarray], seed: int, permutation: bool = False
) -> dict[str, np.ndarray]:
    """Fold every RMSNorm gain into the next weights, then rotate (or permute) the residual."""
    d = t["model.embed_tokens.weight"].shape[1]
    rng = np.random.default_rng(seed)
    if permutation:
        q = np.eye(d, dtype=np.float64)[rng.permutation(d)]
    else:
        q, r = np.linalg.qr(rng.standard_normal((d, d)))
        q = q * np.sign(np.diag(r))
    out: dict[str, np.ndarray] = {}

    def f32(x: np.ndarray) -> np.ndarray:
        return x.astype(np.float32)

    out["model.embed_tokens.weight"] = f32(t["model.embed_tokens.weight"] @ q)
    g = t["model.norm.weight"]
    out["model.norm.weight"] = np.ones(d, np.float32)
    out["lm_head.weight"] = f32((t["lm_head.weight"] * g) @ q)
    for k, _v in t.items():
        if ".layers." not in k or not k.endswith("q_proj.weight"):
            continue
        p = k[: -len("self_attn.q_proj.weight")]
        g1, g2 = t[p + "input_layernorm.weight"], t[p + "post_attention_layernorm.weight"]
        for name in ("q_proj", "k_proj", "v_proj"):
            out[f"{p}self_attn.{name}.weight"] = f32((t[f"{p}self_attn.{name}.weight"] * g1) @ q)
        out[p + "self_attn.o_proj.weight"] = f32(q.T @ t[p + "self_attn.o_proj.weight"])
        for name in ("gate_proj", "up_proj"):
            out[f"{p}mlp.{name}.weight"] = f32((t[f"{p}mlp.{name}.weight"] * g2) @ q)
        out[p + "mlp.down_proj.weight"] = f32(q.T @ t[p + "mlp.down_proj.weight"])
        out[p + "input_layernorm.weight"] = np.ones(d, np.float32)
        out[p + "post_attention_layernorm.weight"] = np.ones(d, np.float32)
    return out


def rescale_qk(t: dict[str, np.ndarray], seed: int) -> dict[str, np.ndarray]:
    """Wq * a, Wk / a (and Wv * b, Wo / b) per layer: attention unchanged."""
    rng = np.random.default_rng(seed)
    out = dict(t)
    for k in t:
        if k.endswith("q_proj.weight"):
            p = k[: -len("q_proj.weight")]
            a, b = float(rng.uniform(0.3, 3)), float(rng.uniform(0.3, 3))
            out[p + "q_proj.weight"] = t[p + "q_proj.weight"] * a
            out[p + "k_proj.weight"] = t[p + "k_proj.weight"] / a
            out[p + "v_proj.weight"] = t[p + "v_proj.weight"] * b
            out[p + "o_proj.weight"] = t[p + "o_proj.weight"] / b
    return out


def save_model(
    folder: Path,
    tensors: dict[str, np.ndarray],
    cfg: dict,
    tokenizer_json: str | None = None,
    shards: int = 1,
) -> Path:
    """A model folder: safetensors (optionally sharded with an index), config, tokenizer."""
    from safetensors.numpy import save_file

    folder.mkdir(parents=True, exist_ok=True)
    names = sorted(tensors)
    if shards <= 1:
        save_file(
            {k: np.ascontiguousarray(tensors[k]) for k in names}, str(folder / "model.safetensors")
        )
    else:
        weight_map = {}
        for s in range(shards):
            part = names[s::shards]
            fname = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
            save_file({k: np.ascontiguousarray(tensors[k]) for k in part}, str(folder / fname))
            weight_map.update({k: fname for k in part})
        (folder / "model.safetensors.index.json").write_text(
            json.dumps({"metadata": {}, "weight_map": weight_map})
        )
    (folder / "config.json").write_text(json.dumps(cfg))
    if tokenizer_json is not None:
        (folder / "tokenizer.json").write_text(tokenizer_json)
    return folder

"""A tiny Llama (and Mixtral-style MoE) decoder written as functions over a flat state dict.

The parameters live in a plain dict keyed exactly as Hugging Face names them, so every
disguise in the suite (permutation, rotation, pruning, vocabulary surgery) is a dict-to-dict
function and the forward pass checks it honestly. torch is only needed for the evaluation suite.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

Params = dict[str, torch.Tensor]

BASE_CONFIG: dict = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "hidden_size": 64,
    "intermediate_size": 192,
    "num_hidden_layers": 4,
    "num_attention_heads": 4,
    "num_key_value_heads": 4,
    "head_dim": 16,
    "hidden_act": "silu",
    "max_position_embeddings": 256,
    "rms_norm_eps": 1e-5,
    "rope_theta": 10000.0,
    "tie_word_embeddings": False,
    "attention_bias": False,
    "mlp_bias": False,
    "initializer_range": 0.02,
    "torch_dtype": "float32",
    "bos_token_id": 0,
    "eos_token_id": 1,
}


def layer_count(params: Params) -> int:
    """Depth as the weights say it (pruned and up-scaled models change it)."""
    ids = {int(k.split(".")[2]) for k in params if k.startswith("model.layers.")}
    return max(ids) + 1 if ids else 0


def expert_count(params: Params, layer: int) -> int:
    prefix = f"model.layers.{layer}.block_sparse_moe.experts."
    return len({k[len(prefix) :].split(".")[0] for k in params if k.startswith(prefix)})


def init_params(cfg: dict, vocab_size: int, seed: int) -> Params:
    """Random initialisation as HF Llama does it: N(0, 0.02) matrices, unit norm gains."""
    gen = torch.Generator().manual_seed(seed)
    d, inter, std = cfg["hidden_size"], cfg["intermediate_size"], cfg["initializer_range"]

    def normal(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=gen) * std

    p: Params = {"model.embed_tokens.weight": normal(vocab_size, d)}
    for i in range(cfg["num_hidden_layers"]):
        pre = f"model.layers.{i}."
        p[pre + "input_layernorm.weight"] = torch.ones(d)
        for name in ("q_proj", "k_proj", "v_proj", "o_proj"):
            p[pre + f"self_attn.{name}.weight"] = normal(d, d)
        p[pre + "post_attention_layernorm.weight"] = torch.ones(d)
        p[pre + "mlp.gate_proj.weight"] = normal(inter, d)
        p[pre + "mlp.up_proj.weight"] = normal(inter, d)
        p[pre + "mlp.down_proj.weight"] = normal(d, inter)
    p["model.norm.weight"] = torch.ones(d)
    p["lm_head.weight"] = normal(vocab_size, d)
    return p


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * weight


def rotary(seq_len: int, head_dim: int, theta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """cos/sin tables in HF's rotate_half layout (frequencies repeated over both halves)."""
    inv = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
    freqs = torch.outer(torch.arange(seq_len, dtype=torch.float32), inv)
    emb = torch.cat([freqs, freqs], dim=-1)
    return emb.cos(), emb.sin()


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat([-x[..., half:], x[..., :half]], dim=-1)


def attention(
    p: Params, pre: str, x: torch.Tensor, cfg: dict, cos: torch.Tensor, sin: torch.Tensor
) -> torch.Tensor:
    b, t, _ = x.shape
    heads, hd = cfg["num_attention_heads"], cfg["head_dim"]

    def split(w: torch.Tensor) -> torch.Tensor:
        return (x @ w.T).view(b, t, heads, hd).transpose(1, 2)

    q = split(p[pre + "self_attn.q_proj.weight"])
    k = split(p[pre + "self_attn.k_proj.weight"])
    v = split(p[pre + "self_attn.v_proj.weight"])
    q = q * cos + rotate_half(q) * sin
    k = k * cos + rotate_half(k) * sin
    out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    return out.transpose(1, 2).reshape(b, t, heads * hd) @ p[pre + "self_attn.o_proj.weight"].T


def swiglu(
    x: torch.Tensor, gate: torch.Tensor, up: torch.Tensor, down: torch.Tensor
) -> torch.Tensor:
    return (F.silu(x @ gate.T) * (x @ up.T)) @ down.T


def moe(p: Params, pre: str, x: torch.Tensor, cfg: dict) -> torch.Tensor:
    """Mixtral routing (softmax, top-k, renormalised); experts run densely, which is exact."""
    moe_pre = pre + "block_sparse_moe."
    logits = x @ p[moe_pre + "gate.weight"].T
    probs = logits.softmax(-1)
    top, idx = probs.topk(cfg["num_experts_per_tok"], dim=-1)
    weights = torch.zeros_like(probs).scatter(-1, idx, top / top.sum(-1, keepdim=True))
    out = torch.zeros_like(x)
    for e in range(logits.shape[-1]):
        ex = f"{moe_pre}experts.{e}."
        y = swiglu(x, p[ex + "w1.weight"], p[ex + "w3.weight"], p[ex + "w2.weight"])
        out = out + weights[..., e : e + 1] * y
    return out


def forward(p: Params, cfg: dict, ids: torch.Tensor) -> torch.Tensor:
    """Logits [batch, seq, vocab] for token ids [batch, seq]."""
    eps = cfg["rms_norm_eps"]
    cos, sin = rotary(ids.shape[1], cfg["head_dim"], cfg["rope_theta"])
    h = p["model.embed_tokens.weight"][ids]
    for i in range(layer_count(p)):
        pre = f"model.layers.{i}."
        h = h + attention(
            p, pre, rms_norm(h, p[pre + "input_layernorm.weight"], eps), cfg, cos, sin
        )
        x = rms_norm(h, p[pre + "post_attention_layernorm.weight"], eps)
        if pre + "block_sparse_moe.gate.weight" in p:
            h = h + moe(p, pre, x, cfg)
        else:
            h = h + swiglu(
                x,
                p[pre + "mlp.gate_proj.weight"],
                p[pre + "mlp.up_proj.weight"],
                p[pre + "mlp.down_proj.weight"],
            )
    return rms_norm(h, p["model.norm.weight"], eps) @ p["lm_head.weight"].T


def batches(tokens: torch.Tensor, seq_len: int, batch: int, seed: int) -> Iterator[torch.Tensor]:
    """Endless random windows of a token stream, reproducible from the seed."""
    gen = torch.Generator().manual_seed(seed)
    span = tokens.numel() - seq_len - 1
    while True:
        starts = torch.randint(0, span, (batch,), generator=gen)
        yield torch.stack([tokens[s : s + seq_len + 1] for s in starts.tolist()])


def train(
    p: Params,
    cfg: dict,
    tokens: torch.Tensor,
    steps: int,
    lr: float,
    seed: int,
    seq_len: int = 64,
    batch: int = 16,
    frozen: tuple[str, ...] = (),
) -> float:
    """Next-token training with AdamW and cosine decay; returns the last loss."""
    trainable = [t for k, t in p.items() if not any(k.startswith(f) for f in frozen)]
    for t in trainable:
        t.requires_grad_(True)
    opt = torch.optim.AdamW(trainable, lr=lr, weight_decay=0.01, betas=(0.9, 0.95))
    data = batches(tokens, seq_len, batch, seed)
    loss = torch.tensor(float("nan"))
    for step in range(steps):
        for group in opt.param_groups:
            group["lr"] = lr * 0.5 * (1 + math.cos(math.pi * step / max(steps, 1)))
        chunk = next(data)
        logits = forward(p, cfg, chunk[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), chunk[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        opt.step()
    for t in trainable:
        t.requires_grad_(False)
    return float(loss.detach())


def eval_loss(p: Params, cfg: dict, tokens: torch.Tensor, seed: int = 99) -> float:
    with torch.no_grad():
        chunk = next(batches(tokens, 64, 16, seed))
        logits = forward(p, cfg, chunk[:, :-1])
        return float(
            F.cross_entropy(logits.reshape(-1, logits.shape[-1]), chunk[:, 1:].reshape(-1))
        )


def save_model(folder: Path, p: Params, cfg: dict, tokenizer_json: str) -> None:
    """The three files a Hub release carries: weights, config.json, tokenizer.json."""
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().contiguous().clone() for k, v in p.items()}
    save_file(tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})
    (folder / "config.json").write_text(json.dumps(cfg, indent=2) + "\n")
    (folder / "tokenizer.json").write_text(tokenizer_json)


def load_model(folder: Path) -> tuple[Params, dict]:
    cfg = json.loads((folder / "config.json").read_text())
    return load_file(str(folder / "model.safetensors")), cfg


def clone(p: Params) -> Params:
    return {k: v.detach().clone() for k, v in p.items()}

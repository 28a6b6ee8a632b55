"""Disguises applied to a trained model, each a dict-to-dict function over HF tensor names.

The reparametrisations (permute, rotate, rescale) keep the model's function exactly; the
suite asserts it with a forward pass. The structural ones (prune, up-scale, upcycle, merge)
change the function and are followed by training where real practice does so.
"""

from __future__ import annotations

import torch

from .tinyllama import Params, clone, forward, layer_count

ATTN_IN = ("q_proj", "k_proj", "v_proj")
MLP_IN = ("gate_proj", "up_proj")


def _layers(p: Params) -> range:
    return range(layer_count(p))


def permute(p: Params, cfg: dict, seed: int) -> Params:
    """Residual-stream, MLP-intermediate and attention-head permutations, applied everywhere."""
    gen = torch.Generator().manual_seed(seed)
    d, heads, hd = cfg["hidden_size"], cfg["num_attention_heads"], cfg["head_dim"]
    res = torch.randperm(d, generator=gen)
    q = clone(p)
    q["model.embed_tokens.weight"] = q["model.embed_tokens.weight"][:, res]
    q["lm_head.weight"] = q["lm_head.weight"][:, res]
    q["model.norm.weight"] = q["model.norm.weight"][res]
    for i in _layers(p):
        pre = f"model.layers.{i}."
        for norm in ("input_layernorm", "post_attention_layernorm"):
            q[pre + norm + ".weight"] = q[pre + norm + ".weight"][res]
        head_order = torch.randperm(heads, generator=gen)
        rows = (head_order[:, None] * hd + torch.arange(hd)[None, :]).reshape(-1)
        for name in ATTN_IN:
            key = pre + f"self_attn.{name}.weight"
            q[key] = q[key][rows][:, res]
        key = pre + "self_attn.o_proj.weight"
        q[key] = q[key][res][:, rows]
        inter = torch.randperm(q[pre + "mlp.up_proj.weight"].shape[0], generator=gen)
        for name in MLP_IN:
            key = pre + f"mlp.{name}.weight"
            q[key] = q[key][inter][:, res]
        key = pre + "mlp.down_proj.weight"
        q[key] = q[key][res][:, inter]
    return q


def fold_norm_gains(p: Params) -> Params:
    """Move every RMSNorm gain into the matrices that read the normalised stream (gains -> 1)."""
    q = clone(p)
    for i in _layers(p):
        pre = f"model.layers.{i}."
        g = q[pre + "input_layernorm.weight"]
        for name in ATTN_IN:
            q[pre + f"self_attn.{name}.weight"] = q[pre + f"self_attn.{name}.weight"] * g
        q[pre + "input_layernorm.weight"] = torch.ones_like(g)
        g = q[pre + "post_attention_layernorm.weight"]
        for name in MLP_IN:
            q[pre + f"mlp.{name}.weight"] = q[pre + f"mlp.{name}.weight"] * g
        q[pre + "post_attention_layernorm.weight"] = torch.ones_like(g)
    q["lm_head.weight"] = q["lm_head.weight"] * q["model.norm.weight"]
    q["model.norm.weight"] = torch.ones_like(q["model.norm.weight"])
    return q


def random_orthogonal(n: int, seed: int) -> torch.Tensor:
    """Haar-distributed orthogonal matrix (QR of a Gaussian with the sign fix)."""
    gen = torch.Generator().manual_seed(seed)
    a = torch.randn(n, n, generator=gen, dtype=torch.float64)
    qm, r = torch.linalg.qr(a)
    return (qm * torch.sign(torch.diagonal(r))).float()


def rotate(p: Params, cfg: dict, seed: int) -> Params:
    """Residual stream times a random orthogonal Q, after folding norm gains (SliceGPT style)."""
    rot = random_orthogonal(cfg["hidden_size"], seed)
    q = fold_norm_gains(p)
    q["model.embed_tokens.weight"] = q["model.embed_tokens.weight"] @ rot
    q["lm_head.weight"] = q["lm_head.weight"] @ rot
    for i in _layers(p):
        pre = f"model.layers.{i}."
        for name in ATTN_IN:
            q[pre + f"self_attn.{name}.weight"] = q[pre + f"self_attn.{name}.weight"] @ rot
        for name in MLP_IN:
            q[pre + f"mlp.{name}.weight"] = q[pre + f"mlp.{name}.weight"] @ rot
        q[pre + "self_attn.o_proj.weight"] = rot.T @ q[pre + "self_attn.o_proj.weight"]
        q[pre + "mlp.down_proj.weight"] = rot.T @ q[pre + "mlp.down_proj.weight"]
    return q


def rescale(p: Params, cfg: dict, seed: int) -> Params:
    """Per layer and head: Wq*a, Wk/a, Wv*b, Wo/b; per MLP unit: up*c, down/c."""
    gen = torch.Generator().manual_seed(seed)
    heads, hd = cfg["num_attention_heads"], cfg["head_dim"]

    def factors(n: int) -> torch.Tensor:
        return torch.exp(torch.empty(n).uniform_(-1.5, 1.5, generator=gen))

    q = clone(p)
    for i in _layers(p):
        pre = f"model.layers.{i}.self_attn."
        a = factors(heads).repeat_interleave(hd)[:, None]
        b = factors(heads).repeat_interleave(hd)[:, None]
        q[pre + "q_proj.weight"] = q[pre + "q_proj.weight"] * a
        q[pre + "k_proj.weight"] = q[pre + "k_proj.weight"] / a
        q[pre + "v_proj.weight"] = q[pre + "v_proj.weight"] * b
        q[pre + "o_proj.weight"] = q[pre + "o_proj.weight"] / b.T
        mlp = f"model.layers.{i}.mlp."
        c = factors(q[mlp + "up_proj.weight"].shape[0])[:, None]
        q[mlp + "up_proj.weight"] = q[mlp + "up_proj.weight"] * c
        q[mlp + "down_proj.weight"] = q[mlp + "down_proj.weight"] / c.T
    return q


def select_layers(p: Params, order: list[int]) -> Params:
    """A model whose layer n is the source's layer order[n] (drop or duplicate layers)."""
    q = {k: v.clone() for k, v in p.items() if not k.startswith("model.layers.")}
    for new, old in enumerate(order):
        prefix = f"model.layers.{old}."
        for k, v in p.items():
            if k.startswith(prefix):
                q[f"model.layers.{new}." + k[len(prefix) :]] = v.clone()
    return q


def upcycle(p: Params, experts: int, seed: int, noise: float = 0.01) -> Params:
    """Sparse upcycling: each expert a copy of the dense MLP (slightly perturbed), router new."""
    gen = torch.Generator().manual_seed(seed)
    q = {k: v.clone() for k, v in p.items() if ".mlp." not in k}
    names = {"w1": "gate_proj", "w2": "down_proj", "w3": "up_proj"}
    for i in _layers(p):
        pre = f"model.layers.{i}."
        d = p[pre + "mlp.up_proj.weight"].shape[1]
        q[pre + "block_sparse_moe.gate.weight"] = torch.randn(experts, d, generator=gen) * 0.02
        for e in range(experts):
            for short, dense in names.items():
                w = p[pre + f"mlp.{dense}.weight"]
                jitter = torch.randn(w.shape, generator=gen) * noise * w.std()
                q[pre + f"block_sparse_moe.experts.{e}.{short}.weight"] = w + jitter
    return q


def average(models: list[Params]) -> Params:
    """Uniform weight averaging (a model soup / linear merge)."""
    return {k: sum(m[k] for m in models) / len(models) for k in models[0]}


def max_logit_diff(p: Params, q: Params, cfg: dict, ids: torch.Tensor) -> float:
    with torch.no_grad():
        return float((forward(p, cfg, ids) - forward(q, cfg, ids)).abs().max())

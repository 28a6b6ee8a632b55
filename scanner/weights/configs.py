"""A model's config as the fingerprint may use it: values of the type they must have, and a
geometry the tensors bear out.

config.json (or a format's own metadata) is written by whoever made the release. The
fingerprint sizes arrays by the residual width and the head counts, so a claimed
`hidden_size` of 10^9 once allocated gigabytes; `[1]`, `1e999` or NaN crashed it. Every
value the weights code reads is checked here: of the wrong type, it is dropped; larger
than anything the tensors hold, it is dropped before anything is allocated by it. What is
dropped is said in the model's problems, and the geometry falls back on the tensor shapes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from .formats.checks import MAX_ELEMENTS
from .formats.interface import TensorMeta

WIDTHS = ("hidden_size", "n_embd")
"""The residual width: a dimension of the embedding and of every block matrix."""
HEADS = ("num_attention_heads", "n_head", "num_key_value_heads")
LAYERS = ("num_hidden_layers", "n_layer", "num_local_experts", "num_experts")
INTS = (*WIDTHS, *HEADS, *LAYERS, "head_dim", "intermediate_size", "vocab_size")
INTS_ANY = ("max_position_embeddings",)
FLOATS = ("rope_theta", "rms_norm_eps", "layer_norm_eps", "layer_norm_epsilon")
STRINGS = ("model_type", "hidden_act")
BOOLS = ("tie_word_embeddings",)
TABLES = ("quantization_config",)
MAX_STRING = 200


def _fits(key: str, value: object) -> str | None:
    """None when `value` has the type `key` needs, else what it should have been."""
    if key in INTS:
        ok = type(value) is int and 1 <= value <= MAX_ELEMENTS
        return None if ok else f"a whole number from 1 to {MAX_ELEMENTS}"
    if key in INTS_ANY:
        return None if type(value) is int and 0 <= value <= MAX_ELEMENTS else "a whole number"
    if key in FLOATS:
        ok = type(value) in (int, float) and math.isfinite(value)  # type: ignore[arg-type]
        return None if ok else "a finite number"
    if key in STRINGS:
        ok = isinstance(value, str) and len(value) <= MAX_STRING
        return None if ok else f"a string of at most {MAX_STRING} characters"
    if key in BOOLS:
        return None if type(value) is bool else "true or false"
    if key in TABLES:
        return None if isinstance(value, dict) else "an object"
    return None


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:60] + "..."


def typed_config(data: dict[str, Any], where: str, problems: list[str]) -> dict[str, Any]:
    """`data` without the values the weights code would read that have the wrong type."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        wanted = _fits(key, value)
        if wanted is None:
            out[key] = value
        else:
            problems.append(f"{where}: {key} = {_shown(value)} is not {wanted}; ignored")
    return out


def fit_to_tensors(
    config: dict[str, Any], metas: Sequence[TensorMeta], problems: list[str]
) -> dict[str, Any]:
    """`config` without the geometry its tensors do not bear out: a width that is not the
    residual side of its block matrices (or no dimension at all), head counts and a head
    size the attention matrices do not have, more layers or experts than tensors."""
    dims = {d for m in metas for d in m.shape}
    widest = max(dims, default=0)
    out = dict(config)

    def drop(key: str, why: str) -> None:
        if key in out:
            problems.append(f"config: {key} = {out.pop(key)} {why}; ignored")

    for key in WIDTHS:
        if key in out and out[key] not in dims:
            drop(key, "is no dimension of any tensor")
    for key in (*HEADS, "head_dim", "intermediate_size"):
        if key in out and out[key] > widest:
            drop(key, f"exceeds the widest tensor dimension ({widest})")
    for key in LAYERS:
        if key in out and out[key] > len(metas):
            drop(key, f"exceeds the number of tensors ({len(metas)})")
    _fit_roles(out, list(metas), drop)
    return out


_RESIDUAL_COLUMNS = ("attn_q", "attn_k", "attn_v", "mlp_gate", "mlp_up")
_RESIDUAL_ROWS = ("attn_o", "mlp_down")


def _fit_roles(
    out: dict[str, Any], metas: list[TensorMeta], drop: Callable[[str, str], None]
) -> None:
    """The width and the heads against the block matrices, by role (roles.py)."""
    from .roles import Heads, map_roles

    def geometry() -> tuple[int | None, int | None, int | None, int | None]:
        d = out.get("hidden_size") or out.get("n_embd")
        h = out.get("num_attention_heads") or out.get("n_head")
        kv = out.get("num_key_value_heads") or h
        hd = out.get("head_dim") or (d // h if d and h else None)
        return d, h, kv, hd

    d, h, kv, hd = geometry()
    canon, _ = map_roles(metas, Heads(h, kv, hd, None))
    residual = {c.shape[1] for c in canon if c.key.role in _RESIDUAL_COLUMNS and len(c.shape) == 2}
    residual |= {c.shape[0] for c in canon if c.key.role in _RESIDUAL_ROWS and len(c.shape) == 2}
    if d and residual and d not in residual:
        for key in WIDTHS:
            drop(key, f"is not the residual width of the block matrices ({sorted(residual)[:4]})")
        d, h, kv, hd = geometry()
    if not h:
        return
    wrong = bool(kv and h % kv)
    for c in canon:
        if len(c.shape) != 2:
            continue
        role, (rows, cols) = c.key.role, c.shape
        if role == "attn_q":
            wrong |= bool(rows % h or (hd and rows != h * hd))
        elif role in ("attn_k", "attn_v") and kv:
            wrong |= bool(rows % kv or (hd and rows != kv * hd))
        elif role == "attn_o":
            wrong |= bool(cols % h or (hd and cols != h * hd))
    if wrong:
        for key in (*HEADS, "head_dim"):
            drop(key, "does not fit the attention matrices")

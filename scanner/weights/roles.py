"""Canonical tensor roles across architectures, from the name maps in rules/tensor_roles.toml.

A Llama, a Qwen2-MoE, a GPT-2 and a GGUF file name the same things differently; signals
compare roles, never names. Fused tensors (qkv, gate_up) are split, (in, out) storage is
transposed, stacked experts are separated, so every canonical tensor is (out, in).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

from ..rules import load_rules
from .formats.interface import RowSink, TensorMeta, TensorReader


@dataclass(frozen=True, order=True)
class RoleKey:
    """What a tensor is in the network, independent of how the file names it."""

    role: str
    layer: int = -1
    """Block index; -1 for tensors outside the blocks (embed, final_norm, lm_head)."""
    expert: int = -1
    """Expert index for MoE tensors; -1 otherwise."""

    def label(self) -> str:
        out = self.role
        if self.layer >= 0:
            out += f"@{self.layer}"
        if self.expert >= 0:
            out += f"#e{self.expert}"
        return out


@dataclass(frozen=True)
class CanonTensor:
    """Where a canonical tensor comes from: a stored tensor and how to cut it out."""

    key: RoleKey
    source: str
    shape: tuple[int, ...]
    dtype: str
    quantized: bool
    transposed: bool = False
    split: str | None = None
    part: int = 0
    """Which piece of a split (q=0, k=1, v=2; gate=0, up=1)."""
    expert_index: int | None = None
    """Index into a stacked experts tensor."""
    unrope: int = 0
    """Heads whose rows llama.cpp interleaved for rotary embedding (0: none)."""

    @property
    def plain(self) -> bool:
        """Stored as it is used: its rows and columns can be read from the file directly."""
        return not (self.transposed or self.split or self.unrope or self.expert_index is not None)


@dataclass(frozen=True)
class Heads:
    """Attention geometry, from the config; None where unknown."""

    n_heads: int | None
    n_kv: int | None
    head_dim: int | None
    arch: str | None = None
    """The architecture the weight file names itself (GGUF general.architecture), if any."""


@cache
def _compiled() -> tuple[tuple[re.Pattern[str], dict[str, Any]], ...]:
    rules = load_rules("tensor_roles")["rule"]
    return tuple((re.compile(r["pattern"]), r) for r in rules)


@cache
def _wrappers() -> re.Pattern[str] | None:
    prefixes = load_rules("tensor_roles").get("wrappers", {}).get("prefixes", [])
    return re.compile("(?:" + "|".join(prefixes) + ")") if prefixes else None


@cache
def _ignored() -> re.Pattern[str] | None:
    patterns = load_rules("tensor_roles").get("ignore", {}).get("patterns", [])
    return re.compile("(?:" + "|".join(patterns) + ")") if patterns else None


def is_ignored(name: str) -> bool:
    """A buffer, not a weight (rules/tensor_roles.toml [ignore])."""
    pattern = _ignored()
    return pattern is not None and pattern.fullmatch(name) is not None


def _unwrapped(name: str) -> list[str]:
    """The name, then the name without each wrapper module around the model in turn."""
    out = [name]
    pattern = _wrappers()
    while pattern is not None and len(out) < 4:
        m = pattern.match(out[-1])
        if m is None or not m.end():
            break
        out.append(out[-1][m.end() :])
    return out


def _rule_for(name: str, present: list[str]) -> tuple[re.Match[str], dict[str, Any]] | None:
    """The first rule that matches the name (or the name out of its wrappers)."""
    for candidate in _unwrapped(name):
        for pattern, rule in _compiled():
            match = pattern.fullmatch(candidate)
            if match is None:
                continue
            needs = rule.get("requires")
            if needs and not any(re.search(needs, p) for p in present):
                continue
            return match, rule
    return None


def _rope_archs() -> set[str]:
    return set(load_rules("tensor_roles").get("gguf_rope_interleaved", {}).get("archs", []))


def norm_offset(model_type: str | None) -> float:
    return float(load_rules("tensor_roles").get("norm_offset", {}).get(model_type or "", 0.0))


_SPLIT_PARTS = {
    "qkv": ("attn_q", "attn_k", "attn_v"),
    "qkv_heads": ("attn_q", "attn_k", "attn_v"),
    "gate_up": ("gate", "up"),
}


def _part_roles(role: str, split: str) -> list[str]:
    if split == "gate_up":
        prefix = role.removesuffix("_gate_up")
        return [f"{prefix}_gate", f"{prefix}_up"]
    return list(_SPLIT_PARTS[split])


def _split_sizes(total: int, split: str, heads: Heads) -> list[int]:
    if split == "gate_up":
        return [total // 2, total - total // 2]
    h, kv, hd = heads.n_heads, heads.n_kv, heads.head_dim
    if h and kv and hd and h * hd + 2 * kv * hd == total:
        return [h * hd, kv * hd, kv * hd]
    return [total // 3] * 3


def map_roles(metas: list[TensorMeta], heads: Heads) -> tuple[list[CanonTensor], list[str]]:
    """Canonical tensors of a checkpoint, and the names no rule knows (buffers that are no
    weights are in neither). A second tensor claiming a role already taken is unknown."""
    out: list[CanonTensor] = []
    unknown: list[str] = []
    taken: set[RoleKey] = set()
    present = [m.name for m in metas]
    for m in metas:
        if is_ignored(m.name):
            continue
        found = _rule_for(m.name, present)
        mapped = _canon_of(m, *found, heads) if found is not None else []
        if not mapped or any(c.key in taken for c in mapped):
            unknown.append(m.name)
            continue
        taken.update(c.key for c in mapped)
        out.extend(mapped)
    return out, unknown


def _canon_of(
    m: TensorMeta, match: re.Match[str], rule: dict[str, Any], heads: Heads
) -> list[CanonTensor]:
    """The canonical tensors one stored tensor holds, by the rule its name matched."""
    out: list[CanonTensor] = []
    groups = match.groupdict()
    role = rule["role"]
    if groups.get("param") == "bias":
        role += "_bias"
    layer = int(groups["layer"]) if groups.get("layer") else -1
    expert = int(groups["expert"]) if groups.get("expert") else -1
    transposed = bool(rule.get("transposed")) and len(m.shape) == 2
    shape = tuple(reversed(m.shape)) if transposed else m.shape
    experts: list[int | None] = [None]
    if rule.get("stacked") and len(shape) == 3:
        experts = list(range(shape[0]))
        shape = shape[1:]
    unrope = 0
    if rule.get("rope") == "interleaved" and heads.arch in _rope_archs():
        unrope = (heads.n_heads if rule["role"] == "attn_q" else heads.n_kv) or 0
    for e in experts:
        ekey = expert if e is None else e
        split = rule.get("split")
        if split:
            roles = _part_roles(rule["role"], split)
            sizes = _split_sizes(shape[0], split, heads)
            for i, (r, n) in enumerate(zip(roles, sizes, strict=True)):
                r = r + "_bias" if role.endswith("_bias") else r
                out.append(
                    CanonTensor(
                        RoleKey(r, layer, ekey),
                        m.name,
                        (n, *shape[1:]),
                        m.dtype,
                        m.quantized,
                        transposed,
                        split,
                        i,
                        e,
                    )
                )
        else:
            out.append(
                CanonTensor(
                    RoleKey(role, layer, ekey),
                    m.name,
                    shape,
                    m.dtype,
                    m.quantized,
                    transposed,
                    None,
                    0,
                    e,
                    unrope,
                )
            )
    return out


def _unroped_rows(ct: CanonTensor, units: tuple[int, np.ndarray] | None) -> np.ndarray | None:
    """The stored rows of canonical rows `units` of a tensor stored in llama.cpp's rotary
    order (and otherwise as used); None where that does not apply (see _canonical)."""
    if units is None or units[0] != 0 or not ct.unrope or len(ct.shape) != 2:
        return None
    if ct.transposed or ct.split or ct.expert_index is not None:
        return None
    n, h = ct.shape[0], ct.unrope
    if n % (2 * h):
        return None
    hd = n // h
    idx = np.asarray(units[1], dtype=np.int64)
    head, j = idx // hd, idx % hd
    return head * hd + 2 * (j % (hd // 2)) + j // (hd // 2)


class CanonLoader:
    """Reads canonical tensors, keeping the last stored tensor so splits read it once."""

    def __init__(self, reader: TensorReader, heads: Heads):
        self._reader = reader
        self._heads = heads
        self._last: tuple[str, np.ndarray] | None = None

    def _stored(self, name: str) -> np.ndarray:
        if self._last is None or self._last[0] != name:
            self._last = None  # free before reading the next
            self._last = (name, self._reader.read(name))
        return self._last[1]

    def load(
        self,
        ct: CanonTensor,
        units: tuple[int, np.ndarray] | None = None,
        on_rows: RowSink | None = None,
        keep: bool = True,
    ) -> np.ndarray | None:
        """The canonical tensor; with `units` (axis, ascending indices) only those rows or
        columns, read alone where the tensor is stored as it is used. `on_rows` sees the
        result's rows in order (see TensorReader.read_units); keep=False returns None."""
        if ct.plain and len(ct.shape) == 2:
            axis, idx = units if units is not None else (0, None)
            return self._reader.read_units(ct.source, axis, idx, on_rows, keep)
        stored = _unroped_rows(ct, units)
        if stored is not None:  # rows of a rotary-ordered Q or K: those stored rows alone
            order = np.argsort(stored, kind="stable")
            got = self._reader.read_units(ct.source, 0, stored[order])
            assert got is not None
            arr = np.empty_like(got)
            arr[order] = got
            if on_rows is not None:
                on_rows(arr)
            return arr if keep else None
        arr = self._canonical(ct)
        if units is not None:
            arr = np.take(arr, units[1], axis=units[0])
        if on_rows is not None:
            on_rows(arr)
        return arr if keep else None

    def _canonical(self, ct: CanonTensor) -> np.ndarray:
        arr = self._stored(ct.source)
        if ct.transposed:
            arr = arr.T
        if ct.expert_index is not None:
            arr = arr[ct.expert_index]
        if ct.unrope and arr.shape[0] % (2 * ct.unrope) == 0:
            h = ct.unrope
            rest = arr.shape[1:]
            arr = arr.reshape(h, arr.shape[0] // h // 2, 2, *rest).swapaxes(1, 2).reshape(-1, *rest)
        if ct.split is None:
            return arr
        if ct.split == "qkv_heads" and self._heads.n_heads:
            h = self._heads.n_heads
            rest = arr.shape[1:]
            per = arr.reshape(h, 3, arr.shape[0] // (3 * h), *rest)
            return per[:, ct.part].reshape(-1, *rest)
        sizes = _split_sizes(arr.shape[0], ct.split, self._heads)
        start = sum(sizes[: ct.part])
        return arr[start : start + sizes[ct.part]]

    def clear(self) -> None:
        self._last = None

"""The forms of one block: its matrix products seen through the anchor probe.

Each block matrix was reduced to its units' responses to the probe (reduce.py); products of
those give K x K bilinear forms free of the residual basis: QK (queries against their
keys), OV (the output map against the values it reads), and for each MLP down x up and
down x gate. They survive permutation, rotation with norm gains folded, and per-layer
rescaling. Small models also get per-head singular values of QK and OV (weak evidence).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..reduce import Reduced
from ..roles import RoleKey
from .data import FormKey
from .reading import TensorPass

Forms = dict[FormKey, np.ndarray]


def block_forms(tp: TensorPass, layer: int) -> tuple[Forms, Callable[[], Forms]]:
    """The forms of one block, and its per-head spectra to compute (a call that may run in
    another thread: it only reads the block's attention matrices and the probe's gains)."""
    forms: Forms = {}
    pairs: list[tuple[FormKey, Reduced, Reduced, bool]] = []
    # in the workers' order (prefetch._ORDER): taking one out of turn would read it twice
    got = {
        role: tp.reduce(RoleKey(role, layer)) for role in ("attn_q", "attn_k", "attn_v", "attn_o")
    }
    for product, q_side, kv_side in (("qk", "attn_q", "attn_k"), ("ov", "attn_o", "attn_v")):
        left, right = got[q_side], got[kv_side]
        if left is None or right is None:
            continue
        key = FormKey(product, layer)
        if left.resp is not None and right.resp is not None:
            lined_up = line_up_kv(tp, right.resp)
            if lined_up.shape == left.resp.shape:
                forms[key] = left.resp @ lined_up.T
        pairs.append((key, left, right, product == "ov"))
    forms.update(_mlp_forms(tp, layer, "mlp", -1))
    for expert in range(tp.geometry.n_experts(layer)):
        forms.update(_mlp_forms(tp, layer, "expert", expert))
    forms.update(_mlp_forms(tp, layer, "shared", -1))

    def spectra() -> Forms:
        out: Forms = {}
        for key, left, right, ov in pairs:
            spectrum = _spectrum(tp, layer, left, right, ov)
            if spectrum is not None:
                out[key] = spectrum
        return out

    return forms, spectra


def _mlp_forms(tp: TensorPass, layer: int, kind: str, expert: int) -> Forms:
    out: Forms = {}
    down = tp.reduce(RoleKey(f"{kind}_down", layer, expert))
    if down is None or down.resp is None:
        return out
    left, hidden = down.resp, down.resp.shape[1]
    shared = kind == "shared"
    up = tp.reduce(RoleKey(f"{kind}_up", layer, expert))
    up_norm = None
    if up is not None and up.resp is not None and up.resp.shape[1] == hidden:
        out[FormKey("du", layer, expert, shared)] = left @ up.resp.T
        up_norm = up.norms
    gate = tp.reduce(RoleKey(f"{kind}_gate", layer, expert))
    if gate is not None and gate.resp is not None and gate.resp.shape[1] == hidden:
        # SwiGLU is unchanged by up*c, down/c per hidden unit: weigh each unit's gate by its
        # up row norm so this form is unchanged too.
        scale = up_norm if up_norm is not None else 1
        out[FormKey("dg", layer, expert, shared)] = (left * scale) @ gate.resp.T
    return out


def _spectrum(
    tp: TensorPass, layer: int, left: Reduced, right: Reduced, ov: bool
) -> np.ndarray | None:
    """Per-head singular values of W_q^T W_k (or W_o W_v), norm gain folded in."""
    plan, d = tp.geometry.plan, tp.probes.d
    n_q = len(plan.q_heads) if plan is not None else None  # the query heads read
    g1 = tp.probes.gains.get(("attn_norm", layer), np.ones(d or 1, dtype=np.float32))
    if not tp.geometry.spectra_on or not n_q or left.arr is None or right.arr is None:
        return None
    a = _fit(left.arr, d, cols=not ov)
    b = _fit(right.arr, d)
    if a is None or b is None:
        return None
    b_full = line_up_kv(tp, b.T).T
    if ov:  # a: W_o (d, units), b: W_v rows lined up with o's columns
        if b_full.shape[0] == a.shape[1] and a.shape[1] % n_q == 0:
            return head_spectra(_per_head(a.T, n_q), _per_head(b_full * g1, n_q))
    elif b_full.shape == a.shape and a.shape[0] % n_q == 0:
        return head_spectra(_per_head(a * g1, n_q), _per_head(b_full * g1, n_q))
    return None


def line_up_kv(tp: TensorPass, r: np.ndarray) -> np.ndarray:
    """Key/value columns of r repeated to line up with the query heads read."""
    plan, heads = tp.geometry.plan, tp.geometry.heads
    if tp.geometry.sampling.banded:  # the first rows of a head of each: lined up as read
        return r
    if plan is None:
        return repeat_kv(r, heads.n_heads, heads.n_kv)
    if r.shape[-1] != len(plan.kv_heads) * plan.head_dim:
        return r
    return plan.expand(r)


def repeat_kv(r: np.ndarray, n_heads: int | None, n_kv: int | None) -> np.ndarray:
    """Repeat key/value heads for grouped-query attention so they line up with queries."""
    if not n_heads or not n_kv or n_kv == n_heads:
        return r
    hd = r.shape[-1] // n_kv
    return np.repeat(r.reshape(*r.shape[:-1], n_kv, hd), n_heads // n_kv, axis=-2).reshape(
        *r.shape[:-1], n_heads * hd
    )


def _fit(w: np.ndarray | None, d: int | None, cols: bool = True) -> np.ndarray | None:
    """Orient a matrix so its residual side is the columns (cols) or the rows."""
    if w is None or w.ndim != 2 or d is None:
        return None
    if cols:
        return w if w.shape[1] == d else (w.T if w.shape[0] == d else None)
    return w if w.shape[0] == d else (w.T if w.shape[1] == d else None)


def _per_head(w: np.ndarray, n: int) -> np.ndarray:
    """(n*hd, d) -> (n, d, hd): each head's rows as columns, for a batched QR."""
    return w.reshape(n, w.shape[0] // n, w.shape[1]).transpose(0, 2, 1)


def head_spectra(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Sorted singular values of each head's product L_h R_h^T (both (n, d, hd)).

    sigma^2(L R^T) are the eigenvalues of (L^T L)(R^T R): two small Gram matrices per head
    (one BLAS call each) instead of a QR of every d x hd block.
    """
    ga = np.matmul(left.transpose(0, 2, 1), left).astype(np.float64)
    gb = np.matmul(right.transpose(0, 2, 1), right).astype(np.float64)
    jitter = 1e-12 * np.trace(ga, axis1=1, axis2=2)[:, None, None] * np.eye(ga.shape[-1])
    try:
        la = np.linalg.cholesky(ga + jitter)
        ev = np.linalg.eigvalsh(la.transpose(0, 2, 1) @ gb @ la)
    except np.linalg.LinAlgError:
        _, ra = np.linalg.qr(left)
        _, rb = np.linalg.qr(right)
        ev = np.linalg.svd(ra @ rb.transpose(0, 2, 1), compute_uv=False) ** 2
    s = np.sqrt(np.clip(ev, 0.0, None))
    return np.sort(s.ravel())[::-1].astype(np.float32)

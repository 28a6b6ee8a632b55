"""The signals: each compares two fingerprints and returns a calibrated Signal.

Robust signals (direct cosine, anchor forms, aligned embeddings, experts vs dense) decide
the verdict; the 2025 std-curve statistic, spectra, tokenizer and config are reported as
weak evidence: unrelated models of one architecture score high on them too.

Over 400 lines on purpose: the signals share the anchor, form-stacking and null helpers,
and read best side by side (all_signals at the end lists them).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .align import (
    assignment_of,
    layer_map,
    permutation_likeness,
    procrustes,
    procrustes_factors,
)
from .calibrate import Signal, measured
from .fingerprint import Fingerprint, FormKey
from .fingerprint.vocab import overlap
from .roles import RoleKey
from .sketch import cosine

N_PERMUTATIONS = 24
_PERM_SEED = 7
_PRODUCTS = ("qk", "ov", "du", "dg")
MIN_ANCHORS = 24
# A mapped layer is shared when its similarity is at least this fraction of the median.
SHARED_LAYER = 0.5


def shared_anchors(
    a: Fingerprint, b: Fingerprint, limit: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Indices into each side's anchors of the token strings both have."""
    ha = a.anchor_hashes[:limit] if limit else a.anchor_hashes
    hb = b.anchor_hashes[:limit] if limit else b.anchor_hashes
    _, ia, ib = np.intersect1d(ha, hb, assume_unique=True, return_indices=True)
    return ia, ib


# ---- the 2025 statistic ------------------------------------------------------------------
def _layer_stds(fp: Fingerprint, role: str) -> np.ndarray:
    rows = sorted(
        (k.layer, t["std"])
        for k, t in fp.tensors.items()
        if k.role == role and k.layer >= 0 and k.expert < 0
    )
    return np.array([s for _, s in rows], dtype=np.float64)


def _zscore(x: np.ndarray) -> np.ndarray:
    sd = x.std()
    return (x - x.mean()) / sd if sd > 0 else x * 0


def std_curve(a: Fingerprint, b: Fingerprint) -> Signal | None:
    """(r_q + r_k + r_v + r_o + 4) / 8 over z-scored per-layer std, depth interpolated."""
    rs = {}
    for role in ("attn_q", "attn_k", "attn_v", "attn_o"):
        xa, xb = _layer_stds(a, role), _layer_stds(b, role)
        if len(xa) < 3 or len(xb) < 3:
            continue
        n = max(len(xa), len(xb))
        grid = np.linspace(0, 1, n)
        ya = np.interp(grid, np.linspace(0, 1, len(xa)), _zscore(xa))
        yb = np.interp(grid, np.linspace(0, 1, len(xb)), _zscore(xb))
        r = float(np.corrcoef(ya, yb)[0, 1]) if ya.std() > 0 and yb.std() > 0 else 0.0
        rs[role] = r
    if len(rs) < 4:
        return None
    score = (sum(rs.values()) + 4) / 8
    # No theory: with few layers and smooth depth trends, unrelated models correlate.
    return measured(
        "std_curve",
        score,
        0.5,
        0.25,
        ("everything",),
        {
            "r": {k: round(v, 4) for k, v in rs.items()},
            "weak": "unrelated models of one architecture also score high",
        },
        kind="none",
    )


# ---- direct cosine -----------------------------------------------------------------------
def direct_cosine(a: Fingerprint, b: Fingerprint) -> Signal | None:
    """Cosine of the sketches of block tensors with the same role and shape.

    Embeddings and lm_head are left to the embedding signals: a release that reuses only
    another's vocabulary embeddings shares components, not its blocks.
    """
    cos: dict[RoleKey, float] = {}
    inv_k = 0.0
    for key, sa in a.sketches.items():
        if key.layer < 0:
            continue
        sb = b.sketches.get(key)
        if sb is None or a.tensors[key]["shape"] != b.tensors[key]["shape"]:
            continue
        if sa.shape != sb.shape:
            continue
        cos[key] = cosine(sa, sb)
        inv_k += 1.0 / max(sa.size - 1, 1)
    if not cos:
        return None
    t = len(cos)
    score = float(np.mean(list(cos.values())))
    null_std = math.sqrt(inv_k) / t
    by_layer: dict[int, list[float]] = {}
    by_role: dict[str, list[float]] = {}
    for key, c in cos.items():
        by_layer.setdefault(key.layer, []).append(c)
        by_role.setdefault(key.role, []).append(c)
    weakest = min(cos, key=lambda k: cos[k])
    strongest = max(cos, key=lambda k: cos[k])
    return measured(
        "direct_cosine",
        score,
        0.0,
        null_std,
        ("fine-tuning", "continued training", "quantization"),
        {
            "tensors": t,
            "per_layer": {str(k): round(float(np.mean(v)), 4) for k, v in sorted(by_layer.items())},
            "per_role": {k: round(float(np.mean(v)), 4) for k, v in sorted(by_role.items())},
            "min": round(cos[weakest], 4),
            "min_tensor": weakest.label(),
            "strongest_tensor": strongest.label(),
        },
        where=strongest,
    )


# ---- anchor forms (basis-free) and layer alignment ----------------------------------------
def _stack_forms(
    fp: Fingerprint, idx: np.ndarray, expert: int = -1
) -> tuple[np.ndarray, np.ndarray]:
    """(layers, products, k, k) forms on anchors idx, off-diagonal centred to unit norm.

    The diagonal is zeroed: a shuffle of the anchors (the null) moves it along with them,
    so prepared once, a permuted copy is an index away. Also (layers, products) presence.
    """
    k = len(idx)
    out = np.zeros((fp.n_layers, len(_PRODUCTS), k, k), dtype=np.float32)
    present = np.zeros((fp.n_layers, len(_PRODUCTS)), dtype=bool)
    off = ~np.eye(k, dtype=bool)
    gram = _embedding_gram(fp, idx)
    for layer in range(fp.n_layers):
        for p, prod in enumerate(_PRODUCTS):
            f = fp.forms.get(FormKey(prod, layer, expert))
            if f is None or f.shape[0] <= idx.max():
                continue
            sub = f[np.ix_(idx, idx)].astype(np.float64)
            sub[off] -= sub[off].mean()
            np.fill_diagonal(sub, 0.0)
            if gram is not None:
                # Models trained on the same text embed similar tokens alike; a form that
                # merely echoes that token similarity is not evidence of shared weights.
                sub -= (sub * gram).sum() * gram
            norm = np.linalg.norm(sub)
            if norm > 0:
                out[layer, p] = sub / norm
                present[layer, p] = True
    return out, present


def _embedding_gram(fp: Fingerprint, idx: np.ndarray) -> np.ndarray | None:
    """Token-similarity matrix of the anchors (off-diagonal, centred, unit norm)."""
    if fp.anchor_embed is None or len(fp.anchor_embed) <= idx.max():
        return None
    x = fp.anchor_embed[idx].astype(np.float64)
    x = x / (np.linalg.norm(x, axis=1, keepdims=True) + 1e-12)
    g = x @ x.T
    off = ~np.eye(len(idx), dtype=bool)
    g[off] -= g[off].mean()
    np.fill_diagonal(g, 0.0)
    norm = np.linalg.norm(g)
    return g / norm if norm > 0 else None


def _similarity(
    fa: tuple[np.ndarray, np.ndarray],
    fb: tuple[np.ndarray, np.ndarray],
    perm: np.ndarray | None = None,
) -> np.ndarray:
    """sim[i, j]: mean over products of the cosine of A's layer i and B's layer j."""
    (xa, pa), (xb, pb) = fa, fb
    if perm is not None:
        xb = xb[:, :, perm][:, :, :, perm]
    la, lb, n_p = xa.shape[0], xb.shape[0], xa.shape[1]
    total = np.zeros((la, lb))
    counts = np.zeros((la, lb))
    for p in range(n_p):
        both = pa[:, p][:, None] & pb[:, p][None, :]
        if not both.any():
            continue
        total += np.where(both, xa[:, p].reshape(la, -1) @ xb[:, p].reshape(lb, -1).T, 0.0)
        counts += both
    return np.where(counts > 0, total / np.maximum(counts, 1), 0.0)


def form_alignment(a: Fingerprint, b: Fingerprint) -> tuple[Signal | None, Signal | None]:
    """Anchor forms: aligned (basis-free) per-layer similarity, and the layer map over depth."""
    ia, ib = shared_anchors(a, b, _form_k(a, b))
    if len(ia) < MIN_ANCHORS or a.n_layers == 0 or b.n_layers == 0:
        return None, None
    fa, fb = _stack_forms(a, ia), _stack_forms(b, ib)
    if not fa[1].any() or not fb[1].any():
        return None, None
    sim = _similarity(fa, fb)
    path, score = layer_map(sim)
    rng = np.random.default_rng(_PERM_SEED)
    null = [
        layer_map(_similarity(fa, fb, rng.permutation(len(ib))))[1] for _ in range(N_PERMUTATIONS)
    ]
    mean, std = float(np.mean(null)), float(np.std(null, ddof=1))
    details: dict[str, Any] = {
        "anchors": int(len(ia)),
        "layers_a": a.n_layers,
        "layers_b": b.n_layers,
        "per_layer": {str(j): round(float(sim[i, j]), 4) for j, i in enumerate(path)},
        "null_from": f"{N_PERMUTATIONS} shuffles of the anchor tokens",
    }
    forms = measured(
        "aligned_forms",
        score,
        mean,
        std,
        ("permutation", "rotation", "rescaling", "fine-tuning", "vocabulary change"),
        details,
        kind="shuffles",
    )
    mapping = {str(j): int(i) for j, i in enumerate(path)}
    lm = measured(
        "layer_alignment",
        score,
        mean,
        std,
        ("pruning", "depth up-scaling", "layer reuse"),
        {
            "map_b_to_a": mapping,
            "layers_a": a.n_layers,
            "layers_b": b.n_layers,
            "matched_sim": [round(float(sim[i, j]), 4) for j, i in enumerate(path)],
            "unmatched_null": [round(mean, 4), round(std, 4)],
        },
        kind="shuffles",
    )
    return forms, lm


def _form_k(a: Fingerprint, b: Fingerprint) -> int:
    ks = [f.shape[0] for fp in (a, b) for f in list(fp.forms.values())[:1]]
    return min(ks) if ks else 0


def experts_vs_dense(a: Fingerprint, b: Fingerprint) -> Signal | None:
    """MoE upcycling: each expert's MLP form against the other model's dense MLP form."""
    ea, eb = int(a.meta.get("n_experts", 0)), int(b.meta.get("n_experts", 0))
    if (ea > 0) == (eb > 0):
        return None
    dense, moe = (a, b) if eb > 0 else (b, a)
    n_exp = max(ea, eb)
    idx_d, idx_m = shared_anchors(dense, moe, _form_k(a, b))
    if len(idx_d) < MIN_ANCHORS:
        return None
    fd = _stack_forms(dense, idx_d)
    per_expert = [_stack_forms(moe, idx_m, e) for e in range(n_exp)]
    layers = min(dense.n_layers, moe.n_layers)
    fd = (fd[0][:layers], fd[1][:layers])

    def score_of(perm: np.ndarray | None) -> tuple[float, list[float]]:
        vals = []
        for fe in per_expert:
            sim = _similarity(fd, (fe[0][:layers], fe[1][:layers]), perm)
            vals.append(float(np.mean(np.diag(sim))))
        return float(np.mean(vals)), vals

    score, vals = score_of(None)
    rng = np.random.default_rng(_PERM_SEED)
    null = [score_of(rng.permutation(len(idx_m)))[0] for _ in range(N_PERMUTATIONS // 2)]
    return measured(
        "experts_vs_dense",
        score,
        float(np.mean(null)),
        float(np.std(null, ddof=1)),
        ("MoE upcycling", "hidden-unit permutation"),
        {"experts": n_exp, "per_expert": [round(v, 4) for v in vals], "dense_side": dense.name},
        kind="shuffles",
    )


# ---- embeddings of shared tokens ----------------------------------------------------------
def _shared_rows(a: Fingerprint, b: Fingerprint) -> tuple[np.ndarray, np.ndarray] | None:
    if a.anchor_embed is None or b.anchor_embed is None:
        return None
    ia, ib = shared_anchors(a, b)
    if len(ia) < MIN_ANCHORS:
        return None
    x = a.anchor_embed[ia].astype(np.float64)
    y = b.anchor_embed[ib].astype(np.float64)
    return x - x.mean(0), y - y.mean(0)


def embed_rows(a: Fingerprint, b: Fingerprint) -> Signal | None:
    """Shared tokens' embedding rows in the stored basis (no alignment)."""
    rows = _shared_rows(a, b)
    if rows is None or rows[0].shape != rows[1].shape:
        return None
    x, y = rows
    nx, ny = np.linalg.norm(x), np.linalg.norm(y)
    if not nx or not ny:  # rows all alike (or all zero): nothing to compare
        return None
    score = float((x * y).sum() / (nx * ny))
    # Null: B's residual basis a uniformly random rotation of A's (what independent
    # initialisation gives): E[tr(M Q)^2] = ||M||_F^2 / d for Haar Q.
    null_std = float(np.linalg.norm(x.T @ y) / (math.sqrt(x.shape[1]) * nx * ny))
    return measured(
        "embed_rows",
        score,
        0.0,
        null_std,
        ("fine-tuning", "vocabulary change"),
        {"shared_tokens": int(x.shape[0])},
    )


def embed_by_id(a: Fingerprint, b: Fingerprint) -> Signal | None:
    """The embedding matrices compared token id by token id (their sketches), where a side
    ships no vocabulary to line tokens up by their strings (embed_rows, aligned_embed).

    With the same vocabulary size and width, an embedding reused (then fine-tuned) keeps
    its rows at their ids; a re-ordered vocabulary, or another model's, scores at noise.
    Null: independent sketches, cosine ~ N(0, 1 / k), widened by a common mean row's
    share (random directions in d dimensions: 1 / d).
    """
    if a.vocab is not None and b.vocab is not None:
        return None
    key = RoleKey("embed")
    sa, sb, ta, tb = (
        a.sketches.get(key),
        b.sketches.get(key),
        a.tensors.get(key),
        b.tensors.get(key),
    )
    if sa is None or sb is None or ta is None or tb is None or sa.shape != sb.shape:
        return None
    if ta["shape"] != tb["shape"] or ta.get("read") != tb.get("read") or len(ta["shape"]) != 2:
        return None
    score = cosine(sa, sb)
    null_std = math.hypot(1.0 / math.sqrt(max(sa.size - 1, 1)), 1.0 / math.sqrt(ta["shape"][1]))
    return measured(
        "embed_by_id",
        score,
        0.0,
        null_std,
        ("fine-tuning", "quantization"),
        {"rows": int((ta.get("read") or ta["shape"])[0]), "vocab_size": int(ta["shape"][0])},
        where=key,
    )


def aligned_embed(a: Fingerprint, b: Fingerprint) -> Signal | None:
    """Procrustes on half the shared tokens, cosine on the other half (no overfit)."""
    rows = _shared_rows(a, b)
    if rows is None:
        return None
    x, y = rows
    if x.shape[1] != y.shape[1] or x.shape[0] < 2 * MIN_ANCHORS:
        return None
    x, y = _unit_rows(x), _unit_rows(y)
    # The rotation is fitted on half the tokens and scored on the other half. A large
    # model has fewer anchor tokens than dimensions: a rotation fitted in all of them would
    # be free on the rest and score next to nothing even for identical models, so it is
    # fitted between each side's leading principal directions, with four rows a dimension.
    rank = min(x.shape[1], len(x) // 8)
    xf, yf = (
        (x, y)
        if rank == x.shape[1]
        else (_unit_rows(_principal(x, rank)), _unit_rows(_principal(y, rank)))
    )
    half = np.arange(len(x)) % 2 == 0

    def held_out(yy: np.ndarray) -> float:
        total = 0.0
        for tr in (half, ~half):
            fa, fb = procrustes_factors(xf[tr], yy[tr])
            total += float(np.mean(np.sum(((xf[~tr] @ fa) @ fb) * yy[~tr], axis=1)))
        return total / 2

    score = held_out(yf)
    rng = np.random.default_rng(_PERM_SEED)
    null = [held_out(yf[rng.permutation(len(yf))]) for _ in range(N_PERMUTATIONS // 4)]
    # float32 is ample for where the rotation puts each dimension, and twice as fast
    r_all = procrustes(x.astype(np.float32), y.astype(np.float32)).astype(np.float64)
    # The closest permutation (linear assignment on |R|, signs kept): when it explains the
    # rows as well as the rotation does, the residual stream was permuted, not rotated.
    perm = assignment_of(r_all)
    signs = np.sign(r_all[np.arange(len(perm)), perm])
    x_perm = np.zeros_like(x)  # x times that signed permutation matrix
    x_perm[:, perm] = x * signs
    fit_rot = float(np.mean(np.sum((x @ r_all) * y, axis=1)))
    fit_perm = float(np.mean(np.sum(x_perm * y, axis=1)))
    return measured(
        "aligned_embed",
        score,
        float(np.mean(null)),
        float(np.std(null, ddof=1)),
        ("permutation", "rotation", "fine-tuning", "vocabulary change"),
        {
            "shared_tokens": int(len(x)),
            "fitted_dims": rank,
            "permutation_likeness": round(permutation_likeness(r_all), 4),
            "identity_likeness": round(float(np.mean(np.diag(r_all))), 4),
            "fit_rotation": round(fit_rot, 4),
            "fit_permutation": round(fit_perm, 4),
            "linear_cka": round(_linear_cka(x, y), 4),
        },
        kind="shuffles",
    )


def _unit_rows(x: np.ndarray) -> np.ndarray:
    return x / (np.linalg.norm(x, axis=1, keepdims=True) + 1e-12)


def _principal(x: np.ndarray, rank: int) -> np.ndarray:
    """x's coordinates along its `rank` leading principal directions (from the smaller
    Gram matrix: rows x rows when there are fewer rows than dimensions)."""
    from scipy.linalg import eigh

    m, d = x.shape
    gram = x @ x.T if m < d else x.T @ x
    n = len(gram)
    vals, vecs = eigh(gram, subset_by_index=[n - rank, n - 1])  # the leading ones alone
    vals, vecs = vals[::-1], vecs[:, ::-1]
    if m < d:
        return vecs * np.sqrt(np.maximum(vals, 0.0))
    return x @ vecs


def _linear_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Linear CKA of two row-matched representations (invariant to rotations of either)."""
    x = x - x.mean(0)
    y = y - y.mean(0)
    if len(x) < x.shape[1]:  # the same from the (smaller) rows x rows Gram matrices
        kx, ky = x @ x.T, y @ y.T
        cross = float(np.sum(kx * ky))
        denom = float(np.linalg.norm(kx) * np.linalg.norm(ky))
    else:
        cross = float(np.linalg.norm(x.T @ y) ** 2)
        denom = float(np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y))
    return float(cross / denom) if denom > 0 else 0.0


# ---- spectra ------------------------------------------------------------------------------
def _spec_dist(sa: np.ndarray, sb: np.ndarray) -> float:
    n = min(len(sa), len(sb))
    if n == 0:
        return math.nan
    xa, xb = sa[:n].astype(np.float64), sb[:n].astype(np.float64)
    keep = (xa > xa[0] * 1e-4) & (xb > xb[0] * 1e-4)
    if keep.sum() < 2:
        return math.nan
    return float(np.mean(np.abs(np.log(xa[keep]) - np.log(xb[keep]))))


def spectra(a: Fingerprint, b: Fingerprint, kind: str, path: list[int] | None) -> Signal | None:
    """Per-head singular values of QK or OV, layer against mapped layer; null off-map."""
    la, lb = a.n_layers, b.n_layers
    if la < 3 or lb < 3:
        return None
    dist = np.full((la, lb), np.nan)
    for i in range(la):
        for j in range(lb):
            sa, sb = a.spectra.get(FormKey(kind, i)), b.spectra.get(FormKey(kind, j))
            if sa is not None and sb is not None:
                dist[i, j] = _spec_dist(sa, sb)
    path = path if path is not None and len(path) == lb else [min(j, la - 1) for j in range(lb)]
    on = np.array([dist[i, j] for j, i in enumerate(path)])
    mask = np.ones_like(dist, dtype=bool)
    for j, i in enumerate(path):
        mask[i, j] = False
    off = dist[mask & ~np.isnan(dist)]
    on = on[~np.isnan(on)]
    if len(on) < 2 or len(off) < 3:
        return None
    score = -float(np.mean(on))
    null_std = float(np.std(off, ddof=1)) / math.sqrt(len(on))
    return measured(
        f"spectra_{kind}",
        score,
        -float(np.mean(off)),
        null_std,
        ("permutation", "rotation", "rescaling"),
        {
            "layers": len(on),
            "null_from": "layer pairs off the layer map",
            "weak": "layers of one architecture have similar spectra",
        },
        kind="off-map",
    )


# ---- tokenizer and config -----------------------------------------------------------------
def tokenizer(a: Fingerprint, b: Fingerprint) -> Signal | None:
    if a.vocab is None or b.vocab is None:
        return None
    o = overlap(a.vocab, b.vocab)
    details: dict[str, Any] = {
        "shared_tokens": o.shared,
        "vocab_a": a.vocab.size,
        "vocab_b": b.vocab.size,
        "same_id_fraction": round(o.same_id_fraction, 4),
        "weak": "many unrelated models share a public tokenizer",
    }
    if not o.exact:
        details["estimated_from"] = f"the {o.sample} tokens of smallest hash (bottom-k sample)"
    return measured("tokenizer", o.jaccard, 0.5, 0.5, ("fine-tuning",), details, kind="none")


def config(a: Fingerprint, b: Fingerprint) -> Signal | None:
    ca, cb = a.meta.get("config", {}), b.meta.get("config", {})
    keys = sorted(set(ca) & set(cb))
    if not keys:
        return None
    same = [k for k in keys if ca[k] == cb[k]]
    return measured(
        "config",
        len(same) / len(keys),
        0.5,
        0.5,
        ("fine-tuning",),
        {
            "same": same,
            "different": [k for k in keys if k not in same],
            "weak": "one architecture, one config",
        },
        kind="none",
    )


def all_signals(a: Fingerprint, b: Fingerprint) -> list[Signal]:
    forms, lmap = form_alignment(a, b)
    path = None
    if lmap is not None:
        path = [
            int(v) for _, v in sorted(lmap.details["map_b_to_a"].items(), key=lambda kv: int(kv[0]))
        ]
    found = [
        direct_cosine(a, b),
        forms,
        aligned_embed(a, b),
        embed_rows(a, b),
        embed_by_id(a, b),
        experts_vs_dense(a, b),
        spectra(a, b, "qk", path),
        spectra(a, b, "ov", path),
        std_curve(a, b),
        tokenizer(a, b),
        config(a, b),
    ]
    if lmap is not None and (
        a.n_layers != b.n_layers
        or path != list(range(b.n_layers))
        or _uneven(lmap.details["matched_sim"])
    ):
        found.append(lmap)
    # a score that is not a number (a zero embedding: 0 / 0) says nothing
    return [s for s in found if s is not None and math.isfinite(s.score)]


def _uneven(sims: Any) -> bool:
    """Some mapped layers far below the others: layer for layer, only some are shared (two
    prunings of one model that kept different layers have the same depth)."""
    values = [float(x) for x in sims]
    return bool(values) and min(values) < SHARED_LAYER * float(np.median(values))

"""Extraction: one streaming pass over a checkpoint gives its Fingerprint.

The pass, in order: worker threads start reducing the first blocks at once (reading.py);
meanwhile this thread picks the anchor tokens (tokens.anchor_order: tokens another model
is known to hold first, then the common list of rules/anchor_tokens.toml, then the smallest
public string hashes), reads their embedding rows and whitens them into the probe, and reduces the
norm gains; then the layer pass turns each block's reductions into forms (forms.py), the
head form closes it, and every tensor no form used still gets its statistics and sketch.
Memory is a layer's few tensors at most.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..loader import LoadedModel, load_model
from ..reduce import unit_norm
from ..roles import RoleKey
from ..tokens import anchor_order, token_hashes
from ..units import DEFAULT, Sampling
from .data import Fingerprint, FormKey, is_fingerprint_file
from .forms import block_forms
from .reading import Geometry, TensorPass

ANCHORS_EMBED = 2048
ANCHORS_FORM = 256
# Checkpoints below this size (bf16-equivalent) are "tiny": the 1% budget does not bind.
TINY_BYTES = 16 * 1024 * 1024
_ARCH_KEYS = (
    "model_type",
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "num_key_value_heads",
    "intermediate_size",
    "vocab_size",
    "rope_theta",
    "rms_norm_eps",
    "max_position_embeddings",
    "tie_word_embeddings",
    "num_local_experts",
    "num_experts",
    "head_dim",
    "hidden_act",
)


def fingerprint_of(
    target: str,
    offline: bool = False,
    sampling: Sampling = DEFAULT,
    anchors_form: int | None = None,
    prefer: np.ndarray | None = None,
) -> Fingerprint:
    """A fingerprint file as saved, or a fresh one from a model folder, file or target."""
    if is_fingerprint_file(target):
        return Fingerprint.load(Path(target))
    model = load_model(target, offline=offline)
    try:
        return extract(model, anchors_form, sampling, prefer)
    finally:
        model.close()


def extract(
    model: LoadedModel,
    anchors_form: int | None = None,
    sampling: Sampling = DEFAULT,
    prefer: np.ndarray | None = None,
) -> Fingerprint:
    """One streaming pass over the checkpoint (see the module docstring).

    `sampling` says which units of wide matrices are read (units.py; ALL_UNITS: all);
    `prefer`: token hashes to take first as anchors (tokens.anchor_order).
    """
    from threadpoolctl import threadpool_limits

    # Small products and per-head QRs: BLAS threads only contend with each other.
    with threadpool_limits(limits=1):
        tp = TensorPass(model, sampling)
        try:
            return _extract(model, tp, anchors_form, prefer)
        finally:
            tp.probes.ready.set()  # a worker waiting for the probe must not wait forever
            tp.stop_workers()


@dataclass(frozen=True)
class Anchors:
    """The anchor tokens and what is read of them."""

    ids: np.ndarray
    hashes: np.ndarray
    """Their public string hashes, in the order they were taken (anchor_order)."""
    embed: np.ndarray | None
    """Their embedding rows, as stored."""
    probe: np.ndarray | None
    """The first anchors' rows, normed and whitened: what block matrices are probed with."""


def _extract(
    model: LoadedModel, tp: TensorPass, anchors_form: int | None, prefer: np.ndarray | None
) -> Fingerprint:
    geo = tp.geometry
    # the workers start on the first blocks while the anchors are worked out here
    tp.workers().start()
    n_embed, k_form = anchor_budget(geo)
    vocab_h = token_hashes(model.vocab) if model.vocab is not None else None
    aside = {role: tp.stats_aside(role) for role in ("embed", "lm_head")}
    anchors = _anchors(tp, vocab_h, n_embed, min(anchors_form or k_form, n_embed), prefer)
    tp.probes.matrix = anchors.probe
    # The norm gains are the probes' other factor.
    for layer in range(geo.n_layers):
        for norm in ("attn_norm", "mlp_norm"):
            tp.probes.gains[(norm, layer)] = tp.gain(norm, layer)
    tp.probes.ready.set()
    e_form = anchors.probe
    # the head's anchor rows are read while the workers start on the blocks
    head = tp.rows_of("lm_head", anchors.ids[: len(e_form)]) if e_form is not None else None
    forms: dict[FormKey, np.ndarray] = {}
    spectra: dict[FormKey, np.ndarray] = {}
    for layer in range(geo.n_layers):
        block, block_spectra = block_forms(tp, layer)
        forms.update(block)
        spectra.update(block_spectra)
    for role, fut in aside.items():
        if fut is not None:
            tp.keep(geo.by_key[RoleKey(role)], fut.result())
    tp.stop_workers()
    # Whatever the layer pass did not touch still gets its statistics and sketch.
    for ct in geo.canon:
        if ct.key not in tp.tensors:
            tp.reduce(ct.key)
    if e_form is not None:
        gf = tp.gain("final_norm")
        if head is not None and head.shape == e_form.shape:
            forms[FormKey("head")] = (head * gf) @ e_form.T
    meta = _meta(model, tp)
    meta["anchors_form"] = 0 if e_form is None else len(e_form)
    return Fingerprint(
        model.name,
        meta,
        tp.tensors,
        tp.sketches,
        vocab_h,
        anchors.hashes,
        anchors.embed,
        {k: unit_norm(v) for k, v in forms.items()},
        spectra,
    )


def _anchors(
    tp: TensorPass,
    vocab_h: np.ndarray | None,
    n_embed: int,
    n_form: int,
    prefer: np.ndarray | None = None,
) -> Anchors:
    """The n_embed anchor tokens, their embedding rows, and the probe of the first n_form."""
    none = np.zeros(0, dtype=np.int64)
    embed_ct = tp.geometry.by_key.get(RoleKey("embed"))
    if embed_ct is None or len(embed_ct.shape) != 2:
        return Anchors(none, none, None, None)
    rows = embed_ct.shape[0]
    hashes = (
        vocab_h[:rows] if vocab_h is not None else token_hashes([f"<id:{i}>" for i in range(rows)])
    )
    # Tokens the vocabulary lists twice come once (anchor_order keeps the first id).
    ids = anchor_order(hashes, prefer)[:n_embed]
    embed = tp.rows_of("embed", ids)
    if embed is None or len(embed) != len(ids):
        return Anchors(ids, hashes[ids], None, None)
    tp.probes.d = tp.probes.d or embed.shape[1]
    # float32: a float64 probe would upcast every weight matrix it multiplies
    probe = _whitened(_normed(embed[:n_form], tp.geometry.layernorm)).astype(np.float32)
    return Anchors(ids, hashes[ids], embed, probe)


def _normed(rows: np.ndarray, center: bool) -> np.ndarray:
    """Rows as a norm layer sees them (gain excluded): rotation-invariant."""
    x = rows.astype(np.float64)
    if center:
        x = x - x.mean(axis=1, keepdims=True)
    rms = np.sqrt((x * x).mean(axis=1, keepdims=True)) + 1e-12
    return x / rms


def _whitened(rows: np.ndarray) -> np.ndarray:
    """The polar factor of the anchor rows (scaled to unit mean square).

    Models trained on the same text embed the same tokens alike, and a form probed with
    raw embeddings inherits that learned token similarity. Whitening gives every residual
    direction the same weight and keeps rotation equivariance (E Q -> W(E) Q), so the
    forms still survive a rotated residual stream.
    """
    u, _, vt = np.linalg.svd(rows, full_matrices=False)
    return (u @ vt) * np.sqrt(rows.shape[1] / max(min(rows.shape), 1))


def anchor_budget(geo: Geometry) -> tuple[int, int]:
    """Anchor counts (embedding rows, forms) that keep a fingerprint under 1% of the model.

    Computed from the parameter count, never the file size: a Q4 copy of a model must get
    the same anchors as its bf16 original, or their whitened forms would not compare.
    """
    params = sum(int(np.prod(c.shape)) for c in geo.canon)
    size = 2 * params  # as stored in bf16; quantized copies are smaller, their prints not
    if size < TINY_BYTES or not geo.d:
        return ANCHORS_EMBED, ANCHORS_FORM
    n_layers = 1 + max((c.key.layer for c in geo.canon), default=0)
    n_exp = geo.n_experts()
    n_forms = max(1, n_layers * (4 + 2 * max(n_exp, 0)))
    # float16 storage. Sketches take about 0.1% (1/1024 of each tensor), vocabulary hashes
    # 8 bytes a token; forms get 0.3% and anchor embedding rows 0.15% of the checkpoint.
    k_form = int((0.003 * size / (2 * n_forms)) ** 0.5)
    # Forms cost 2 K flops per value read: keep that near the cost of reading the weights
    # (45 anchors at 1B parameters, 32 from 2B up; the lineage suite keeps every verdict
    # with 32 anchors and an eighth of the units, bench/results/lineage_sampled.txt).
    k_form = min(k_form, int(45 * (1e9 / max(params, 1)) ** 0.5))
    k_embed = int(0.0015 * size / (2 * geo.d))
    return (max(64, min(ANCHORS_EMBED, k_embed)), max(32, min(ANCHORS_FORM, k_form)))


def _meta(model: LoadedModel, tp: TensorPass) -> dict[str, Any]:
    geo = tp.geometry
    quant = sorted({t["dtype"] for t in tp.tensors.values() if t["quantized"]})
    return {
        "format": model.reader.fmt if model.reader else None,
        "total_bytes": model.total_bytes,
        "files": model.weight_files,
        "config": {k: model.config[k] for k in _ARCH_KEYS if k in model.config},
        "d": tp.probes.d,
        "n_layers": geo.n_layers,
        "n_heads": geo.heads.n_heads,
        "n_kv": geo.heads.n_kv,
        "head_dim": geo.heads.head_dim,
        "quantized_dtypes": quant,
        "n_experts": geo.n_experts(),
        "unknown_tensors": geo.unknown[:50],
        "n_unknown_tensors": len(geo.unknown),
        "vocab_size": len(model.vocab) if model.vocab is not None else None,
        "spectra": "per head" if geo.spectra_on else "skipped (checkpoint too large)",
        "sampling": geo.sampling.describe(),
        "heads_read": len(geo.plan.q_heads) if geo.plan is not None else None,
    }

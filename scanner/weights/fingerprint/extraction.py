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

from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..coverage import NothingRecognised, coverage_of
from ..loader import LoadedModel, load_model
from ..reduce import unit_norm
from ..roles import RoleKey
from ..sketch import sketch_size
from ..tokens import MAX_VOCAB, anchor_order, token_hashes
from ..units import DEFAULT, REMOTE, Sampling
from .data import Fingerprint, FormKey, is_fingerprint_file
from .forms import block_forms
from .reading import Geometry, TensorPass
from .vocab import VOCAB_SAMPLE_MIN, VocabSample

ANCHORS_EMBED = 2048
# Blocks whose per-head spectra may wait for the spectra thread (each holds its attention).
SPECTRA_AHEAD = 3
ANCHORS_FORM = 256
# A fingerprint takes at most this share of its checkpoint's file (the README says 1%).
FP_SHARE = 0.009
# The smallest storage the budget plans for: 4-bit blocks with a 16-bit scale (Q4_0).
Q4_BYTES_PER_PARAM = 4.5 / 8
# The saved (compressed) header's bytes for each tensor entry, measured on real checkpoints.
HEADER_BYTES_PER_TENSOR = 60
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
    sampling: Sampling | None = None,
    anchors_form: int | None = None,
    prefer: np.ndarray | None = None,
) -> Fingerprint:
    """A fingerprint file as saved, or a fresh one from a model folder, file or target.

    `sampling` None: DEFAULT, or REMOTE where the checkpoint is read by remote byte ranges
    (a Hub target not in the cache: see `sampling_for`)."""
    if is_fingerprint_file(target):
        return Fingerprint.load(Path(target))
    model = load_model(target, offline=offline)
    try:
        return extract(model, anchors_form, sampling or sampling_for(model), prefer)
    finally:
        model.close()


def sampling_for(model: LoadedModel) -> Sampling:
    """REMOTE for a checkpoint read by remote ranges (DEFAULT would read whole the
    matrices whose units are columns), else DEFAULT. A tiny checkpoint (under TINY_BYTES
    in bf16) is read with DEFAULT even remotely: it costs little, and REMOTE's forms (QK
    alone) are weak evidence on small models trained on the same data (unrelated models
    of the lineage suite reach z = 5 to 11 on them: bench/results/remote_fingerprints.txt)."""
    if model.remote is None or model.reader is None:
        return DEFAULT
    params = sum(int(np.prod(m.shape, dtype=np.int64)) for m in model.reader.tensors())
    return DEFAULT if 2 * params < TINY_BYTES else REMOTE


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
        _check_recognised(model, tp.geometry)
        try:
            return _extract(model, tp, anchors_form, prefer)
        finally:
            tp.probes.ready.set()  # a worker waiting for the probe must not wait forever
            tp.stop_workers()


def _check_recognised(model: LoadedModel, geo: Geometry) -> None:
    """A checkpoint of which no tensor has a role cannot be compared: one clear error."""
    if geo.canon:
        return
    assert model.reader is not None  # TensorPass refuses a model without a reader
    cov = coverage_of(model.reader.tensors(), geo.unknown)
    groups = ", ".join(g.pattern for g in cov.unrecognised[:3]) or "none"
    raise NothingRecognised(
        f"{model.name}: none of its {cov.tensors} tensors has a role provscan knows "
        f"(names such as {groups}); nothing to compare. Tensor names are mapped to roles "
        f"in rules/tensor_roles.toml"
    )


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
    vocab_h = token_hashes(model.vocab) if model.vocab is not None else None
    plan = budget(geo, model.total_bytes, len(vocab_h) if vocab_h is not None else 0)
    aside = {role: tp.stats_aside(role) for role in ("embed", "lm_head")}
    k_form = min(anchors_form or plan.k_form, plan.n_embed)
    n_embed = plan.n_embed
    if geo.sampling.banded and geo.sampling.anchors_most:  # scattered rows: a request each
        n_embed = min(n_embed, max(geo.sampling.anchors_most, k_form))
    anchors = _anchors(tp, vocab_h, n_embed, k_form, prefer)
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
    # The per-head spectra (a large share of a mid-size model's arithmetic) are computed
    # in a thread of their own while the layer pass goes on; at most SPECTRA_AHEAD blocks
    # wait for it, each holding its attention matrices.
    with ThreadPoolExecutor(1, thread_name_prefix="provscan-spectra") as pool:
        waiting: deque[Future[dict[FormKey, np.ndarray]]] = deque()
        for layer in range(geo.n_layers):
            block, block_spectra = block_forms(tp, layer)
            forms.update(block)
            waiting.append(pool.submit(block_spectra))
            while len(waiting) > SPECTRA_AHEAD:
                spectra.update(waiting.popleft().result())
        while waiting:
            spectra.update(waiting.popleft().result())
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
    if model.remote is not None:  # every read is done: what the pass took from the server
        meta["remote_read"] = {
            "bytes": model.remote.bytes_read,
            "requests": model.remote.requests,
            "parameters": meta["coverage"].get("parameters", 0),
        }
    return Fingerprint(
        model.name,
        meta,
        tp.tensors,
        tp.sketches,
        VocabSample.of(vocab_h, plan.n_vocab) if vocab_h is not None else None,
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
    # a claimed row count is no vocabulary: never more placeholder ids than a real one has
    rows = min(embed_ct.shape[0], MAX_VOCAB)
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


@dataclass(frozen=True)
class Budget:
    """How much of each kind a fingerprint keeps, so that it stays under 1% of the file."""

    n_embed: int
    """Anchor tokens whose embedding rows are kept."""
    k_form: int
    """Anchors the forms are evaluated on (K x K each)."""
    n_vocab: int | None
    """Tokens of the vocabulary kept (the bottom-k sample, vocab.py); None: all."""


def budget(geo: Geometry, file_bytes: int, vocab_size: int) -> Budget:
    """What a fingerprint keeps: about FP_SHARE of the checkpoint's file (never more than
    of its bf16 size), whatever the storage, 4-bit included.

    The form anchors come from the parameter count alone, never the file size: a Q4 copy
    of a model must get the same form anchors as its bf16 original, or their whitened forms
    would not compare. What the file's size then leaves goes to the anchor embedding rows
    (compared on the anchors both sides kept) and the vocabulary (whole when it fits, else a
    bottom-k sample that estimates overlaps without bias).
    """
    params = sum(int(np.prod(c.shape)) for c in geo.canon)
    size = 2 * params  # as stored in bf16
    if size < TINY_BYTES or not geo.d:
        return Budget(ANCHORS_EMBED, ANCHORS_FORM, None)
    n_layers = 1 + max((c.key.layer for c in geo.canon), default=0)
    n_exp = geo.n_experts()
    n_forms = max(1, n_layers * (4 + 2 * max(n_exp, 0)))
    # Forms get 0.25% of the checkpoint stored at 4.5 bits a weight (Q4_0), as int8 values.
    k_form = int((0.0025 * Q4_BYTES_PER_PARAM * params / n_forms) ** 0.5)
    # Forms cost 2 K flops per value read: keep that near the cost of reading the weights
    # (45 anchors at 1B parameters, 32 from 2B up; the lineage suite keeps every verdict
    # with 32 anchors and an eighth of the units, bench/results/lineage_sampled.txt).
    k_form = max(32, min(ANCHORS_FORM, k_form, int(45 * (1e9 / max(params, 1)) ** 0.5)))
    # anchor rows: 0.15% of the bf16 size at most (the form anchors are among them)
    most_rows = max(64, min(ANCHORS_EMBED, int(0.0015 * size / (2 * geo.d))))
    k_form = min(k_form, most_rows)
    target = FP_SHARE * min(file_bytes or size, size)
    left = target - _fixed_bytes(geo, n_forms, k_form, params)
    # and most of what the file leaves
    n_embed = max(min(most_rows, int(0.6 * max(left, 0) / (geo.d + 4))), k_form)
    left -= n_embed * (geo.d + 4)
    if vocab_size * 8 <= left:
        return Budget(n_embed, k_form, None)
    return Budget(n_embed, k_form, max(VOCAB_SAMPLE_MIN, int(left // 12)))


def _fixed_bytes(geo: Geometry, n_forms: int, k_form: int, params: int) -> int:
    """What a fingerprint holds whatever its budget: forms, sketches, spectra, header
    (sizes as saved: int8 values with a float32 scale a row, float16 spectra)."""
    forms = n_forms * k_form * (k_form + 4)
    sketches = sum(sketch_size(int(np.prod(c.shape))) + 4 for c in geo.canon if len(c.shape) == 2)
    spectra = 2 * 2 * geo.n_layers * (geo.d or 0) if geo.spectra_on else 0
    return forms + sketches + spectra + HEADER_BYTES_PER_TENSOR * len(geo.canon)


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
        "coverage": coverage_of(tp.reader.tensors(), geo.unknown).to_dict(),
        "unknown_tensors": geo.unknown[:50],
        "n_unknown_tensors": len(geo.unknown),
        "vocab_size": len(model.vocab) if model.vocab is not None else None,
        "spectra": "per head" if geo.spectra_on else "skipped (checkpoint too large)",
        "sampling": geo.sampling.describe(),
        "sampling_name": geo.sampling.name,
        "heads_read": len(geo.plan.q_heads) if geo.plan is not None else None,
    }

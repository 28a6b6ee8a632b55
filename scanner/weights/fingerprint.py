"""The fingerprint: everything the signals compare, extracted in one streaming pass.

A model is compared through its fingerprint, whether the other side is a live checkpoint
or a saved .npz file, so `compare A B` and `scan --against FP` use the same evidence:
per-tensor statistics and count sketches (direct cosine, std curve), embedding rows of
anchor tokens (the tokens with the smallest public string hash: two vocabularies that share
tokens share most anchors), per-layer bilinear forms of QK / OV / MLP products evaluated on
those anchors (free of the residual basis: survive permutation, rotation with norm gains
folded, per-layer rescaling), per-head singular-value spectra, and the vocabulary hashes.
"""

from __future__ import annotations

import json
import threading
import zipfile
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .formats.interface import WeightFormatError, runs_of
from .loader import LoadedModel, load_model
from .prefetch import Prefetcher
from .reduce import Probe, Reduced, Reduction, unit_norm
from .roles import CanonLoader, CanonTensor, Heads, RoleKey, map_roles, norm_offset
from .tokens import token_hashes
from .units import DEFAULT, HeadPlan, Sampling, head_plan

FORMAT_VERSION = 3
ANCHORS_EMBED = 2048
ANCHORS_FORM = 256
_MAX_FP_BYTES = 512 * 1024 * 1024
_ARCH_KEYS = ("model_type", "hidden_size", "num_hidden_layers", "num_attention_heads",
              "num_key_value_heads", "intermediate_size", "vocab_size", "rope_theta",
              "rms_norm_eps", "max_position_embeddings", "tie_word_embeddings",
              "num_local_experts", "num_experts", "head_dim", "hidden_act")


@dataclass
class Fingerprint:
    """A comparable summary of one checkpoint (see the module docstring)."""

    name: str
    meta: dict[str, Any]
    """format, total_bytes, config subset, geometry, quantized dtypes, tensor table."""
    tensors: dict[str, dict[str, Any]]
    """label -> role, layer, expert, shape, dtype, quantized, mean, std, hash."""
    sketches: dict[str, np.ndarray]
    vocab_hashes: np.ndarray | None
    anchor_hashes: np.ndarray
    """Sorted ascending; the first ANCHORS_FORM also index the forms."""
    anchor_embed: np.ndarray | None
    forms: dict[str, np.ndarray] = field(default_factory=dict)
    """'qk@3', 'ov@3', 'du@3', 'dg@3', 'du@3#e1', 'head' -> K x K."""
    spectra: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def n_layers(self) -> int:
        return int(self.meta.get("n_layers", 0))

    @property
    def quantized(self) -> bool:
        return bool(self.meta.get("quantized_dtypes"))

    # ---- files -------------------------------------------------------------------------
    def save(self, path: Path) -> None:
        arrays: dict[str, np.ndarray] = {
            "anchor_hashes": self.anchor_hashes.astype(np.int64)}
        if self.vocab_hashes is not None:
            arrays["vocab_hashes"] = self.vocab_hashes.astype(np.int64)
        if self.anchor_embed is not None:
            arrays["anchor_embed"] = self.anchor_embed.astype(np.float16)
        for k, v in self.sketches.items():
            arrays[f"sketch/{k}"] = v.astype(np.float16)
        for k, v in self.forms.items():
            arrays[f"form/{k}"] = v.astype(np.float16)
        for k, v in self.spectra.items():
            arrays[f"spectrum/{k}"] = v.astype(np.float32)
        head = {"fingerprint_version": FORMAT_VERSION, "name": self.name, "meta": self.meta,
                "tensors": self.tensors}
        arrays["header"] = np.frombuffer(json.dumps(head).encode(), dtype=np.uint8)
        with open(path, "wb") as fh:
            np.savez(fh, **arrays)  # type: ignore[arg-type]  # float16 barely compresses

    @classmethod
    def load(cls, path: Path) -> Fingerprint:
        if path.stat().st_size > _MAX_FP_BYTES:
            raise WeightFormatError(f"{path.name}: fingerprint larger than {_MAX_FP_BYTES}")
        try:
            with zipfile.ZipFile(path) as zf:
                total = sum(i.file_size for i in zf.infolist())
                if total > 4 * _MAX_FP_BYTES or len(zf.infolist()) > 200_000:
                    raise WeightFormatError(f"{path.name}: fingerprint expands too far")
            data = np.load(path, allow_pickle=False)
            head = json.loads(bytes(data["header"]).decode())
            version = head.get("fingerprint_version")
            if version != FORMAT_VERSION:
                raise WeightFormatError(
                    f"{path.name}: fingerprint format {version!r}, this provscan reads "
                    f"{FORMAT_VERSION}: run `provscan fingerprint` on the model again")
            fp = cls(name=str(head["name"]), meta=head["meta"], tensors=head["tensors"],
                     sketches={}, vocab_hashes=None,
                     anchor_hashes=data["anchor_hashes"].astype(np.int64),
                     anchor_embed=None)
            for k in data.files:
                arr = data[k]
                if k == "vocab_hashes":
                    fp.vocab_hashes = arr.astype(np.int64)
                elif k == "anchor_embed":
                    fp.anchor_embed = arr.astype(np.float32)
                elif k.startswith("sketch/"):
                    fp.sketches[k[7:]] = arr.astype(np.float32)
                elif k.startswith("form/"):
                    fp.forms[k[5:]] = arr.astype(np.float32)
                elif k.startswith("spectrum/"):
                    fp.spectra[k[9:]] = arr.astype(np.float32)
        except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
            raise WeightFormatError(f"{path.name}: not a provscan fingerprint ({exc})") from exc
        return fp


def is_fingerprint_file(path: str) -> bool:
    p = Path(path)
    if not p.is_file() or p.suffix.lower() != ".npz":
        return False
    try:
        with zipfile.ZipFile(p) as zf:
            return "header.npy" in zf.namelist()
    except (zipfile.BadZipFile, OSError):
        return False


# ---- extraction ---------------------------------------------------------------------------
def _heads(config: dict[str, Any], d: int | None, arch: str | None) -> Heads:
    h = config.get("num_attention_heads") or config.get("n_head")
    kv = config.get("num_key_value_heads") or h
    hd = config.get("head_dim") or (d // h if d and h else None)
    return Heads(int(h) if h else None, int(kv) if kv else None, int(hd) if hd else None,
                 arch)


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


def _per_head(w: np.ndarray, n: int) -> np.ndarray:
    """(n*hd, d) -> (n, d, hd): each head's rows as columns, for a batched QR."""
    return w.reshape(n, w.shape[0] // n, w.shape[1]).transpose(0, 2, 1)


def _head_spectra(left: np.ndarray, right: np.ndarray) -> np.ndarray:
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


# Attention tensors kept whole for per-head spectra (models up to SPECTRA_MAX_PARAMS).
_SPECTRA_ROLES = ("attn_q", "attn_k", "attn_v", "attn_o")
_MLP_KINDS = ("mlp", "expert", "shared")
# A tensor read before the probe exists is held until then only up to this size (float32).
EARLY_MAX_BYTES = 32 * 1024 * 1024
# Roles whose units are multiplied by the probe (see _Extractor.probe_for).
_PROBED = (*_SPECTRA_ROLES, *(f"{k}_{p}" for k in _MLP_KINDS for p in ("gate", "up", "down")))


class _Extractor:
    def __init__(self, model: LoadedModel, sampling: Sampling = DEFAULT):
        if model.reader is None:
            raise WeightFormatError(f"{model.name}: no weight file provscan can read")
        self.model = model
        self.metas = model.reader.tensors()
        embed_shape = next((m.shape for m in self.metas if m.name.endswith(
            ("embed_tokens.weight", "wte.weight", "token_embd.weight", "embed_in.weight",
             "word_embeddings.weight"))), None)
        cfg = model.config
        d = cfg.get("hidden_size") or cfg.get("n_embd") or (embed_shape[1] if embed_shape
                                                             else None)
        self.d = int(d) if d else None
        self.heads = _heads(cfg, self.d, model.architecture)
        self.sampling = sampling
        self.plan: HeadPlan | None = head_plan(self.heads, sampling)
        self.canon, self.unknown = map_roles(self.metas, self.heads)
        self.by_key: dict[RoleKey, CanonTensor] = {c.key: c for c in self.canon}
        self.loader = CanonLoader(model.reader, self.heads)
        self.offset = norm_offset(cfg.get("model_type"))
        self.layernorm = any(c.key.role == "attn_norm_bias" for c in self.canon)
        self.spectra_on = sum(int(np.prod(c.shape)) for c in self.canon) <= SPECTRA_MAX_PARAMS
        self.tensors: dict[str, dict[str, Any]] = {}
        self.sketches: dict[str, np.ndarray] = {}
        self.forms: dict[str, np.ndarray] = {}
        self.spectra: dict[str, np.ndarray] = {}
        self.prefetcher: Prefetcher | None = None
        # The anchor probe and the norm gains; jobs that start before probe_ready keep
        # their arrays for reduce() to multiply.
        self.probe: np.ndarray | None = None
        self.gains: dict[tuple[str, int], np.ndarray] = {}
        self.probe_ready = threading.Event()

    # ---- which units, multiplied by what -----------------------------------------------
    def select(self, ct: CanonTensor) -> tuple[int, np.ndarray] | None:
        """The rows (0) or columns (1) of a canonical tensor that are read (units.py)."""
        if len(ct.shape) != 2:
            return None
        role, (rows, cols) = ct.key.role, ct.shape
        idx: np.ndarray | None = None
        axis = 0
        if role in ("embed", "lm_head"):
            idx = self.sampling.stat_rows(rows, cols)
        elif role.startswith("attn_"):
            plan = self.plan
            if plan is None or not plan.sampled:
                return None
            width, kv_width = plan.n_heads * plan.head_dim, plan.n_kv * plan.head_dim
            if role == "attn_q" and rows == width:
                idx = plan.q_units()
            elif role in ("attn_k", "attn_v") and rows == kv_width:
                idx = plan.kv_units()
            elif role == "attn_o" and cols == width:
                idx, axis = plan.q_units(), 1
        else:
            kind, _, part = role.partition("_")
            if kind in _MLP_KINDS and part in ("gate", "up"):
                idx = self.sampling.units(rows)
            elif kind in _MLP_KINDS and part == "down":
                idx, axis = self.sampling.units(cols), 1
        return None if idx is None else (axis, idx)

    def probe_for(self, ct: CanonTensor, shape: tuple[int, ...]) -> Probe | None:
        """The probe of a block matrix: anchors times the norm gain its input passes."""
        e, d = self.probe, self.d
        if e is None or d is None or len(shape) != 2:
            return None
        role, layer = ct.key.role, ct.key.layer
        kind, _, part = role.partition("_")
        if role in ("attn_q", "attn_k", "attn_v"):
            p, residual_cols = e * self.gains.get(("attn_norm", layer), 1), True
        elif role == "attn_o":
            p, residual_cols = e, False
        elif kind in _MLP_KINDS and part in ("gate", "up"):
            p, residual_cols = e * self.gains.get(("mlp_norm", layer), 1), True
        elif kind in _MLP_KINDS and part == "down":
            p, residual_cols = e, False
        else:
            return None
        # as _fit orients it: the residual side where the role expects it, else the other
        first, second = (1, 0) if residual_cols else (0, 1)
        axis = first if shape[first] == d else (second if shape[second] == d else None)
        if axis is None:
            return None
        return Probe(np.asarray(p, dtype=np.float32), axis, norms=part == "up")

    def expand_kv(self, r: np.ndarray) -> np.ndarray:
        """Key/value columns of r repeated to line up with the query heads read."""
        plan = self.plan
        if plan is None:
            return _expand_kv(r, self.heads.n_heads, self.heads.n_kv)
        if r.shape[-1] != len(plan.kv_heads) * plan.head_dim:
            return r
        return plan.expand(r)

    # ---- reading -----------------------------------------------------------------------
    def _job(self, ct: CanonTensor, loader: CanonLoader) -> Reduced:
        """Read the units of one tensor and reduce them (thread-safe: workers run it)."""
        sel = self.select(ct)
        shape = list(ct.shape)
        if sel is not None:
            shape[sel[0]] = len(sel[1])
        # Jobs start while the main thread still works out the anchors: those read before
        # the probe exists keep their array, and reduce() multiplies it later.
        early = not self.probe_ready.is_set() and ct.key.role in _PROBED and len(shape) == 2
        if early and 4 * int(np.prod(shape)) > EARLY_MAX_BYTES:
            self.probe_ready.wait()  # too large to hold until then: wait for the probe
            early = False
        red = Reduction(tuple(shape), None if early else self.probe_for(ct, tuple(shape)),
                        self.sampling.stat_blocks(tuple(shape)))
        keep = early or len(shape) != 2 or (self.spectra_on and ct.key.role in _SPECTRA_ROLES)
        arr = loader.load(ct, sel, red.feed, keep=keep)
        out = red.finish(ct, None if arr is None else np.asarray(arr, dtype=np.float32))
        out.late = early
        return out

    def advise(self, ct: CanonTensor) -> None:
        """Ask the kernel to read what a tensor's job will read (its rows, if sampled)."""
        assert self.model.reader is not None
        sel = self.select(ct)
        if sel is None or sel[0] != 0 or not ct.plain:
            self.model.reader.prefetch(ct.source)
            return
        self.model.reader.prefetch(ct.source, runs_of(sel[1]))

    def open_pool(self) -> Prefetcher:
        """The worker threads (see prefetch.py); the planned tensors wait for start()."""
        assert self.model.reader is not None
        if self.prefetcher is None:
            self.prefetcher = Prefetcher(self.model.reader, self.heads, self.canon, self._job,
                                         self._keep, self.advise)
        return self.prefetcher

    def stop_prefetch(self) -> None:
        if self.prefetcher is not None:
            self.prefetcher.close()
            self.prefetcher = None

    def reduce(self, role: str, layer: int = -1, expert: int = -1) -> Reduced | None:
        ct = self.by_key.get(RoleKey(role, layer, expert))
        if ct is None:
            return None
        red = self.prefetcher.take(ct) if self.prefetcher is not None else None
        if red is None:
            red = self._job(ct, self.loader)
            self.loader.clear()
        if red.late and red.arr is not None:
            red.probe_now(self.probe_for(ct, red.arr.shape),
                          keep_arr=self.spectra_on and ct.key.role in _SPECTRA_ROLES)
        self._keep(ct, red)
        return red

    def stats_aside(self, role: str) -> Future[Reduced] | None:
        """Statistics of a tensor outside the blocks (embeddings, head), in a worker now."""
        ct = self.by_key.get(RoleKey(role))
        if ct is None or ct.key.label() in self.tensors:
            return None
        return self.open_pool().side(ct)

    def rows_of(self, role: str, want: np.ndarray) -> np.ndarray | None:
        """Rows `want` of a 2-D tensor (embeddings, lm_head), read alone.

        A 150k-token embedding is gigabytes as float32: its statistics come from its stat
        rows in a worker (stats_aside); here only the wanted rows are read.
        """
        ct = self.by_key.get(RoleKey(role))
        if ct is None or len(ct.shape) != 2:
            return None
        want = want[want < ct.shape[0]]
        order = np.unique(want)
        assert self.model.reader is not None
        loader = CanonLoader(self.model.reader, self.heads)  # this thread's own
        got = np.asarray(loader.load(ct, (0, order)), dtype=np.float32)
        return got[np.searchsorted(order, want)]

    def _keep(self, ct: CanonTensor, red: Reduced) -> None:
        label = ct.key.label()
        if label in self.tensors:
            return
        self.tensors[label] = red.entry
        if red.sketch is not None:
            self.sketches[label] = red.sketch

    def gain(self, role: str, layer: int = -1) -> np.ndarray:
        red = self.reduce(role, layer)
        g = red.arr if red is not None else None
        if g is None or self.d is None or g.shape != (self.d,):
            return np.ones(self.d or 1, dtype=np.float32)
        return (g + np.float32(self.offset)).astype(np.float32)


def _fit(w: np.ndarray | None, d: int | None, cols: bool = True) -> np.ndarray | None:
    """Orient a matrix so its residual side is the columns (cols) or the rows."""
    if w is None or w.ndim != 2 or d is None:
        return None
    if cols:
        return w if w.shape[1] == d else (w.T if w.shape[0] == d else None)
    return w if w.shape[0] == d else (w.T if w.shape[1] == d else None)


# Checkpoints below this size (bf16-equivalent) are "tiny": the 1% budget does not bind.
TINY_BYTES = 16 * 1024 * 1024


def _budget(model: LoadedModel, ex: _Extractor) -> tuple[int, int]:
    """Anchor counts (embedding rows, forms) that keep a fingerprint under 1% of the model.

    Computed from the parameter count, never the file size: a Q4 copy of a model must get
    the same anchors as its bf16 original, or their whitened forms would not compare.
    """
    params = sum(int(np.prod(c.shape)) for c in ex.canon)
    size = 2 * params  # as stored in bf16; quantized copies are smaller, their prints not
    if size < TINY_BYTES or not ex.d:
        return ANCHORS_EMBED, ANCHORS_FORM
    n_layers = 1 + max((c.key.layer for c in ex.canon), default=0)
    n_exp = 1 + max((c.key.expert for c in ex.canon), default=-1)
    n_forms = max(1, n_layers * (4 + 2 * max(n_exp, 0)))
    # float16 storage. Sketches take about 0.1% (1/1024 of each tensor), vocabulary hashes
    # 8 bytes a token; forms get 0.3% and anchor embedding rows 0.15% of the checkpoint.
    k_form = int((0.003 * size / (2 * n_forms)) ** 0.5)
    # Forms cost 2 K flops per value read: keep that near the cost of reading the weights
    # (45 anchors at 1B parameters, 32 from 2B up; the lineage suite keeps every verdict
    # with 32 anchors and an eighth of the units, bench/results/lineage_sampled.txt).
    k_form = min(k_form, int(45 * (1e9 / max(params, 1)) ** 0.5))
    k_embed = int(0.0015 * size / (2 * ex.d))
    return (max(64, min(ANCHORS_EMBED, k_embed)), max(32, min(ANCHORS_FORM, k_form)))


# Per-head spectra cost 2 * head_dim flops per attention parameter; they are weak
# evidence, so large checkpoints skip them rather than spend more than the read.
SPECTRA_MAX_PARAMS = 2_000_000_000


def extract(model: LoadedModel, anchors_form: int | None = None,
            sampling: Sampling = DEFAULT) -> Fingerprint:
    """One streaming pass over the checkpoint; memory is a layer's few tensors at most.

    `sampling` says which units of wide matrices are read (units.py; ALL_UNITS: all).
    """
    from threadpoolctl import threadpool_limits

    # Small products and per-head QRs: BLAS threads only contend with each other.
    with threadpool_limits(limits=1):
        return _extract(model, anchors_form, sampling)


def _extract(model: LoadedModel, anchors_form: int | None, sampling: Sampling
             ) -> Fingerprint:
    ex = _Extractor(model, sampling)
    try:
        return _extract_with(model, ex, anchors_form)
    finally:
        ex.probe_ready.set()  # a worker waiting for the probe must not wait forever
        ex.stop_prefetch()


def _extract_with(model: LoadedModel, ex: _Extractor, anchors_form: int | None
                  ) -> Fingerprint:
    # the workers start on the first blocks while the anchors are worked out here
    ex.open_pool().start()
    n_embed, k_form = _budget(model, ex)
    anchors_form = min(anchors_form or k_form, n_embed)
    vocab_h = token_hashes(model.vocab) if model.vocab is not None else None
    embed_ct = ex.by_key.get(RoleKey("embed"))
    anchor_ids = np.zeros(0, dtype=np.int64)
    anchor_hashes = np.zeros(0, dtype=np.int64)
    e_form = None
    anchor_embed = None
    aside = {role: ex.stats_aside(role) for role in ("embed", "lm_head")}
    if embed_ct is not None and len(embed_ct.shape) == 2:
        rows = embed_ct.shape[0]
        hashes = vocab_h[:rows] if vocab_h is not None else token_hashes(
            [f"<id:{i}>" for i in range(rows)])
        order = np.argsort(hashes, kind="stable")
        # Tokens the vocabulary lists twice or not at all would make anchors ambiguous.
        _, first = np.unique(hashes[order], return_index=True)
        order = order[first][:n_embed]
        anchor_ids = order
        anchor_hashes = hashes[order]
        anchor_embed = ex.rows_of("embed", anchor_ids)
        if anchor_embed is not None and len(anchor_embed) == len(anchor_ids):
            ex.d = ex.d or anchor_embed.shape[1]
            # float32: a float64 probe would upcast every weight matrix it multiplies
            e_form = _whitened(_normed(anchor_embed[:anchors_form], ex.layernorm)).astype(
                np.float32)
        else:
            anchor_embed = None
    ex.probe = e_form
    n_layers = 1 + max((c.key.layer for c in ex.canon), default=-1)
    # The norm gains are the probes' other factor.
    for layer in range(n_layers):
        for norm in ("attn_norm", "mlp_norm"):
            ex.gains[(norm, layer)] = ex.gain(norm, layer)
    ex.probe_ready.set()
    # the head's anchor rows are read while the workers start on the blocks
    head = ex.rows_of("lm_head", anchor_ids[: len(e_form)]) if e_form is not None else None
    for layer in range(n_layers):
        _layer_pass(ex, layer)
    for role, fut in aside.items():
        if fut is not None:
            ex._keep(ex.by_key[RoleKey(role)], fut.result())
    ex.stop_prefetch()
    # Whatever the layer pass did not touch still gets its statistics and sketch.
    for ct in ex.canon:
        if ct.key.label() not in ex.tensors:
            ex.reduce(ct.key.role, ct.key.layer, ct.key.expert)
    if e_form is not None:
        gf = ex.gain("final_norm")
        if head is not None and head.shape == e_form.shape:
            ex.forms["head"] = (head * gf) @ e_form.T
    quant = sorted({t["dtype"] for t in ex.tensors.values() if t["quantized"]})
    meta = {
        "format": model.reader.fmt if model.reader else None,
        "total_bytes": model.total_bytes,
        "files": model.weight_files,
        "config": {k: model.config[k] for k in _ARCH_KEYS if k in model.config},
        "d": ex.d, "n_layers": n_layers, "n_heads": ex.heads.n_heads, "n_kv": ex.heads.n_kv,
        "head_dim": ex.heads.head_dim, "quantized_dtypes": quant,
        "n_experts": 1 + max((c.key.expert for c in ex.canon), default=-1),
        "unknown_tensors": ex.unknown[:50], "n_unknown_tensors": len(ex.unknown),
        "vocab_size": len(model.vocab) if model.vocab is not None else None,
        "spectra": "per head" if ex.spectra_on else "skipped (checkpoint too large)",
        "sampling": ex.sampling.describe(),
        "heads_read": len(ex.plan.q_heads) if ex.plan is not None else None,
    }
    forms = {k: unit_norm(v) for k, v in ex.forms.items()}
    return Fingerprint(model.name, meta, ex.tensors, ex.sketches, vocab_h, anchor_hashes,
                       anchor_embed, forms, ex.spectra)


def _expand_kv(r: np.ndarray, n_heads: int | None, n_kv: int | None) -> np.ndarray:
    """Repeat key/value heads for grouped-query attention so they line up with queries."""
    if not n_heads or not n_kv or n_kv == n_heads:
        return r
    hd = r.shape[-1] // n_kv
    return np.repeat(r.reshape(*r.shape[:-1], n_kv, hd), n_heads // n_kv,
                     axis=-2).reshape(*r.shape[:-1], n_heads * hd)


def _layer_pass(ex: _Extractor, layer: int) -> None:
    """A block's forms from the reductions of its matrices (anchor responses, reduce.py)."""
    # in the workers' order (prefetch._ORDER): taking one out of turn would read it twice
    got = {role: ex.reduce(role, layer) for role in ("attn_q", "attn_k", "attn_v", "attn_o")}
    # QK: queries against their keys; OV: the output map against the values it reads
    for name, q_side, kv_side in (("qk", "attn_q", "attn_k"), ("ov", "attn_o", "attn_v")):
        left, right = got[q_side], got[kv_side]
        if left is None or right is None:
            continue
        if left.resp is not None and right.resp is not None:
            lined_up = ex.expand_kv(right.resp)
            if lined_up.shape == left.resp.shape:
                ex.forms[f"{name}@{layer}"] = left.resp @ lined_up.T
        _spectrum(ex, f"{name}@{layer}", left, right, name == "ov")
    _mlp_forms(ex, layer, "mlp", -1)
    n_exp = 1 + max((c.key.expert for c in ex.canon if c.key.layer == layer), default=-1)
    for expert in range(n_exp):
        _mlp_forms(ex, layer, "expert", expert)
    _mlp_forms(ex, layer, "shared", -1)


def _spectrum(ex: _Extractor, name: str, left: Reduced, right: Reduced, ov: bool) -> None:
    """Per-head singular values of W_q^T W_k (or W_o W_v), norm gain folded in."""
    n_q = len(ex.plan.q_heads) if ex.plan is not None else None  # the query heads read
    layer = left.entry["layer"]
    g1 = ex.gains.get(("attn_norm", layer), np.ones(ex.d or 1, dtype=np.float32))
    if not ex.spectra_on or not n_q or left.arr is None or right.arr is None:
        return
    a = _fit(left.arr, ex.d, cols=not ov)
    b = _fit(right.arr, ex.d)
    if a is None or b is None:
        return
    b_full = ex.expand_kv(b.T).T
    if ov:  # a: W_o (d, units), b: W_v rows lined up with o's columns
        if b_full.shape[0] == a.shape[1] and a.shape[1] % n_q == 0:
            ex.spectra[name] = _head_spectra(_per_head(a.T, n_q), _per_head(b_full * g1, n_q))
    elif b_full.shape == a.shape and a.shape[0] % n_q == 0:
        ex.spectra[name] = _head_spectra(_per_head(a * g1, n_q), _per_head(b_full * g1, n_q))


def _mlp_forms(ex: _Extractor, layer: int, kind: str, expert: int) -> None:
    down = ex.reduce(f"{kind}_down", layer, expert)
    if down is None or down.resp is None:
        return
    left, hidden = down.resp, down.resp.shape[1]
    suffix = f"#e{expert}" if expert >= 0 else ("#shared" if kind == "shared" else "")
    up = ex.reduce(f"{kind}_up", layer, expert)
    up_norm = None
    if up is not None and up.resp is not None and up.resp.shape[1] == hidden:
        ex.forms[f"du@{layer}{suffix}"] = left @ up.resp.T
        up_norm = up.norms
    gate = ex.reduce(f"{kind}_gate", layer, expert)
    if gate is not None and gate.resp is not None and gate.resp.shape[1] == hidden:
        # SwiGLU is unchanged by up*c, down/c per hidden unit: weigh each unit's gate by its
        # up row norm so this form is unchanged too.
        scale = up_norm if up_norm is not None else 1
        ex.forms[f"dg@{layer}{suffix}"] = (left * scale) @ gate.resp.T


def fingerprint_of(target: str, offline: bool = False, sampling: Sampling = DEFAULT,
                   anchors_form: int | None = None) -> Fingerprint:
    """A fingerprint file as saved, or a fresh one from a model folder, file or target."""
    if is_fingerprint_file(target):
        return Fingerprint.load(Path(target))
    model = load_model(target, offline=offline)
    try:
        return extract(model, anchors_form, sampling)
    finally:
        model.close()

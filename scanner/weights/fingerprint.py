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
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .formats.interface import WeightFormatError
from .loader import LoadedModel
from .prefetch import Prefetcher
from .roles import CanonLoader, CanonTensor, Heads, RoleKey, map_roles, norm_offset
from .sketch import ContentHash, StreamingStats, count_sketch
from .tokens import token_hashes

FORMAT_VERSION = 1
ANCHORS_EMBED = 2048
ANCHORS_FORM = 256
_MAX_FP_BYTES = 512 * 1024 * 1024
# Tensors above this many elements that need only some rows are read in row chunks.
STREAM_ELEMENTS = 1 << 23
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
            if head.get("fingerprint_version") != FORMAT_VERSION:
                raise WeightFormatError(f"{path.name}: unknown fingerprint version")
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


def _tensor_hash(arr: np.ndarray) -> str:
    """A content check of the values, to spot re-saved copies (see sketch.ContentHash)."""
    flat = np.ascontiguousarray(arr, dtype=np.float32).reshape(-1)
    h = ContentHash(flat.size)
    h.feed(flat)
    return h.digest()


def _mean_std(arr: np.ndarray) -> tuple[float, float]:
    """Mean and std in one BLAS pass each (np.std's temporaries cost more than the read)."""
    flat = np.ascontiguousarray(arr, dtype=np.float32).reshape(-1)
    if flat.size == 0:
        return 0.0, 0.0
    mean = float(flat.sum()) / flat.size
    var = float(np.dot(flat, flat)) / flat.size - mean * mean
    return mean, float(np.sqrt(max(var, 0.0)))


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


def _stats(ct: CanonTensor, arr: np.ndarray) -> tuple[dict[str, Any], np.ndarray | None]:
    """Statistics, hash and sketch of one tensor (thread-safe: the reader thread runs it)."""
    mean, std = _mean_std(arr)
    entry = {"role": ct.key.role, "layer": ct.key.layer, "expert": ct.key.expert,
             "shape": list(arr.shape), "dtype": ct.dtype, "quantized": ct.quantized,
             "source": ct.source, "mean": mean, "std": std, "hash": _tensor_hash(arr)}
    return entry, (_unit(count_sketch(arr, mean=mean)) if arr.ndim >= 2 else None)


class _Extractor:
    def __init__(self, model: LoadedModel):
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
        arch = None
        if model.reader.fmt == "gguf":
            arch = str(model.reader.metadata().get("general.architecture", "")) or None
        self.heads = _heads(cfg, self.d, arch)
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
        # The reader thread also computes the MLP gate products (the layer pass has the
        # other products to do): it needs the anchor probe and the layer's MLP norm gain.
        self.probe: np.ndarray | None = None
        self.mlp_gain: dict[int, np.ndarray] = {}
        self.products: dict[str, np.ndarray] = {}

    def _work(self, ct: CanonTensor, arr: np.ndarray
              ) -> tuple[dict[str, Any], np.ndarray | None, np.ndarray | None]:
        entry, sketch = _stats(ct, arr)
        e, g = self.probe, self.mlp_gain.get(ct.key.layer)
        w = _fit(arr, self.d) if ct.key.role.endswith("_gate") else None
        prod = (e * g) @ w.T if e is not None and g is not None and w is not None else None
        return entry, sketch, prod

    def start_prefetch(self) -> None:
        """Read layer tensors ahead in a second thread (see prefetch.py)."""
        assert self.model.reader is not None
        self.prefetcher = Prefetcher(self.model.reader, self.heads, self.canon, self._work,
                                     lambda ct, res: self._keep(ct, res[:2]))
        self.prefetcher.start([c.source for c in self.canon if c.key.layer < 0])

    def stop_prefetch(self) -> None:
        if self.prefetcher is not None:
            self.prefetcher.close()
            self.prefetcher = None

    def get(self, role: str, layer: int = -1, expert: int = -1) -> np.ndarray | None:
        ct = self.by_key.get(RoleKey(role, layer, expert))
        if ct is None:
            return None
        got = self.prefetcher.take(ct) if self.prefetcher is not None else None
        if got is not None:
            arr, res = got
            self._keep(ct, res[:2])
            if res[2] is not None:
                self.products[ct.key.label()] = res[2]
            return arr
        arr = np.asarray(self.loader.load(ct), dtype=np.float32)
        self._record(ct, arr)
        return arr

    def rows_of(self, role: str, want: np.ndarray) -> np.ndarray | None:
        """Rows `want` of a 2-D tensor (embeddings, lm_head), streaming large ones.

        A 150k-token embedding is gigabytes as float32: it is read in row chunks, its
        statistics and sketch accumulated, and only the wanted rows kept.
        """
        ct = self.by_key.get(RoleKey(role))
        if ct is None or len(ct.shape) != 2:
            return None
        plain = not (ct.transposed or ct.split or ct.expert_index is not None or ct.unrope)
        n = int(np.prod(ct.shape))
        if not plain or n <= STREAM_ELEMENTS:
            arr = self.get(role)
            return None if arr is None else arr[want[want < arr.shape[0]]]
        rows, cols = ct.shape
        stats = StreamingStats(n)
        step = max(1, STREAM_ELEMENTS // max(cols, 1))
        out = np.zeros((len(want), cols), dtype=np.float32)
        for start in range(0, rows, step):
            chunk = self.model.reader.read_rows(ct.source, start, min(rows, start + step))  # type: ignore[union-attr]
            stats.feed(chunk)
            hit = (want >= start) & (want < start + len(chunk))
            out[hit] = chunk[want[hit] - start]
        mean, std, digest, sketch = stats.finish()
        self.tensors[ct.key.label()] = {
            "role": ct.key.role, "layer": -1, "expert": -1, "shape": [rows, cols],
            "dtype": ct.dtype, "quantized": ct.quantized, "source": ct.source, "mean": mean,
            "std": std, "hash": digest}
        self.sketches[ct.key.label()] = _unit(sketch)
        return out[want < rows]

    def _record(self, ct: CanonTensor, arr: np.ndarray) -> None:
        if ct.key.label() not in self.tensors:
            self._keep(ct, _stats(ct, arr))

    def _keep(self, ct: CanonTensor, stats: tuple[dict[str, Any], np.ndarray | None]) -> None:
        label = ct.key.label()
        if label in self.tensors:
            return
        self.tensors[label] = stats[0]
        if stats[1] is not None:
            self.sketches[label] = stats[1]

    def gain(self, role: str, layer: int = -1) -> np.ndarray:
        g = self.get(role, layer)
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
    # Forms cost 2 K flops per parameter: keep that near the cost of reading the weights
    # (64 anchors at 1B parameters, 32 from 4B up).
    k_form = min(k_form, int(64 * (1e9 / max(params, 1)) ** 0.5))
    k_embed = int(0.0015 * size / (2 * ex.d))
    return (max(64, min(ANCHORS_EMBED, k_embed)), max(32, min(ANCHORS_FORM, k_form)))


# Per-head spectra cost 2 * head_dim flops per attention parameter; they are weak
# evidence, so large checkpoints skip them rather than spend more than the read.
SPECTRA_MAX_PARAMS = 2_000_000_000


def extract(model: LoadedModel, anchors_form: int | None = None) -> Fingerprint:
    """One streaming pass over the checkpoint; memory is a layer's few tensors at most."""
    from threadpoolctl import threadpool_limits

    # Small products and per-head QRs: BLAS threads only contend with each other.
    with threadpool_limits(limits=1):
        return _extract(model, anchors_form)


def _extract(model: LoadedModel, anchors_form: int | None) -> Fingerprint:
    ex = _Extractor(model)
    ex.start_prefetch()
    try:
        return _extract_with(model, ex, anchors_form)
    finally:
        ex.stop_prefetch()


def _extract_with(model: LoadedModel, ex: _Extractor, anchors_form: int | None
                  ) -> Fingerprint:
    n_embed, k_form = _budget(model, ex)
    anchors_form = min(anchors_form or k_form, n_embed)
    vocab_h = token_hashes(model.vocab) if model.vocab is not None else None
    embed_ct = ex.by_key.get(RoleKey("embed"))
    anchor_ids = np.zeros(0, dtype=np.int64)
    anchor_hashes = np.zeros(0, dtype=np.int64)
    e_form = None
    anchor_embed = None
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
    for layer in range(n_layers):
        _layer_pass(ex, layer, e_form)
        ex.loader.clear()
    # Whatever the layer pass did not touch still gets its statistics and sketch.
    for ct in ex.canon:
        if ct.key.label() not in ex.tensors:
            ex.get(ct.key.role, ct.key.layer, ct.key.expert)
            ex.loader.clear()
    if e_form is not None:
        head = ex.rows_of("lm_head", anchor_ids[: len(e_form)])
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
    }
    forms = {k: _unit(v) for k, v in ex.forms.items()}
    return Fingerprint(model.name, meta, ex.tensors, ex.sketches, vocab_h, anchor_hashes,
                       anchor_embed, forms, ex.spectra)


def _expand_kv(r: np.ndarray, n_heads: int | None, n_kv: int | None) -> np.ndarray:
    """Repeat key/value heads for grouped-query attention so they line up with queries."""
    if not n_heads or not n_kv or n_kv == n_heads:
        return r
    hd = r.shape[-1] // n_kv
    return np.repeat(r.reshape(*r.shape[:-1], n_kv, hd), n_heads // n_kv,
                     axis=-2).reshape(*r.shape[:-1], n_heads * hd)


def _layer_pass(ex: _Extractor, layer: int, e: np.ndarray | None) -> None:
    d, h, kv = ex.d, ex.heads.n_heads, ex.heads.n_kv
    g1 = ex.gain("attn_norm", layer)
    g2 = ex.gain("mlp_norm", layer)
    ex.mlp_gain[layer] = g2
    wq = _fit(ex.get("attn_q", layer), d)
    wk = _fit(ex.get("attn_k", layer), d)
    if wq is not None and wk is not None:
        if e is not None:
            rq, rk = (e * g1) @ wq.T, (e * g1) @ wk.T
            if rk.shape[1] != rq.shape[1]:
                rk = _expand_kv(rk, h, kv)
            if rk.shape == rq.shape:
                ex.forms[f"qk@{layer}"] = rq @ rk.T
        if ex.spectra_on and h and kv and wq.shape[0] % h == 0 and wk.shape[0] % kv == 0:
            kq = _expand_kv(wk.T, h, kv).T if kv != h else wk
            if kq.shape == wq.shape:
                ex.spectra[f"qk@{layer}"] = _head_spectra(_per_head(wq * g1, h),
                                                          _per_head(kq * g1, h))
    del wq, wk
    wv = _fit(ex.get("attn_v", layer), d)
    wo = _fit(ex.get("attn_o", layer), d, cols=False)
    if wv is not None and wo is not None:
        wv_full = _expand_kv(wv.T, h, kv).T if h and kv and kv != h else wv
        if wv_full.shape[0] == wo.shape[1]:
            if e is not None:
                ex.forms[f"ov@{layer}"] = (e @ wo) @ ((e * g1) @ wv_full.T).T
            if ex.spectra_on and h and wo.shape[1] % h == 0:
                ex.spectra[f"ov@{layer}"] = _head_spectra(
                    _per_head(wo.T, h), _per_head(wv_full * g1, h))
    del wv, wo
    _mlp_forms(ex, layer, e, g2, "mlp", -1)
    n_exp = 1 + max((c.key.expert for c in ex.canon if c.key.layer == layer), default=-1)
    for expert in range(n_exp):
        _mlp_forms(ex, layer, e, g2, "expert", expert)
        ex.loader.clear()
    _mlp_forms(ex, layer, e, g2, "shared", -1)


def _mlp_forms(ex: _Extractor, layer: int, e: np.ndarray | None, g2: np.ndarray,
               kind: str, expert: int) -> None:
    d = ex.d
    down = _fit(ex.get(f"{kind}_down", layer, expert), d, cols=False)
    if down is None or e is None:
        return
    # Each matrix is reduced to its anchor responses and dropped before the next is read,
    # so memory holds one MLP matrix at a time.
    left, hidden = e @ down, down.shape[1]
    del down
    ex.loader.clear()
    suffix = f"#e{expert}" if expert >= 0 else ("#shared" if kind == "shared" else "")
    up = _fit(ex.get(f"{kind}_up", layer, expert), d)
    up_norm = None
    if up is not None and up.shape[0] == hidden:
        ex.forms[f"du@{layer}{suffix}"] = left @ ((e * g2) @ up.T).T
        up_norm = np.sqrt(np.einsum("ij,ij->i", up, up))
    del up
    ex.loader.clear()
    gate = _fit(ex.get(f"{kind}_gate", layer, expert), d)
    done = ex.products.pop(RoleKey(f"{kind}_gate", layer, expert).label(), None)
    if gate is not None and gate.shape[0] == hidden:
        # SwiGLU is unchanged by up*c, down/c per hidden unit: weigh each unit's gate by its
        # up row norm so this form is unchanged too.
        scale = up_norm if up_norm is not None else 1
        if done is None or e is not ex.probe or ex.mlp_gain.get(layer) is not g2:
            done = (e * g2) @ gate.T
        ex.forms[f"dg@{layer}{suffix}"] = (left * scale) @ done.T


def _unit(x: np.ndarray) -> np.ndarray:
    """Scale-free copy (signals use cosines); keeps float16 storage in range."""
    n = float(np.linalg.norm(x))
    return (x / n if n > 0 else x).astype(np.float32)

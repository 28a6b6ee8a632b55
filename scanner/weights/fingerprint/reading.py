"""Reading a checkpoint's canonical tensors for its fingerprint.

Three things, each with its own life:
- Geometry: what the checkpoint is (roles, heads, which units are read), fixed before the
  first read.
- ProbeBoard: what block matrices are multiplied by (the anchor probe and the norm gains),
  set once by the main thread while workers already read; a job that starts before it is
  ready keeps its array and is probed later (reduce.Reduced.late).
- TensorPass: the reads themselves, run ahead in worker threads (prefetch.py), each
  reduced as it streams (reduce.py); it keeps every tensor's statistics and sketch.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..formats.interface import TensorReader, WeightFormatError, runs_of
from ..loader import LoadedModel
from ..prefetch import Prefetcher
from ..reduce import EXACT_TYPES, Probe, Reduced, Reduction
from ..roles import CanonLoader, CanonTensor, Heads, RoleKey, map_roles, norm_offset
from ..units import DEFAULT, HeadPlan, Sampling, head_plan

# Attention tensors kept whole for per-head spectra (models up to SPECTRA_MAX_PARAMS).
SPECTRA_ROLES = ("attn_q", "attn_k", "attn_v", "attn_o")
MLP_KINDS = ("mlp", "expert", "shared")
# Per-head spectra cost 2 * head_dim flops per attention parameter; they are weak
# evidence, so large checkpoints skip them rather than spend more than the read.
SPECTRA_MAX_PARAMS = 2_000_000_000
# A tensor read before the probe exists is held until then only up to this size (float32).
EARLY_MAX_BYTES = 32 * 1024 * 1024
# Roles whose units are multiplied by the probe (see ProbeBoard.probe_for).
_PROBED = (*SPECTRA_ROLES, *(f"{k}_{p}" for k in MLP_KINDS for p in ("gate", "up", "down")))
# Names of the token embedding, for the residual width when the config does not say.
_EMBED_NAMES = (
    "embed_tokens.weight",
    "wte.weight",
    "token_embd.weight",
    "embed_in.weight",
    "word_embeddings.weight",
)


def heads_of(config: dict[str, Any], d: int | None, arch: str | None) -> Heads:
    h = config.get("num_attention_heads") or config.get("n_head")
    kv = config.get("num_key_value_heads") or h
    hd = config.get("head_dim") or (d // h if d and h else None)
    return Heads(int(h) if h else None, int(kv) if kv else None, int(hd) if hd else None, arch)


@dataclass(frozen=True)
class Geometry:
    """What the checkpoint is, from its tensor list and config."""

    d: int | None
    """The residual width the config (or the embedding's shape) gives."""
    heads: Heads
    plan: HeadPlan | None
    """The query and key/value heads read (units.py)."""
    sampling: Sampling
    canon: list[CanonTensor]
    unknown: list[str]
    """Stored tensors no role rule knows."""
    by_key: dict[RoleKey, CanonTensor]
    norm_offset: float
    """Added to stored norm gains (Gemma stores gain - 1)."""
    layernorm: bool
    """LayerNorm (centred) rather than RMSNorm."""
    spectra_on: bool

    @classmethod
    def of(cls, reader: TensorReader, model: LoadedModel, sampling: Sampling) -> Geometry:
        metas = reader.tensors()
        embed_shape = next(
            (m.shape for m in metas if m.name.endswith(_EMBED_NAMES) and len(m.shape) == 2), None
        )
        cfg = model.config
        d = cfg.get("hidden_size") or cfg.get("n_embd") or (embed_shape[1] if embed_shape else None)
        width = int(d) if d else None
        heads = heads_of(cfg, width, model.architecture)
        canon, unknown = map_roles(metas, heads)
        return cls(
            width,
            heads,
            head_plan(heads, sampling),
            sampling,
            canon,
            unknown,
            {c.key: c for c in canon},
            norm_offset(cfg.get("model_type")),
            any(c.key.role == "attn_norm_bias" for c in canon),
            sum(int(np.prod(c.shape)) for c in canon) <= SPECTRA_MAX_PARAMS and not sampling.banded,
        )

    @property
    def n_layers(self) -> int:
        return 1 + max((c.key.layer for c in self.canon), default=-1)

    def n_experts(self, layer: int | None = None) -> int:
        """Experts of one block (None: of any block)."""
        return 1 + max(
            (c.key.expert for c in self.canon if layer is None or c.key.layer == layer), default=-1
        )

    def select(self, ct: CanonTensor) -> tuple[int, np.ndarray] | None:
        """The rows (0) or columns (1) of a canonical tensor that are read (units.py)."""
        if len(ct.shape) != 2:
            return None
        if self.sampling.banded:
            return self._band(ct)
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
            if kind in MLP_KINDS and part in ("gate", "up"):
                idx = self.sampling.units(rows)
            elif kind in MLP_KINDS and part == "down":
                idx, axis = self.sampling.units(cols), 1
        return None if idx is None else (axis, idx)

    def _band(self, ct: CanonTensor) -> tuple[int, np.ndarray] | None:
        """A banded sampling's rows (units.py): contiguous, so one range each."""
        role, (rows, cols) = ct.key.role, ct.shape
        if role in ("embed", "lm_head"):
            idx = self.sampling.stat_rows(rows, cols)
            return None if idx is None else (0, idx)
        if role in ("attn_q", "attn_k"):
            return 0, self._form_rows(rows)
        n = max(1, self.sampling.band_values // max(1, cols))
        return 0, np.arange(min(rows, n), dtype=np.int64)

    def _form_rows(self, rows: int) -> np.ndarray:
        """Q and K rows of the first head: the first form_rows/2 dimensions of each half,
        whole rotary pairs (i, i + head_dim/2), which llama.cpp's order stores as the first
        form_rows rows (one range in a GGUF, two in a safetensors file)."""
        hd, f = self.heads.head_dim or 0, self.sampling.form_rows
        if hd < f or hd % 2 or f % 2 or hd > rows:
            return np.arange(min(rows, f), dtype=np.int64)
        half = np.arange(f // 2, dtype=np.int64)
        return np.concatenate([half, hd // 2 + half])

    def probed(self, ct: CanonTensor) -> bool:
        """Whether a tensor's units meet the probe (a banded sampling: Q and K only)."""
        if ct.key.role not in _PROBED:
            return False
        return not self.sampling.banded or ct.key.role in ("attn_q", "attn_k")


class ProbeBoard:
    """The anchor probe and the norm gains its rows pass, shared with the workers."""

    def __init__(self, d: int | None):
        self.d = d
        """The residual width: the geometry's, else the anchor rows' once read."""
        self.matrix: np.ndarray | None = None
        self.gains: dict[tuple[str, int], np.ndarray] = {}
        self.ready = threading.Event()

    def probe_for(self, ct: CanonTensor, shape: tuple[int, ...]) -> Probe | None:
        """The probe of a block matrix: anchors times the norm gain its input passes."""
        e, d = self.matrix, self.d
        if e is None or d is None or len(shape) != 2:
            return None
        role, layer = ct.key.role, ct.key.layer
        kind, _, part = role.partition("_")
        if role in ("attn_q", "attn_k", "attn_v"):
            p, residual_cols = e * self.gains.get(("attn_norm", layer), 1), True
        elif role == "attn_o":
            p, residual_cols = e, False
        elif kind in MLP_KINDS and part in ("gate", "up"):
            p, residual_cols = e * self.gains.get(("mlp_norm", layer), 1), True
        elif kind in MLP_KINDS and part == "down":
            p, residual_cols = e, False
        else:
            return None
        # as forms._fit orients it: the residual side where the role expects it, else the other
        first, second = (1, 0) if residual_cols else (0, 1)
        axis = first if shape[first] == d else (second if shape[second] == d else None)
        if axis is None:
            return None
        return Probe(np.asarray(p, dtype=np.float32), axis, norms=part == "up")


def readable(model: LoadedModel) -> TensorReader:
    """The model's reader, or the one clear error of a model without a readable checkpoint."""
    if model.reader is None:
        raise WeightFormatError(f"{model.name}: no weight file provscan can read")
    return model.reader


class TensorPass:
    """Reads and reduces the canonical tensors; keeps their statistics and sketches."""

    def __init__(self, model: LoadedModel, sampling: Sampling = DEFAULT):
        self.reader: TensorReader = readable(model)
        self.geometry = Geometry.of(self.reader, model, sampling)
        self.probes = ProbeBoard(self.geometry.d)
        self.loader = CanonLoader(self.reader, self.geometry.heads)
        """The main thread's (workers have their own)."""
        self.tensors: dict[RoleKey, dict[str, Any]] = {}
        self.sketches: dict[RoleKey, np.ndarray] = {}
        self._pool: Prefetcher | None = None

    def job(self, ct: CanonTensor, loader: CanonLoader) -> Reduced:
        """Read the units of one tensor and reduce them (thread-safe: workers run it)."""
        geo, probes = self.geometry, self.probes
        sel = geo.select(ct)
        shape = list(ct.shape)
        if sel is not None:
            shape[sel[0]] = len(sel[1])
        # Jobs start while the main thread still works out the anchors: those read before
        # the probe exists keep their array, and reduce() multiplies it later.
        probed = geo.probed(ct)
        early = not probes.ready.is_set() and probed and len(shape) == 2
        if early and 4 * int(np.prod(shape)) > EARLY_MAX_BYTES:
            probes.ready.wait()  # too large to hold until then: wait for the probe
            early = False
        red = Reduction(
            tuple(shape),
            None if early or not probed else probes.probe_for(ct, tuple(shape)),
            geo.sampling.stat_blocks(tuple(shape)),
            keep_values=str(ct.dtype).upper() in EXACT_TYPES and not ct.quantized,
        )
        keep = early or len(shape) != 2 or (geo.spectra_on and ct.key.role in SPECTRA_ROLES)
        arr = loader.load(ct, sel, red.feed, keep=keep)
        step = self.reader.step(ct.source, self._step_rows(ct, sel)) if ct.quantized else None
        out = red.finish(ct, None if arr is None else np.asarray(arr, dtype=np.float32), step)
        out.late = early
        return out

    def _step_rows(
        self, ct: CanonTensor, sel: tuple[int, np.ndarray] | None
    ) -> list[tuple[int, int]] | None:
        """The rows a banded (REMOTE) sampling read of a matrix: its step is taken from
        them, remote and local alike (TensorReader.step); None: the reader's own sample."""
        if not self.geometry.sampling.banded or sel is None or sel[0] != 0 or not ct.plain:
            return None
        return runs_of(sel[1])

    def advise(self, ct: CanonTensor) -> None:
        """Ask the kernel to read what a tensor's job will read (its rows, if sampled)."""
        sel = self.geometry.select(ct)
        if sel is None or sel[0] != 0 or not ct.plain:
            self.reader.prefetch(ct.source)
            return
        self.reader.prefetch(ct.source, runs_of(sel[1]))

    def workers(self) -> Prefetcher:
        """The worker threads (see prefetch.py); the planned tensors wait for start()."""
        if self._pool is None:
            self._pool = Prefetcher(
                self.reader,
                self.geometry.heads,
                self.geometry.canon,
                self.job,
                self.keep,
                self.advise,
            )
        return self._pool

    def stop_workers(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def reduce(self, key: RoleKey) -> Reduced | None:
        """The reduction of a canonical tensor: the workers' if planned, else read here."""
        ct = self.geometry.by_key.get(key)
        if ct is None:
            return None
        red = self._pool.take(ct) if self._pool is not None else None
        if red is None:
            red = self.job(ct, self.loader)
            self.loader.clear()
        if red.late and red.arr is not None:
            red.probe_now(
                self.probes.probe_for(ct, red.arr.shape),
                keep_arr=self.geometry.spectra_on and key.role in SPECTRA_ROLES,
            )
        self.keep(ct, red)
        return red

    def stats_aside(self, role: str) -> Future[Reduced] | None:
        """Statistics of a tensor outside the blocks (embeddings, head), in a worker now."""
        ct = self.geometry.by_key.get(RoleKey(role))
        if ct is None or ct.key in self.tensors:
            return None
        return self.workers().side(ct)

    def rows_of(self, role: str, want: np.ndarray) -> np.ndarray | None:
        """Rows `want` of a 2-D tensor (embeddings, lm_head), read alone.

        A 150k-token embedding is gigabytes as float32: its statistics come from its stat
        rows in a worker (stats_aside); here only the wanted rows are read.
        """
        ct = self.geometry.by_key.get(RoleKey(role))
        if ct is None or len(ct.shape) != 2:
            return None
        want = want[want < ct.shape[0]]
        order = np.unique(want)
        loader = CanonLoader(self.reader, self.geometry.heads)  # this thread's own
        got = np.asarray(loader.load(ct, (0, order)), dtype=np.float32)
        return got[np.searchsorted(order, want)]

    def keep(self, ct: CanonTensor, red: Reduced) -> None:
        if ct.key in self.tensors:
            return
        self.tensors[ct.key] = red.entry
        if red.sketch is not None:
            self.sketches[ct.key] = red.sketch

    def gain(self, norm: str, layer: int = -1) -> np.ndarray:
        """A norm layer's gain as it multiplies (offset added); ones where it has none."""
        red = self.reduce(RoleKey(norm, layer))
        g = red.arr if red is not None else None
        d = self.probes.d
        if g is None or d is None or g.shape != (d,):
            return np.ones(d or 1, dtype=np.float32)
        return (g + np.float32(self.geometry.norm_offset)).astype(np.float32)

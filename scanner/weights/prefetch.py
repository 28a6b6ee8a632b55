"""Reads the next layer tensors in a second thread while the current ones are multiplied.

Fingerprinting a large checkpoint is two kinds of work of similar size: reading and
widening every weight to float32 (with its statistics, hash and sketch), and the anchor
products of the forms. numpy releases the GIL in both, so a reader thread that runs a
few tensors ahead of the layer pass keeps both cores busy, and asks the kernel to
start reading the next ADVISE_AHEAD tensors from disk. Memory stays bounded: at most DEPTH tensors
wait for the layer pass. It also computes the MLP gate anchor products, which balances the
two threads (fingerprint._Extractor._work).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np

from .formats.interface import TensorReader
from .roles import CanonLoader, CanonTensor, Heads, RoleKey

DEPTH = 4  # a layer's attention tensors: the norms ahead of them take no compute
# The order in which the layer pass asks for a block's tensors (fingerprint._layer_pass).
ADVISE_AHEAD = 8  # tensors whose reading from disk is started ahead of the worker
_ORDER = ("attn_norm", "mlp_norm", "attn_q", "attn_k", "attn_v", "attn_o",
          "mlp_down", "mlp_up", "mlp_gate")
_GROUP = {"expert": 1, "shared": 2}
_PART = {"down": 0, "up": 1, "gate": 2}


def _rank(key: RoleKey) -> tuple[int, int, int, int] | None:
    if key.layer < 0:
        return None
    if key.role in _ORDER:
        return key.layer, 0, 0, _ORDER.index(key.role)
    kind, _, part = key.role.partition("_")
    if kind in _GROUP and part in _PART:
        return key.layer, _GROUP[kind], key.expert, _PART[part]
    return None


Work = Callable[[CanonTensor, np.ndarray], Any]


class Prefetcher:
    """Yields (array, work(ct, array)) for the canonical tensors in layer-pass order."""

    def __init__(self, reader: TensorReader, heads: Heads, canon: list[CanonTensor],
                 work: Work, keep: Callable[[CanonTensor, Any], None], depth: int = DEPTH):
        ranked = [(r, c) for c in canon if (r := _rank(c.key)) is not None]
        self.plan = [c for _, c in sorted(ranked, key=lambda rc: rc[0])]
        self.pos = {c.key: i for i, c in enumerate(self.plan)}
        self.reader, self.heads, self.work, self.keep = reader, heads, work, keep
        self.depth = depth
        self.loader = CanonLoader(reader, heads)  # owned by the worker thread
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="provscan-prefetch")
        self.pending: dict[RoleKey, Future[tuple[np.ndarray, Any]]] = {}
        self.next = 0
        self.advised = 0
        self.sources_advised: set[str] = set()

    def _job(self, i: int, loader: CanonLoader | None = None) -> tuple[np.ndarray, Any]:
        ct = self.plan[i]
        loader = loader or self.loader
        after = self.plan[i + 1] if i + 1 < len(self.plan) else None
        # keep the disk busy: the kernel reads a window of tensors ahead, asynchronously
        while self.advised < min(len(self.plan), i + 1 + ADVISE_AHEAD):
            source = self.plan[self.advised].source
            if source not in self.sources_advised:
                self.sources_advised.add(source)
                self.reader.prefetch(source)
            self.advised += 1
        arr = np.asarray(loader.load(ct), dtype=np.float32)
        if after is None or after.source != ct.source:
            loader.clear()
        return arr, self.work(ct, arr)

    def take(self, ct: CanonTensor) -> tuple[np.ndarray, Any] | None:
        """The prefetched tensor and its work, or None when it was not planned."""
        i = self.pos.get(ct.key)
        if i is None:
            return None
        for key in [k for k in self.pending if self.pos[k] < i]:
            skipped = self.pending.pop(key)  # the layer pass did not ask: keep the work
            if not skipped.cancel():
                self.keep(self.plan[self.pos[key]], skipped.result()[1])
        fut = self.pending.pop(ct.key, None)
        if fut is None:  # never submitted: read it here, with a loader of this thread
            self.next = max(self.next, i + 1)
            out = self._job(i, CanonLoader(self.reader, self.heads))
        else:
            out = fut.result()
        self._fill()
        return out

    def start(self, first: list[str] | None = None) -> None:
        """Begin; `first`: stored tensors read outside the plan (embeddings, head)."""
        for source in first or []:
            if source not in self.sources_advised:
                self.sources_advised.add(source)
                self.reader.prefetch(source)
        self._fill()

    def _fill(self) -> None:
        while len(self.pending) < self.depth and self.next < len(self.plan):
            i = self.next
            self.pending[self.plan[i].key] = self.pool.submit(self._job, i)
            self.next += 1

    def close(self) -> None:
        for fut in self.pending.values():
            fut.cancel()
        self.pending.clear()
        self.pool.shutdown(wait=True)

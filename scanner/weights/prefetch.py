"""Reduces the next layer tensors in worker threads while the layer pass combines them.

Fingerprinting a large checkpoint is reading, widening and reducing every weight read
(statistics, hash, sketch and anchor responses, reduce.py), then small products of the
reductions. numpy releases the GIL in the heavy parts, so WORKERS threads reduce tensors
ahead of the layer pass and keep the cores busy, while the kernel is asked to start
reading the next ADVISE_AHEAD tensors from disk. Memory stays bounded: at most DEPTH
reductions wait for the layer pass, and a reduction holds a tensor's chunk, not the tensor.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from .formats.interface import TensorReader
from .roles import CanonLoader, CanonTensor, Heads, RoleKey

DEPTH = 8  # reductions waiting for the layer pass (small: anchor responses, statistics)
WORKERS = 2
# The order in which the layer pass asks for a block's tensors (fingerprint/forms.py).
ADVISE_AHEAD = 8  # tensors whose reading from disk is started ahead of the worker
_ORDER = ("attn_q", "attn_k", "attn_v", "attn_o", "mlp_down", "mlp_up", "mlp_gate")
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


Job = Callable[[CanonTensor, CanonLoader], Any]
"""Reads and reduces one canonical tensor with the loader given."""


class Prefetcher:
    """Gives job(ct, loader) for the canonical tensors, run ahead in layer-pass order."""

    def __init__(
        self,
        reader: TensorReader,
        heads: Heads,
        canon: list[CanonTensor],
        job: Job,
        keep: Callable[[CanonTensor, Any], None],
        advise: Callable[[CanonTensor], None],
        depth: int = DEPTH,
    ):
        ranked = [(r, c) for c in canon if (r := _rank(c.key)) is not None]
        self.plan = [c for _, c in sorted(ranked, key=lambda rc: rc[0])]
        self.pos = {c.key: i for i, c in enumerate(self.plan)}
        self.reader, self.heads, self.job, self.keep = reader, heads, job, keep
        self.advise = advise
        self.depth = depth
        self.local = threading.local()  # a loader per worker thread
        self.lock = threading.Lock()
        self.pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="provscan-prefetch")
        self.pending: dict[RoleKey, Future[Any]] = {}
        self.next = 0
        self.advised = 0
        self.sources_advised: set[str] = set()

    def _job(self, i: int, loader: CanonLoader | None = None) -> Any:
        ct = self.plan[i]
        if loader is None:
            loader = getattr(self.local, "loader", None)
            if loader is None:
                loader = self.local.loader = CanonLoader(self.reader, self.heads)
        # keep the disk busy: the kernel reads a window of tensors ahead, asynchronously
        with self.lock:
            while self.advised < min(len(self.plan), i + 1 + ADVISE_AHEAD):
                ahead = self.plan[self.advised]
                if ahead.source not in self.sources_advised:
                    self.sources_advised.add(ahead.source)
                    self.advise(ahead)
                self.advised += 1
        try:
            return self.job(ct, loader)
        finally:
            loader.clear()

    def take(self, ct: CanonTensor) -> Any | None:
        """The tensor's reduction, or None when it was not planned."""
        i = self.pos.get(ct.key)
        if i is None:
            return None
        for key in [k for k in self.pending if self.pos[k] < i]:
            skipped = self.pending.pop(key)  # the layer pass did not ask: keep the work
            if not skipped.cancel():
                self.keep(self.plan[self.pos[key]], skipped.result())
        fut = self.pending.pop(ct.key, None)
        if fut is None:  # never submitted: read it here, with a loader of this thread
            self.next = max(self.next, i + 1)
            out = self._job(i, CanonLoader(self.reader, self.heads))
        else:
            out = fut.result()
        self._fill()
        return out

    def start(self) -> None:
        """Begin the planned tensors (the job's inputs must be ready by now)."""
        self._fill()

    def side(self, ct: CanonTensor) -> Future[Any]:
        """Run the job of a tensor outside the plan (embeddings, head) now, in a worker."""
        return self.pool.submit(self._side, ct)

    def _side(self, ct: CanonTensor) -> Any:
        loader = CanonLoader(self.reader, self.heads)
        try:
            return self.job(ct, loader)
        finally:
            loader.clear()

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

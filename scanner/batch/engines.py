"""Where the work units run: a local process pool by default, a Dask distributed cluster
when a scheduler address is given. An engine only runs units and hands back their results,
each once, as they finish; the client writes everything.

Dask is an existing engine, not ours to rewrite: it places one unit per target, and when a
worker dies it runs the unit's task again elsewhere (its `allowed-failures` bounds how
often); a future resolves once, so each target's result comes back once.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import re
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from typing import Any

from ..safetext import one_line
from .targets import BatchError
from .unit import UnitOptions, UnitResult, audit_unit, failed, prepare_worker

SCHEDULER = re.compile(r"^(tcp|tls)://[^\s/]+:\d{1,5}$")
CONNECT_TIMEOUT_S = 30


class Engine(ABC):
    """Runs work units; `results` yields each target's result once, in finishing order."""

    description: str

    @abstractmethod
    def results(self, targets: Sequence[str], options: UnitOptions) -> Iterator[UnitResult]:
        """Run a unit per target and yield the results as they finish."""

    def close(self) -> None:
        return None

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LocalPool(Engine):
    """Processes on this machine (spawned, not forked: the CLI's threads stay behind)."""

    def __init__(self, workers: int):
        self.workers = max(1, workers)
        self.description = f"local process pool, {self.workers} worker(s)"
        self._pool = ProcessPoolExecutor(
            self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=prepare_worker,
        )

    def results(self, targets: Sequence[str], options: UnitOptions) -> Iterator[UnitResult]:
        futures: dict[Future[UnitResult], str] = {
            self._pool.submit(audit_unit, t, options): t for t in targets
        }
        for fut in as_completed(futures):
            try:
                yield fut.result()
            except Exception as exc:  # a worker process that died takes its units along
                yield failed(futures[fut], f"worker process lost: {one_line(exc)}")

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


class DaskCluster(Engine):
    """A Dask distributed cluster at a scheduler address (dask[distributed]: the batch
    extra). Its workers need provscan installed, and reach the targets themselves."""

    def __init__(self, address: str):
        if not SCHEDULER.match(address):
            raise BatchError(f"--scheduler {address!r}: expected tcp://HOST:PORT")
        try:
            from distributed import Client
        except ImportError as exc:
            raise BatchError(
                "--scheduler needs Dask: pip install 'provscan[batch]' (dask[distributed])"
            ) from exc
        try:
            self._client: Any = Client(address, timeout=CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError) as exc:
            raise BatchError(f"cannot reach the Dask scheduler at {address}: {exc}") from exc
        # Keys unique to this run: a long-lived scheduler may still know an earlier run's.
        self._run = uuid.uuid4().hex[:8]
        workers = len(self._client.scheduler_info().get("workers", {}))
        self.description = f"Dask cluster at {address}, {workers} worker(s) now"

    def results(self, targets: Sequence[str], options: UnitOptions) -> Iterator[UnitResult]:
        from distributed import as_completed as dask_completed

        futures = {
            self._client.submit(audit_unit, t, options, key=unit_key(t, self._run), pure=False): t
            for t in targets
        }
        for fut in dask_completed(list(futures)):
            target = futures[fut]
            try:
                result = fut.result()
            except Exception as exc:  # KilledWorker after allowed-failures, a lost scheduler
                result = failed(target, f"Dask: {type(exc).__name__}: {one_line(exc)}")
            fut.release()
            yield result

    def close(self) -> None:
        self._client.close()


def unit_key(target: str, run: str) -> str:
    """The task key of a target's unit: readable in Dask's dashboard, one per target."""
    digest = hashlib.sha256(target.encode()).hexdigest()[:16]
    return f"provscan-audit-{run}-{digest}"

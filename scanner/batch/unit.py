"""The work unit: one target audited in a worker process, its reports rendered there.

Runs wherever the engine puts it (a local process, a Dask worker on another machine): it
writes nothing; the report texts and a summary go back to the client, which writes the
files and the store. Whatever goes wrong with a target is its result, never the batch's.
"""

from __future__ import annotations

import os
import socket
import time
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import ProvscanError
from ..safetext import one_line

if TYPE_CHECKING:
    from ..assess.model import Report

SEVERITY_ORDER = ("high", "medium", "low", "info")
MAX_KEY_FINDINGS = 5


@dataclass(frozen=True)
class UnitOptions:
    """What every target of the batch is audited with."""

    offline: bool = False
    against: tuple[str, ...] = ()
    library: bool = True
    formats: tuple[str, ...] = ()
    """Registry names of the formats to render (report/registry.py)."""


@dataclass(frozen=True)
class TargetSummary:
    """The index page's row of a target."""

    declared_license: str | None
    detected_bases: tuple[str, ...]
    """Bases the weights derive from, with the verdict and relation."""
    level: str
    """fail, warn or pass."""
    headline: str
    key_findings: tuple[str, ...]
    """"2 high undeclared-base-model", worst first."""
    findings: int
    high: int
    medium: int


@dataclass(frozen=True)
class UnitResult:
    """One target's outcome, as the worker hands it back."""

    target: str
    ok: bool
    error: str | None
    summary: TargetSummary | None
    reports: tuple[tuple[str, str], ...]
    """(format name, document text)."""
    seconds: float
    worker: str
    """host:pid of the process that audited it."""


def prepare_worker() -> None:
    """A batch worker audits one target at a time: the license scan runs in-process (the
    batch's parallelism is across targets; Dask workers may not fork either)."""
    os.environ["PROVSCAN_WORKERS"] = "1"
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def audit_unit(target: str, options: UnitOptions) -> UnitResult:
    """Audit TARGET and render its reports; any failure becomes the result's error."""
    prepare_worker()
    started = time.perf_counter()
    try:
        return _audit(target, options, started)
    except ProvscanError as exc:
        error = one_line(exc)
    except Exception as exc:  # one target must never stop the batch: it is reported
        error = f"internal error: {type(exc).__name__}: {one_line(exc)}"
    return UnitResult(target, False, error, None, (), time.perf_counter() - started, worker_name())


def failed(target: str, error: str) -> UnitResult:
    """The result of a target whose unit never came back (a worker lost for good)."""
    return UnitResult(target, False, error, None, (), 0.0, "")


def _audit(target: str, options: UnitOptions, started: float) -> UnitResult:
    from ..analyzers import AuditOptions
    from ..audit import audit
    from ..report.registry import FORMATS

    report = audit(
        target,
        AuditOptions(offline=options.offline, against=options.against, library=options.library),
    )
    reports = tuple(
        (fmt.name, fmt.load().render(report)) for fmt in FORMATS if fmt.name in options.formats
    )
    return UnitResult(
        target,
        True,
        None,
        summary_of(report),
        reports,
        time.perf_counter() - started,
        worker_name(),
    )


def summary_of(report: Report) -> TargetSummary:
    a = report.assessment
    lic = a.declared.license
    if lic and a.declared.license_name:
        lic += f" ({a.declared.license_name})"
    bases = tuple(
        f"{c.name} ({c.verdict}{', ' + c.relation if c.relation else ''})"
        for c in a.lineage
        if c.verdict in ("identical", "derived", "shared-components")
    )
    counts = Counter(
        (str(f.severity), str(f.kind))
        for _, f in a.findings
        if str(f.severity) in ("high", "medium")
    )
    ranked = sorted(counts.items(), key=lambda kv: (SEVERITY_ORDER.index(kv[0][0]), -kv[1]))
    key = tuple(f"{n} {sev} {kind}" for (sev, kind), n in ranked[:MAX_KEY_FINDINGS])
    by_severity = Counter(str(f.severity) for _, f in a.findings)
    return TargetSummary(
        lic,
        bases,
        a.verdict.level,
        a.verdict.headline,
        key,
        len(a.findings),
        by_severity["high"],
        by_severity["medium"],
    )

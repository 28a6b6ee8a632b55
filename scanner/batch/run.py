"""`provscan batch`: every target of a file audited by an engine, reports and store written
by this process, an index page over them all.

Resumable: a target whose reports were written by an earlier run into the same folder (and
are still there) is skipped; failed targets are tried again. The index page is rewritten
at the end, and on an interruption with what finished.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..report.registry import FORMATS
from ..snapshot import Progress, SilentProgress
from .engines import Engine
from .index_page import index_rows, write_index
from .results import BatchResults
from .targets import read_targets, slug
from .unit import UnitOptions, UnitResult

INDEX = "index.html"
REPORTS = "reports"


@dataclass(frozen=True)
class BatchOutcome:
    targets: int
    skipped: int
    """Finished by an earlier run."""
    done: int
    failed: int
    index: Path
    seconds: float


def run_batch(
    targets_file: Path,
    out_dir: Path,
    engine: Engine,
    options: UnitOptions | None = None,
    *,
    progress: Progress | None = None,
    on_result: Callable[[UnitResult], None] | None = None,
) -> BatchOutcome:
    """Audit every target of TARGETS_FILE not finished yet; write reports, rows, index."""
    started = time.perf_counter()
    targets = read_targets(targets_file)
    options = options or UnitOptions(formats=tuple(f.name for f in FORMATS))
    out_dir.mkdir(parents=True, exist_ok=True)
    results = BatchResults(out_dir)
    finished = results.finished(out_dir)
    todo = [t for t in targets if t not in finished]
    done = failed = 0
    progress = progress or SilentProgress()
    try:
        with progress.task(f"auditing {len(todo)} targets", total=len(todo)) as handle:
            for result in engine.results(todo, options):
                results.record(result, write_reports(out_dir, result))
                done += result.ok
                failed += not result.ok
                progress.advance(handle)
                if on_result is not None:
                    on_result(result)
    finally:
        index = out_dir / INDEX
        write_index(index, str(targets_file), index_rows(targets, results.rows()))
    return BatchOutcome(
        len(targets), len(targets) - len(todo), done, failed, index, time.perf_counter() - started
    )


def write_reports(out_dir: Path, result: UnitResult) -> dict[str, str]:
    """Write a target's report texts under reports/SLUG/; their paths, relative."""
    if not result.ok:
        return {}
    folder = Path(REPORTS) / slug(result.target)
    names = {f.name: f.default_file for f in FORMATS}
    written = {}
    (out_dir / folder).mkdir(parents=True, exist_ok=True)
    for name, text in result.reports:
        rel = folder / names[name]
        (out_dir / rel).write_text(text, encoding="utf-8", errors="backslashreplace")
        written[name] = rel.as_posix()
    return written

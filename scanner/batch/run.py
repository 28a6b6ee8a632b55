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
from functools import partial
from pathlib import Path

from ..outputs import output_file, write_output
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
    index = output_file(out_dir / INDEX, INDEX)  # a folder we cannot write fails here, first
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
        rows = index_rows(targets, results.rows())
        write_output(index, "index page", lambda p: write_index(p, str(targets_file), rows))
    return BatchOutcome(
        len(targets), len(targets) - len(todo), done, failed, index, time.perf_counter() - started
    )


def _write_text(path: Path, text: str) -> None:
    # A lone surrogate that escaped every source still gives a valid UTF-8 file.
    path.write_text(text, encoding="utf-8", errors="backslashreplace")


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
        write_output(out_dir / rel, f"{name} report", partial(_write_text, text=text))
        written[name] = rel.as_posix()
    return written

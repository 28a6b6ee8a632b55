"""The terminal: where the CLI writes, how release-controlled text is shown there, and the
progress display of long steps.

Output is never hard-wrapped (a path split at column 80 cannot be copied back). Progress
goes to stderr: a live display on a terminal; in a log (CI, a pipe) plain lines, one every
PLAIN_INTERVAL seconds while work runs, so a quick command still writes nothing there.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TextIO

from rich.console import Console
from rich.markup import escape

from .safetext import one_line

if TYPE_CHECKING:
    from rich.progress import Progress, Task
    from rich.text import Text

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


# Card fields are shown up to this many characters (a hostile card's are 256 KiB long).
MAX_SHOWN = 300
# A log gets a progress line this often (seconds) while work runs: twice per 10 s, so a
# CI log never sits silent for 10 s of work. PROVSCAN_PROGRESS_INTERVAL overrides it.
PLAIN_INTERVAL = 5.0
# Progress lines start with this, so a log reader can tell them from results.
PLAIN_PREFIX = "provscan:"


def shown(text: object, limit: int | None = None) -> str:
    """Release-controlled text as the terminal shows it: no markup, no control characters,
    at most `limit` characters."""
    value = one_line(text)
    if limit is not None and len(value) > limit:
        value = value[:limit] + f"… ({len(value) - limit} more characters)"
    return escape(value)


def amount(done: float, total: float | None, unit: str) -> str:
    """How far a step is, in its own unit: `120/2,597 files`, `1.2/4.5 MB`."""
    if unit == "bytes":
        from rich.filesize import decimal

        return decimal(int(done)) + (f" of {decimal(int(total))}" if total else "")
    if total:
        return f"{int(done):,}/{int(total):,} {unit}"
    return f"{int(done):,} {unit}" if done else ""


class RichProgress:
    """Shows long steps (clone, download, hashing) on stderr when it is a terminal."""

    def __init__(self, progress: Progress):
        self._progress = progress

    @contextmanager
    def task(
        self, description: str, total: float | None = None, unit: str = "files"
    ) -> Iterator[Any]:
        # Descriptions carry names from the release (a Hub file name): shown, not run.
        handle = self._progress.add_task(shown(description), total=total, unit=unit)
        try:
            yield handle
        finally:
            self._progress.remove_task(handle)

    def advance(self, handle: Any, amount: float = 1) -> None:
        if handle is not None:
            self._progress.advance(handle, amount)


@dataclass
class _Step:
    description: str
    total: float | None
    unit: str
    started: float
    done: float = 0.0


@dataclass
class PlainProgress:
    """Progress for a log: every `interval` seconds while a command works, one line naming
    the steps under way with their counts and times. Nothing for work shorter than that."""

    stream: TextIO
    interval: float = PLAIN_INTERVAL
    _steps: dict[int, _Step] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _next: int = 0
    _last: str = ""
    _started: float = field(default_factory=time.monotonic)

    @contextmanager
    def task(
        self, description: str, total: float | None = None, unit: str = "files"
    ) -> Iterator[Any]:
        with self._lock:
            self._next += 1
            handle = self._next
            self._steps[handle] = _Step(one_line(description), total, unit, time.monotonic())
        try:
            yield handle
        finally:
            with self._lock:
                step = self._steps.pop(handle)
                self._last = step.description

    def advance(self, handle: Any, amount: float = 1) -> None:
        with self._lock:
            step = self._steps.get(handle)
            if step is not None:
                step.done += amount

    def line(self) -> str:
        """What is under way now, in one line."""
        now = time.monotonic()
        with self._lock:
            steps = list(self._steps.values())
            last = self._last
        parts = []
        for s in steps:
            count = amount(s.done, s.total, s.unit) if s.unit != "steps" else ""
            parts.append(f"{s.description}{' ' + count if count else ''}")
        if steps:  # the innermost step is the one taking the time
            doing = " > ".join(parts) + f" ({now - steps[-1].started:.0f} s)"
        else:
            doing = f"working (last step: {last or 'starting'})"
        return f"{PLAIN_PREFIX} [{now - self._started:.0f} s] {doing}"

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.stream.write(self.line() + "\n")
                self.stream.flush()
            except (OSError, ValueError):  # the log went away: the work goes on
                return

    @contextmanager
    def running(self) -> Iterator[PlainProgress]:
        ticker = threading.Thread(target=self._run, name="provscan-progress", daemon=True)
        ticker.start()
        try:
            yield self
        finally:
            self._stop.set()
            ticker.join(timeout=2)


def _interval() -> float:
    try:
        value = float(os.environ.get("PROVSCAN_PROGRESS_INTERVAL", PLAIN_INTERVAL))
    except ValueError:
        return PLAIN_INTERVAL
    return value if value > 0 else PLAIN_INTERVAL


def _count_column() -> Any:
    from rich.progress import ProgressColumn
    from rich.text import Text

    class CountColumn(ProgressColumn):
        """Counts as counts (`3/10 files`), bytes as sizes."""

        def render(self, task: Task) -> Text:
            unit = str(task.fields.get("unit", "files"))
            if unit == "steps":
                return Text("")
            return Text(amount(task.completed, task.total, unit), style="progress.download")

    return CountColumn()


@contextmanager
def progress_display() -> Iterator[RichProgress | PlainProgress]:
    """The progress of one command: live on a terminal, plain periodic lines in a log."""
    if not err.is_terminal:
        import sys

        with PlainProgress(sys.stderr, _interval()).running() as plain:
            yield plain
        return
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    bar = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        _count_column(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    )
    with bar:
        yield RichProgress(bar)

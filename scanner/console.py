"""The terminal: where the CLI writes, how release-controlled text is shown there, and the
progress display of long steps."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape

from .safetext import one_line

if TYPE_CHECKING:
    from rich.progress import Progress

out = Console()
err = Console(stderr=True)


# Card fields are shown up to this many characters (a hostile card's are 256 KiB long).
MAX_SHOWN = 300


def shown(text: object, limit: int | None = None) -> str:
    """Release-controlled text as the terminal shows it: no markup, no control characters,
    at most `limit` characters."""
    value = one_line(text)
    if limit is not None and len(value) > limit:
        value = value[:limit] + f"… ({len(value) - limit} more characters)"
    return escape(value)


class RichProgress:
    """Shows long steps (clone, download, hashing) on stderr when it is a terminal."""

    def __init__(self, progress: Progress):
        self._progress = progress

    @contextmanager
    def task(self, description: str, total: float | None = None) -> Iterator[Any]:
        handle = self._progress.add_task(description, total=total)
        try:
            yield handle
        finally:
            self._progress.remove_task(handle)

    def advance(self, handle: Any, amount: float = 1) -> None:
        if handle is not None:
            self._progress.advance(handle, amount)


@contextmanager
def progress_display() -> Iterator[RichProgress]:
    from rich.progress import BarColumn, DownloadColumn, Progress, SpinnerColumn, TextColumn

    bar = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )
    with bar:
        yield RichProgress(bar)

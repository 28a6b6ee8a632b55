"""The `provscan` command line. Thin: parses, calls the audit, writes formats, sets exit codes.

Exit codes: 0 done, 1 policy violations (check), 2 usage or input error. Errors are one
line on stderr, never a traceback (set PROVSCAN_DEBUG=1 to see one).
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, SpinnerColumn, TextColumn

from . import __version__
from .analyzers import AuditOptions
from .audit import AuditResult, audit
from .errors import ProvscanError

EXIT_OK, EXIT_VIOLATIONS, EXIT_ERROR = 0, 1, 2

app = typer.Typer(
    name="provscan",
    help="Audit an AI model release: licenses and notices, copied code, weight lineage.\n\n"
    "TARGET is a folder, a git URL or path with optional @rev, or hf:org/name[@rev].",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
out = Console()
err = Console(stderr=True)


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
    bar = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                   DownloadColumn(), console=err, transient=True,
                   disable=not err.is_terminal)
    with bar:
        yield RichProgress(bar)


def _version(value: bool) -> None:
    if value:
        out.print(f"provscan {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool | None, typer.Option("--version", callback=_version,
                                                 is_eager=True,
                                                 help="Show the version and exit.")] = None,
) -> None:
    """provscan: provenance and license compliance for AI model releases."""


def print_summary(result: AuditResult) -> None:
    snap = result.snapshot
    rev = f" @ {snap.revision[:12]}" if snap.revision else ""
    out.print(f"[bold]{snap.target}[/bold] ({snap.source}{rev}): {len(snap.files)} files")
    kinds = Counter(str(f.kind) for f in snap.files)
    out.print("  " + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())))
    card = snap.card
    if card is not None:
        base = ", ".join(card.base_model) or "none"
        lic = card.license or "none"
        if card.license_name:
            lic += f" ({card.license_name})"
        out.print(f"  card: license {lic}; base model {base}")
    else:
        out.print("  card: none")
    by_kind = Counter(f.kind for f in result.findings)
    if by_kind:
        out.print("  findings: " + ", ".join(f"{n} {k}" for k, n in sorted(by_kind.items())))
    for f in result.findings:
        if str(f.severity) in ("high", "medium") or f.kind == "not-analysed":
            where = f" {f.location.path}" if f.location.path else ""
            out.print(f"  [yellow]{f.severity}[/yellow] {f.kind}{escape(where)}: "
                      f"{escape(f.message)}", highlight=False)


@app.command()
def scan(
    target: Annotated[str, typer.Argument(help="Folder, git URL/path[@rev] or hf:org/name[@rev].")],
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the JSON report here.")]
    = None,
    against: Annotated[list[str] | None, typer.Option(
        "--against", help="Reference model or fingerprint file to compare weights with.")] = None,
    offline: Annotated[bool, typer.Option(
        "--offline", help="Use only local caches (also HF_HUB_OFFLINE=1).")] = False,
    publisher: Annotated[str | None, typer.Option(
        "--publisher", help="Who publishes the release; notices of others are foreign "
        "(default: the Hub org of an hf: target).")] = None,
) -> None:
    """Scan a release: inventory, card metadata and findings."""
    offline = offline or os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0", "false")
    options = AuditOptions(offline=offline, against=tuple(against or ()), publisher=publisher)
    with progress_display() as progress:
        result = audit(target, options, progress=progress)
    if json_out is not None:
        from .report.json import JsonFormat

        JsonFormat().write(result, json_out)
    print_summary(result)


# ---- index commands (reference code corpora) ----------------------------------------------


# ---- weight commands (compare, fingerprint, library) --------------------------------------


# ---- report commands (check, demo, batch) -------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """Entry point: every ProvscanError becomes one line on stderr and exit code 2."""
    try:
        # standalone mode: typer/click print usage errors themselves and exit with 2.
        app(args=argv, prog_name="provscan")
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    except ProvscanError as exc:
        err.print(f"provscan: error: {exc}", highlight=False, markup=False, soft_wrap=True)
        return EXIT_ERROR
    except KeyboardInterrupt:
        err.print("provscan: interrupted", highlight=False, markup=False)
        return EXIT_ERROR
    except Exception as exc:  # the last line of defence: never a traceback
        if os.environ.get("PROVSCAN_DEBUG"):
            raise
        err.print(f"provscan: internal error: {type(exc).__name__}: {exc}",
                  highlight=False, markup=False, soft_wrap=True)
        return EXIT_ERROR
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())

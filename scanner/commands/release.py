"""`provscan demo`, `batch` and `disclose`: commands around whole releases."""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..cli import Against, NoLibrary, Offline, app, print_summary, print_verdict, require_references
from ..console import err, out, progress_display, shown
from ..report.registry import FORMATS
from ..safetext import one_line

if TYPE_CHECKING:
    from ..demo import DemoOutcome


@app.command()
def demo(
    out_dir: Annotated[
        Path,
        typer.Option(
            "--out",
            help="Folder for the example release, the demo's own store and every report: new, "
            "empty, or one an earlier demo made (the demo replaces only what it wrote there).",
        ),
    ] = Path("demo-report"),
) -> None:
    """Run the bundled example end to end.

    Builds an example release from real upstream code, scans it in a store of its own
    (your corpora and caches are not touched) and writes every report format."""
    from ..demo import run_demo

    def say(line: str) -> None:
        err.print(line, highlight=False, markup=False, soft_wrap=True)

    with progress_display() as progress:
        outcome = run_demo(out_dir, say, progress)
    for note in outcome.notes:
        err.print(f"note: {note}", highlight=False, markup=False, soft_wrap=True)
    print_summary(outcome.report.result)
    print_verdict(outcome.report)
    out.print("\nReports:", highlight=False)
    for path in outcome.written:
        out.print(f"  {shown(str(path))}", highlight=False, soft_wrap=True)
    for line in demo_tips(outcome):
        out.print(line, highlight=False, markup=False, soft_wrap=True)


def provscan_command() -> str:
    """This provscan as a shell runs it again: the full path of the `provscan` script, or
    `python -m scanner` with the full path of this Python."""
    argv0 = Path(sys.argv[0])
    if argv0.name.startswith("provscan") and argv0.is_file():
        return shlex.quote(str(argv0.absolute()))
    return f"{shlex.quote(sys.executable)} -m scanner"


def demo_tips(outcome: DemoOutcome) -> list[str]:
    """What to do next, each command runnable as printed (full paths, quoted)."""
    exe = provscan_command()
    html, saved = outcome.written[0], outcome.written[0].parent / "report.json"
    demo = outcome.demo
    return [
        "",
        f"Open {one_line(html)} in a browser.",
        "Gate the saved scan as CI would (exit 1: the example fails the default policy):",
        f"  {exe} check {shlex.quote(str(saved))}",
        "Scan the example again, with the demo's own store (its reference corpus):",
        f"  PROVSCAN_HOME={shlex.quote(str(outcome.store))} {exe} scan "
        f"{shlex.quote(str(demo.release))} --against {shlex.quote(str(demo.base))}",
    ]


@app.command()
def batch(
    targets_file: Annotated[
        Path, typer.Argument(help="One target a line (any form scan takes); # comments.")
    ],
    out_dir: Annotated[
        Path, typer.Option("--out", help="Folder for every report, and index.html over them.")
    ],
    scheduler: Annotated[
        str | None,
        typer.Option(
            "--scheduler",
            help="Run on a Dask distributed cluster at tcp://HOST:PORT "
            "(default: a local process pool).",
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option("--workers", min=1, help="Local pool size (default: one per core)."),
    ] = None,
    against: Against = None,
    offline: Offline = False,
    no_library: NoLibrary = False,
) -> None:
    """Audit many releases: reports per target, an index page, results in the store.

    A re-run with the same --out skips the targets already done; a failed target is
    recorded with its error and the batch goes on."""
    from ..batch import DaskCluster, LocalPool, UnitOptions, run_batch
    from ..batch.unit import UnitResult

    offline = offline or os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0", "false")
    options = UnitOptions(
        offline=offline,
        against=require_references(against),
        library=not no_library,
        formats=tuple(f.name for f in FORMATS),
    )

    def said(r: UnitResult) -> None:
        if r.ok and r.summary is not None:
            words = f"{r.summary.level}: {shown(r.summary.headline)}"
        else:
            words = f"[red]error[/red]: {shown(r.error)}"
        out.print(f"{shown(r.target)}  {words}", highlight=False, soft_wrap=True)

    engine = DaskCluster(scheduler) if scheduler else LocalPool(workers or os.cpu_count() or 1)
    err.print(f"batch on a {engine.description}", highlight=False, markup=False)
    with engine, progress_display() as progress:
        outcome = run_batch(
            targets_file, out_dir, engine, options, progress=progress, on_result=said
        )
    out.print(
        f"{outcome.targets} targets: {outcome.done} audited, {outcome.failed} failed, "
        f"{outcome.skipped} done before (skipped) in {outcome.seconds:.1f} s; "
        f"index: {shown(str(outcome.index))}",
        highlight=False,
        soft_wrap=True,
    )


@app.command()
def disclose(
    target: Annotated[str, typer.Argument(help="Folder, git URL/path[@rev] or hf:org/name[@rev].")],
    out_dir: Annotated[
        Path, typer.Option("--out", help="Folder for the disclosure files (outside the release).")
    ],
    against: Against = None,
    offline: Offline = False,
    publisher: Annotated[
        str | None,
        typer.Option("--publisher", help="Who publishes the release (see `scan`)."),
    ] = None,
    apply: Annotated[
        bool,
        typer.Option(
            "--apply", help="Write the metadata and the section into the release's README.md."
        ),
    ] = False,
) -> None:
    """Write what the release should disclose: card metadata, a provenance section, a page."""
    from ..analyzers import AuditOptions
    from ..audit import audit
    from ..disclose import apply_to_release, refuse_apply_to, refuse_out_inside, write_disclosure

    if apply:
        refuse_apply_to(target)
    refuse_out_inside(target, out_dir)
    offline = offline or os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0", "false")
    options = AuditOptions(offline=offline, against=tuple(against or ()), publisher=publisher)
    with progress_display() as progress:
        report = audit(target, options, progress=progress)
    outcome = write_disclosure(report, out_dir)
    for path in outcome.written:
        out.print(f"wrote {shown(str(path))}", highlight=False, soft_wrap=True)
    for item in outcome.disclosure.to_review:
        refs = f" [{', '.join(item.finding_ids)}]" if item.finding_ids else ""
        out.print(f"  to review: {shown(item.text)}{refs}", highlight=False, soft_wrap=True)
    if not apply:
        note = f" ({outcome.card_problem})" if outcome.card_problem else ""
        out.print(f"nothing in the release was changed{shown(note)}", highlight=False)
        return
    changes = apply_to_release(report, outcome)
    out.print(
        f"README.md: {'; '.join(shown(c) for c in changes) or 'already up to date'}",
        highlight=False,
        soft_wrap=True,
    )

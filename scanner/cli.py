"""The `provscan` command line. Thin: parses, calls the audit, writes formats, sets exit codes.

Exit codes: 0 done, 1 policy violations (check), 2 usage or input error. Errors are one
line on stderr, never a traceback (set PROVSCAN_DEBUG=1 to see one).

Here: the app, its global options, `scan` and `check` with the report plumbing they share
(output paths, formats, the summary and verdict lines), and main(). The other command groups
are in scanner/commands/ (index, compare/fingerprint/library, demo/batch/disclose).
"""

from __future__ import annotations

import atexit
import contextlib
import inspect
import os
import sqlite3
import sys
from collections import Counter
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from .console import MAX_SHOWN, err, out, progress_display, shown
from .errors import ProvscanError
from .outputs import output_file, write_output
from .report.registry import FORMATS
from .safetext import one_line

if TYPE_CHECKING:  # the scan machinery is imported by the commands that use it
    from .assess.model import Report
    from .result import AuditResult

EXIT_OK, EXIT_VIOLATIONS, EXIT_ERROR = 0, 1, 2
# Every command and group answers -h as --help (click passes this on to subcommands).
HELP_OPTIONS = {"help_option_names": ["-h", "--help"]}

# Options several commands share, declared once.
Against = Annotated[
    list[str] | None,
    typer.Option("--against", help="Reference model or fingerprint file to compare weights with."),
]
Offline = Annotated[bool, typer.Option("--offline", help="Use only local caches.")]
NoLibrary = Annotated[
    bool,
    typer.Option("--no-library", help="Do not compare the weights with the fingerprint library."),
]

app = typer.Typer(
    name="provscan",
    help="Audit an AI model release: licenses and notices, copied code, weight lineage.\n\n"
    "TARGET is a folder, a git URL or path with optional @rev, or hf:org/name[@rev].",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Help texts are plain text: `pkg:NAME[/sub/folder]` is an example, not markup.
    rich_markup_mode=None,
    context_settings=HELP_OPTIONS,
)


def _version(value: bool) -> None:
    if value:
        from . import __version__

        out.print(f"provscan {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool | None,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Show the version and exit."
        ),
    ] = None,
    max_files: Annotated[
        int | None,
        typer.Option("--max-files", min=1, help="Most files a release may hold (200000)."),
    ] = None,
    max_download: Annotated[
        int | None,
        typer.Option(
            "--max-download", min=1, help="Most bytes one target may download from the Hub."
        ),
    ] = None,
    source_timeout: Annotated[
        float | None,
        typer.Option(
            "--source-timeout", min=1, help="Seconds one target's network work may take (14400)."
        ),
    ] = None,
    request_timeout: Annotated[
        float | None,
        typer.Option("--request-timeout", min=1, help="Seconds one Hub request may take (120)."),
    ] = None,
) -> None:
    """provscan: provenance and license compliance for AI model releases.

    The limits on what a source may take (scanner/sources/limits.py) are global options,
    given before the command: `provscan --max-files 500000 scan TARGET`."""
    from .sources.limits import set_limits

    set_limits(
        max_files=max_files,
        max_download=max_download,
        source_timeout=source_timeout,
        request_timeout=request_timeout,
    )


def print_summary(result: AuditResult) -> None:
    snap = result.snapshot
    rev = f" @ {snap.revision[:12]}" if snap.revision else ""
    out.print(
        f"[bold]{shown(snap.target)}[/bold] ({snap.source}{rev}): {len(snap.files)} files",
        highlight=False,
    )
    kinds = Counter(str(f.kind) for f in snap.files)
    out.print("  " + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())))
    card = snap.card
    if card is not None:
        base = ", ".join(card.base_model) or "none"
        lic = card.license or "none"
        if card.license_name:
            lic += f" ({card.license_name})"
        out.print(
            f"  card: license {shown(lic, MAX_SHOWN)}; base model {shown(base, MAX_SHOWN)}",
            highlight=False,
        )
    else:
        out.print("  card: none")
    by_kind = Counter(f.kind for f in result.findings)
    if by_kind:
        out.print("  findings: " + ", ".join(f"{n} {k}" for k, n in sorted(by_kind.items())))
    for f in result.findings:
        if str(f.severity) in ("high", "medium") or f.kind in ("not-analysed", "cache-unavailable"):
            where = f" {f.location.path}" if f.location.path else ""
            out.print(
                f"  [yellow]{f.severity}[/yellow] {f.kind}{shown(where)}: {shown(f.message)}",
                highlight=False,
            )


def with_format_options(command: Callable[..., None]) -> Callable[..., None]:
    """Give a command one option per registered output format (report/registry.py); it
    receives them as keyword arguments named FORMAT_out."""
    sig = inspect.signature(command, eval_str=True)
    params = [p for p in sig.parameters.values() if p.kind is not p.VAR_KEYWORD]
    params += [
        inspect.Parameter(
            f"{fmt.name}_out",
            inspect.Parameter.KEYWORD_ONLY,
            default=None,
            # A string, not a Path: "reports/" (a folder to make) keeps its slash.
            annotation=Annotated[str | None, typer.Option(*fmt.options, help=fmt.help)],
        )
        for fmt in FORMATS
    ]
    command.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
    return command


def require_references(against: list[str] | None) -> tuple[str, ...]:
    """The --against references, refusing a local path that does not exist (exit 2): a
    comparison asked for and never made must not let a scan or a check pass."""
    from .errors import UsageError
    from .sources import source_for
    from .sources.local import LocalSource

    for ref in against or ():
        source, spec = source_for(ref)
        if isinstance(source, LocalSource) and not Path(spec).expanduser().exists():
            raise UsageError(f"--against {ref}: no such file or folder")
    return tuple(against or ())


@app.command()
@with_format_options
def scan(
    target: Annotated[str, typer.Argument(help="Folder, git URL/path[@rev] or hf:org/name[@rev].")],
    against: Against = None,
    offline: Annotated[
        bool, typer.Option("--offline", help="Use only local caches (also HF_HUB_OFFLINE=1).")
    ] = False,
    publisher: Annotated[
        str | None,
        typer.Option(
            "--publisher",
            help="Who publishes the release; notices of others are foreign "
            "(default: the Hub org of an hf: target).",
        ),
    ] = None,
    no_library: NoLibrary = False,
    **outputs: str | None,
) -> None:
    """Scan a release and write its reports.

    Inventory, card metadata and findings (licenses, notices, copied code, and weight
    lineage against the fingerprint library and --against); the summary on stdout, the
    reports where the options say."""
    offline = offline or os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0", "false")
    from .analyzers import AuditOptions
    from .audit import audit

    options = AuditOptions(
        offline=offline,
        against=require_references(against),
        publisher=publisher,
        library=not no_library,
    )
    paths = report_paths({fmt.name: outputs.get(f"{fmt.name}_out") for fmt in FORMATS})
    with progress_display() as progress:
        report = audit(target, options, progress=progress)
    write_reports(report, paths)
    print_summary(report.result)
    print_verdict(report)


# ---- report commands (check, demo, batch) -------------------------------------------------


def print_verdict(report: Report) -> None:
    """The assessment's verdict in one line: declared vs detected."""
    v = report.assessment.verdict
    color = {"fail": "red", "warn": "yellow", "pass": "green"}[v.level]
    out.print(
        f"  verdict: [{color}]{v.level.upper()}[/{color}] {shown(v.headline)}",
        highlight=False,
        soft_wrap=True,
    )


def report_paths(asked: dict[str, str | None]) -> dict[str, Path | None]:
    """Each requested format's file, checked before the scan: a folder (one that exists,
    or any path ending in a slash) gets the format's usual file name inside it: `-o out/`
    writes out/report.html."""
    by_name = {fmt.name: fmt for fmt in FORMATS}
    paths: dict[str, Path | None] = {}
    for name, given in asked.items():
        if given is None:
            paths[name] = None
            continue
        path = Path(given)
        if given.endswith(("/", os.sep)):
            path = path / by_name[name].default_file
        paths[name] = output_file(path, by_name[name].default_file)
    return paths


def write_reports(report: Report, paths: dict[str, Path | None]) -> None:
    """Write each requested format (by registry name) to its path; say so on a terminal
    (like the progress display: a pipeline's stderr gets nothing it did not ask for)."""
    for fmt in FORMATS:
        path = paths.get(fmt.name)
        if path is not None:
            write_output(path, f"{fmt.name} report", partial(fmt.load().write, report))
            if err.is_terminal:
                err.print(f"wrote {fmt.name} report: {path}", highlight=False, markup=False)


def print_warnings(report: Report) -> None:
    """What `scan` calls WARN, said by a passing `check` too: the same discrepancies, which
    the policy does not gate on (a scan and the gate never tell different stories)."""
    verdict = report.assessment.verdict
    if verdict.level != "warn":
        return
    out.print(
        f"  [yellow]WARN[/yellow] {shown(verdict.headline)}; the policy does not fail on these:",
        highlight=False,
        soft_wrap=True,
    )
    for d in report.assessment.discrepancies:
        refs = f" [{', '.join(d.finding_ids)}]" if d.finding_ids else ""
        out.print(f"  {shown(d.kind)}: {shown(d.title)}{shown(refs)}", highlight=False)


@app.command()
def check(
    target: Annotated[
        str,
        typer.Argument(
            help="Release (folder, git URL/path[@rev], hf:org/name[@rev]) or the JSON report "
            "of an earlier `provscan scan --json`."
        ),
    ],
    policy: Annotated[
        Path | None,
        typer.Option("--policy", help="Policy TOML (default: rules/policy_default.toml)."),
    ] = None,
    against: Against = None,
    offline: Offline = False,
    json_out: Annotated[
        Path | None,
        typer.Option("--json", help="Write the policy result (and the assessment) as JSON here."),
    ] = None,
) -> None:
    """Gate a release on a policy (CI).

    Exit 0 pass, 1 violations, 2 error."""
    import json as _json

    from .analyzers import AuditOptions
    from .assess import report_of
    from .assess.policy import evaluate, load_policy
    from .audit import audit
    from .report.json import load_result

    rules = load_policy(policy)
    references = require_references(against)
    json_path = output_file(json_out, "check.json") if json_out is not None else None
    as_report = Path(target)
    if as_report.suffix == ".json" and as_report.is_file():
        report = report_of(load_result(as_report))
    else:
        offline = offline or os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0", "false")
        with progress_display() as progress:
            report = audit(
                target,
                AuditOptions(offline=offline, against=references),
                progress=progress,
            )
    result, assessment = report.result, report.assessment
    for f in result.findings:
        if f.kind == "cache-unavailable":  # the gate stands; the user should know
            err.print(f"provscan: note: {one_line(f.message)}", highlight=False, markup=False)
    outcome = evaluate(rules, assessment, result.snapshot)
    if json_path is not None:
        from dataclasses import asdict

        from . import SCHEMA_VERSION

        text = (
            _json.dumps(
                {
                    "schema_version": SCHEMA_VERSION,
                    "target": result.snapshot.target,
                    "policy": rules.source,
                    "passed": outcome.passed,
                    "violations": [asdict(v) for v in outcome.violations],
                    "verdict": asdict(assessment.verdict),
                },
                indent=2,
            )
            + "\n"
        )
        write_output(json_path, "policy result", lambda p: p.write_text(text, encoding="utf-8"))
    where = f"{result.snapshot.target} (policy: {rules.source})"
    if outcome.passed:
        out.print(f"[green]PASS[/green] {shown(where)}", highlight=False, soft_wrap=True)
        print_warnings(report)
        raise typer.Exit(EXIT_OK)
    out.print(
        f"[red]FAIL[/red] {shown(where)}: {len(outcome.violations)} violation(s)",
        highlight=False,
        soft_wrap=True,
    )
    for v in outcome.violations:
        refs = f" [{', '.join(v.finding_ids)}]" if v.finding_ids else ""
        out.print(
            f"  {shown(v.rule)}: {shown(v.message)}{shown(refs)}", highlight=False, soft_wrap=True
        )
    raise typer.Exit(EXIT_VIOLATIONS)


def main(argv: list[str] | None = None) -> int:
    """Entry point: every ProvscanError becomes one line on stderr and exit code 2."""
    # The weight work runs its own threads (weights/prefetch.py) and keeps BLAS to one
    # thread; OpenBLAS's idle threads would spin on the cores they need (0.1 s of CPU in a
    # fingerprint). Read when numpy loads, so set before any command imports it.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    try:
        # standalone mode: typer/click print usage errors themselves and exit with 2.
        app(args=argv, prog_name="provscan")
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    except ProvscanError as exc:
        err.print(
            f"provscan: error: {one_line(exc)}", highlight=False, markup=False, soft_wrap=True
        )
        return EXIT_ERROR
    except sqlite3.Error as exc:  # the store failed under a command that needs it
        from .store import describe_store_error

        err.print(
            f"provscan: error: {one_line(describe_store_error(exc))}",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
        return EXIT_ERROR
    except KeyboardInterrupt:
        err.print("provscan: interrupted", highlight=False, markup=False)
        return EXIT_ERROR
    except OSError as exc:  # the machine said no (permissions, a full disk): not a bug
        if os.environ.get("PROVSCAN_DEBUG"):
            raise
        where = f": {exc.filename}" if exc.filename else ""
        err.print(
            f"provscan: error: {one_line(exc.strerror or exc)}{one_line(where)}",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
        return EXIT_ERROR
    except Exception as exc:  # the last line of defence: never a traceback
        if os.environ.get("PROVSCAN_DEBUG"):
            raise
        err.print(
            f"provscan: internal error: {type(exc).__name__}: {one_line(exc)}",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
        return EXIT_ERROR
    return EXIT_OK


def run() -> None:
    """The `provscan` command: main(), then an exit that skips freeing the heap. A scan
    holds the license index (~1.4 GB of small objects); the interpreter's teardown frees
    them one by one, 5-10 s after the last line with nothing left to do (mypy exits the
    same way). Output is flushed and exit handlers run first."""
    code = main()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe: nothing to say
            stream.flush()
    run_exit_handlers = getattr(atexit, "_run_exitfuncs", None)
    if run_exit_handlers is not None:
        run_exit_handlers()
    os._exit(code)


if __name__ == "__main__":
    run()


# The other commands register themselves on `app` (each group in its own module).
from .commands import index, release, weights  # noqa: E402, F401

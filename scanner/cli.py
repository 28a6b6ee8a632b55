"""The `provscan` command line. Thin: parses, calls the audit, writes formats, sets exit codes.

Exit codes: 0 done, 1 policy violations (check), 2 usage or input error. Errors are one
line on stderr, never a traceback (set PROVSCAN_DEBUG=1 to see one).
"""

from __future__ import annotations

import atexit
import contextlib
import inspect
import os
import shlex
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
    from .demo import DemoOutcome
    from .result import AuditResult

EXIT_OK, EXIT_VIOLATIONS, EXIT_ERROR = 0, 1, 2
# Every command and group answers -h as --help (click passes this on to subcommands).
HELP_OPTIONS = {"help_option_names": ["-h", "--help"]}

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
    against: Annotated[
        list[str] | None,
        typer.Option(
            "--against", help="Reference model or fingerprint file to compare weights with."
        ),
    ] = None,
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
    no_library: Annotated[
        bool,
        typer.Option(
            "--no-library", help="Do not compare the weights with the fingerprint library."
        ),
    ] = False,
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


# ---- index commands (reference code corpora) ----------------------------------------------

index_app = typer.Typer(
    help="Reference code corpora that scans look for copied code in.",
    no_args_is_help=True,
    rich_markup_mode=None,
    context_settings=HELP_OPTIONS,
)
app.add_typer(index_app, name="index")


@index_app.command("add")
def index_add(
    name: Annotated[str, typer.Argument(help="Name of the corpus.")],
    source: Annotated[
        str,
        typer.Argument(
            help="Folder, git URL/path[@rev], or pkg:NAME[/sub/folder] (an installed package)."
        ),
    ],
    replace: Annotated[
        bool, typer.Option("--replace", help="Replace a corpus of that name.")
    ] = False,
    license: Annotated[
        str | None,
        typer.Option(
            "--license", help="License of the corpus (packages: read from their metadata)."
        ),
    ] = None,
    version: Annotated[
        str | None,
        typer.Option("--version", help="Version of the corpus (packages and git: found)."),
    ] = None,
) -> None:
    """Index SOURCE's code as corpus NAME."""
    from .code.corpus import add_corpus

    with progress_display() as progress:
        info = add_corpus(
            name, source, replace=replace, license=license, version=version, progress=progress
        )
    out.print(
        f"indexed {shown(info.name)}: {info.files} files, {info.fingerprints} "
        f"fingerprints in {info.build_seconds:.1f} s "
        f"(version {info.version or '-'}, license {shown(info.license or '-')})",
        highlight=False,
    )


@index_app.command("list")
def index_list() -> None:
    """List the indexed corpora."""
    from .code.corpus import list_corpora

    corpora = list_corpora()
    if not corpora:
        out.print("no corpus indexed (add one with `provscan index add NAME SOURCE`)")
    for c in corpora:
        out.print(
            f"{shown(c.name)}\t{c.kind}\t{shown(c.source)}\tversion "
            f"{shown(c.version or '-')}\tlicense {shown(c.license or '-')}\t"
            f"{c.files} files\t{c.fingerprints} fingerprints\t{c.created}",
            highlight=False,
            soft_wrap=True,
        )


@index_app.command("remove")
def index_remove(name: Annotated[str, typer.Argument(help="Name of the corpus.")]) -> None:
    """Remove an indexed corpus."""
    from .code.corpus import remove_corpus

    remove_corpus(name)
    out.print(f"removed {shown(name)}")


# ---- weight commands (compare, fingerprint, library) --------------------------------------
ALL_UNITS_HELP = (
    "Read every hidden unit and head of wide matrices (by default the first "
    "eighth of those wider than 2048 units: several times faster; a copy with "
    "permuted units then keeps about an eighth of those matrices' form score, "
    "still far beyond unrelated models)."
)


@app.command()
def compare(
    model_a: Annotated[
        str, typer.Argument(help="Model folder, weight file, target or fingerprint (.npz).")
    ],
    model_b: Annotated[str, typer.Argument(help="The other model (same forms).")],
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the JSON here.")] = None,
    offline: Annotated[bool, typer.Option("--offline", help="Use only local caches.")] = False,
    all_units: Annotated[bool, typer.Option("--all-units", help=ALL_UNITS_HELP)] = False,
) -> None:
    """Weight lineage between two models.

    The verdict, the relation and each calibrated signal beside what unrelated models
    score."""
    import json as _json

    from rich.table import Table

    from .report.wording import signal_words
    from .weights.compare import compare_models
    from .weights.units import ALL_UNITS, DEFAULT

    json_path = output_file(json_out, "compare.json") if json_out is not None else None
    with progress_display() as progress, progress.task("comparing the weights", unit="steps"):
        cmp = compare_models(
            model_a, model_b, offline=offline, sampling=ALL_UNITS if all_units else DEFAULT
        )
    if json_path is not None:
        text = _json.dumps(cmp.to_dict(), indent=2) + "\n"
        write_output(json_path, "comparison", lambda p: p.write_text(text, encoding="utf-8"))
    rel = f" ({cmp.relation})" if cmp.relation else ""
    out.print(f"[bold]verdict: {cmp.verdict}{rel}[/bold]", highlight=False)
    for side, cov in zip("AB", cmp.coverage or (), strict=False):
        out.print(f"{side}: {shown(cov.describe())}", highlight=False, soft_wrap=True)
    table = Table("signal", "score", "null band (unrelated)", "z", "p")
    for s in cmp.signals:
        table.add_row(
            f"{signal_words(s.name)} ({s.name})",
            f"{s.score:.4f}",
            f"{s.null_mean:.4f} ± {s.null_std:.4f}",
            f"{s.z:.1f}",
            f"< {s.p_floor:.2g}" if s.at_floor and s.p_floor < 1 else f"{s.p_value:.2g}",
        )
    out.print(table)
    for s in cmp.signals:
        if s.in_words:
            out.print(f"  {s.name}: {shown(s.in_words)}", highlight=False)
    for r in cmp.reasons:
        out.print(f"  - {shown(r)}", highlight=False)


@app.command()
def fingerprint(
    model: Annotated[str, typer.Argument(help="Model folder, weight file or target.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Fingerprint file (.npz).")],
    offline: Annotated[bool, typer.Option("--offline", help="Use only local caches.")] = False,
    all_units: Annotated[bool, typer.Option("--all-units", help=ALL_UNITS_HELP)] = False,
) -> None:
    """Write a compact fingerprint of a checkpoint.

    A reference to compare against later (--against, compare) without its weights."""
    from .weights.fingerprint import fingerprint_of
    from .weights.units import ALL_UNITS, DEFAULT

    output = fingerprint_path(output, model)
    with progress_display() as progress, progress.task("fingerprinting the weights", unit="steps"):
        fp = fingerprint_of(model, offline=offline, sampling=ALL_UNITS if all_units else DEFAULT)
    write_output(output, "fingerprint", fp.save)
    size = output.stat().st_size
    total = int(fp.meta.get("total_bytes") or 0)
    ratio = f" ({100 * size / total:.2f}% of {total} bytes)" if total else ""
    out.print(
        f"fingerprint of {shown(model)}: {len(fp.tensors)} tensors, "
        f"{fp.n_layers} layers -> {shown(output)}, {size} bytes{ratio}",
        highlight=False,
    )
    out.print(shown(fp.coverage.describe()), highlight=False, soft_wrap=True)


library_app = typer.Typer(
    help="Fingerprints of known base models: every scan compares the weights with them.",
    no_args_is_help=True,
)
app.add_typer(library_app, name="library")


@library_app.command("add")
def library_add(
    model: Annotated[
        str,
        typer.Argument(
            help="Model folder, weight file, git URL/path[@rev], hf:org/name[@rev] or "
            "fingerprint file (.npz)."
        ),
    ],
    name: Annotated[
        str | None,
        typer.Option("--name", help="Name of the entry (default: org/name, or the folder's name)."),
    ] = None,
    replace: Annotated[
        bool, typer.Option("--replace", help="Replace an entry of that name.")
    ] = False,
    offline: Annotated[bool, typer.Option("--offline", help="Use only local caches.")] = False,
    all_units: Annotated[bool, typer.Option("--all-units", help=ALL_UNITS_HELP)] = False,
) -> None:
    """Fingerprint MODEL into the library."""
    from .weights.library import add_model
    from .weights.units import ALL_UNITS, DEFAULT

    entry = add_model(
        model,
        name,
        replace=replace,
        offline=offline,
        sampling=ALL_UNITS if all_units else DEFAULT,
    )
    out.print(
        f"added {shown(entry.name)}: {_entry_words(entry.summary)}",
        highlight=False,
        soft_wrap=True,
    )


def _entry_words(summary: dict[str, object]) -> str:
    parts = [
        str(summary.get("architecture") or "unknown architecture"),
        f"{summary.get('layers')} layers",
        f"width {summary.get('width')}",
        f"vocabulary {summary.get('vocabulary') or '-'}",
        str(summary.get("format") or "-"),
        f"fingerprint {summary.get('fingerprint_bytes')} bytes",
    ]
    return shown(", ".join(parts))


@library_app.command("list")
def library_list() -> None:
    """List the library's entries (stale ones must be added again)."""
    from .weights.library import LibraryStore

    entries = LibraryStore().entries()
    if not entries:
        out.print("the library is empty (add a model with `provscan library add MODEL`)")
    for e in entries:
        state = "" if e.searchable else f"\tSTALE: fingerprint format {e.fp_version}, add again"
        out.print(
            f"{shown(e.name)}\t{shown(e.source)}\t{_entry_words(e.summary)}\t{e.added}{state}",
            highlight=False,
            soft_wrap=True,
        )


@library_app.command("remove")
def library_remove(name: Annotated[str, typer.Argument(help="Name of the entry.")]) -> None:
    """Remove an entry from the library."""
    from .weights.library import LibraryStore

    LibraryStore().remove(name)
    out.print(f"removed {shown(name)}", highlight=False)


@library_app.command("export")
def library_export(
    file: Annotated[Path, typer.Argument(help="Library file to write (a zip archive).")],
    names: Annotated[
        list[str] | None, typer.Option("--name", help="Export only this entry (repeatable).")
    ] = None,
) -> None:
    """Write the library to a file others can import."""
    from .weights.library import LibraryStore, export_library

    n = export_library(LibraryStore(), file, names or None)
    out.print(f"exported {n} entries to {shown(str(file))}", highlight=False, soft_wrap=True)


@library_app.command("import")
def library_import(
    file: Annotated[Path, typer.Argument(help="Library file (`provscan library export`).")],
    replace: Annotated[
        bool, typer.Option("--replace", help="Replace entries of the same names.")
    ] = False,
) -> None:
    """Add the entries of a library file."""
    from .weights.library import LibraryStore, import_library

    got = import_library(LibraryStore(), file, replace=replace)
    out.print(
        f"imported {len(got.added)} new, {len(got.replaced)} replaced, "
        f"{len(got.kept)} kept as they were (same name; --replace to replace), "
        f"{len(got.refused)} refused",
        highlight=False,
    )
    for why in got.refused:
        err.print(f"refused {shown(why)}", highlight=False, soft_wrap=True)


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


def fingerprint_path(output: Path, model: str) -> Path:
    """The .npz file `fingerprint -o` writes: a folder gets one named after the model."""
    if output.is_dir():
        stem = model.split("@", 1)[0].rstrip("/").rsplit("/", 1)[-1].removeprefix("hf:")
        output = output / f"{stem or 'model'}.npz"
    if output.suffix != ".npz":
        output = output.with_name(output.name + ".npz")
    return output_file(output, output.name)


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
    against: Annotated[
        list[str] | None,
        typer.Option(
            "--against", help="Reference model or fingerprint file to compare weights with."
        ),
    ] = None,
    offline: Annotated[bool, typer.Option("--offline", help="Use only local caches.")] = False,
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
    from .demo import run_demo

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
    against: Annotated[
        list[str] | None,
        typer.Option(
            "--against", help="Reference model or fingerprint file to compare weights with."
        ),
    ] = None,
    offline: Annotated[bool, typer.Option("--offline", help="Use only local caches.")] = False,
    no_library: Annotated[
        bool,
        typer.Option(
            "--no-library", help="Do not compare the weights with the fingerprint library."
        ),
    ] = False,
) -> None:
    """Audit many releases: reports per target, an index page, results in the store.

    A re-run with the same --out skips the targets already done; a failed target is
    recorded with its error and the batch goes on."""
    from .batch import DaskCluster, LocalPool, UnitOptions, run_batch
    from .batch.unit import UnitResult

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
    against: Annotated[
        list[str] | None,
        typer.Option(
            "--against", help="Reference model or fingerprint file to compare weights with."
        ),
    ] = None,
    offline: Annotated[bool, typer.Option("--offline", help="Use only local caches.")] = False,
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
    from .analyzers import AuditOptions
    from .audit import audit
    from .disclose import apply_to_release, refuse_apply_to, refuse_out_inside, write_disclosure

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

"""The `provscan` command line. Thin: parses, calls the audit, writes formats, sets exit codes.

Exit codes: 0 done, 1 policy violations (check), 2 usage or input error. Errors are one
line on stderr, never a traceback (set PROVSCAN_DEBUG=1 to see one).
"""

from __future__ import annotations

import inspect
import os
import sqlite3
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from .console import MAX_SHOWN, err, out, progress_display, shown
from .errors import ProvscanError
from .report.registry import FORMATS
from .safetext import one_line

if TYPE_CHECKING:  # the scan machinery is imported by the commands that use it
    from .assess.model import Report
    from .result import AuditResult

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
) -> None:
    """provscan: provenance and license compliance for AI model releases."""


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
            annotation=Annotated[Path | None, typer.Option(*fmt.options, help=fmt.help)],
        )
        for fmt in FORMATS
    ]
    command.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
    return command


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
    **outputs: Path | None,
) -> None:
    """Scan a release: inventory, card metadata and findings."""
    offline = offline or os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0", "false")
    from .analyzers import AuditOptions
    from .audit import audit

    options = AuditOptions(offline=offline, against=tuple(against or ()), publisher=publisher)
    with progress_display() as progress:
        report = audit(target, options, progress=progress)
    write_reports(report, {fmt.name: outputs.get(f"{fmt.name}_out") for fmt in FORMATS})
    print_summary(report.result)
    print_verdict(report)


# ---- index commands (reference code corpora) ----------------------------------------------

index_app = typer.Typer(
    help="Reference code corpora that scans look for copied code in.", no_args_is_help=True
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
    """Lineage between two models: verdict, relation and calibrated signals."""
    import json as _json

    from rich.table import Table

    from .weights.compare import compare_models
    from .weights.units import ALL_UNITS, DEFAULT

    cmp = compare_models(
        model_a, model_b, offline=offline, sampling=ALL_UNITS if all_units else DEFAULT
    )
    if json_out is not None:
        json_out.write_text(_json.dumps(cmp.to_dict(), indent=2) + "\n", encoding="utf-8")
    rel = f" ({cmp.relation})" if cmp.relation else ""
    out.print(f"[bold]verdict: {cmp.verdict}{rel}[/bold]", highlight=False)
    table = Table("signal", "score", "null band (unrelated)", "z", "p")
    for s in cmp.signals:
        table.add_row(
            s.name,
            f"{s.score:.4f}",
            f"{s.null_mean:.4f} ± {s.null_std:.4f}",
            f"{s.z:.1f}",
            f"{s.p_value:.2g}",
        )
    out.print(table)
    for r in cmp.reasons:
        out.print(f"  - {escape(r)}", highlight=False)


@app.command()
def fingerprint(
    model: Annotated[str, typer.Argument(help="Model folder, weight file or target.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Fingerprint file (.npz).")],
    offline: Annotated[bool, typer.Option("--offline", help="Use only local caches.")] = False,
    all_units: Annotated[bool, typer.Option("--all-units", help=ALL_UNITS_HELP)] = False,
) -> None:
    """A compact fingerprint of a checkpoint, to compare against without its weights."""
    from .weights.fingerprint import fingerprint_of
    from .weights.units import ALL_UNITS, DEFAULT

    fp = fingerprint_of(model, offline=offline, sampling=ALL_UNITS if all_units else DEFAULT)
    if output.suffix != ".npz":
        output = output.with_name(output.name + ".npz")
    fp.save(output)
    size = output.stat().st_size
    total = int(fp.meta.get("total_bytes") or 0)
    ratio = f" ({100 * size / total:.2f}% of {total} bytes)" if total else ""
    out.print(
        f"fingerprint of {escape(model)}: {len(fp.tensors)} tensors, "
        f"{fp.n_layers} layers -> {escape(str(output))}, {size} bytes{ratio}",
        highlight=False,
    )


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


def write_reports(report: Report, paths: dict[str, Path | None]) -> None:
    """Write each requested format (by registry name) to its path; say so on a terminal
    (like the progress display: a pipeline's stderr gets nothing it did not ask for)."""
    for fmt in FORMATS:
        path = paths.get(fmt.name)
        if path is not None:
            fmt.load().write(report, path)
            if err.is_terminal:
                err.print(f"wrote {fmt.name} report: {path}", highlight=False, markup=False)


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
    """Gate a release on a policy: exit 0 pass, 1 violations, 2 error."""
    import json as _json

    from .analyzers import AuditOptions
    from .assess import report_of
    from .assess.policy import evaluate, load_policy
    from .audit import audit
    from .report.json import load_result

    rules = load_policy(policy)
    as_report = Path(target)
    if as_report.suffix == ".json" and as_report.is_file():
        report = report_of(load_result(as_report))
    else:
        offline = offline or os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0", "false")
        with progress_display() as progress:
            report = audit(
                target,
                AuditOptions(offline=offline, against=tuple(against or ())),
                progress=progress,
            )
    result, assessment = report.result, report.assessment
    for f in result.findings:
        if f.kind == "cache-unavailable":  # the gate stands; the user should know
            err.print(f"provscan: note: {one_line(f.message)}", highlight=False, markup=False)
    outcome = evaluate(rules, assessment, result.snapshot)
    if json_out is not None:
        from dataclasses import asdict

        from . import SCHEMA_VERSION

        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(
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
    where = f"{result.snapshot.target} (policy: {rules.source})"
    if outcome.passed:
        out.print(f"[green]PASS[/green] {shown(where)}", highlight=False, soft_wrap=True)
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
        Path, typer.Option("--out", help="Folder for the example release and every report.")
    ] = Path("demo-report"),
) -> None:
    """Build an example release from real upstream code, scan it, write every report."""
    from .demo import run_demo

    outcome = run_demo(
        out_dir, lambda line: err.print(line, highlight=False, markup=False, soft_wrap=True)
    )
    for note in outcome.notes:
        err.print(f"note: {note}", highlight=False, markup=False, soft_wrap=True)
    print_summary(outcome.report.result)
    print_verdict(outcome.report)
    out.print("\nReports:", highlight=False)
    for path in outcome.written:
        out.print(f"  {shown(str(path))}", highlight=False, soft_wrap=True)
    release = outcome.demo.release
    out.print(
        f"\nOpen {shown(str(outcome.written[0]))} in a browser. Gate it in CI with:\n"
        f"  provscan check {shown(str(release))} --against "
        f"{shown(str(outcome.demo.base))}",
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


if __name__ == "__main__":
    sys.exit(main())

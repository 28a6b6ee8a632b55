"""`provscan compare`, `fingerprint` and `library`: weight lineage outside a scan."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..cli import HELP_OPTIONS, Offline, app
from ..console import err, out, progress_display, shown
from ..outputs import output_file, write_output

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
    offline: Offline = False,
    all_units: Annotated[bool, typer.Option("--all-units", help=ALL_UNITS_HELP)] = False,
) -> None:
    """Weight lineage between two models.

    The verdict, the relation and each calibrated signal beside what unrelated models
    score."""
    import json as _json

    from rich.table import Table

    from ..report.wording import signal_words
    from ..weights.compare import compare_models
    from ..weights.units import ALL_UNITS

    json_path = output_file(json_out, "compare.json") if json_out is not None else None
    with progress_display() as progress, progress.task("comparing the weights", unit="steps"):
        cmp = compare_models(
            model_a, model_b, offline=offline, sampling=ALL_UNITS if all_units else None
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
    offline: Offline = False,
    all_units: Annotated[bool, typer.Option("--all-units", help=ALL_UNITS_HELP)] = False,
) -> None:
    """Write a compact fingerprint of a checkpoint.

    A reference to compare against later (--against, compare) without its weights."""
    from ..weights.fingerprint import fingerprint_of
    from ..weights.units import ALL_UNITS

    output = fingerprint_path(output, model)
    with progress_display() as progress, progress.task("fingerprinting the weights", unit="steps"):
        fp = fingerprint_of(model, offline=offline, sampling=ALL_UNITS if all_units else None)
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
    remote = remote_line(fp.meta.get("remote_read"), fp.meta)
    if remote:
        out.print(remote, highlight=False, soft_wrap=True)


def remote_line(got: object, meta: dict) -> str | None:
    """What a remote fingerprint read of its checkpoint (None: it was read locally)."""
    from ..weights.fingerprint.extraction import TINY_BYTES

    if not isinstance(got, dict):
        return None
    read, total = int(got.get("bytes", 0)), int(meta.get("total_bytes") or 0)
    share = f" ({100 * read / total:.2f}% of the checkpoint's {total} bytes)" if total else ""
    tiny = (
        f"; a checkpoint this small (under {TINY_BYTES // (1024 * 1024)} MB in bf16) may "
        "take more than 2%: its header and small tensors are read whole"
        if total and 2 * _params(meta) < TINY_BYTES
        else ""
    )
    return (
        f"read remotely: {read} bytes in {int(got.get('requests', 0))} range requests"
        f"{share}, sampling {meta.get('sampling_name', 'remote')}{tiny}"
    )


def _params(meta: dict) -> int:
    cov = meta.get("coverage")
    if isinstance(cov, dict):
        return int(cov.get("parameters", 0))
    return int(meta.get("parameters") or 0)


library_app = typer.Typer(
    help="Fingerprints of known base models: every scan compares the weights with them.",
    no_args_is_help=True,
    rich_markup_mode=None,
    context_settings=HELP_OPTIONS,
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
    offline: Offline = False,
    all_units: Annotated[bool, typer.Option("--all-units", help=ALL_UNITS_HELP)] = False,
) -> None:
    """Fingerprint MODEL into the library."""
    from ..weights.library import add_model
    from ..weights.units import ALL_UNITS

    entry = add_model(
        model,
        name,
        replace=replace,
        offline=offline,
        sampling=ALL_UNITS if all_units else None,
    )
    out.print(
        f"added {shown(entry.name)}: {_entry_words(entry.summary)}",
        highlight=False,
        soft_wrap=True,
    )
    summary = entry.summary
    remote = remote_line(
        summary.get("remote_read"),
        {
            "total_bytes": summary.get("checkpoint_bytes"),
            "sampling_name": summary.get("sampling"),
            "parameters": (summary.get("remote_read") or {}).get("parameters"),
        },
    )
    if remote:
        out.print(remote, highlight=False, soft_wrap=True)


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
    from ..weights.library import LibraryStore

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
    from ..weights.library import LibraryStore

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
    from ..weights.library import LibraryStore, export_library

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
    from ..weights.library import LibraryStore, import_library

    got = import_library(LibraryStore(), file, replace=replace)
    out.print(
        f"imported {len(got.added)} new, {len(got.replaced)} replaced, "
        f"{len(got.kept)} kept as they were (same name; --replace to replace), "
        f"{len(got.refused)} refused",
        highlight=False,
    )
    for why in got.refused:
        err.print(f"refused {shown(why)}", highlight=False, soft_wrap=True)


def fingerprint_path(output: Path, model: str) -> Path:
    """The .npz file `fingerprint -o` writes: a folder gets one named after the model."""
    if output.is_dir():
        stem = model.split("@", 1)[0].rstrip("/").rsplit("/", 1)[-1].removeprefix("hf:")
        output = output / f"{stem or 'model'}.npz"
    if output.suffix != ".npz":
        output = output.with_name(output.name + ".npz")
    return output_file(output, output.name)

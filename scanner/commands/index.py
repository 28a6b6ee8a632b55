"""`provscan index`: reference code corpora that scans look for copied code in."""

from __future__ import annotations

from typing import Annotated

import typer

from ..cli import HELP_OPTIONS, app
from ..console import out, progress_display, shown

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
    from ..code.corpus import add_corpus

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
    from ..code.corpus import list_corpora

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
    from ..code.corpus import remove_corpus

    remove_corpus(name)
    out.print(f"removed {shown(name)}")

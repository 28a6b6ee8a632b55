"""One registry of output formats: a new format is one module and one registry line, and
`provscan scan` and the demo pick it up with nothing else changed."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from scanner.report import registry
from scanner.report.registry import FORMATS, OutputFormat

# The whole of a new format: this module, and the registry line below.
MARKDOWN_MODULE = """
from scanner.assess.model import Report
from scanner.report.interface import Format


class MarkdownFormat(Format):
    name = "markdown"

    def render(self, report: Report) -> str:
        v = report.assessment.verdict
        return f"# {report.result.snapshot.target}\\n\\n{v.level}: {v.headline}\\n"
"""
MARKDOWN = OutputFormat(
    "markdown",
    ("--markdown",),
    "report.md",
    "Write Markdown here.",
    "provscan_markdown_format:MarkdownFormat",
)


def test_every_registered_format_loads_and_has_its_own_names() -> None:
    for fmt in FORMATS:
        assert fmt.load().name == fmt.name
    for field in ("name", "default_file"):
        values = [getattr(f, field) for f in FORMATS]
        assert len(set(values)) == len(values), field
    options = [o for f in FORMATS for o in f.options]
    assert len(set(options)) == len(options)


@pytest.fixture
def cli_with_markdown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    (tmp_path / "provscan_markdown_format.py").write_text(MARKDOWN_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "FORMATS", (*FORMATS, MARKDOWN))
    yield _reload_cli()
    monkeypatch.undo()
    _reload_cli()
    sys.modules.pop("provscan_markdown_format", None)


def _reload_cli():  # noqa: ANN202
    """scanner.cli anew, with the command groups registered on its new `app` again (they
    register themselves on import: a reloaded cli alone would lack them, and every later
    CLI test in this process would find "No such command")."""
    import scanner.cli
    import scanner.commands.index
    import scanner.commands.release
    import scanner.commands.weights

    cli = importlib.reload(scanner.cli)
    for group in (scanner.commands.index, scanner.commands.release, scanner.commands.weights):
        importlib.reload(group)
    return cli


def test_a_registered_format_is_a_scan_option(cli_with_markdown, tmp_path: Path) -> None:
    release = tmp_path / "release"
    release.mkdir()
    (release / "weights.bin").write_bytes(b"\0" * 16)  # nothing for scancode to read
    out = tmp_path / "out" / "report.md"
    result = CliRunner().invoke(
        cli_with_markdown.app, ["scan", str(release), "--markdown", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert out.read_text().startswith(f"# {release}\n\n")
    help_text = CliRunner().invoke(cli_with_markdown.app, ["scan", "--help"]).output
    assert "--markdown" in help_text and all(o in help_text for f in FORMATS for o in f.options)

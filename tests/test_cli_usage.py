"""The command line as a newcomer meets it: help everywhere (-h too), every argument
explained, help texts shown as written, and a user's mistake answered with one line that
names it (exit 2), never "internal error"."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
import typer

from scanner.cli import app, main


def commands(group: click.Command, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every command path of the CLI: (), ("scan",), ("index", "add")..."""
    yield path
    if isinstance(group, click.Group):
        for name, sub in group.commands.items():
            yield from commands(sub, (*path, name))


ROOT = typer.main.get_command(app)
PATHS = list(commands(ROOT))


def command_at(path: tuple[str, ...]) -> click.Command:
    cmd = ROOT
    for name in path:
        assert isinstance(cmd, click.Group)
        cmd = cmd.commands[name]
    return cmd


@pytest.mark.parametrize("path", PATHS, ids=lambda p: " ".join(p) or "provscan")
@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_every_command_answers_h_and_help(
    path: tuple[str, ...], flag: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*path, flag]) == 0
    captured = capsys.readouterr()
    assert "Usage:" in captured.out and "internal error" not in captured.err


@pytest.mark.parametrize("path", PATHS, ids=lambda p: " ".join(p) or "provscan")
def test_every_argument_and_option_is_explained(path: tuple[str, ...]) -> None:
    cmd = command_at(path)
    assert (cmd.help or "").strip(), f"{path}: no help text"
    for param in cmd.params:
        text = getattr(param, "help", None)
        assert text and text.strip(), f"{' '.join(path)} {param.name}: no help"


def test_help_texts_are_shown_as_written_not_as_markup(capsys: pytest.CaptureFixture[str]) -> None:
    # Read as rich markup, "[/sub/folder]" crashed `index add --help` and "[@rev]" vanished.
    assert main(["index", "add", "--help"]) == 0
    assert "pkg:NAME[/sub/folder]" in capsys.readouterr().out
    assert main(["scan", "-h"]) == 0
    assert "git URL/path[@rev] or hf:org/name[@rev]" in " ".join(capsys.readouterr().out.split())


def _release(root: Path) -> Path:
    root.mkdir(parents=True)
    (root / "config.json").write_text('{"model_type": "llama"}\n')
    return root


def _one_line_error(res) -> str:
    assert res.returncode == 2, res.stdout + res.stderr
    assert "internal error" not in res.stderr and "Traceback" not in res.stderr
    # Progress lines ("provscan: [5 s] ...") come before it in a log; one error line.
    lines = [
        ln for ln in res.stderr.splitlines() if ln.strip() and not ln.startswith("provscan: [")
    ]
    assert len(lines) == 1, res.stderr
    return lines[0]


def test_a_folder_given_for_a_report_file_gets_the_report_inside_it(cli, tmp_path: Path) -> None:
    rel = _release(tmp_path / "rel")
    html_dir, json_file = tmp_path / "out", tmp_path / "new" / "deeper" / "scan.json"
    html_dir.mkdir()
    res = cli(
        "scan",
        str(rel),
        "-o",
        str(html_dir),
        "--json",
        str(json_file),
        "--sarif",
        str(html_dir),
        "--notice",
        f"{tmp_path}/fresh/",
    )
    assert res.returncode == 0, res.stderr
    assert "<!DOCTYPE html>" in (html_dir / "report.html").read_text()
    assert json.loads(json_file.read_text())["schema_version"]  # its folders were created
    assert (html_dir / "report.sarif").is_file()
    assert (tmp_path / "fresh" / "NOTICE").is_file()  # a new folder, said by its slash


@pytest.mark.parametrize(
    "args, words",
    [
        (("scan", "{rel}", "--json", "{file}/x.json"), "is a file, not a folder"),
        (("scan", "{rel}", "-o", "/proc/self/report.html"), "not writable"),
        # /proc passes the early check (root may write there) and refuses the file itself.
        (("scan", "{rel}", "--json", "/proc/report.json"), "cannot write the json report"),
        (("check", "{rel}", "--json", "{file}/check.json"), "is a file, not a folder"),
        (("check", "{rel}", "--policy", "{missing}"), "not found"),
        (("compare", "{rel}", "{missing}"), "no weight file"),
        (("fingerprint", "{rel}", "-o", "{file}/fp.npz"), "is a file, not a folder"),
        (("demo", "--out", "{file}"), "is a file"),
        (("index", "remove", "no-such-corpus"), "no corpus named"),
        (("index", "add", "x", "pkg:no_such_package_here"), "no installed python package"),
        (("scan", "{missing}"), "no such file"),
    ],
)
def test_user_mistakes_are_one_line_and_exit_2(
    cli, tmp_path: Path, args: tuple[str, ...], words: str
) -> None:
    rel = _release(tmp_path / "rel")
    a_file = tmp_path / "plain-file"
    a_file.write_text("x")
    values = {"rel": str(rel), "file": str(a_file), "missing": str(tmp_path / "nothing-here")}
    line = _one_line_error(cli(*(a.format(**values) for a in args)))
    assert words in line.lower(), line


def test_demo_refuses_a_folder_it_did_not_make_and_deletes_nothing(cli, tmp_path: Path) -> None:
    out = tmp_path / "mine"
    (out / "example" / "base").mkdir(parents=True)
    keep = out / "example" / "base" / "my-model.txt"
    keep.write_text("mine")
    (out / "report.html").write_text("my own report")
    line = _one_line_error(cli("demo", "--out", str(out)))
    assert "did not write" in line
    assert keep.read_text() == "mine" and (out / "report.html").read_text() == "my own report"

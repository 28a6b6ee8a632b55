"""Release-controlled text on the terminal: rich markup and control characters are shown,
never interpreted."""

from __future__ import annotations

import os
from pathlib import Path

from scanner.safetext import one_line

EVIL_NAMES = ["\x1b]0;pwned\x07\x1b[31mred", "line\nforged: high", "[red]x[/", "bidi\u202etxt.py"]


def _hostile_release(root: Path) -> Path:
    rel = root / "rel"
    rel.mkdir()
    (rel / "README.md").write_text(
        '---\nlicense: "[/bold] \\e]0;TITLE\\a\\e[31mRED"\n'
        'base_model: "[link=http://evil]x[/link]"\n---\n'
    )
    outside = root / "outside.txt"
    outside.write_text("secret")
    for name in EVIL_NAMES:
        os.symlink(outside, rel / name)
    return rel


def test_markup_and_escapes_from_the_release_are_shown_not_run(cli, tmp_path: Path) -> None:
    rel = _hostile_release(tmp_path)
    for args in (("scan", str(rel)), ("check", str(rel))):
        r = cli(*args)
        assert r.returncode in (0, 1), r.stderr
        assert "error" not in r.stderr
        assert "\x1b" not in r.stdout and "\u202e" not in r.stdout
    r = cli("scan", str(rel))
    assert "\\x1b]0;pwned\\x07" in r.stdout and "line\\nforged" in r.stdout
    assert "[/bold] \\x1b]0;TITLE" in r.stdout  # the card's license, verbatim but inert


def test_error_line_for_a_hostile_target_is_one_inert_line(cli, tmp_path: Path) -> None:
    r = cli("scan", str(tmp_path / "\x1b[2Jgone\nprovscan: PASS"))
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "\x1b" not in r.stderr


def test_one_line_keeps_ordinary_text() -> None:
    assert one_line("Copyright 2024 Ünïcode 模型 (c)") == "Copyright 2024 Ünïcode 模型 (c)"
    assert one_line("a\tb\x00c\x9bd") == "a\\tb\\x00c\\x9bd"


def test_a_huge_card_field_is_shown_shortened(cli, tmp_path: Path) -> None:
    rel = tmp_path / "rel"
    rel.mkdir()
    name = " OR ".join(f"l{i}" for i in range(20_000))
    (rel / "README.md").write_text(f'---\nlicense: other\nlicense_name: "{name}"\n---\n')
    r = cli("scan", str(rel), "--json", str(tmp_path / "r.json"))
    assert r.returncode == 0, r.stderr
    assert len(r.stdout) < 5_000 and "more characters)" in r.stdout

"""Hostile model cards: alias bombs, deep nesting, odd types, huge cards."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scanner.card import parse_card
from scanner.errors import SourceError


def _alias_bomb(levels: int = 9) -> str:
    lines = ["---", 'a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels):
        prev, cur = chr(ord("a") + i - 1), chr(ord("a") + i)
        lines.append(f"{cur}: &{cur} [" + ", ".join([f"*{prev}"] * 9) + "]")
    return "\n".join(lines + ["license: mit", "---", ""])


def test_yaml_alias_bomb_is_refused() -> None:
    with pytest.raises(SourceError, match="aliases"):
        parse_card(_alias_bomb())


def test_a_few_aliases_are_fine() -> None:
    card = parse_card("---\nlicense: &l apache-2.0\nlicense_name: *l\ntags: [*l]\n---\n")
    assert card.license == "apache-2.0" and card.tags == ("apache-2.0",)


@pytest.mark.parametrize(
    "front", ["license: " + "[" * 5000 + "]" * 5000, "x: " + "{a: " * 3000 + "1" + "}" * 3000]
)
def test_deeply_nested_yaml_is_an_error_not_a_crash(front: str) -> None:
    with pytest.raises(SourceError, match="nest"):
        parse_card(f"---\n{front}\nlicense: mit\n---\n")


def test_non_string_fields_declare_nothing() -> None:
    card = parse_card(
        "---\nlicense: {a: 1}\nbase_model: [null, {a: 1}, x]\n"
        "base_model_relation: [[1]]\ntags: 5\nlicense_name: 2024-01-01\n---\n"
    )
    assert card.license is None and card.base_model == ("x",)
    assert card.base_model_relation is None and card.tags == ()


def test_card_longer_than_the_read_limit_still_declares_its_license(cli, tmp_path: Path) -> None:
    rel = tmp_path / "rel"
    rel.mkdir()
    (rel / "README.md").write_text(
        "---\nlicense: apache-2.0\nbase_model: org/base\n---\n" + "| a | b |\n" * 200_000
    )
    r = cli("scan", str(rel), "--json", str(tmp_path / "r.json"))
    assert r.returncode == 0, r.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert "apache-2.0" in json.dumps(report["card"])
    assert not [f for f in report["findings"] if f["kind"] == "not-analysed"]


def test_alias_bomb_card_is_a_finding_and_the_scan_goes_on(cli, tmp_path: Path) -> None:
    rel = tmp_path / "rel"
    rel.mkdir()
    (rel / "README.md").write_text(_alias_bomb())
    r = cli("scan", str(rel), "--json", str(tmp_path / "r.json"))
    assert r.returncode == 0, r.stderr
    found = json.loads((tmp_path / "r.json").read_text())["findings"]
    assert any(f["kind"] == "not-analysed" and "alias" in f["message"] for f in found)

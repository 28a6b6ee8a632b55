"""Hostile declarations: a config file or a card value costs that file, never the license
analyzer (issue 13, items 1 and 10)."""

from __future__ import annotations

from pathlib import Path

import pytest

from scanner.card import parse_card
from scanner.code.declared import declarations_of
from scanner.errors import SourceError
from scanner.sources import open_target

BOMB = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize(
    "victim",
    [
        "config.json",
        "generation_config.json",
        "tokenizer_config.json",
        "adapter_config.json",
        "params.json",
        "deep/er/config.json",
    ],
)
def test_a_nested_config_is_one_file_not_analysed_and_the_others_still_declare(
    tmp_path: Path, victim: str
) -> None:
    rel = tmp_path / "rel"
    (rel / "sub").mkdir(parents=True)
    (rel / "README.md").write_text("---\nlicense: apache-2.0\n---\n")
    (rel / "sub" / "config.json").write_text('{"license": "llama3"}')
    (rel / victim).parent.mkdir(parents=True, exist_ok=True)
    (rel / victim).write_text(BOMB)
    found = declarations_of(open_target(str(rel)))
    assert found.card is not None and found.card.raw == "apache-2.0"
    assert [d.raw for d in found.licenses] == ["apache-2.0", "llama3"]
    assert [(p.kind, p.location.path) for p in found.problems] == [("not-analysed", victim)]
    assert "nest" in found.problems[0].message


def test_a_config_nested_past_the_recursion_limit_is_a_clear_error() -> None:
    from scanner.code.declared import config_licenses

    with pytest.raises(SourceError, match="nests too deeply"):
        config_licenses('{"license": ' * 5000 + "1" + "}" * 5000, "config.json")
    assert config_licenses('{"license": "mit", "x": [[[{}]]]}', "config.json")[0].raw == "mit"


@pytest.mark.parametrize(
    "value", ["2024-13-45", "2024-02-30", "2024-01-01 25:61:61", "0000-00-00", "9999-99-99"]
)
def test_an_impossible_date_on_the_card_is_a_plain_string(value: str) -> None:
    card = parse_card(f"---\nlicense: {value}\nlicense_name: {value}\ntags: [{value}]\n---\n")
    assert card.license == value and card.license_name == value and card.tags == (value,)


def test_a_real_date_on_the_card_is_a_string_too() -> None:
    card = parse_card("---\nlicense: mit\nlicense_name: 2024-01-01\n---\n")
    assert card.license_name == "2024-01-01"


@pytest.mark.parametrize("tagged", ["!!int |\n", "!!int ''", "!!float ''", "!!int _"])
def test_an_empty_tagged_number_on_the_card_is_a_clear_error(tagged: str) -> None:
    # Found by bench/fuzz.py (card, input 23815): PyYAML's int constructor indexes an empty
    # scalar and raised IndexError through the scan.
    with pytest.raises(SourceError, match="impossible value|not valid YAML"):
        parse_card(f"---\nlicense: mit\ntags: {tagged}\n---\n")


def test_a_card_with_an_impossible_date_is_scanned(cli, tmp_path: Path) -> None:
    rel = tmp_path / "rel"
    rel.mkdir()
    (rel / "README.md").write_text("---\nlicense: 2024-13-45\nbase_model: org/x\n---\n# m\n")
    r = cli("scan", str(rel), "--json", str(tmp_path / "r.json"))
    assert r.returncode == 0, r.stderr
    assert "internal error" not in r.stderr and "2024-13-45" in (tmp_path / "r.json").read_text()

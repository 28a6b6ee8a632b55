"""Declared licenses: Hub license keys and license names resolve through rules/ to real
scancode keys or our own LicenseRef ids (no scancode index needed)."""

from __future__ import annotations

import json
from pathlib import Path

import licensedcode
import pytest

from scanner.card import parse_card
from scanner.code.declared import card_license, config_licenses, resolve_hub_license
from scanner.licenses import license_ids, license_info
from scanner.rules import load_rules

SCANCODE_LICENSES = Path(licensedcode.__file__).parent / "data" / "licenses"


def _scancode_spdx(key: str) -> str | None:
    for line in (SCANCODE_LICENSES / f"{key}.LICENSE").read_text().splitlines():
        if line.startswith("spdx_license_key:"):
            return line.split(":", 1)[1].strip()
    return None


def test_llama3_card_maps_to_its_licenseref_not_unknown():
    card = parse_card("---\nlicense: llama3\n---\n# model\n")
    declared = card_license(card)
    assert declared is not None and declared.resolved
    assert declared.spdx == "LicenseRef-provscan-llama-3-community-license"
    assert declared.category == "model-license"


def test_other_with_qwen_research_name_maps_to_its_licenseref():
    card = parse_card(
        "---\nlicense: other\nlicense_name: qwen-research\n"
        "license_link: https://example.org/LICENSE\n---\n"
    )
    declared = card_license(card)
    assert declared is not None
    assert declared.key == "LicenseRef-provscan-qwen-research"
    assert declared.category == "non-commercial"
    assert declared.raw == "other (qwen-research)"


@pytest.mark.parametrize(
    ("key", "name", "expected"),
    [
        ("llama3.1", None, "llama-3.1-license-2024"),
        ("llama3.3", None, "llama-3.3-license-2024"),
        ("llama2", None, "llama-2-license-2023"),
        ("llama4", None, "llama-4-cla-2025"),
        ("gemma", None, "gemma-tou-2024-04-01"),
        ("other", "Tongyi Qianwen", "tongyi-qianwen-2023"),
        ("other", "qwen", "qwen-2024"),
        ("other", "deepseek", "deepseek-la-1.0"),
        ("bigscience-openrail-m", None, "bigscience-open-rail-m"),
        ("cc-by-nc-4.0", None, "cc-by-nc-4.0"),
        ("Apache-2.0", None, "apache-2.0"),
    ],
)
def test_model_license_keys_resolve_to_scancode_keys(key, name, expected):
    declared = resolve_hub_license(key, name)
    assert declared is not None and declared.key == expected


def test_unknown_key_is_reported_unresolved():
    declared = resolve_hub_license("other", "my-own-terms")
    assert declared is not None and not declared.resolved and declared.category == "unknown"


def test_every_scancode_key_in_rules_exists_in_installed_scancode_with_that_spdx_id():
    rules = load_rules("hub_licenses")
    checked = 0
    for table in ("keys", "names"):
        for hub_key, entry in rules[table].items():
            if entry["key"].startswith("LicenseRef-provscan-"):
                assert entry["spdx"] == entry["key"], hub_key
                assert entry["key"] in load_rules("licenses")["licenses"], hub_key
                continue
            assert (SCANCODE_LICENSES / f"{entry['key']}.LICENSE").is_file(), hub_key
            assert _scancode_spdx(entry["key"]) == entry["spdx"], hub_key
            checked += 1
    assert checked > 50


def test_families_come_from_rules_then_scancode_categories():
    assert license_info("apache-2.0").notice
    assert license_info("cc-by-nc-4.0").category == "non-commercial"
    # Not listed in rules/licenses.toml: scancode's own category decides.
    assert license_info("gpl-2.0-plus").category == "copyleft"
    assert license_info("unknown-license-reference").category == "unknown"


def test_license_ids_split_expressions():
    assert license_ids("(mit OR apache-2.0) AND gpl-2.0 WITH classpath-exception-2.0") == (
        "mit",
        "apache-2.0",
        "gpl-2.0",
        "classpath-exception-2.0",
    )
    assert license_ids(None) == ()


def test_config_license_fields_are_declared_licenses():
    text = json.dumps({"model_type": "x", "license": "other", "license_name": "qwen-research"})
    found = config_licenses(text, "config.json")
    assert [d.key for d in found] == ["LicenseRef-provscan-qwen-research"]
    assert found[0].source == "config.json"
    assert config_licenses("[1, 2]", "config.json") == []
    assert config_licenses("{not json", "config.json") == []

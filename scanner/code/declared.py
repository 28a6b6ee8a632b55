"""Declared licenses: the model card's `license` / `license_name` (Hub keys) resolved to
license ids through rules/hub_licenses.toml (else read by scancode's own detection), license
fields of config files, and the licenses weight files declare in their metadata."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from ..evidence import Declaration
from ..licenses import license_ids, license_info
from ..model import CardData, FileDeclaration
from ..rules import load_rules

MAX_CONFIG_BYTES = 1024 * 1024
MAX_STATEMENT_CHARS = 1000
"""A declared license no Hub key names is read by scancode when it is this short (a name,
an expression); a longer field is left unresolved rather than matched at length."""
# The most restrictive category of an expression's ids is the expression's category.
_CATEGORY_RANK = (
    "proprietary",
    "non-commercial",
    "model-license",
    "copyleft",
    "source-available",
    "weak-copyleft",
    "unknown",
    "permissive",
    "public-domain",
)


@dataclass(frozen=True)
class DeclaredLicense:
    """A license a release declares, resolved to ids."""

    raw: str
    """What was written (`apache-2.0`, `other (qwen-research)`)."""
    key: str | None
    """scancode license key or LicenseRef-provscan-* key; None when not resolved."""
    spdx: str | None
    """SPDX id, LicenseRef-scancode-* or LicenseRef-provscan-*; None when not resolved."""
    category: str
    """permissive, model-license... (scanner/licenses.py); `family` in the JSON evidence."""
    source: str
    """Where it was declared: a path (README.md, config.json) or `hub`."""

    @property
    def resolved(self) -> bool:
        return self.key is not None

    def declaration(self) -> Declaration:
        """The evidence record of this declaration."""
        return Declaration(
            declared=self.raw,
            key=self.key,
            license_id=self.spdx,
            family=self.category,
            declared_in=self.source,
        )


def _name_key(name: str) -> str:
    return re.sub(r"[\s_]+", "-", name.strip().lower())


def resolve_hub_license(
    license: str | None, license_name: str | None = None, source: str = "README.md"
) -> DeclaredLicense | None:
    """Resolve a Hub license key (and license_name for `other`) to license ids."""
    if not license:
        return None
    rules = load_rules("hub_licenses")
    key = license.strip().lower()
    raw = license if not license_name else f"{license} ({license_name})"
    entry = rules["keys"].get(key)
    if entry is None and key == "other" and license_name:
        entry = rules["names"].get(_name_key(license_name))
    if entry is None:
        # A name we do not know may still be a Hub key or an SPDX-like key.
        entry = rules["names"].get(_name_key(license)) or rules["keys"].get(
            _name_key(license_name or "")
        )
    if entry is None:
        return _read_by_scancode(raw, license, license_name, source)
    return DeclaredLicense(
        raw, entry["key"], entry["spdx"], license_info(entry["key"]).category, source
    )


def _read_by_scancode(
    raw: str, license: str, license_name: str | None, source: str
) -> DeclaredLicense:
    """A declaration no Hub key names ("Apache License 2.0", "MIT AND BSD-3-Clause"), read
    by scancode's own detection; unresolved where it recognises no license."""
    from .scancode import license_of_statement

    text = license_name if license.strip().lower() == "other" else license
    found = (
        license_of_statement(text) if text and len(text.strip()) <= MAX_STATEMENT_CHARS else None
    )
    if found is None:
        return DeclaredLicense(raw, None, None, "unknown", source)
    return DeclaredLicense(raw, found.expression, found.spdx, category_of(found.expression), source)


def category_of(expression: str) -> str:
    """The most restrictive category among an expression's ids."""
    cats = {license_info(i).category for i in license_ids(expression)}
    return next((c for c in _CATEGORY_RANK if c in cats), "unknown")


def card_license(card: CardData | None, source: str = "README.md") -> DeclaredLicense | None:
    if card is None:
        return None
    return resolve_hub_license(card.license, card.license_name, source)


def config_licenses(text: str, path: str) -> list[DeclaredLicense]:
    """License fields at the top level of a JSON config (config.json, tokenizer_config...)."""
    try:
        data = json.loads(text)
    except ValueError:
        return []
    if not isinstance(data, dict):
        return []
    lic, name = data.get("license"), data.get("license_name")
    if not isinstance(lic, str) or not lic.strip():
        return []
    found = resolve_hub_license(lic, name if isinstance(name, str) else None, path)
    return [found] if found else []


def weight_file_licenses(declarations: tuple[FileDeclaration, ...]) -> list[DeclaredLicense]:
    """The licenses weight files declare in their own metadata (GGUF general.license, an
    ONNX metadata_props license), resolved as a card's `license` is."""
    out = []
    for d in declarations:
        if d.license or d.license_name:
            found = resolve_hub_license(d.license or "other", d.license_name, d.path)
            if found is not None:
                out.append(found)
    return out

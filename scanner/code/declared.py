"""Declared licenses: the model card's `license` / `license_name` (Hub keys) resolved to
license ids through rules/hub_licenses.toml, and license fields of config files."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from ..errors import SourceError
from ..evidence import Declaration
from ..licenses import license_info
from ..model import CardData
from ..rules import load_rules

MAX_CONFIG_BYTES = 1024 * 1024


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
        return DeclaredLicense(raw, None, None, "unknown", source)
    return DeclaredLicense(
        raw, entry["key"], entry["spdx"], license_info(entry["key"]).category, source
    )


def card_license(card: CardData | None, source: str = "README.md") -> DeclaredLicense | None:
    if card is None:
        return None
    return resolve_hub_license(card.license, card.license_name, source)


def config_licenses(text: str, path: str) -> list[DeclaredLicense]:
    """License fields at the top level of a JSON config (config.json, tokenizer_config...).
    A file that is not JSON declares nothing; one nested past the recursion limit is an
    attack on the reader, a SourceError for that file."""
    try:
        data = json.loads(text)
    except ValueError:
        return []
    except RecursionError as exc:
        raise SourceError(f"{path}: JSON nests too deeply to read") from exc
    if not isinstance(data, dict):
        return []
    lic, name = data.get("license"), data.get("license_name")
    if not isinstance(lic, str) or not lic.strip():
        return []
    found = resolve_hub_license(lic, name if isinstance(name, str) else None, path)
    return [found] if found else []

"""What a release declares: the model card's `license` / `license_name` (Hub keys)
resolved to license ids through rules/hub_licenses.toml (else read by scancode's own
detection), license fields of config files, the licenses weight files declare in their own
metadata; and the base models named outside the card's base_model (its text, a config's
`_name_or_path`, a weight file's metadata), as hints."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Literal

from ..card import (
    MAX_CARD_BYTES,
    BaseHint,
    base_model_hints,
    config_base_hint,
    declares_base,
    find_card,
)
from ..declarations import weight_file_declarations
from ..errors import ProvscanError, SourceError
from ..evidence import Declaration
from ..licenses import license_ids, license_info
from ..model import CardData, FileDeclaration, FileKind, Finding, not_analysed
from ..rules import load_rules
from ..snapshot import Snapshot

ANALYZER = "licenses"
MAX_CONFIG_BYTES = 1024 * 1024
CONFIG_WITH_LICENSE = (
    "config.json",
    "tokenizer_config.json",
    "generation_config.json",
    "adapter_config.json",
    "params.json",
)
HintSource = Literal["card-text", "config", "weights-metadata"]
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


# ---- everything the release declares ---------------------------------------------------


@dataclass
class Declarations:
    """What the release declares: licenses (card, configs, weight files' metadata) and
    hints of a base model outside the card's base_model."""

    card: DeclaredLicense | None = None
    licenses: list[DeclaredLicense] = field(default_factory=list)
    hints: list[tuple[BaseHint, HintSource, str]] = field(default_factory=list)
    """(hint, where it comes from, the release path that says it)."""
    problems: list[Finding] = field(default_factory=list)

    @property
    def primary(self) -> DeclaredLicense | None:
        """The license the release declares: the card's, else the first one resolved."""
        if self.card is not None and self.card.resolved:
            return self.card
        return next((d for d in self.licenses if d.resolved), self.card)


def _read_configs(snapshot: Snapshot, out: Declarations) -> None:
    for f in snapshot.files:
        if (
            f.path.rsplit("/", 1)[-1] not in CONFIG_WITH_LICENSE
            or f.size > MAX_CONFIG_BYTES
            or f.kind is FileKind.LFS_POINTER
        ):
            continue
        try:
            _read_config(snapshot.reader.read_text(f.path, MAX_CONFIG_BYTES), f.path, out)
        except ProvscanError as exc:
            out.problems.append(not_analysed(f.path, str(exc), ANALYZER))
        except Exception as exc:  # one hostile file costs that file, not the analyzer
            out.problems.append(not_analysed(f.path, f"{type(exc).__name__}: {exc}", ANALYZER))


def _read_config(text: str, path: str, out: Declarations) -> None:
    licenses = config_licenses(text, path)  # a file nested too deeply raises here
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    hint = config_base_hint(data) if isinstance(data, dict) else None
    out.licenses.extend(licenses)
    if hint is not None:
        out.hints.append((hint, "config", path))


def declarations_of(snapshot: Snapshot) -> Declarations:
    """The card's license, every license declared (card, config files, weight files'
    metadata) and the base-model hints of the card's text, configs and weight files."""
    card_entry = find_card(snapshot.files)
    out = Declarations(card=card_license(snapshot.card, card_entry.path if card_entry else "hub"))
    if out.card is not None:
        out.licenses.append(out.card)
    if card_entry is not None and card_entry.kind is not FileKind.LFS_POINTER:
        try:
            head = snapshot.reader.read_range(card_entry.path, 0, MAX_CARD_BYTES)
            for hint in base_model_hints(head.decode("utf-8", errors="replace")):
                out.hints.append((hint, "card-text", card_entry.path))
        except ProvscanError:
            pass  # the source already reported a card it could not read
    _read_configs(snapshot, out)
    weights, problems = weight_file_declarations(snapshot, ANALYZER)
    out.problems.extend(problems)
    out.licenses.extend(weight_file_licenses(weights))
    for w in weights:
        key = next((k for k in w.keys if "base_model" in k), "base model")
        for name in w.base_models:
            out.hints.append((BaseHint(name, f"{key}: {name}"), "weights-metadata", w.path))
    return out


def undeclared_hints(
    snapshot: Snapshot, hints: list[tuple[BaseHint, HintSource, str]]
) -> list[tuple[BaseHint, HintSource, str]]:
    """The hints naming neither a declared base model nor the release itself."""
    declared = snapshot.card.base_model if snapshot.card else ()
    itself = snapshot.target if snapshot.source == "hf" else None
    seen: set[str] = set()
    out = []
    for hint, source, path in hints:
        key = hint.name.lower()
        if key in seen or declares_base(declared, hint.name):
            continue
        if itself and declares_base((hint.name,), itself):
            continue
        seen.add(key)
        out.append((hint, source, path))
    return out

"""License knowledge, in one place: ids in expressions, categories, obligation families and
SPDX forms. The knowledge itself is data: rules/licenses.toml (categories, SPDX list ids),
rules/obligations.toml (families and their duties), and scancode's own license data for
keys the rules do not list.

Ids are compared lower-case, so an SPDX id (Apache-2.0), a scancode key (apache-2.0) and a
Hub key all meet. Two words not to confuse: a license's *category* (permissive, copyleft,
model-license...: what kind of license it is; written `family` in rules/licenses.toml and in
the JSON evidence) and an obligation *family* (apache-2.0, llama3, gemma...: the licenses
that oblige the same things, rules/obligations.toml).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fnmatch import fnmatchcase
from functools import cache
from pathlib import Path

from .rules import load_rules

# ---- ids in expressions ---------------------------------------------------------------------

_OPERATORS = {"and", "or", "with"}
_TOKEN = re.compile(r"[^\s()]+")


def license_ids(expression: str | None) -> tuple[str, ...]:
    """The license ids of an SPDX / scancode expression, lower-case, in order, deduplicated
    (a LicenseRef-scancode-KEY is its scancode KEY)."""
    if not expression:
        return ()
    out: dict[str, None] = {}  # ordered and deduplicated in linear time (a card is hostile)
    for token in _TOKEN.findall(expression):
        low = token.lower().rstrip(",;")
        if low in _OPERATORS or not low:
            continue
        if low.startswith("licenseref-scancode-"):
            low = low[len("licenseref-scancode-") :]
        out.setdefault(low)
    return tuple(out)


def declared_ids(license_key: str | None, license_name: str | None) -> tuple[str, ...]:
    """Ids a card declaration stands for: the key, and license_name for `other`."""
    ids: list[str] = []
    if license_key and license_key.lower() != "other":
        ids.extend(license_ids(license_key))
    if license_name:
        ids.extend(license_ids(license_name))
    return tuple(dict.fromkeys(ids))


def matches_any(license_id: str, patterns: tuple[str, ...] | list[str]) -> bool:
    low = license_id.lower()
    return any(fnmatchcase(low, p.lower()) for p in patterns)


# ---- categories (rules/licenses.toml, else scancode's category) ---------------------------


@dataclass(frozen=True)
class LicenseInfo:
    """What provscan knows of one scancode license key."""

    key: str
    name: str
    category: str
    """permissive, public-domain, weak-copyleft, copyleft, model-license, non-commercial,
    source-available, proprietary or unknown."""
    notice: bool = False
    """The license asks to keep the upstream NOTICE (Apache-2.0 s4(d))."""


RESTRICTIVE_CATEGORIES = frozenset(
    {"copyleft", "model-license", "non-commercial", "source-available", "proprietary"}
)


@cache
def _scancode_category(key: str) -> tuple[str, str] | None:
    """(name, category) from scancode's license data file, read without the index."""
    try:
        import licensedcode
    except ImportError:
        return None
    path = Path(licensedcode.__file__).parent / "data" / "licenses" / f"{key}.LICENSE"
    if not path.is_file() or "/" in key:
        return None
    name = category = ""
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if line.startswith("name:"):
                name = line.split(":", 1)[1].strip()
            elif line.startswith("category:"):
                category = line.split(":", 1)[1].strip()
            elif line.strip() == "---" and (name or category):
                break
    return name, category


@cache
def _scancode_keys_by_spdx() -> dict[str, str]:
    """lower-case SPDX id -> scancode key, from scancode's license data files (read once,
    only when an id is neither a rules/ key nor a scancode key: BSD-3-Clause is bsd-new)."""
    try:
        import licensedcode
    except ImportError:
        return {}
    keys: dict[str, str] = {}
    for path in (Path(licensedcode.__file__).parent / "data" / "licenses").glob("*.LICENSE"):
        with open(path, encoding="utf-8", errors="replace") as fh:
            for i, line in enumerate(fh):
                if line.startswith("spdx_license_key:"):
                    keys.setdefault(line.split(":", 1)[1].strip().lower(), path.stem)
                    break
                if i and line.startswith("---"):
                    break
    return keys


def spdx_ids_as_keys(expression: str | None) -> tuple[str, ...]:
    """The ids of an SPDX expression as the scancode keys the rest of provscan compares
    (BSD-3-Clause is bsd-new, BSL-1.0 is boost-1.0); an id SPDX does not list stays."""
    keys = _scancode_keys_by_spdx()
    return tuple(dict.fromkeys(keys.get(i, i) for i in license_ids(expression)))


def _scancode_key_of_spdx(license_id: str) -> str | None:
    low = license_id.lower()
    aliases = {v.lower(): k for k, v in load_rules("licenses")["spdx"]["aliases"].items()}
    key = aliases.get(low) or _scancode_keys_by_spdx().get(low)
    return key if key and key != low else None


@cache
def license_info(key: str) -> LicenseInfo:
    """Category and duties of a license key, from rules/licenses.toml, else scancode's
    category mapped through the same rules."""
    rules = load_rules("licenses")
    entry = rules["licenses"].get(key)
    if entry is not None:
        return LicenseInfo(key, entry["name"], entry["family"], bool(entry.get("notice")))
    if "unknown" in key:
        return LicenseInfo(key, key, "unknown")
    found = _scancode_category(key)
    if found is None:
        alias = _scancode_key_of_spdx(key)
        return license_info(alias) if alias else LicenseInfo(key, key, "unknown")
    name, category = found
    return LicenseInfo(key, name or key, rules["categories"].get(category, "unknown"))


# ---- obligation families (rules/obligations.toml) --------------------------------------------

# Licenses whose terms travel as notices, not as the licence of the whole release: code under
# them may sit in a release under another licence as long as the notices are kept.
PERMISSIVE = (
    "apache-2.0",
    "mit",
    "bsd-*",
    "isc",
    "zlib",
    "unlicense",
    "cc0-1.0",
    "cc-by-4.0",
    "python-2.0",
    "psf-2.0",
    "boost-1.0",
    "bsd-zero",
)


@dataclass(frozen=True)
class ObligationFamily:
    """A family of rules/obligations.toml (its obligations are read by assess/obligations)."""

    id: str
    name: str
    match: tuple[str, ...]
    url: str
    non_commercial: bool


@cache
def families() -> tuple[ObligationFamily, ...]:
    rules = load_rules("obligations")
    return tuple(
        ObligationFamily(
            id=f["id"],
            name=f["name"],
            match=tuple(m.lower() for m in f["match"]),
            url=f.get("url", ""),
            non_commercial=bool(f.get("non_commercial")),
        )
        for f in rules.get("family", [])
    )


def family_of(license_id: str) -> ObligationFamily | None:
    """The first family whose patterns match the id, if any."""
    low = license_id.lower()
    for fam in families():
        if any(fnmatchcase(low, pat) for pat in fam.match):
            return fam
    return None


def is_permissive(license_id: str) -> bool:
    return matches_any(license_id, PERMISSIVE)


def reflected(detected: str, declared: tuple[str, ...]) -> bool:
    """Whether a declared license covers a detected one.

    The same id or the same family counts; so does a permissive licence under any declared
    licence (its notices are an obligation, not a contradiction), and a license exception
    (`WITH llvm-exception`: extra permissions on a license that is checked itself). Nothing
    declared covers nothing.
    """
    if not declared:
        return False
    low = detected.lower()
    if low in declared or is_permissive(low) or "exception" in low:
        return True
    fam = family_of(low)
    return fam is not None and any(family_of(d) == fam for d in declared)


# ---- SPDX forms (rules/licenses.toml [spdx]) ---------------------------------------------


@cache
def _spdx_ids() -> dict[str, str]:
    """lower-case id -> SPDX list id: the aliases, and the list ids themselves."""
    table = load_rules("licenses")["spdx"]
    return {**table["aliases"], **{i.lower(): i for i in table["ids"]}}


def spdx_id(license_id: str) -> str | None:
    """The SPDX list id for a license id, if it is on the list."""
    return _spdx_ids().get(license_id.lower())


def license_ref(license_id: str) -> str:
    """A valid LicenseRef for an id that is not on the SPDX list."""
    if license_id.lower().startswith("licenseref-"):
        license_id = license_id[len("licenseref-") :]
    return "LicenseRef-" + (re.sub(r"[^A-Za-z0-9.\-]", "-", license_id) or "unknown")


def spdx_expression(expression: str) -> str:
    """An expression with every id in SPDX form (LicenseRef for the others), joined by AND
    when it cannot be kept as written."""
    ids = license_ids(expression)
    if not ids:
        return "NOASSERTION"
    parts = [spdx_id(i) or license_ref(i) for i in ids]
    low = expression.lower()
    op = " OR " if " or " in low and " and " not in low else " AND "
    return op.join(parts)

"""License ids and families: parse expressions, match rules/obligations.toml families.

Ids are compared lower-case, so an SPDX id (Apache-2.0), a scancode key (apache-2.0) and a
Hub key all meet. Families are globs in rules/, so a new license is data, not code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fnmatch import fnmatchcase
from functools import cache

from ..rules import load_rules

_OPERATORS = {"and", "or", "with"}
_TOKEN = re.compile(r"[^\s()]+")
# Licenses whose terms travel as notices, not as the licence of the whole release: code under
# them may sit in a release under another licence as long as the notices are kept.
PERMISSIVE = ("apache-2.0", "mit", "bsd-*", "isc", "zlib", "unlicense", "cc0-1.0", "cc-by-4.0",
              "python-2.0", "psf-2.0")


def license_ids(expression: str | None) -> tuple[str, ...]:
    """The license ids of an SPDX / scancode expression, lower-case, in order, deduplicated."""
    if not expression:
        return ()
    out: dict[str, None] = {}  # ordered and deduplicated in linear time (a card is hostile)
    for token in _TOKEN.findall(expression):
        low = token.lower().rstrip(",;")
        if low in _OPERATORS or not low:
            continue
        if low.startswith("licenseref-scancode-"):
            low = low[len("licenseref-scancode-"):]
        out.setdefault(low)
    return tuple(out)


@dataclass(frozen=True)
class Family:
    """A license family of rules/obligations.toml (its obligations are read separately)."""

    id: str
    name: str
    match: tuple[str, ...]
    url: str
    non_commercial: bool


@cache
def families() -> tuple[Family, ...]:
    rules = load_rules("obligations")
    return tuple(Family(id=f["id"], name=f["name"], match=tuple(m.lower() for m in f["match"]),
                        url=f.get("url", ""), non_commercial=bool(f.get("non_commercial")))
                 for f in rules.get("family", []))


def family_of(license_id: str) -> Family | None:
    """The first family whose patterns match the id, if any."""
    low = license_id.lower()
    for fam in families():
        if any(fnmatchcase(low, pat) for pat in fam.match):
            return fam
    return None


def matches_any(license_id: str, patterns: tuple[str, ...] | list[str]) -> bool:
    low = license_id.lower()
    return any(fnmatchcase(low, p.lower()) for p in patterns)


def is_permissive(license_id: str) -> bool:
    return matches_any(license_id, PERMISSIVE)


def declared_ids(license_key: str | None, license_name: str | None) -> tuple[str, ...]:
    """Ids a card declaration stands for: the key, and license_name for `other`."""
    ids: list[str] = []
    if license_key and license_key.lower() != "other":
        ids.extend(license_ids(license_key))
    if license_name:
        ids.extend(license_ids(license_name))
    return tuple(dict.fromkeys(ids))


def reflected(detected: str, declared: tuple[str, ...]) -> bool:
    """Whether a declared license covers a detected one.

    The same id or the same family counts; so does a permissive licence under any declared
    licence (its notices are an obligation, not a contradiction). Nothing declared covers
    nothing.
    """
    if not declared:
        return False
    low = detected.lower()
    if low in declared or is_permissive(low):
        return True
    fam = family_of(low)
    return fam is not None and any(family_of(d) == fam for d in declared)

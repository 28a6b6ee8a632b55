"""Copyright notices at a file's head, and whether a copy kept its upstream's.

Deliberately small and fast (regexes over the first lines), not scancode: the clone index
stores the notice of every reference file, thousands at a time, and only needs to compare
an upstream notice with a copy's. The license analyzer does the full job on the release.
"""

from __future__ import annotations

import re

from ..evidence import NoticeStatus

HEAD_LINES = 200
"""The notice of a file is looked for in its first lines only."""

_COMMENT = re.compile(r"^\s*(?:#!?|//+|/\*+|\*+/?|--|;+|<!--|\"{3}|'{3}|rem\b)?\s?", re.I)
_CODE_START = re.compile(r"^\s*(?:#|//|/\*|\*|--|;|\"\"\"|'''|$)")
_COPYRIGHT = re.compile(r"copyright|\u00a9|\(c\)\s*\d{4}", re.I)
_LICENSE = re.compile(r"spdx-license-identifier|licensed under|license(?:d)?\s*:", re.I)
_YEARS = re.compile(r"\b(?:19|20)\d\d(?:\s*[-,\u2013]\s*(?:(?:19|20)\d\d|present))*\b", re.I)
_NOISE = re.compile(r"copyright|\u00a9|\(c\)|all rights reserved\.?|\bby\b", re.I)
_STOPWORDS = frozenset(
    re.findall(
        r"\S+",
        (
            "the and inc inc. team ltd llc corp corporation co authors author contributors its "
            "affiliates of a an all rights reserved org project group gmbh limited"
        ),
    )
)


def _strip_comment(line: str) -> str:
    return " ".join(_COMMENT.sub("", line, count=1).strip().rstrip("*/").split())


def head_notice(text: str) -> tuple[str, ...]:
    """Copyright and license lines of the leading comment/docstring block, verbatim-ish.

    The block ends at the first line of code, so a string in the code that mentions a
    copyright is not taken for the file's notice.
    """
    out: list[str] = []
    in_doc: str | None = None
    for i, line in enumerate(text.splitlines()):
        if i >= HEAD_LINES:
            break
        stripped = line.strip()
        if (
            in_doc is None
            and not _CODE_START.match(line)
            and not stripped.startswith(("'", '"', 'r"', "r'"))
        ):
            break
        for quote in ('"""', "'''"):
            if stripped.count(quote) % 2 == 1:
                in_doc = None if in_doc == quote else (in_doc or quote)
        if _COPYRIGHT.search(line) or _LICENSE.search(line):
            clean = _strip_comment(line)
            if clean:
                out.append(clean)
    return tuple(out)


_COMMENTED_COPYRIGHT = re.compile(
    r"^[ \t]*(?:#|//|/\*|\*|--)[^\n]*(?:copyright|\u00a9)[^\n]*$", re.I | re.M
)


def file_copyrights(text: str) -> tuple[str, ...]:
    """Copyright lines of the head block, and of comments anywhere in the file (a copier
    may credit the upstream just above the code it took)."""
    found = list(copyright_lines(head_notice(text)))
    for m in _COMMENTED_COPYRIGHT.finditer(text):
        clean = _strip_comment(m.group())
        if clean and clean not in found:
            found.append(clean)
    return tuple(found)


def copyright_lines(lines: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(line for line in lines if _COPYRIGHT.search(line))


def holder_words(line: str) -> frozenset[str]:
    """The words naming a copyright holder: years, markers and legal filler removed."""
    text = _NOISE.sub(" ", _YEARS.sub(" ", line)).lower()
    words = re.findall(r"[a-z0-9][a-z0-9'&+-]*", text)
    return frozenset(w for w in words if w not in _STOPWORDS and len(w) > 1)


# Words that name no one in particular: two notices sharing only these share no holder.
_GENERIC_HOLDER_WORDS = frozenset(
    [
        "ai",
        "research",
        "language",
        "lab",
        "labs",
        "technologies",
        "technology",
        "platforms",
        "open",
        "source",
        "software",
        "foundation",
        "university",
        "institute",
        "national",
        "laboratory",
        "company",
        "members",
    ]
)


def holders(lines: tuple[str, ...]) -> frozenset[str]:
    """The words naming the holders of some copyright lines, generic words left out."""
    return frozenset().union(*(holder_words(line) for line in lines)) - _GENERIC_HOLDER_WORDS


def notice_status(
    upstream: tuple[str, ...],
    target_text: str,
    original: tuple[str, ...] = (),
    maintainers: frozenset[str] = frozenset(),
) -> tuple[NoticeStatus, tuple[str, ...]]:
    """(status, the copy's copyright lines); status is one of:

    kept: every upstream copyright line is in the copy; original: the copy names the code's
    original author (a holder of the upstream notice, or of `original`, the notices of the
    files the upstream was itself copied from, other than the corpus's `maintainers`);
    changed: the copy names an upstream holder but the lines differ; replaced: the copy
    carries someone else's notice only; removed: the copy has no copyright line at all;
    none: upstream has no notice.
    """
    target = file_copyrights(target_text)
    up = copyright_lines(upstream)
    if not up:
        return "none", target
    norm = {" ".join(t.lower().split()) for t in target}
    if target and all(" ".join(u.lower().split()) in norm for u in up):
        return "kept", target
    if not target:
        return "removed", target
    target_holders = holders(target)
    authors = (holders(up) | holders(copyright_lines(original))) - maintainers
    if authors & target_holders:
        return "original", target
    if holders(up) & target_holders:
        return "changed", target
    return "replaced", target

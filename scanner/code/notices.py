"""Copyright notices: statements and holders (scancode's cluecode), holders normalised and
mapped to their upstream origin through rules/holders.toml.

cluecode's parser is the slow part of a scancode scan (~60 ms a file). It only needs the
lines that can hold a notice, so a cheap prefilter keeps those lines and their neighbours,
with their real line numbers, and each contiguous block goes to the parser alone. A line
that opens a new statement ("Copyright ...", "(c) ...", "SPDX-FileCopyrightText: ...")
starts a new block: given two statements at once, cluecode can run the first one's tail
into the second and lose the second holder.

Where cluecode stops early in a statement naming several holders ("Meta Inc., vLLM, and
HuggingFace Inc. team" gives "Meta Inc."), `holders` still lists every one of them, read
from the statement's own line; and `SPDX-FileCopyrightText:` lines cluecode does not read
("SPDX-FileCopyrightText: Copyright contributors to the vLLM project") are read here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from ..evidence import UpstreamId
from ..rules import load_rules
from .scancode import text_lines

# Lines that can start or hold a copyright statement or an author credit.
_CANDIDATE = re.compile(
    r"copyright|\(c\)|©|&copy;|&#169;|\bauthors?\b|\bwritten by\b|\bcontributed by\b"
    r"|all rights reserved|\bcopr\.",
    re.IGNORECASE,
)
# A line that opens a statement, comment markers aside.
_OPENS_STATEMENT = re.compile(
    r"^[\s#/*;!%'\"-]*(?:copyright\b|\(c\)|©|spdx-filecopyrighttext\s*:)", re.IGNORECASE
)
_SPDX_COPYRIGHT = re.compile(r"spdx-filecopyrighttext\s*:\s*(.*)$", re.IGNORECASE)
NEIGHBOURS = 2
"""Lines kept before and after a candidate line: statements span lines."""
MAX_LINE_CHARS = 2000
MAX_STATEMENT_CHARS = 2 * MAX_LINE_CHARS
"""Characters of a statement's lines read for its holders."""
MAX_NOTICES_PER_FILE = 200


@dataclass(frozen=True)
class Notice:
    """One copyright statement with its holder, and the file's lines as they are."""

    statement: str
    holder: str | None
    """The holder as cluecode reads it (what the scancode CLI reports)."""
    start_line: int
    end_line: int
    lines: tuple[str, ...]
    """The original lines, verbatim (comment markers included), for a NOTICE file."""
    holders: tuple[str, ...] = ()
    """Every holder the statement names, in its order (several where it names several)."""
    read_by: str = "cluecode"
    """cluecode, or spdx for an SPDX-FileCopyrightText line cluecode does not read."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "statement": self.statement,
            "holder": self.holder,
            "start_line": self.start_line,
            "end_line": self.end_line,
            "lines": list(self.lines),
            "holders": list(self.holders),
            "read_by": self.read_by,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Notice:
        return cls(
            data["statement"],
            data["holder"],
            data["start_line"],
            data["end_line"],
            tuple(data["lines"]),
            tuple(data["holders"]),
            data["read_by"],
        )


def candidate_blocks(lines: list[str]) -> list[list[tuple[int, str]]]:
    """Contiguous blocks of (1-based line number, line) around candidate lines."""
    keep = [False] * len(lines)
    for i, line in enumerate(lines):
        if _CANDIDATE.search(line):
            for j in range(max(0, i - NEIGHBOURS), min(len(lines), i + NEIGHBOURS + 1)):
                keep[j] = True
    blocks: list[list[tuple[int, str]]] = []
    current: list[tuple[int, str]] = []
    opened = False  # whether the current block holds a line that opens a statement
    for i, flag in enumerate(keep):
        if not flag:
            if current:
                blocks.append(current)
            current, opened = [], False
            continue
        line = lines[i][:MAX_LINE_CHARS]
        if _OPENS_STATEMENT.match(line):
            if opened:
                blocks.append(current)
                current = []
            opened = True
        current.append((i + 1, line))
    if current:
        blocks.append(current)
    return blocks


def detect_notices(text: str) -> tuple[Notice, ...]:
    """Copyright statements of a text, each paired with its holder where cluecode finds
    one on the same lines."""
    from cluecode.copyrights import (
        CopyrightDetection,
        HolderDetection,
        detect_copyrights_from_lines,
    )

    lines = text_lines(text)
    notices: list[Notice] = []
    for block in candidate_blocks(lines):
        statements: list[Any] = []
        holders: list[Any] = []
        for det in detect_copyrights_from_lines(block, include_authors=False):
            if isinstance(det, CopyrightDetection):
                statements.append(det)
            elif isinstance(det, HolderDetection):
                holders.append(det)
        for st in statements:
            holder = next(
                (h.holder for h in holders if st.start_line <= h.start_line <= st.end_line), None
            )
            verbatim = tuple(lines[st.start_line - 1 : st.end_line])
            named = holders_named(" ".join(verbatim)) or ((holder,) if holder else ())
            notices.append(
                Notice(st.copyright, holder, st.start_line, st.end_line, verbatim, named)
            )
        notices.extend(_spdx_notices(block, {n.start_line for n in notices}))
        if len(notices) >= MAX_NOTICES_PER_FILE:
            return tuple(sorted(notices, key=lambda n: n.start_line)[:MAX_NOTICES_PER_FILE])
    return tuple(sorted(notices, key=lambda n: n.start_line))


def _spdx_notices(block: list[tuple[int, str]], found: set[int]) -> list[Notice]:
    """SPDX-FileCopyrightText lines of a block where cluecode found no statement."""
    out = []
    for number, line in block:
        m = _SPDX_COPYRIGHT.search(line)
        if m is None or number in found:
            continue
        value = m.group(1).strip().rstrip("*/").strip()
        named = holders_named(value if _PREFIX.match(value) else f"Copyright {value}")
        if not named:
            continue
        statement = value if value.lower().startswith("copyright") else f"Copyright {value}"
        out.append(Notice(statement, named[0], number, number, (line,), named, "spdx"))
    return out


# The opening of a statement: the word, its symbols and its years, in any order.
_PREFIX = re.compile(
    r"^.*?(?:\bcopyright\b|\(c\)|©)(?:\s*(?:\bcopyright\b|\(c\)|©|&copy;|"
    r"\d{4}(?:\s*[-–,]\s*(?:\d{4}|present))*\b|[,:;]))*\s*",
    re.IGNORECASE,
)
_COMMENT = re.compile(r"^[\s#/*;!%'\"-]+|[\s*/]+$")
_END = re.compile(
    r"\s*(?:\ball\s+rights(?:\s+reserved)?\b|\blicensed\s+under\b|\bspdx-).*$", re.IGNORECASE
)
_BETWEEN_HOLDERS = re.compile(r"\s*(?:,|;|&|\band/or\b|\band\b)\s*", re.IGNORECASE)
_NOT_A_NAME = {"its", "affiliates", "affiliate", "or", "and", "others", "all", "et", "al"}


def holders_named(statement: str) -> tuple[str, ...]:
    """The holders a copyright statement names, split at commas and "and" ("Meta Inc.,
    vLLM, and HuggingFace Inc. team" names three); a piece that is only a company suffix
    or "its affiliates" stays with the name before it."""
    bounded = statement[:MAX_STATEMENT_CHARS]  # a minified file's line can be megabytes
    text = " ".join(_COMMENT.sub("", part) for part in bounded.split("\n"))
    m = _PREFIX.match(text)
    if m is None:
        return ()
    rest = _END.sub("", text[m.end() :]).strip().rstrip(".,;: ")
    pieces: list[str] = []
    for piece in _BETWEEN_HOLDERS.split(rest):
        piece = piece.strip().strip(".,;: ")
        words = re.findall(r"[0-9a-z]+", piece.lower())
        if not words:
            continue
        if all(w in _SUFFIXES or w in _ARTICLES or w in _NOT_A_NAME for w in words):
            if pieces and not all(w in _NOT_A_NAME for w in words):
                pieces[-1] = f"{pieces[-1]}, {piece}"
            continue
        pieces.append(piece)
    seen: dict[str, str] = {}
    for piece in pieces:
        seen.setdefault(normalise_holder(piece), piece)
    return tuple(seen.values())


def warm_up() -> None:
    """Build cluecode's parser before workers fork, so they share it."""
    from cluecode.copyrights import detect_copyrights_from_lines

    list(detect_copyrights_from_lines([(1, "Copyright 2024 Example Org")]))


# ---- holders and origins ---------------------------------------------------------------------

_ARTICLES = {"the", "a", "an"}
_SUFFIXES = {
    "inc",
    "incorporated",
    "ltd",
    "limited",
    "llc",
    "gmbh",
    "corp",
    "corporation",
    "co",
    "team",
    "teams",
    "authors",
    "author",
    "contributors",
    "contributor",
    "all",
    "rights",
    "reserved",
    "and",
    "its",
    "affiliates",
    "affiliate",
    "company",
    "org",
    "group",
    "plc",
    "sa",
    "ag",
}


def normalise_holder(holder: str) -> str:
    """A key under which spellings of one holder meet: case, articles, punctuation and
    "Inc."/"team"/"and contributors" variants ignored ("The HuggingFace Inc. team" and
    "HuggingFace" give the same key)."""
    words = re.findall(r"[0-9a-z]+", holder.lower())
    kept = [w for w in words if w not in _ARTICLES and w not in _SUFFIXES]
    return "".join(kept or words)


@dataclass(frozen=True)
class KnownUpstream:
    """An upstream organisation and the project or model family its notices come from."""

    id: str
    organisation: str
    project: str
    usual_license: str
    hub_orgs: tuple[str, ...]
    patterns: tuple[re.Pattern[str], ...]

    @property
    def label(self) -> str:
        return f"{self.project} / {self.organisation}"

    def record(self) -> UpstreamId:
        """As the evidence of a foreign notice names it."""
        return UpstreamId(
            id=self.id,
            organisation=self.organisation,
            project=self.project,
            usual_license=self.usual_license,
        )


@cache
def origins() -> tuple[KnownUpstream, ...]:
    return tuple(
        KnownUpstream(
            id=o["id"],
            organisation=o["organisation"],
            project=o["project"],
            usual_license=o["usual_license"],
            hub_orgs=tuple(o.get("hub_orgs", ())),
            patterns=tuple(re.compile(p, re.IGNORECASE) for p in o["patterns"]),
        )
        for o in load_rules("holders")["origins"]
    )


def origins_of(holder: str) -> tuple[KnownUpstream, ...]:
    """Origins named in a holder, in the order they appear in it."""
    found: list[tuple[int, KnownUpstream]] = []
    for origin in origins():
        hits = [m.start() for p in origin.patterns if (m := p.search(holder))]
        if hits:
            found.append((min(hits), origin))
    return tuple(o for _, o in sorted(found, key=lambda t: t[0]))


def origin_of_publisher(publisher: str) -> KnownUpstream | None:
    """The origin a publisher (a Hub org or a name) belongs to, if rules/ know it."""
    low = publisher.lower()
    for origin in origins():
        if low in (h.lower() for h in origin.hub_orgs) or any(
            p.search(publisher) for p in origin.patterns
        ):
            return origin
    return None

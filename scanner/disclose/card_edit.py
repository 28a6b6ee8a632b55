"""Editing a model card (README.md) as text: the provenance keys of its front matter and the
"Provenance and licenses" section, everything else kept byte for byte.

The front matter is edited line by line, never re-dumped: another key's comments, quoting
and order stay as the publisher wrote them. Each key set is one block (the key's line and
its indented or `- ` continuation lines), replaced in place or added before the closing
`---`. The result is parsed again and must hold exactly the intended values and the same
other keys; anything the editor cannot do safely is a CardConflict, and nothing is written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml

from ..card import PROVENANCE_BEGIN, PROVENANCE_END, card_from_mapping, parse_card
from ..errors import SourceError, UsageError
from ..model import CardData
from .model import METADATA_KEYS, CardMetadata

SECTION_BEGIN, SECTION_END = PROVENANCE_BEGIN, PROVENANCE_END
_KEY = re.compile(r"([A-Za-z_][\w.\-]*)[ \t]*:(?:[ \t]|$)")
_CONFLICT = re.compile(r"^(<<<<<<<|>>>>>>>)( |$)|^=======$", re.MULTILINE)


class CardConflict(UsageError):
    """The card cannot be edited safely (unparseable front matter, conflict markers...)."""


@dataclass(frozen=True)
class SplitCard:
    """A card cut at its front matter: head + front matter lines + closing line + body."""

    head: str
    """The BOM, if any, and the opening `---` line."""
    front: list[str]
    """The front matter's lines, each with its line ending."""
    close: str
    body: str


def newline_of(text: str) -> str:
    first = text.split("\n", 1)[0]
    return "\r\n" if first.endswith("\r") else "\n"


def split_card(text: str) -> SplitCard | None:
    """The card's parts; None when it has no front matter. A front matter that opens and
    never closes is a conflict."""
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].lstrip("\ufeff").strip() != "---":
        return None
    for i in range(1, len(lines)):
        if lines[i].strip() in ("---", "..."):
            return SplitCard(
                head=lines[0],
                front=lines[1:i],
                close=lines[i],
                body="".join(lines[i + 1 :]),
            )
    raise CardConflict("the card's front matter opens with '---' but never closes")


def check_editable(text: str) -> None:
    """Refuse a card with merge-conflict markers or a front matter provscan cannot parse."""
    if _CONFLICT.search(text):
        raise CardConflict("the card has unresolved merge-conflict markers")
    split_card(text)
    try:
        parse_card(text)
    except SourceError as exc:
        raise CardConflict(f"the card cannot be edited: {exc}") from exc


# ---- front matter --------------------------------------------------------------------------


def _blocks(front: list[str]) -> dict[str, list[tuple[int, int]]]:
    """key -> [(first line, end line exclusive)] of each top-level key's block."""
    out: dict[str, list[tuple[int, int]]] = {}
    i = 0
    while i < len(front):
        m = _KEY.match(front[i])
        if not m:
            i += 1
            continue
        end = j = i + 1
        while j < len(front):
            line = front[j]
            if line.strip() == "":
                j += 1
                continue
            if line[0] in " \t" or line.startswith("-"):
                j += 1
                end = j
                continue
            break
        out.setdefault(m.group(1), []).append((i, end))
        i = end
    return out


def _yaml_lines(key: str, value: str | list[str], nl: str) -> list[str]:
    dumped = yaml.safe_dump(
        {key: value}, sort_keys=False, allow_unicode=True, default_flow_style=False, width=4096
    )
    return [line + nl for line in dumped.splitlines()]


def set_front_matter(text: str, proposed: CardMetadata) -> str:
    """The card with its provenance keys set to `proposed` (None removes a key); a card
    without front matter gets one."""
    nl = newline_of(text)
    split = split_card(text)
    if split is None:
        bom = "\ufeff" if text.startswith("\ufeff") else ""
        split = SplitCard(head=bom + "---" + nl, front=[], close="---" + nl, body=text[len(bom) :])
    front = list(split.front)
    blocks = _blocks(front)
    for key in METADATA_KEYS:
        if len(blocks.get(key, [])) > 1:
            raise CardConflict(f"the card's front matter declares {key} twice")
    current = card_from_mapping(_values(split.front))
    edits: list[tuple[int, int, list[str]]] = []
    appended: list[str] = []
    for key in METADATA_KEYS:
        value = proposed.value(key)
        if _same(key, current, proposed):
            continue
        lines = [] if value is None else _yaml_lines(key, value, nl)
        if key in blocks:
            start, end = blocks[key][0]
            edits.append((start, end, lines))
        else:
            appended += lines
    for start, end, lines in sorted(edits, reverse=True):
        front[start:end] = lines
    if appended and front and not front[-1].endswith(("\n", "\r")):
        front[-1] += nl
    front += appended
    result = split.head + "".join(front) + split.close + split.body
    _verify(split.front, result, proposed)
    return result


def _values(front: list[str]) -> dict[str, Any]:
    if not front:
        return {}
    data = yaml.safe_load("".join(front))
    return data if isinstance(data, dict) else {}


def _same(key: str, current: CardData, proposed: CardMetadata) -> bool:
    """Whether the card already holds the value (as its own parser reads it: a list of one
    base model is that base model), so its line is left as written."""
    return bool(getattr(current, key) == getattr(proposed, key))


def _verify(old_front: list[str], result: str, proposed: CardMetadata) -> None:
    """The edited card must parse, hold the proposed values and keep every other key."""
    try:
        card = parse_card(result)
    except SourceError as exc:
        raise CardConflict(f"the edited front matter would not parse: {exc}") from exc
    got = CardMetadata(
        license=card.license,
        license_name=card.license_name,
        license_link=card.license_link,
        base_model=tuple(card.base_model),
        base_model_relation=card.base_model_relation,
    )
    if got != proposed:
        raise CardConflict("the front matter could not be edited safely (values differ)")
    split = split_card(result)
    new_keys = set(_values(split.front)) if split else set()
    old_keys = set(_values(old_front))
    if (new_keys ^ old_keys) - set(METADATA_KEYS):
        raise CardConflict("the front matter could not be edited safely (other keys moved)")


# ---- the section ---------------------------------------------------------------------------


def put_section(text: str, section: str) -> str:
    """The card with the section between its markers: replaced where the markers are,
    appended after the card's last line otherwise."""
    nl = newline_of(text)
    block = SECTION_BEGIN + nl + section.rstrip("\n").replace("\n", nl) + nl + SECTION_END + nl
    begins, ends = text.count(SECTION_BEGIN), text.count(SECTION_END)
    if (begins, ends) == (1, 1) and text.index(SECTION_BEGIN) < text.index(SECTION_END):
        start = text.index(SECTION_BEGIN)
        end = text.index(SECTION_END) + len(SECTION_END)
        if text.startswith(nl, end):
            end += len(nl)
        return text[:start] + block + text[end:]
    if begins or ends:
        raise CardConflict(
            f"the card has {begins} start and {ends} end marker(s) of the provenance section; "
            "leave one pair, or none"
        )
    if text and not text.endswith(("\n", "\r")):
        text += nl
    return text + (nl if text else "") + block


def updated_card(text: str, proposed: CardMetadata, section: str) -> str:
    """What --apply writes: the card with the proposed metadata and the section."""
    check_editable(text)
    return put_section(set_front_matter(text, proposed), section)


def front_matter_text(text: str) -> str:
    """The front matter block of a card, delimiters included ('' when it has none)."""
    split = split_card(text)
    if split is None:
        return ""
    return split.head + "".join(split.front) + split.close

"""Text from a release written into Markdown so that it stays text: names and paths cannot
open a link, an image, raw HTML or a heading, notices stay verbatim in code blocks, a pipe
cannot split a table cell, control characters are shown as escapes."""

from __future__ import annotations

import re

from ..safetext import one_line

# Inline syntax: emphasis, code, links and images, raw HTML and entities, strikethrough. An
# underscore inside a word opens no emphasis (CommonMark): left as is, so names read well.
_INLINE = re.compile(r"([\\`*\[\]<>~&])|(?<![0-9A-Za-z])_|_(?![0-9A-Za-z])")
# What starts a block when it begins a line: a heading, a bullet, a quote, a setext or
# thematic line, or an ordered list item (its punctuation is what to escape).
_BLOCK_MARK = re.compile(r"^[#+\-=>]")
_ORDERED = re.compile(r"^(\d{1,9})([.)])")
_BACKTICKS = re.compile(r"`+")


def text(value: object) -> str:
    """Plain inline text, within a line."""
    return _INLINE.sub(lambda m: "\\" + m.group(), one_line(value))


def line(value: object) -> str:
    """Plain inline text that begins a line (or a list item): it cannot start a block."""
    out = _BLOCK_MARK.sub(lambda m: "\\" + m.group(), text(value))
    return _ORDERED.sub(r"\1\\\2", out)


def _longest_run(value: str) -> int:
    return max((len(m.group()) for m in _BACKTICKS.finditer(value)), default=0)


def code(value: object) -> str:
    """An inline code span holding `value` verbatim (one line)."""
    s = one_line(value)
    fence = "`" * (_longest_run(s) + 1)
    pad = " " if s.startswith("`") or s.endswith("`") or not s.strip() else ""
    return f"{fence}{pad}{s}{pad}{fence}"


def cell(value: str) -> str:
    """Markdown made safe for a table cell: every pipe escaped (GFM unescapes them first,
    inside code spans too)."""
    return re.sub(r"(?<!\\)\|", r"\\|", value)


def fence(lines: tuple[str, ...] | list[str] | str, indent: int = 0) -> str:
    """A fenced code block holding the lines verbatim, indented to sit in a list item."""
    if isinstance(lines, str):
        lines = lines.splitlines()
    shown = [one_line(line) for line in lines] or [""]
    mark = "`" * max(3, max(_longest_run(s) for s in shown) + 1)
    pad = " " * indent
    return "\n".join([f"{pad}{mark}text", *(f"{pad}{s}" for s in shown), f"{pad}{mark}"])


def cite(ids: tuple[str, ...] | list[str]) -> str:
    """Reference markers for finding ids: `[F3, F4]` (plain text in Markdown; links in the
    HTML page)."""
    return f"[{', '.join(ids)}]" if ids else ""

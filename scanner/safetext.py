"""Text from a release (file names, card fields, notices) made safe to show on one line.

A hostile release names files with ANSI escape sequences (which rewrite a terminal's title
or screen), newlines (which forge extra report lines) or bidirectional overrides (which
make text read differently than it is). Shown text keeps every character but these, which
become visible escapes such as `\\x1b` or `\\n`.
"""

from __future__ import annotations

import re

# C0 and C1 controls, DEL, and the bidirectional marks, embeddings, overrides, isolates.
_BIDI = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_UNSAFE = re.compile(f"[\x00-\x1f\x7f-\x9f{_BIDI}]")
# The same but for line breaks and tabs, which a multi-line text (a notice) keeps.
_UNSAFE_IN_TEXT = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{_BIDI}]")


def _escape(m: re.Match[str]) -> str:
    ch = m.group()
    named = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(ch)
    if named:
        return named
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def one_line(text: object) -> str:
    """`text` with control and bidi characters written as visible escapes."""
    return _UNSAFE.sub(_escape, str(text))


def visible(text: str) -> tuple[str, int]:
    """`text` with control and bidi characters but line breaks and tabs written as visible
    escapes (for a document that keeps lines, such as the HTML report), and how many."""
    return _UNSAFE_IN_TEXT.subn(_escape, text)

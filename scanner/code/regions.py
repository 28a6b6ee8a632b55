"""Localized matching: where in a file the code of one upstream file is, and how much.

A port keeps some functions and rewrites the rest, so the share of the whole file says
little: 48 lines kept verbatim in a 700-line file is 7%. The matched fingerprints of one
upstream file are grouped instead into regions (runs close together on both sides), each
with its evidence (the document-frequency weights of its fingerprints: boilerplate that
many corpus files share weighs little), the lines it covers, and the function or class of
the release file it lies in. The kept lines of a declared adaptation are grouped the same
way.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .lines import KeptLine

GAP = 8
"""Matched fingerprints (or kept lines) at most this many lines apart, on both sides,
form one region."""


@dataclass(frozen=True)
class Match:
    """One target fingerprint found in the upstream file."""

    target: tuple[int, int]
    """Lines of the target k-gram."""
    upstream: tuple[int, int]
    """Lines of the upstream k-gram it was paired with."""
    weight: float
    """Its evidence (matching.py)."""
    named: bool
    """The identifiers match too."""


@dataclass
class Region:
    """A run of matches close together on both sides."""

    target: tuple[int, int]
    upstream: tuple[int, int]
    evidence: float
    matches: int
    named: int
    lines: int = 0
    """Lines of the release file covered by its matches (or kept lines)."""
    unit: str | None = None
    """The function or class of the release file it starts in ('OPTAttention.forward')."""


def _covered(spans: Sequence[tuple[int, int]]) -> int:
    """Distinct lines covered by the spans."""
    seen: set[int] = set()
    for a, b in spans:
        seen.update(range(a, b + 1))
    return len(seen)


def regions_of(matches: Sequence[Match], gap: int = GAP) -> list[Region]:
    """Group matches (in target order) into regions."""
    out: list[Region] = []
    spans: list[list[tuple[int, int]]] = []
    for m in matches:
        if out:
            r = out[-1]
            if (
                m.target[0] <= r.target[1] + gap
                and r.upstream[0] - gap <= m.upstream[0] <= r.upstream[1] + gap
            ):
                r.target = (min(r.target[0], m.target[0]), max(r.target[1], m.target[1]))
                r.upstream = (min(r.upstream[0], m.upstream[0]), max(r.upstream[1], m.upstream[1]))
                r.evidence += m.weight
                r.matches += 1
                r.named += int(m.named)
                spans[-1].append(m.target)
                continue
        out.append(Region(m.target, m.upstream, m.weight, 1, int(m.named)))
        spans.append([m.target])
    for r, s in zip(out, spans, strict=True):
        r.lines = _covered(s)
    return out


def line_regions(kept: Sequence[KeptLine], gap: int = GAP) -> list[Region]:
    """Group kept lines (in target order) into regions; `lines` counts the kept lines."""
    out: list[Region] = []
    for k in kept:
        if out:
            r = out[-1]
            if k.target <= r.target[1] + gap and r.upstream[0] - gap <= k.upstream <= (
                r.upstream[1] + gap
            ):
                r.target = (r.target[0], k.target)
                r.upstream = (min(r.upstream[0], k.upstream), max(r.upstream[1], k.upstream))
                r.lines += 1
                continue
        out.append(Region((k.target, k.target), (k.upstream, k.upstream), 0.0, 0, 0, lines=1))
    return out


def pair_matches(
    t_start: np.ndarray,
    t_end: np.ndarray,
    candidates: Sequence[np.ndarray],
    up_start: np.ndarray,
    up_end: np.ndarray,
    weights: np.ndarray,
    named: np.ndarray,
) -> list[Match]:
    """Each matched target fingerprint (in target order) with the upstream occurrence that
    continues the previous pairing (copies keep their order); `candidates[i]` are the
    indices into up_start/up_end of the upstream occurrences of fingerprint i."""
    out: list[Match] = []
    prev = 0
    for i, cand in enumerate(candidates):
        if cand.shape[0] == 0:
            continue
        j = (
            int(cand[0])
            if cand.shape[0] == 1
            else int(cand[np.argmin(np.abs(up_start[cand] - prev))])
        )
        prev = int(up_end[j])
        out.append(
            Match(
                target=(int(t_start[i]), int(t_end[i])),
                upstream=(int(up_start[j]), int(up_end[j])),
                weight=float(weights[i]),
                named=bool(named[i]),
            )
        )
    return out


# ---- functions and classes -----------------------------------------------------------------


def units_of(text: str, language: str | None) -> list[tuple[int, int, str]]:
    """(first line, last line, qualified name) of every function and class of a Python
    file, outermost first; nothing for other languages or unparsable files."""
    if language != "python":
        return []
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []
    out: list[tuple[int, int, str]] = []

    def walk(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                name = f"{prefix}{child.name}"
                first = min([child.lineno] + [d.lineno for d in child.decorator_list])
                out.append((first, child.end_lineno or child.lineno, name))
                walk(child, name + ".")

    walk(tree, "")
    return out


def name_units(regions: Sequence[Region], units: Sequence[tuple[int, int, str]]) -> None:
    """Give each region the innermost function or class it starts in."""
    for r in regions:
        inside = [u for u in units if u[0] <= r.target[0] <= u[1]]
        if inside:
            r.unit = min(inside, key=lambda u: u[1] - u[0])[2]


_IMPORT_START = re.compile(r"[ \t]*(?:import[ \t]|from[ \t]+[\w.]+[ \t]+import\b)")
_SIGNATURE_START = re.compile(r"[ \t]*(?:async[ \t]+def|def|class)[ \t]")
_STRING = re.compile(r"[rRbBuUfF]{0,2}(?:'(?:\\.|[^'\\\n])*'|\"(?:\\.|[^\"\\\n])*\")")
_BRACKETS = str.maketrans("", "", "()[]{}")
MAX_SIGNATURE_LINES = 60
"""A statement still open after this many lines is not a signature (a misread line)."""


def _code(line: str) -> str:
    """The line without its one-line string literals and its comment."""
    return _STRING.sub('""', line).split("#", 1)[0].rstrip()


def _depth(code: str) -> int:
    """Brackets opened minus closed (multi-line strings aside: close enough for signatures)."""
    kept = code.translate(_BRACKETS)
    opened = sum(code.count(c) for c in "([{")
    return opened - (len(code) - len(kept) - opened)


def signature_lines(text: str, language: str | None) -> frozenset[int]:
    """Lines of import statements and of def/class signatures (up to the colon): code that
    independently written files share by necessity, never enough on its own. Read line by
    line (an ast.parse of every target costs more than the lookup)."""
    if language != "python":
        return frozenset()
    lines: set[int] = set()
    depth, start = 0, 0
    for i, line in enumerate(text.splitlines(), 1):
        if not start:
            if not (_IMPORT_START.match(line) or _SIGNATURE_START.match(line)):
                continue
            start, depth = i, 0
        lines.add(i)
        code = _code(line)
        depth += _depth(code)
        still_open = depth > 0 or code.endswith("\\")
        if not still_open or i - start >= MAX_SIGNATURE_LINES:
            start = 0
    return frozenset(lines)

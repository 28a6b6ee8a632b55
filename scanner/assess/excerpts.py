"""The release text the reports quote, read once during the assessment and bounded: the
lines around each foreign notice, the heads of copied files and of their upstream, what
config.json says of the model. Formats render these; they never read the release."""

from __future__ import annotations

import json
import re

from ..card import find_card, split_front_matter
from ..snapshot import Snapshot
from .model import Assessment, CopyHeads, Excerpt, Excerpts, ModelConfig
from .release import read_text
from .upstream import upstream_text

CONTEXT_LINES = 2
"""Lines quoted before and after a notice."""
MAX_EXCERPT_LINES = 30
"""Lines quoted from the start of a notice, at most."""
HEAD_LINES = 60
"""Lines quoted from the top of a copied file and of its upstream."""
MAX_LINE_CHARS = 1000
MAX_NOTICES = 2000
"""Foreign notices quoted (a release may carry thousands; the JSON report has them all)."""
MAX_COPIES = 100
"""Copies quoted side by side (thousands of copies would make a report of hundreds of MB)."""
MAX_CONFIG_BYTES = 256 * 1024
MAX_NAME_CHARS = 120
_MODEL_NAME = re.compile(r"^model_name:\s*['\"]?(.+?)['\"]?\s*$", re.MULTILINE)
_H1 = re.compile(r"^#\s+(.+?)\s*#*\s*$")


class _Texts:
    """Release files as lines, the last one kept: a file's notices are read together."""

    def __init__(self, snapshot: Snapshot):
        self.snapshot = snapshot
        self._last: tuple[str, list[str] | None] | None = None

    def lines(self, path: str) -> list[str] | None:
        if self._last is None or self._last[0] != path:
            text = read_text(self.snapshot, path)
            self._last = (path, None if text is None else text.splitlines())
        return self._last[1]


def _cut(lines: list[str]) -> tuple[str, ...]:
    return tuple(line[:MAX_LINE_CHARS] for line in lines)


def notice_excerpts(snapshot: Snapshot, a: Assessment) -> dict[str, Excerpt]:
    """Finding id -> the lines of a foreign notice with CONTEXT_LINES around them."""
    texts = _Texts(snapshot)
    by_id = dict(a.findings)
    out: dict[str, Excerpt] = {}
    for fid in [i for o in a.origins for i in o.finding_ids][:MAX_NOTICES]:
        loc = by_id[fid].location
        if not loc.path or not loc.start_line:
            continue
        lines = texts.lines(loc.path)
        if lines is None:
            continue
        start, end = loc.start_line, loc.end_line or loc.start_line
        lo = max(1, start - CONTEXT_LINES)
        hi = min(len(lines), end + CONTEXT_LINES, start + MAX_EXCERPT_LINES)
        out[fid] = Excerpt(path=loc.path, first_line=lo, lines=_cut(lines[lo - 1 : hi]))
    return out


def copy_heads(snapshot: Snapshot, a: Assessment) -> dict[str, CopyHeads]:
    """Finding id of a copy -> the first HEAD_LINES lines of both files."""
    out = {}
    for c in a.copied[:MAX_COPIES]:
        upstream = upstream_text(c)
        out[c.finding_id] = CopyHeads(
            release=_cut((read_text(snapshot, c.path) or "").splitlines()[:HEAD_LINES]),
            upstream=None if upstream is None else _cut(upstream.splitlines()[:HEAD_LINES]),
        )
    return out


def model_config(snapshot: Snapshot) -> ModelConfig:
    """model_type and the first architecture of config.json, read bounded."""
    if snapshot.get("config.json") is None:
        return ModelConfig()
    text = read_text(snapshot, "config.json", MAX_CONFIG_BYTES)
    try:
        config = json.loads(text) if text else {}
    except (ValueError, RecursionError):  # a hostile config is no reason to fail a report
        return ModelConfig()
    if not isinstance(config, dict):
        return ModelConfig()
    archs = config.get("architectures")
    model_type = config.get("model_type")
    return ModelConfig(
        model_type=model_type if isinstance(model_type, str) else None,
        architecture=archs[0]
        if isinstance(archs, list) and archs and isinstance(archs[0], str)
        else None,
    )


def _plain_name(text: str) -> str | None:
    name = re.sub(r"^model card (for|of)\s+", "", text.strip(), flags=re.IGNORECASE)
    name = name.strip("*_` ").strip()
    return name[:MAX_NAME_CHARS] or None


def card_model_name(snapshot: Snapshot) -> str | None:
    """The model's name as its card gives it: `model_name` in the front matter, else the
    card's first level-1 heading (a "Model Card for X" heading names X); None without."""
    card = find_card(snapshot.files)
    text = read_text(snapshot, card.path, MAX_CONFIG_BYTES) if card else None
    if not text:
        return None
    front = split_front_matter(text)
    if front is not None:
        found = _MODEL_NAME.search(front)
        if found and _plain_name(found.group(1)):
            return _plain_name(found.group(1))
        text = text.split(front, 1)[1]
    fenced = False
    for line in text.splitlines()[:400]:
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
        heading = None if fenced else _H1.match(line)
        if heading:
            return _plain_name(heading.group(1))
    return None


def gather_excerpts(snapshot: Snapshot, a: Assessment) -> Excerpts:
    return Excerpts(
        notices=notice_excerpts(snapshot, a),
        copies=copy_heads(snapshot, a),
        config=model_config(snapshot),
        model_name=card_model_name(snapshot),
    )

"""The targets file: one target a line (any form `scan` takes), `#` comments, blanks ignored."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from ..errors import ProvscanError

MAX_TARGETS = 1_000_000
MAX_LINE = 4096
MAX_FILE_BYTES = 256 * 1024 * 1024


class BatchError(ProvscanError):
    """A batch that cannot start (no targets file, unreachable scheduler, bad option)."""


def read_targets(path: Path) -> tuple[str, ...]:
    """The file's targets in order, each once."""
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise BatchError(f"{path}: larger than {MAX_FILE_BYTES} bytes")
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise BatchError(f"{path}: cannot read the targets file ({exc.strerror or exc})") from exc
    seen: dict[str, None] = {}
    for number, line in enumerate(text.splitlines(), 1):
        target = line.strip()
        if not target or target.startswith("#"):
            continue
        if len(target) > MAX_LINE or not target.isprintable():
            raise BatchError(f"{path}:{number}: not a target (control characters or too long)")
        seen.setdefault(target, None)
        if len(seen) > MAX_TARGETS:
            raise BatchError(f"{path}: more than {MAX_TARGETS} targets")
    if not seen:
        raise BatchError(f"{path}: no target in the file")
    return tuple(seen)


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def slug(target: str) -> str:
    """The folder of a target's reports: readable, safe on every file system, unique."""
    digest = hashlib.sha256(target.encode()).hexdigest()[:10]
    words = _UNSAFE.sub("_", target.removeprefix("hf:")).strip("._-")[-60:].lstrip("._-")
    return f"{words or 'target'}-{digest}"

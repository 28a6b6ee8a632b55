"""Bounded, failure-tolerant reads of the release's own text files (NOTICE, README, code)."""

from __future__ import annotations

from fnmatch import fnmatchcase

from ..errors import ProvscanError
from ..model import FileKind
from ..snapshot import Snapshot

MAX_READ = 512 * 1024


def read_text(snapshot: Snapshot, path: str, limit: int = MAX_READ) -> str | None:
    """The file's text, or None when it cannot be read (absent, too large, unreadable)."""
    try:
        return snapshot.reader.read_text(path, limit)
    except (ProvscanError, OSError, ValueError):
        return None


def files_of_kind(snapshot: Snapshot, *kinds: FileKind) -> list[str]:
    return [f.path for f in snapshot.files if f.kind in kinds]


def notice_files(snapshot: Snapshot) -> list[str]:
    return [
        p
        for p in files_of_kind(snapshot, FileKind.NOTICE)
        if p.rsplit("/", 1)[-1].upper().startswith(("NOTICE", "THIRD", "ATTRIBUTION"))
    ]


def texts_matching(snapshot: Snapshot, globs: list[str] | tuple[str, ...]) -> dict[str, str]:
    """path -> text for the release files whose name or path matches one of the globs."""
    out: dict[str, str] = {}
    for f in snapshot.files:
        name = f.path.rsplit("/", 1)[-1]
        if any(
            fnmatchcase(name.lower(), g.lower()) or fnmatchcase(f.path.lower(), g.lower())
            for g in globs
        ):
            text = read_text(snapshot, f.path)
            if text is not None:
                out[f.path] = text
    return out


def release_name(snapshot: Snapshot) -> str:
    """The model's name as published: Hub repo name, else the folder / repository name."""
    name = snapshot.info.get("name") if isinstance(snapshot.info, dict) else None
    if isinstance(name, str) and name:
        return name.rsplit("/", 1)[-1]
    target = snapshot.target
    if target.startswith("hf:"):
        target = target[3:]
    target = target.split("@", 1)[0].rstrip("/")
    return target.rsplit("/", 1)[-1] or target

"""Sources: local folders, git repositories, Hugging Face Hub repositories."""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import SourceError
from ..snapshot import Progress, SilentProgress, Snapshot
from .interface import Source, split_revision

# URLs, scp-like 'user@host:path', and '<transport>::<address>' (refused by the git source).
_GIT_URL = re.compile(r"^(https?|git|ssh|file)://|^[\w.-]+@[\w.-]+:|^[A-Za-z0-9][\w+.-]*::")


def source_for(target: str) -> tuple[Source, str]:
    """Pick the source for a target string; returns it with the spec it should open."""
    if target.startswith("-"):
        raise SourceError(f"{target}: a target cannot start with '-'")
    if target.startswith("hf:"):
        from .hub import HubSource

        return HubSource(), target[3:]
    if target.startswith("git+"):
        from .git import GitSource

        return GitSource(), target[4:]
    if _GIT_URL.match(target):
        from .git import GitSource

        return GitSource(), target
    path, rev = split_revision(target)
    if rev is not None and Path(path).expanduser().exists():
        from .git import GitSource

        return GitSource(), target
    from .local import LocalSource

    return LocalSource(), target


def open_target(
    target: str, *, offline: bool = False, progress: Progress | None = None
) -> Snapshot:
    if not target:
        raise SourceError("empty target")
    source, spec = source_for(target)
    return source.open(spec, offline=offline, progress=progress or SilentProgress())


__all__ = ["open_target", "source_for", "Snapshot", "Source", "Progress", "SilentProgress"]

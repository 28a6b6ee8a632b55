"""A release at one revision, and how every layer reads it.

Sources build a Snapshot (sources/), analyzers read it (code/, weights/), the assessment
and the report stage read a few bounded excerpts of it (assess/). The types live here, not
in sources/, because every layer uses them; so does the one path-safety check.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from .errors import SourceError
from .model import CardData, FileEntry, FileKind, Finding

# A text file analyzers would read whole beyond this size is not something we read blindly.
MAX_TEXT_BYTES = 8 * 1024 * 1024


class Progress(Protocol):
    """Progress of a long step (clone, download, hashing); the CLI shows it (console.py).

    `unit` says what `total` and `advance` count: "files" (the default), "bytes", or any
    plural noun; the display writes counts as counts and bytes as sizes."""

    @contextmanager
    def task(
        self, description: str, total: float | None = None, unit: str = "files"
    ) -> Iterator[Any]: ...

    def advance(self, handle: Any, amount: float = 1) -> None: ...


class SilentProgress:
    """The default: long steps report nothing."""

    @contextmanager
    def task(
        self, description: str, total: float | None = None, unit: str = "files"
    ) -> Iterator[None]:
        yield None

    def advance(self, handle: Any, amount: float = 1) -> None:
        return None


class ContentReader(ABC):
    """Lazy, bounded access to the content of a snapshot's files."""

    @abstractmethod
    def read_range(self, path: str, start: int, length: int) -> bytes:
        """Bytes [start, start+length) of a file (fewer at its end)."""

    @abstractmethod
    def local_path(self, path: str) -> Path:
        """A local file with the content (downloaded or extracted if need be)."""

    def remote_size(self, path: str) -> int | None:
        """The declared size of a file that is not at hand but can be read by ranges
        (read_range) instead of downloaded; None: read it through local_path."""
        return None

    def remote_range(self, path: str, start: int, length: int) -> bytes:
        """A byte range of a file read by ranges (remote_size): read_range, except that a
        source may refuse a server that answers with whole files."""
        return self.read_range(path, start, length)

    def read_bytes(self, path: str, limit: int = MAX_TEXT_BYTES) -> bytes:
        """The whole file, refusing files larger than `limit`."""
        data = self.read_range(path, 0, limit + 1)
        if len(data) > limit:
            raise SourceError(f"{path}: larger than the {limit} byte limit for whole reads")
        return data

    def read_text(self, path: str, limit: int = MAX_TEXT_BYTES) -> str:
        return self.read_bytes(path, limit).decode("utf-8", errors="replace")


@dataclass(frozen=True)
class Snapshot:
    """A release at one revision: what is in it, what it declares, how to read it."""

    target: str
    """The target as the user gave it."""
    source: str
    """local, git or hf."""
    revision: str | None
    """Resolved revision (a commit sha) where the source has one."""
    files: tuple[FileEntry, ...]
    reader: ContentReader = field(repr=False, compare=False)
    card: CardData | None = None
    """Metadata declared by the model card / Hub."""
    problems: tuple[Finding, ...] = ()
    """Files the source itself could not read or refused (symlink out of tree, ...)."""
    info: dict[str, Any] = field(default_factory=dict, compare=False)
    """Source-specific facts worth reporting (Hub sha, git ref, safetensors headers)."""

    def by_kind(self, *kinds: FileKind) -> tuple[FileEntry, ...]:
        return tuple(f for f in self.files if f.kind in kinds)

    def get(self, path: str) -> FileEntry | None:
        for f in self.files:
            if f.path == path:
                return f
        return None


# ---- path safety: the one check every reader of a folder goes through ----------------------


def is_release_path(path: object) -> bool:
    """A relative POSIX path that a checkout would create below its root: not absolute, no
    '', '.', '..' or '.git' part, no backslash. Paths from elsewhere (Hub metadata, a JSON
    report, a corpus) must pass this before they are joined to a folder."""
    if not isinstance(path, str) or not path:
        return False
    return (
        not path.startswith("/")
        and "\\" not in path
        and all(p not in ("", ".", "..") and p.lower() != ".git" for p in path.split("/"))
    )


def resolve_inside(root: Path, path: Path) -> Path | None:
    """The real file `path` stands for, symlinks followed, when it exists and stays inside
    `root` (itself resolved); None when it dangles, loops or leaves the root."""
    try:
        real = path.resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    return real if real.is_relative_to(root.resolve()) else None

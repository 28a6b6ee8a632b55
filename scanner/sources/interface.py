"""The source interface: where a release's files come from.

A source turns a target string into a Snapshot: the classified file list, the card
metadata, and a ContentReader through which analyzers read content lazily (a git blob, a
Hub range request, a local file), so nothing is fetched that no analyzer needs.
"""

from __future__ import annotations

import hashlib
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ..classify import HEAD_BYTES, classify
from ..errors import SourceError
from ..model import CardData, FileEntry, FileKind, Finding, LfsPointer, TensorInfo
from ..weights.formats.safetensors_header import parse_header

# Bounds on hostile input. A release with more files, or a text file analyzers would read
# whole beyond this size, is not something we read blindly.
MAX_FILES = 200_000
MAX_TEXT_BYTES = 8 * 1024 * 1024


_READ_CHUNK = 1 << 20


def file_chunks(path: Path) -> Iterator[bytes]:
    """A local file's content in 1 MiB pieces."""
    with open(path, "rb") as fh:
        while chunk := fh.read(_READ_CHUNK):
            yield chunk


def hashed_entry(path: str, chunks: Iterable[bytes], progress: Progress, handle: Any,
                 lfs: LfsPointer | None = None) -> FileEntry:
    """One pass over a file's content gives its sha256, its size and the head that
    classification reads; every source builds its entries this way."""
    digest = hashlib.sha256()
    head = b""
    size = 0
    for chunk in chunks:
        if len(head) < HEAD_BYTES:
            head += chunk[:HEAD_BYTES - len(head)]
        digest.update(chunk)
        size += len(chunk)
        progress.advance(handle, len(chunk))
    c = classify(path, head, size)
    return FileEntry(path=path, size=size, sha256=digest.hexdigest(), kind=c.kind,
                     language=c.language, weight_format=c.weight_format, lfs=c.lfs or lfs)


class Progress(Protocol):
    """Progress of a long step (clone, download, hashing); the CLI shows it with rich."""

    @contextmanager
    def task(self, description: str, total: float | None = None) -> Iterator[Any]: ...

    def advance(self, handle: Any, amount: float = 1) -> None: ...


class SilentProgress:
    """The default: long steps report nothing."""

    @contextmanager
    def task(self, description: str, total: float | None = None) -> Iterator[None]:
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

    def read_bytes(self, path: str, limit: int = MAX_TEXT_BYTES) -> bytes:
        """The whole file, refusing files larger than `limit`."""
        data = self.read_range(path, 0, limit + 1)
        if len(data) > limit:
            raise SourceError(f"{path}: larger than the {limit} byte limit for whole reads")
        return data

    def read_text(self, path: str, limit: int = MAX_TEXT_BYTES) -> str:
        return self.read_bytes(path, limit).decode("utf-8", errors="replace")

    def safetensors_header(self, path: str) -> tuple[TensorInfo, ...]:
        """Tensor names, dtypes and shapes from a safetensors header, by two range reads."""
        return tuple(TensorInfo(t.name, t.dtype, t.shape) for t in parse_header(
            lambda s, n: self.read_range(path, s, n), path, error=SourceError))


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


class Source(ABC):
    """Opens one kind of target."""

    name: str

    @abstractmethod
    def open(self, spec: str, *, offline: bool, progress: Progress) -> Snapshot:
        """Open the target `spec` (already stripped of any scheme prefix)."""


_URL_AUTHORITY_ONLY = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/]*$")


def split_revision(spec: str) -> tuple[str, str | None]:
    """'thing@rev' -> ('thing', 'rev').

    The '@' of 'git@host:path' or 'https://user@host/path' is not a revision: git ref names
    cannot contain ':', and a URL's user part comes before any path.
    """
    head, sep, rev = spec.rpartition("@")
    if not sep or not head or not rev or ":" in rev or _URL_AUTHORITY_ONLY.match(head):
        return spec, None
    return head, rev


_SURROGATE = re.compile("[\ud800-\udfff]")


def _escape_surrogate(m: re.Match[str]) -> str:
    code = ord(m.group())
    # 0xDC80-0xDCFF: an undecodable byte, as os and git hand it over (surrogateescape).
    return f"\\x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else f"\\u{code:04x}"


def clean_path(path: str) -> str:
    """A release path as valid Unicode. A file name that is not UTF-8 reaches Python with
    lone surrogates, which no report can encode: they are written as escapes ("\\xff")."""
    return _SURROGATE.sub(_escape_surrogate, path)


def fail_if_too_many(count: int, target: str) -> None:
    if count > MAX_FILES:
        raise SourceError(f"{target}: more than {MAX_FILES} files; refusing to scan blindly")

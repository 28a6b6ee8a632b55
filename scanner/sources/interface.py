"""The source interface: where a release's files come from.

A source turns a target string into a Snapshot (scanner/snapshot.py): the classified file
list, the card metadata, and a ContentReader through which analyzers read content lazily (a
git blob, a Hub range request, a local file), so nothing is fetched that no analyzer needs.
"""

from __future__ import annotations

import hashlib
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..classify import HEAD_BYTES, classify
from ..errors import SourceError
from ..model import FileEntry, LfsPointer, TensorInfo
from ..snapshot import Progress, Snapshot
from ..weights.formats.safetensors_header import parse_header
from .limits import current_limits


@dataclass(frozen=True)
class Hashed:
    """What one pass over a file's content gives: what classification and the entry need."""

    sha256: str
    size: int
    head: bytes
    """The first HEAD_BYTES (all of a file no larger)."""


def hash_chunks(chunks: Iterable[bytes], progress: Progress, handle: Any) -> Hashed:
    digest = hashlib.sha256()
    head = b""
    size = 0
    for chunk in chunks:
        if len(head) < HEAD_BYTES:
            head += chunk[: HEAD_BYTES - len(head)]
        digest.update(chunk)
        size += len(chunk)
        progress.advance(handle, len(chunk))
    return Hashed(digest.hexdigest(), size, head)


def entry_of(path: str, hashed: Hashed, lfs: LfsPointer | None = None) -> FileEntry:
    """The classified entry of a file whose content was hashed (under any path: the same
    content at two paths is hashed once)."""
    c = classify(path, hashed.head, hashed.size)
    return FileEntry(
        path=path,
        size=hashed.size,
        sha256=hashed.sha256,
        kind=c.kind,
        language=c.language,
        weight_format=c.weight_format,
        lfs=c.lfs or lfs,
    )


def hashed_entry(
    path: str,
    chunks: Iterable[bytes],
    progress: Progress,
    handle: Any,
    lfs: LfsPointer | None = None,
) -> FileEntry:
    """One pass over a file's content gives its sha256, its size and the head that
    classification reads; every source builds its entries this way."""
    return entry_of(path, hash_chunks(chunks, progress, handle), lfs)


def parse_safetensors_header(read: Any, path: str) -> tuple[TensorInfo, ...]:
    """Tensor names, dtypes and shapes of a safetensors file given read(start, length) ->
    bytes (two range reads of a remote file): the weights' own header parser, its refusals
    as SourceError."""
    return tuple(
        TensorInfo(t.name, t.dtype, t.shape) for t in parse_header(read, path, error=SourceError)
    )


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
    """A release with more files than the limit is not something we read blindly."""
    limit = current_limits().max_files
    if count > limit:
        raise SourceError(
            f"{target}: more than {limit} files; refusing to scan blindly "
            "(raise the limit with --max-files)"
        )

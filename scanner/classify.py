"""Classification of release files into kinds, from names (rules/file_kinds.toml) and
the first bytes of content (LFS pointers, weight magic numbers)."""

from __future__ import annotations

import fnmatch
import posixpath
import re
from dataclasses import dataclass
from functools import cache

from .model import FileKind, LfsPointer
from .rules import load_rules

LFS_SPEC = b"version https://git-lfs.github.com/spec/"
# Pointer files are small by specification (< 1024 bytes); anything larger is content.
LFS_POINTER_MAX = 1024
HEAD_BYTES = LFS_POINTER_MAX
_LFS_OID = re.compile(rb"^oid sha256:([0-9a-f]{64})$", re.M)
_LFS_SIZE = re.compile(rb"^size (\d+)$", re.M)


@dataclass(frozen=True)
class Classification:
    kind: FileKind
    language: str | None = None
    weight_format: str | None = None
    lfs: LfsPointer | None = None


@dataclass(frozen=True)
class _Pattern:
    kind: FileKind
    pattern: str
    whole_path: bool


@cache
def _patterns() -> tuple[_Pattern, ...]:
    rules = load_rules("file_kinds")
    out = []
    for name in rules["order"]:
        for pat in rules["kinds"][name]["patterns"]:
            out.append(_Pattern(FileKind(name), pat.lower(), "/" in pat))
    return tuple(out)


def parse_lfs_pointer(head: bytes) -> LfsPointer | None:
    """Return the pointer if `head` (the whole file) is a Git LFS pointer."""
    if not head.startswith(LFS_SPEC) or len(head) > LFS_POINTER_MAX:
        return None
    oid = _LFS_OID.search(head)
    size = _LFS_SIZE.search(head)
    if not oid or not size:
        return None
    return LfsPointer(oid=oid.group(1).decode(), size=int(size.group(1)))


def _extension(path: str) -> str:
    return posixpath.splitext(path)[1].lower()


def weight_format_of(path: str, head: bytes = b"") -> str | None:
    """Weight format from magic bytes where they are unambiguous, else from the extension."""
    if head[:4] == b"GGUF":
        return "gguf"
    fmt = load_rules("file_kinds")["weight_formats"].get(_extension(path))
    if fmt == "pickle" and head[:2] == b"PK":
        return "pickle"  # torch zip checkpoint: still pickle inside
    return fmt


def classify(path: str, head: bytes = b"", size: int | None = None) -> Classification:
    """Classify a file by its path and, where given, its first bytes.

    `head` is at most HEAD_BYTES of the file's start; for files no larger than that it is
    the whole file, which is what recognising an LFS pointer needs.
    """
    if size is not None and size <= LFS_POINTER_MAX:
        pointer = parse_lfs_pointer(head)
        if pointer is not None:
            return Classification(
                FileKind.LFS_POINTER, lfs=pointer, weight_format=weight_format_of(path)
            )
    lower = path.lower()
    name = posixpath.basename(lower)
    ext = _extension(lower)
    language = load_rules("file_kinds")["languages"].get(ext)
    if head[:4] == b"GGUF":
        return Classification(FileKind.WEIGHTS, weight_format="gguf")
    for pat in _patterns():
        subject = lower if pat.whole_path else name
        if fnmatch.fnmatchcase(subject, pat.pattern):
            if pat.kind is FileKind.WEIGHTS:
                return Classification(pat.kind, weight_format=weight_format_of(path, head))
            if language and pat.kind not in (FileKind.LICENSE, FileKind.NOTICE):
                break  # a .py file is code whatever its name says
            return Classification(pat.kind)
    if language:
        return Classification(FileKind.CODE, language=language)
    return Classification(FileKind.OTHER)

"""A revision's tree: listed as a stream and bounded, its symlinks followed inside the tree
only, its unsafe paths refused, each blob hashed once whatever the number of its paths
(a tree bomb of 10^8 paths fits in a few hundred bytes of objects)."""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

from ..errors import SourceError
from ..model import FileEntry, FileKind, Finding, not_analysed
from ..snapshot import Progress
from .gitcache import stream_blob
from .interface import Hashed, clean_path, entry_of, fail_if_too_many, hash_chunks

_CHUNK = 1 << 20
_MAX_SYMLINK_HOPS = 8
# One record of `git ls-tree -z` longer than this is no real path (PATH_MAX is 4096).
_MAX_TREE_RECORD = 1 << 20
_MODE_SUBMODULE = "160000"
_MODE_SYMLINK = "120000"


@dataclass(frozen=True)
class TreeEntry:
    """One entry of `git ls-tree -r`."""

    mode: str
    kind: str
    oid: str
    path: str


def list_tree(repo: object, commit: str) -> list[TreeEntry]:
    """Every entry of the revision's tree, read as git writes them and stopped at the file
    limit: a tree of 10^8 paths fits in a few hundred bytes of objects."""
    proc = repo.git.ls_tree(  # type: ignore[attr-defined]
        "-r", "-z", "--full-tree", commit, as_process=True
    )
    out: list[TreeEntry] = []
    try:
        for record in _records(proc.proc.stdout):
            meta, _, raw_path = record.partition(b"\t")
            mode, kind, oid = meta.decode("ascii", errors="replace").split()
            out.append(TreeEntry(mode, kind, oid, raw_path.decode("utf-8", "surrogateescape")))
            fail_if_too_many(len(out), commit)
        stderr = proc.proc.stderr.read(4096)
        if proc.proc.wait() != 0:
            why = stderr.decode("utf-8", "replace").strip().splitlines()
            raise SourceError(f"cannot list the tree of {commit}: {why[0] if why else '?'}")
    finally:
        if proc.proc.poll() is None:
            proc.proc.kill()
            proc.proc.wait()
    return out


def _records(stream: IO[bytes]) -> Iterator[bytes]:
    """NUL-terminated records of a stream, each bounded."""
    pending = b""
    while chunk := stream.read(_CHUNK):
        pending += chunk
        *records, pending = pending.split(b"\0")
        yield from (r for r in records if r)
        if len(pending) > _MAX_TREE_RECORD:
            raise SourceError("a git tree entry longer than any real path; refused")
    if pending:
        yield pending


# The longest target a symlink can have on Linux (PATH_MAX); a crafted tree may give one a
# blob of gigabytes, which must not be read into memory.
_MAX_LINK_BYTES = 4096


def _read_link(repo: object, oid: str) -> bytes | None:
    """A symlink blob's target, or None when it is longer than any real one."""
    head = b""
    size = 0
    for chunk in stream_blob(repo, oid):  # read to its end: the cat-file pipe is shared
        size += len(chunk)
        if len(head) <= _MAX_LINK_BYTES:
            head += chunk[: _MAX_LINK_BYTES + 1 - len(head)]
    return head if size <= _MAX_LINK_BYTES else None


def _follow_links(
    entry: TreeEntry,
    by_path: dict[str, TreeEntry],
    missing: set[str],
    repo: object,
    links: dict[str, bytes | None],
) -> tuple[TreeEntry | None, str]:
    """The blob a (chain of) symlink(s) leads to inside the tree, or why there is none.

    Links are resolved within the tree only: an absolute target or one climbing above
    the root is never followed, whatever it would point to on this machine.
    """
    current = entry
    for _ in range(_MAX_SYMLINK_HOPS):
        if current.mode != _MODE_SYMLINK:
            return current, ""
        if current.oid in missing:
            return None, "content not in the clone cache (offline)"
        if current.oid not in links:
            links[current.oid] = _read_link(repo, current.oid)
        raw = links[current.oid]
        if raw is None:
            return None, "symlink target longer than a path can be; not followed"
        text = raw.decode("utf-8", errors="replace")
        joined = posixpath.normpath(posixpath.join(posixpath.dirname(current.path), text))
        if text.startswith("/") or not safe_tree_path(joined):
            return None, "symlink points outside the release; not followed"
        target = by_path.get(joined)
        if target is None or target.mode == _MODE_SUBMODULE:
            return None, "symlink to a folder, a submodule or nothing; not followed"
        current = target
    return None, "symlink chain too long or looping; not followed"


def safe_tree_path(path: str) -> bool:
    """A release-relative path a checkout would create: no '', '.', '..' or '.git' part."""
    return (
        bool(path)
        and "\\" not in path
        and all(p not in ("", ".", "..") and p.lower() != ".git" for p in path.split("/"))
    )


def inventory(
    repo: object, entries: list[TreeEntry], missing: set[str], progress: Progress
) -> tuple[tuple[FileEntry, ...], dict[str, str], list[Finding]]:
    by_path = {e.path: e for e in entries}
    files: list[FileEntry] = []
    blobs: dict[str, str] = {}
    problems: list[Finding] = []
    # One blob under many paths (a tree bomb's way) is read and hashed once.
    hashed: dict[str, Hashed] = {}
    links: dict[str, bytes | None] = {}
    with progress.task("hashing files", unit="bytes") as handle:
        for entry in entries:
            if not safe_tree_path(entry.path):
                # A crafted tree (git fsck would refuse it, a fetch does not check by
                # default) must not give a report a path that climbs out of the release.
                problems.append(
                    not_analysed(
                        None,
                        f"unsafe path {clean_path(entry.path[:200])!r} in the git tree "
                        "('..', '.git' or absolute); refused",
                        "source",
                    )
                )
                continue
            path = clean_path(entry.path)  # what reports show: valid Unicode
            if entry.mode == _MODE_SUBMODULE:
                files.append(
                    FileEntry(
                        path=path, size=0, sha256=None, kind=FileKind.SUBMODULE, target=entry.oid
                    )
                )
                continue
            blob, why = _follow_links(entry, by_path, missing, repo, links)
            if blob is not None and blob.oid in missing:
                blob, why = None, "content not in the clone cache (offline)"
            if blob is None:
                problems.append(not_analysed(path, why, "source"))
                continue
            if blob.oid not in hashed:
                hashed[blob.oid] = hash_chunks(stream_blob(repo, blob.oid), progress, handle)
            files.append(entry_of(path, hashed[blob.oid]))
            blobs[path] = blob.oid
    return tuple(files), blobs, problems

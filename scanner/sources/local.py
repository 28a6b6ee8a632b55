"""A release folder on disk. Symlinks are never followed out of the folder."""

from __future__ import annotations

import os
from pathlib import Path

from ..card import read_card
from ..errors import SourceError
from ..model import FileEntry, FileKind, Finding, not_analysed
from ..snapshot import ContentReader, Progress, Snapshot, resolve_inside
from .interface import (
    Source,
    clean_path,
    fail_if_too_many,
    file_chunks,
    hashed_entry,
)

# Folders that are tooling state, not release content.
_SKIP_DIRS = {".git", ".hg", ".svn", "__pycache__", ".cache"}


class FolderReader(ContentReader):
    """Reads files below a root, refusing any path that resolves outside it."""

    def __init__(self, root: Path, allowed: dict[str, Path]):
        self.root = root
        self._allowed = allowed

    def _resolve(self, path: str) -> Path:
        try:
            return self._allowed[path]
        except KeyError:
            raise SourceError(f"{path}: not a file of this release") from None

    def read_range(self, path: str, start: int, length: int) -> bytes:
        with open(self._resolve(path), "rb") as fh:
            fh.seek(start)
            return fh.read(length)

    def local_path(self, path: str) -> Path:
        return self._resolve(path)


def walk_folder(root: Path) -> tuple[dict[str, Path], list[Finding]]:
    """Map release-relative paths to real files, without leaving the tree.

    A symlink whose target stays inside the root is read as its target; one that leaves
    it (or dangles, or loops) is refused and reported.
    """
    files: dict[str, Path] = {}
    problems: list[Finding] = []
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            rel = clean_path(folder.relative_to(root).as_posix())
            problems.append(not_analysed(rel, f"folder unreadable ({exc.strerror})", "source"))
            continue
        for entry in entries:
            rel = clean_path(Path(entry.path).relative_to(root).as_posix())
            if entry.is_symlink():
                real = resolve_inside(root, Path(entry.path))
                if real is None:
                    why = (
                        "symlink points outside the release; not followed"
                        if os.path.exists(entry.path)
                        else "dangling or looping symlink"
                    )
                    problems.append(not_analysed(rel, why, "source"))
                    continue
                if real.is_file():
                    files[rel] = real
                # A symlink to a folder inside the tree is already walked as that folder.
                continue
            if entry.is_dir(follow_symlinks=False):
                if entry.name not in _SKIP_DIRS:
                    stack.append(Path(entry.path))
            elif entry.is_file(follow_symlinks=False):
                files[rel] = Path(entry.path)
            else:
                problems.append(
                    not_analysed(rel, "not a regular file (device, FIFO or socket)", "source")
                )
            fail_if_too_many(len(files), str(root))
    return files, problems


class LocalSource(Source):
    name = "local"

    def open(self, spec: str, *, offline: bool, progress: Progress) -> Snapshot:
        root = Path(spec).expanduser()
        if not root.exists():
            raise SourceError(f"{spec}: no such file or folder")
        if not root.is_dir():
            raise SourceError(f"{spec}: not a folder (give the release's folder)")
        root = root.resolve()
        files, problems = walk_folder(root)
        entries = []
        total = sum(_size_or_zero(p) for p in files.values())
        with progress.task("hashing files", total=total, unit="bytes") as handle:
            for rel, real in sorted(files.items()):
                try:
                    entries.append(_entry(rel, real, progress, handle))
                except OSError as exc:
                    problems.append(not_analysed(rel, f"unreadable ({exc.strerror})", "source"))
                    entries.append(FileEntry(path=rel, size=0, sha256=None, kind=FileKind.OTHER))
        reader = FolderReader(root, files)
        snapshot_files = tuple(entries)
        card, card_problems = read_card(snapshot_files, reader)
        return Snapshot(
            target=spec,
            source=self.name,
            revision=None,
            files=snapshot_files,
            reader=reader,
            card=card,
            problems=tuple(problems) + card_problems,
            info={"root": str(root)},
        )


def _size_or_zero(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0  # gone or unreadable since the walk: reported when hashing it


def _entry(rel: str, real: Path, progress: Progress, handle: object) -> FileEntry:
    return hashed_entry(rel, file_chunks(real), progress, handle)

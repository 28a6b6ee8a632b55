"""A release folder on disk. Symlinks are never followed out of the folder, nothing in it is
skipped unseen, and every read is of the file that was hashed (sources/pinned.py)."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from ..card import read_card
from ..errors import SourceError
from ..model import FileEntry, FileKind, Finding, not_analysed
from ..snapshot import MAX_TEXT_BYTES, ContentReader, Progress, Snapshot, resolve_inside
from .interface import Source, clean_path, fail_if_too_many
from .pinned import Pin, check_content, hash_pinned, open_pinned

# git's own metadata. The checkout's .git at the top is skipped (and said so in the
# snapshot's info); anywhere else, or when it is no repository, a folder named .git is a
# finding: its content is not the release's, but nothing is skipped without a word. Other
# tooling folders (.hg, .svn, __pycache__, .cache) are scanned like any folder: a release
# can carry code in them, and a scan of the same tree through git would see it.
_GIT_DIR = ".git"
_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0)
_DIR_FLAGS |= getattr(os, "O_CLOEXEC", 0)

Identity = tuple[int, int]
"""(device, inode) of a file or folder as the walk saw it."""


class FolderReader(ContentReader):
    """Reads files below a root, refusing any path that resolves outside it; with `pins`,
    only files that were hashed, and only while they are still the file that was hashed."""

    def __init__(self, root: Path, allowed: dict[str, Path], pins: dict[str, Pin] | None = None):
        self.root = root
        self._allowed = allowed
        self._pins = pins

    def _resolve(self, path: str) -> Path:
        try:
            return self._allowed[path]
        except KeyError:
            raise SourceError(f"{path}: not a file of this release") from None

    def _pin(self, path: str) -> Pin | None:
        if self._pins is None:
            return None
        pin = self._pins.get(path)
        if pin is None:
            self._resolve(path)  # "not a file of this release" when it is not one
            raise SourceError(f"{path}: could not be hashed; not read")
        return pin

    def read_range(self, path: str, start: int, length: int) -> bytes:
        pin = self._pin(path)
        with open_pinned(path, pin) if pin else open(self._resolve(path), "rb") as fh:
            fh.seek(start)
            return fh.read(length)

    def read_bytes(self, path: str, limit: int = MAX_TEXT_BYTES) -> bytes:
        data = super().read_bytes(path, limit)
        pin = self._pin(path)
        return check_content(path, pin, data) if pin else data

    def local_path(self, path: str) -> Path:
        pin = self._pin(path)
        if pin is None:
            return self._resolve(path)
        open_pinned(path, pin).close()  # still the file that was hashed
        return pin.path


@dataclass
class Walk:
    """What a walk of a release folder found."""

    files: dict[str, tuple[Path, Identity]] = field(default_factory=dict)
    """Release path -> (the real file, its identity when listed)."""
    problems: list[Finding] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    """Folders left out on purpose (the checkout's own .git)."""


def _identity(st: os.stat_result) -> Identity:
    return (st.st_dev, st.st_ino)


def _is_repository_metadata(folder: Path) -> bool:
    return (folder / "HEAD").is_file() and (folder / "objects").is_dir()


def _list_folder(folder: Path, expected: Identity) -> list[tuple[str, os.stat_result | None]]:
    """The entries of a folder with their own (not followed) status, None for one that
    vanished; the folder is opened without following a link and checked to be the one its
    parent listed (a folder swapped for a link since is not listed)."""
    fd = os.open(folder, _DIR_FLAGS)
    try:
        if _identity(os.fstat(fd)) != expected:
            raise OSError(0, "replaced during the walk")
        return [(name, _lstat_at(name, fd)) for name in sorted(os.listdir(fd))]
    finally:
        os.close(fd)


def _lstat_at(name: str, dir_fd: int) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except OSError:
        return None


def walk_folder(root: Path) -> Walk:
    """Map release-relative paths to real files, without leaving the tree.

    A symlink whose target stays inside the root is read as its target; one that leaves
    it (or dangles, or loops) is refused and reported.
    """
    walk = Walk()
    stack = [(root, _identity(root.stat()))]
    while stack:
        folder, expected = stack.pop()
        rel_folder = clean_path(folder.relative_to(root).as_posix())
        try:
            entries = _list_folder(folder, expected)
        except OSError as exc:
            why = exc.strerror or type(exc).__name__
            walk.problems.append(not_analysed(rel_folder, f"folder unreadable ({why})", "source"))
            continue
        for name, st in entries:
            _add_entry(root, folder / name, st, walk, stack)
            fail_if_too_many(len(walk.files), str(root))
    return walk


def _add_entry(
    root: Path,
    full: Path,
    st: os.stat_result | None,
    walk: Walk,
    stack: list[tuple[Path, Identity]],
) -> None:
    rel = clean_path(full.relative_to(root).as_posix())
    if st is None:
        walk.problems.append(not_analysed(rel, "vanished during the walk", "source"))
        return
    if stat.S_ISLNK(st.st_mode):
        real = resolve_inside(root, full)
        if real is None:
            why = (
                "symlink points outside the release; not followed"
                if os.path.exists(full)
                else "dangling or looping symlink"
            )
            walk.problems.append(not_analysed(rel, why, "source"))
            return
        # A symlink to a folder inside the tree is already walked as that folder.
        if real.is_file():
            walk.files[rel] = (real, _identity(real.stat()))
        return
    if stat.S_ISDIR(st.st_mode):
        if full.name.lower() == _GIT_DIR:
            if full.parent == root and _is_repository_metadata(full):
                walk.skipped.append(rel)
            else:
                walk.problems.append(
                    not_analysed(
                        rel, "a git metadata folder (.git); its content is not read", "source"
                    )
                )
            return
        stack.append((full, _identity(st)))
    elif stat.S_ISREG(st.st_mode):
        walk.files[rel] = (full, _identity(st))
    else:
        walk.problems.append(
            not_analysed(rel, "not a regular file (device, FIFO or socket)", "source")
        )


class LocalSource(Source):
    name = "local"

    def open(self, spec: str, *, offline: bool, progress: Progress) -> Snapshot:
        root = Path(spec).expanduser()
        if not root.exists():
            raise SourceError(f"{spec}: no such file or folder")
        if not root.is_dir():
            raise SourceError(f"{spec}: not a folder (give the release's folder)")
        root = root.resolve()
        walk = walk_folder(root)
        problems = walk.problems
        entries = []
        pins: dict[str, Pin] = {}
        total = sum(_size_or_zero(p) for p, _ in walk.files.values())
        with progress.task("hashing files", total=total, unit="bytes") as handle:
            for rel, (real, identity) in sorted(walk.files.items()):
                try:
                    entry, pins[rel] = hash_pinned(rel, real, identity, progress, handle)
                except OSError as exc:
                    why = f"unreadable ({exc.strerror or type(exc).__name__})"
                    problems.append(not_analysed(rel, why, "source"))
                except SourceError as exc:
                    problems.append(not_analysed(rel, str(exc), "source"))
                else:
                    entries.append(entry)
                    continue
                entries.append(FileEntry(path=rel, size=0, sha256=None, kind=FileKind.OTHER))
        reader = FolderReader(root, {rel: p for rel, (p, _) in walk.files.items()}, pins)
        snapshot_files = tuple(entries)
        card, card_problems = read_card(snapshot_files, reader)
        info: dict[str, object] = {"root": str(root)}
        if walk.skipped:
            info["skipped"] = walk.skipped
        return Snapshot(
            target=spec,
            source=self.name,
            revision=None,
            files=snapshot_files,
            reader=reader,
            card=card,
            problems=tuple(problems) + card_problems,
            info=info,
        )


def _size_or_zero(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0  # gone or unreadable since the walk: reported when hashing it

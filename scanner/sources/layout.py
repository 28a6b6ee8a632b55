"""Release files on disk under their release paths, for readers that find a file's
companions by name (ONNX external data beside its model).

A folder source hands out the release's own files. git hands out its blob cache
(`blobs/ab/ab12...`, no name at all) and the Hub its content-addressed blobs: there, a
model's external data is not "beside" it. A Layout puts links to those files at their
release paths in a private folder (a copy where a link cannot be made), so the reader
resolves names inside the release and nowhere else.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import SourceError
from ..snapshot import is_release_path
from ..store import home

_PREFIX = "view-"


@dataclass(frozen=True)
class Layout:
    """Local paths of release files, each at its release path below `root`."""

    paths: dict[str, Path]
    root: Path
    private: bool
    """Whether `root` is a folder made for this layout (removed by close())."""

    def close(self) -> None:
        if self.private:
            shutil.rmtree(self.root, ignore_errors=True)


def _root_keeping(path: Path, rel: str) -> Path | None:
    """The folder below which `path` sits at `rel`, if it does."""
    parts = rel.split("/")
    if list(path.parts[-len(parts) :]) != parts:
        return None
    return Path(*path.parts[: -len(parts)])


def release_layout(files: Sequence[str], local: Callable[[str], Path]) -> Layout:
    """`files` (release paths) on disk under one root at their release paths: where the
    source's own files already are, else in a private folder of links."""
    got = {f: local(f) for f in files}
    roots = {_root_keeping(p, f) for f, p in got.items()}
    if len(roots) == 1 and None not in roots:
        (root,) = roots
        assert root is not None
        return Layout(got, root, private=False)
    return _linked(got)


def _linked(got: dict[str, Path]) -> Layout:
    views = home() / "views"
    views.mkdir(parents=True, exist_ok=True)
    _remove_abandoned(views)
    root = Path(tempfile.mkdtemp(prefix=f"{_PREFIX}{os.getpid()}-", dir=views))
    try:
        for rel, src in got.items():
            if not is_release_path(rel):
                raise SourceError(f"{rel}: not a release path")
            dest = root / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(src, dest)
            except OSError:  # another filesystem, or links refused: a copy then
                shutil.copyfile(src, dest)
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    return Layout({rel: root / rel for rel in got}, root, private=True)


def _remove_abandoned(views: Path) -> None:
    """Folders of layouts whose process is gone (killed before it could remove them)."""
    for folder in views.glob(_PREFIX + "*"):
        pid = folder.name[len(_PREFIX) :].split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # someone else's process
    return True

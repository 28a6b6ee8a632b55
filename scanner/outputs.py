"""Where the CLI writes files the user named: checked before the work starts, so a typo in
`-o` costs a second, not a scan, and every failure is one line naming the path."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from .errors import UsageError


def output_file(path: Path, default_name: str) -> Path:
    """The file to write for an option given `path`: an existing folder gets
    `default_name` inside it; the folders above a new file are created."""
    if path.is_dir():
        path = path / default_name
    if path.is_dir():
        raise UsageError(f"{path}: is a folder; give a file name")
    parent = path.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise UsageError(f"{path}: {_first_file(parent)} is a file, not a folder") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot create its folder ({exc.strerror})") from None
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f"{path}: the folder {parent} is not writable")
    if path.exists() and not os.access(path, os.W_OK):
        raise UsageError(f"{path}: the file exists and is not writable")
    return path


def _first_file(folder: Path) -> Path:
    """The first existing non-folder on the way to `folder` (what blocks mkdir)."""
    for p in reversed((folder, *folder.parents)):
        if p.exists() and not p.is_dir():
            return p
    return folder


def write_output(path: Path, what: str, write: Callable[[Path], object]) -> None:
    """Run `write(path)`; an OS failure (disk full, permissions) is one line naming both."""
    try:
        write(path)
    except OSError as exc:
        raise UsageError(f"cannot write the {what} to {path}: {exc.strerror or exc}") from None

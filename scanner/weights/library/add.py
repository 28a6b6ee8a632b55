"""`library add MODEL`: fingerprint any target (or take a fingerprint file) into the library."""

from __future__ import annotations

from pathlib import Path

from ..fingerprint import fingerprint_of
from ..units import Sampling
from .store import LibraryEntry, LibraryError, LibraryStore


def default_name(source: str) -> str:
    """org/name for hf:org/name[@rev]; the folder or file name of a path; the repository
    name of a git URL."""
    if source.startswith("hf:"):
        return source[3:].split("@", 1)[0].strip("/")
    local = Path(source).expanduser()
    if local.exists():
        resolved = local.resolve()
        return resolved.stem if resolved.is_file() else resolved.name
    tail = source.split("@", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    return tail.removesuffix(".git") or source


def stored_source(source: str) -> str:
    """A local path made absolute (so a scan elsewhere still says where it came from)."""
    local = Path(source).expanduser()
    return str(local.resolve()) if local.exists() else source


def add_model(
    source: str,
    name: str | None = None,
    *,
    replace: bool = False,
    offline: bool = False,
    sampling: Sampling | None = None,
    lib: LibraryStore | None = None,
) -> LibraryEntry:
    """Fingerprint SOURCE (a folder, weight file, git or hf: target, or a fingerprint file)
    and store it as NAME. `sampling` None: DEFAULT, or REMOTE for a Hub checkpoint read by
    remote ranges (fingerprint_of)."""
    lib = lib or LibraryStore()
    chosen = name or default_name(source)
    if not replace and chosen.strip() in {e.name for e in lib.entries()}:
        # before the fingerprint, which may take minutes
        raise LibraryError(f"{chosen!r} is already in the library (use --replace)")
    fp = fingerprint_of(source, offline, sampling)
    if not fp.tensors:
        raise LibraryError(f"{source}: no weight tensor could be read")
    return lib.add(chosen, stored_source(source), fp, replace=replace)

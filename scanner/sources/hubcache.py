"""The local Hugging Face Hub cache, read without huggingface_hub and without the network.

Layout (huggingface_hub's): <HF_HUB_CACHE>/models--org--name/{refs,blobs,snapshots}.
`refs/<rev>` holds a commit sha with no trailing newline; `snapshots/<sha>/<path>` are
symlinks into `blobs/`. A cache can be planted by anyone who can write it, so every link
is resolved and must stay inside its repository's folder.

provscan keeps, next to its store, a record of what an online scan learnt that the Hub
cache does not hold (the full file list with LFS sha256, safetensors headers of weights
never downloaded, card data), so an offline scan reports the same inventory.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import SourceError
from ..snapshot import resolve_inside
from ..store import home

_COMMIT = re.compile(r"^[0-9a-f]{40}$")
MAX_RECORD_BYTES = 64 * 1024 * 1024


def hub_cache_dir() -> Path:
    """Where huggingface_hub keeps its cache (HF_HUB_CACHE, else HF_HOME/hub)."""
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def repo_folder(repo_id: str) -> Path:
    return hub_cache_dir() / ("models--" + repo_id.replace("/", "--"))


def safe_ref_path(folder: Path, rev: str) -> Path:
    """refs/<rev>, refusing revisions that would climb out of refs/ ('../..')."""
    refs = folder / "refs"
    path = Path(os.path.normpath(refs / rev))
    if not path.is_relative_to(refs) or path == refs:
        raise SourceError(f"'{rev}': not a usable revision name")
    return path


def write_ref(repo_id: str, rev: str, commit: str) -> None:
    """Remember rev -> commit the way huggingface_hub does (no trailing newline), so an
    offline scan of `hf:org/name@rev` finds it."""
    if _COMMIT.match(rev):
        return
    path = safe_ref_path(repo_folder(repo_id), rev)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.is_file() or path.read_text() != commit:
        path.write_text(commit)


def resolve_cached_revision(repo_id: str, rev: str | None) -> tuple[Path, str]:
    """(repo cache folder, commit sha) for a revision, from the cache only."""
    folder = repo_folder(repo_id)
    if not folder.is_dir():
        raise SourceError(
            f"hf:{repo_id} is not in the local Hub cache ({hub_cache_dir()}); "
            "scan it online once, or download it"
        )
    name = rev or "main"
    if _COMMIT.match(name):
        commit = name
    else:
        ref = safe_ref_path(folder, name)
        if not ref.is_file():
            raise SourceError(f"hf:{repo_id}: revision '{name}' is not in the local Hub cache")
        commit = ref.read_text(errors="replace").strip()
        if not _COMMIT.match(commit):
            raise SourceError(f"hf:{repo_id}: the cached ref '{name}' is not a commit sha")
    snapshot = folder / "snapshots" / commit
    if not snapshot.is_dir():
        raise SourceError(f"hf:{repo_id}: commit {commit[:12]} is not in the local Hub cache")
    _confined(repo_id, folder, snapshot)
    return folder, commit


def _confined(repo_id: str, folder: Path, snapshot: Path) -> None:
    """A snapshot folder is a real folder of the repository's cache folder. Its files are
    links into ../../blobs, but the folder itself (or `snapshots/`) linked elsewhere would
    have the scan walk whatever it names (/usr, /)."""
    real = folder.resolve()
    for part in (snapshot.parent, snapshot):
        if part.is_symlink() or not part.resolve().is_relative_to(real):
            raise SourceError(
                f"hf:{repo_id}: the cached snapshot {snapshot.name[:12]} is a link to a "
                "folder outside the repository's Hub cache folder; refused (remove it from "
                f"the cache: {snapshot})"
            )


@dataclass(frozen=True)
class CachedFiles:
    files: dict[str, Path]
    """Release path -> real file inside the repo's cache folder."""
    refused: dict[str, str]
    """Release path -> why it was not used (link out of the cache, dangling...)."""


def snapshot_files(folder: Path, commit: str) -> CachedFiles:
    """The snapshot's files, each resolved inside the repository's cache folder."""
    root = folder / "snapshots" / commit
    real_folder = folder.resolve()
    _confined(folder.name.removeprefix("models--").replace("--", "/"), folder, root)
    files: dict[str, Path] = {}
    refused: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in sorted(filenames) + sorted(
            d for d in dirnames if os.path.islink(os.path.join(dirpath, d))
        ):
            full = Path(dirpath) / name
            rel = full.relative_to(root).as_posix()
            real = resolve_inside(real_folder, full)
            if real is None:
                refused[rel] = (
                    "Hub cache link points outside the repository's cache; not followed"
                    if os.path.exists(full)
                    else "dangling or looping link in the Hub cache"
                )
            elif not real.is_file():
                refused[rel] = "not a regular file in the Hub cache"
            else:
                files[rel] = real
    return CachedFiles(files, refused)


def _record_path(repo_id: str, commit: str) -> Path:
    return home() / "hub" / repo_id.replace("/", "--") / f"{commit}.json"


def save_record(repo_id: str, commit: str, record: dict[str, Any]) -> None:
    """Written whole or not at all (a temporary file of its own, synced, then renamed):
    two scans of one commit, or a scan killed midway, never leave half a record."""
    path = _record_path(repo_id, commit)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".record-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(record, default=str))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_record(repo_id: str, commit: str) -> dict[str, Any] | None:
    """What an earlier online scan learnt about this commit, if anything (ignored if
    unreadable: the Hub cache alone still answers)."""
    path = _record_path(repo_id, commit)
    try:
        if path.stat().st_size > MAX_RECORD_BYTES:
            return None
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None

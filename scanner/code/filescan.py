"""Scanning many files for licenses and notices: the cache first, then scancode in forked
workers that share the index loaded once by the parent (copy-on-write)."""

from __future__ import annotations

import gc
import hashlib
import multiprocessing
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..snapshot import Progress, SilentProgress
from .cache import ScanCache
from .notices import Notice, detect_notices, warm_up
from .scancode import FileLicenses, detect_file_licenses, load_index, text_lines

MAX_SCAN_BYTES = 4 * 1024 * 1024
"""Larger files (tokenizer vocabularies, data dumps) are not license-scanned."""
IN_PROCESS_BELOW = 4
"""Fewer uncached files than this are scanned without forking."""


@dataclass(frozen=True)
class FileScan:
    """Licenses and notices of one file's content."""

    licenses: FileLicenses
    notices: tuple[Notice, ...]
    error: str | None = None
    """Why the file could not be scanned (it then has no licenses nor notices)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "licenses": self.licenses.to_dict(),
            "notices": [n.to_dict() for n in self.notices],
            "error": self.error,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FileScan:
        return cls(
            FileLicenses.from_dict(data["licenses"]),
            tuple(Notice.from_dict(n) for n in data["notices"]),
            data.get("error"),
        )


def _is_binary(head: bytes) -> bool:
    return b"\0" in head[:8192]


# Opened without following a link at the last component (a release file swapped for one).
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
CHANGED = "content changed since it was hashed; not scanned"
"""The error of a file whose bytes are not the content its hash names: never cached."""


def _read_head(location: Path) -> bytes:
    with os.fdopen(os.open(location, _OPEN_FLAGS), "rb") as fh:
        return fh.read(MAX_SCAN_BYTES + 1)


def scan_one(location: Path, sha256: str | None = None) -> FileScan:
    """Licenses and notices of one local file (any failure becomes FileScan.error). With
    `sha256`, bytes that hash otherwise (the file changed since) are not scanned."""
    try:
        data = _read_head(location)
        if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
            return FileScan(FileLicenses(None, None), (), CHANGED)
        if len(data) > MAX_SCAN_BYTES:
            return FileScan(FileLicenses(None, None), (), f"larger than {MAX_SCAN_BYTES} bytes")
        if _is_binary(data):
            return FileScan(FileLicenses(None, None), (), None)
        text = data.decode("utf-8", errors="replace")
        licenses = detect_file_licenses(location, text_lines(text))
        notices = detect_notices(text)
        return FileScan(licenses, notices)
    except Exception as exc:  # one bad file must not stop the scan: it is reported
        return FileScan(FileLicenses(None, None), (), f"{type(exc).__name__}: {exc}")


def _work(item: tuple[str, str]) -> tuple[str, dict[str, Any]]:
    sha, location = item
    return sha, scan_one(Path(location), sha).to_dict()


def default_workers() -> int:
    """One worker per core, or PROVSCAN_WORKERS."""
    env = os.environ.get("PROVSCAN_WORKERS", "")
    return int(env) if env.isdigit() and int(env) > 0 else (os.cpu_count() or 1)


def scan_files(
    items: dict[str, Path],
    *,
    use_cache: bool = True,
    workers: int | None = None,
    on_done: Callable[[int], None] | None = None,
    notes: list[str] | None = None,
    progress: Progress | None = None,
) -> dict[str, FileScan]:
    """FileScan per content sha256 for {sha256: local path}. Cached results are served
    without touching scancode; the rest is scanned by `workers` forked processes. When the
    cache cannot be used, the scan goes on without it and `notes` gets why."""
    cache = ScanCache() if use_cache else None
    raw: dict[str, dict[str, Any]] = {}
    for sha, cached in (cache.get_many(items) if cache else {}).items():
        try:
            FileScan.from_dict(cached)
        except (KeyError, TypeError, ValueError, AttributeError):
            continue  # an entry of another shape is a miss
        raw[sha] = cached
    todo = [(sha, str(path)) for sha, path in items.items() if sha not in raw]
    if on_done and raw:
        on_done(len(raw))
    fresh: dict[str, dict[str, Any]] = {}
    if todo:
        # The slow first step of a cold process (~6 s): named, so nobody waits at "0/N".
        with (progress or SilentProgress()).task("loading the license index"):
            load_index()
            warm_up()
        n = min(workers or default_workers(), len(todo))
        if n <= 1 or len(todo) < IN_PROCESS_BELOW:
            for item in todo:
                sha, result = _work(item)
                fresh[sha] = result
                if on_done:
                    on_done(1)
        else:
            # Freeze the loaded index out of the collector's reach: forked workers then
            # share its pages instead of copying them when gc walks them.
            gc.freeze()
            try:
                ctx = multiprocessing.get_context("fork")
                with ctx.Pool(n) as pool:
                    for sha, result in pool.imap_unordered(_work, todo, chunksize=4):
                        fresh[sha] = result
                        if on_done:
                            on_done(1)
            finally:
                gc.unfreeze()
        if cache:
            # keyed by the hash of the bytes scanned: a file that changed under its hash
            # is reported, never remembered
            cache.put_many({sha: r for sha, r in fresh.items() if r.get("error") != CHANGED})
    if cache is not None and cache.problem and notes is not None:
        notes.append(cache.problem)
    raw.update(fresh)
    return {sha: FileScan.from_dict(r) for sha, r in raw.items()}

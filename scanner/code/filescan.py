"""Scanning many files for licenses and notices: the cache first, then scancode in forked
workers that share the index loaded once by the parent (copy-on-write)."""

from __future__ import annotations

import gc
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


def scan_one(location: Path) -> FileScan:
    """Licenses and notices of one local file (any failure becomes FileScan.error)."""
    try:
        with open(location, "rb") as fh:
            data = fh.read(MAX_SCAN_BYTES + 1)
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
    return sha, scan_one(Path(location)).to_dict()


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
            cache.put_many(fresh)
    if cache is not None and cache.problem and notes is not None:
        notes.append(cache.problem)
    raw.update(fresh)
    return {sha: FileScan.from_dict(r) for sha, r in raw.items()}

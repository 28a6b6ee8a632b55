"""The upstream file of a copy, for the side-by-side view and the change-notice check:
given inline by the clone analyzer, or read from where its corpus was indexed from."""

from __future__ import annotations

import importlib.util
from functools import cache, lru_cache
from pathlib import Path, PurePosixPath

from .model import CopiedCode

MAX_UPSTREAM_BYTES = 2 * 1024 * 1024


@cache
def _package_root(name: str) -> Path | None:
    if not name.isidentifier():
        return None
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))).resolve()


def _roots(c: CopiedCode) -> list[Path]:
    """Where the upstream file may be read: the indexed corpus's folder (corpus_source), an
    installed package (pkg:NAME, or a corpus named after a package)."""
    roots: list[Path] = []
    source = c.details.get("corpus_source")
    if isinstance(source, str):
        if source.startswith("pkg:"):
            root = _package_root(source[4:].split("@")[0].split("==")[0])
            if root is not None:
                roots += [root, root.parent]
        elif Path(source).is_dir():
            roots.append(Path(source).resolve())
    root = _package_root((c.corpus or "").split(":")[-1].split("@")[0].split("-")[0])
    if root is not None:
        roots += [root, root.parent]
    return roots


def upstream_text(c: CopiedCode) -> str | None:
    """The upstream file: given inline by the clone analyzer, or read (bounded, never
    outside the corpus root, no symlinks) from where the corpus was indexed from."""
    for key in ("upstream_text", "upstream_excerpt"):
        value = c.details.get(key)
        if isinstance(value, str):
            return value[:MAX_UPSTREAM_BYTES]
    rel = PurePosixPath(c.upstream_path)
    if not c.upstream_path or rel.is_absolute() or ".." in rel.parts:
        return None
    return _read_upstream(tuple(_roots(c)), c.upstream_path)


# Thousands of copies of one upstream file are read once, not once each (up to 2 MB a read).
@lru_cache(maxsize=32)
def _read_upstream(roots: tuple[Path, ...], upstream_path: str) -> str | None:
    rel = PurePosixPath(upstream_path)
    for root in roots:
        p = root / rel
        try:
            if p.is_symlink() or not p.is_file() or not p.resolve().is_relative_to(root) \
                    or p.stat().st_size > MAX_UPSTREAM_BYTES:
                continue
            return p.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
    return None



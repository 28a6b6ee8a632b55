"""The upstream file of a copy, for the side-by-side view and the change-notice check: read
from where its corpus was indexed from (a folder, an installed package)."""

from __future__ import annotations

import importlib.util
from functools import cache, lru_cache
from pathlib import Path

from ..snapshot import is_release_path, resolve_inside
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
    source = c.corpus_source
    if source.startswith("pkg:"):
        root = _package_root(source[4:].split("@")[0].split("==")[0])
        if root is not None:
            roots += [root, root.parent]
    elif source and Path(source).is_dir():
        roots.append(Path(source).resolve())
    root = _package_root((c.corpus or "").split(":")[-1].split("@")[0].split("-")[0])
    if root is not None:
        roots += [root, root.parent]
    return roots


def upstream_text(c: CopiedCode) -> str | None:
    """The upstream file, read (bounded, never outside the corpus root) from where the
    corpus was indexed from; None when it is not there any more."""
    if not is_release_path(c.upstream_path):
        return None
    return _read_upstream(tuple(_roots(c)), c.upstream_path)


# Thousands of copies of one upstream file are read once, not once each (up to 2 MB a read).
@lru_cache(maxsize=32)
def _read_upstream(roots: tuple[Path, ...], upstream_path: str) -> str | None:
    for root in roots:
        real = resolve_inside(root, root / upstream_path)
        try:
            if real is None or not real.is_file() or real.stat().st_size > MAX_UPSTREAM_BYTES:
                continue
            return real.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
    return None

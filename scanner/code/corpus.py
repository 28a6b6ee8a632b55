"""Reference code corpora: built from a folder, a git repository or an installed package,
stored in the SQLite store, loaded as sorted numpy arrays for fast lookup.

A corpus is a row per reference file (path, language, notice) and one posting list per
corpus (every winnowed fingerprint with its file and lines), sorted by hash so a query is
a binary search, not a SQL join: the models/ tree of transformers is ~1M postings that load
in milliseconds. Beside them: each posting's hash with the identifiers kept, the document
frequency of both hashes (how many files of the corpus hold it: boilerplate is in many),
each file's kept-line hashes (lines.py), the files it declares it was copied from
(genealogy.py), and the corpus's maintainers.
"""

from __future__ import annotations

import importlib.metadata as metadata
import json
import multiprocessing
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import UsageError
from ..model import FileKind
from ..snapshot import MAX_TEXT_BYTES, Progress, SilentProgress, Snapshot
from ..sources import open_target
from ..store import Store, open_store
from .attribution import Attribution, PathIndex, attributions
from .genealogy import maintainers, modular_parents, parents_of
from .headers import head_notice
from .index import CorpusInfo, LoadedCorpus, has_store, load_corpora, schema
from .lines import LineHashes, line_hashes
from .rarity import rarity
from .tokens import family_of, tokenize
from .winnow import DEFAULT_PARAMS, Fingerprints, WinnowParams, fingerprint

# Below this many files, forking workers costs more than it saves.
_FORK_MIN_FILES = 64


@dataclass(frozen=True)
class CorpusRoot:
    """Where the files of a corpus are read from."""

    snapshot: Snapshot
    prefix: str
    """Prepended to snapshot paths (a package's import folder, e.g. 'transformers/')."""


@dataclass(frozen=True)
class _FileResult:
    path: str
    language: str
    sha256: str | None
    lines: int
    notice: tuple[str, ...]
    fps: Fingerprints
    kept: LineHashes
    declared: tuple[Attribution, ...]
    modular: tuple[str, ...]


# ---- where a corpus comes from ---------------------------------------------------------


def resolve_package(spec: str, progress: Progress) -> tuple[list[CorpusRoot], str, str | None]:
    """'NAME[/sub/folder]' of an installed distribution -> roots, version, license."""
    name, _, sub = spec.partition("/")
    try:
        dist = metadata.distribution(name)
    except metadata.PackageNotFoundError:
        raise UsageError(f"pkg:{name}: no installed Python package of that name") from None
    tops = _top_level_folders(dist)
    if not tops:
        raise UsageError(f"pkg:{name}: the package has no Python source folder")
    roots = []
    for top in tops:
        root = Path(str(dist.locate_file(top)))
        if sub:
            root = root / sub
            if not root.is_dir():
                continue
        snap = open_target(str(root), progress=progress)
        prefix = f"{top}/{sub.strip('/')}/" if sub else f"{top}/"
        roots.append(CorpusRoot(snapshot=snap, prefix=prefix))
    if not roots:
        raise UsageError(f"pkg:{spec}: no such folder in the package")
    return roots, dist.version, package_license(dist)


def _top_level_folders(dist: metadata.Distribution) -> list[str]:
    tops: set[str] = set()
    for f in dist.files or ():
        parts = Path(str(f)).parts
        if (
            len(parts) > 1
            and parts[-1].endswith(".py")
            and not parts[0].endswith((".dist-info", ".egg-info", ".data"))
            and parts[0] != ".."
        ):
            tops.add(parts[0])
    return sorted(t for t in tops if Path(str(dist.locate_file(t))).is_dir())


def package_license(dist: metadata.Distribution) -> str | None:
    """The license a distribution declares: License-Expression, License, or a classifier."""
    md = dist.metadata
    for key in ("License-Expression", "License"):
        value = (md.get_all(key) or [None])[0]
        if value and value.strip() and value.strip().upper() != "UNKNOWN" and len(value) < 200:
            return value.strip()
    for classifier in md.get_all("Classifier") or ():
        if classifier.startswith("License ::"):
            return classifier.split("::")[-1].strip()
    return None


def resolve_source(
    source: str, progress: Progress
) -> tuple[list[CorpusRoot], str, str | None, str | None]:
    """Origins, kind, version and license of a corpus SOURCE string."""
    if source.startswith("pkg:"):
        roots, version, lic = resolve_package(source[4:], progress)
        return roots, "package", version, lic
    snap = open_target(source, progress=progress)
    kind = "folder" if snap.source == "local" else snap.source
    return [CorpusRoot(snapshot=snap, prefix="")], kind, snap.revision, None


# ---- building ------------------------------------------------------------------------------


def _process(item: tuple[str, str, str | None, bytes, WinnowParams]) -> _FileResult:
    path, language, sha, data, params = item
    text = data.decode("utf-8", errors="replace")
    tokens = tokenize(text, language)
    return _FileResult(
        path=path,
        language=language,
        sha256=sha,
        lines=text.count("\n") + 1,
        notice=head_notice(text),
        fps=fingerprint(tokens, params),
        kept=line_hashes(text),
        declared=attributions(tokens.comments),
        modular=modular_parents(path, text) if language == "python" else (),
    )


# A reference corpus is upstream code, not tooling state (an audited folder scans these
# too: a release can hide code there).
_NOT_UPSTREAM = frozenset({"__pycache__", ".cache", ".hg", ".svn"})


def _items(
    roots: list[CorpusRoot], params: WinnowParams
) -> Iterator[tuple[str, str, str | None, bytes, WinnowParams]]:
    for corpus_root in roots:
        for f in corpus_root.snapshot.files:
            if f.kind != FileKind.CODE or family_of(f.language) is None or f.language is None:
                continue
            if _NOT_UPSTREAM.intersection(f.path.split("/")):
                continue
            if f.size > MAX_TEXT_BYTES:
                continue
            data = corpus_root.snapshot.reader.read_bytes(f.path)
            yield corpus_root.prefix + f.path, f.language, f.sha256, data, params


def workers() -> int:
    return max(1, int(os.environ.get("PROVSCAN_WORKERS", 0)) or (os.cpu_count() or 1))


def fingerprint_files(
    roots: list[CorpusRoot], params: WinnowParams = DEFAULT_PARAMS, progress: Progress | None = None
) -> list[_FileResult]:
    """Fingerprint every code file of the roots, on forked workers when it pays."""
    count = sum(1 for o in roots for f in o.snapshot.files if f.kind == FileKind.CODE)
    n = workers()
    progress = progress or SilentProgress()
    results: list[_FileResult] = []
    with progress.task("fingerprinting code", total=count) as handle:
        if n == 1 or count < _FORK_MIN_FILES:
            for item in _items(roots, params):
                results.append(_process(item))
                progress.advance(handle)
            return results
        ctx = multiprocessing.get_context("fork")
        with ctx.Pool(n) as pool:
            for result in pool.imap(_process, _items(roots, params), chunksize=16):
                results.append(result)
                progress.advance(handle)
    return results


def add_corpus(
    name: str,
    source: str,
    *,
    replace: bool = False,
    license: str | None = None,
    version: str | None = None,
    params: WinnowParams = DEFAULT_PARAMS,
    progress: Progress | None = None,
) -> CorpusInfo:
    """Index SOURCE as corpus NAME in the store."""
    if (
        not name
        or len(name) > 100
        or not name.replace("-", "").replace("_", "").replace(".", "").isalnum()
    ):
        raise UsageError(f"{name!r}: a corpus name is letters, digits, '-', '_' or '.'")
    store = schema(open_store())
    exists = store.conn.execute("SELECT 1 FROM clone_corpora WHERE name=?", (name,)).fetchone()
    if exists and not replace:
        raise UsageError(f"corpus {name!r} already exists (remove it, or use --replace)")
    started = time.perf_counter()
    progress = progress or SilentProgress()
    roots, kind, found_version, found_license = resolve_source(source, progress)
    results = fingerprint_files(roots, params, progress)
    info = CorpusInfo(
        name=name,
        source=source,
        kind=kind,
        version=version or found_version,
        license=license or found_license,
        files=len(results),
        fingerprints=sum(len(r.fps) for r in results),
        created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        build_seconds=round(time.perf_counter() - started, 3),
    )
    _write(store, info, results, params)
    return info


def _write(
    store: Store, info: CorpusInfo, results: list[_FileResult], params: WinnowParams
) -> None:
    hashes = np.concatenate([r.fps.hashes for r in results] or [np.zeros(0, np.uint64)])
    file_idx = np.concatenate(
        [np.full(len(r.fps), i, dtype=np.uint32) for i, r in enumerate(results)]
        or [np.zeros(0, np.uint32)]
    )
    named = np.concatenate([r.fps.named for r in results] or [np.zeros(0, np.uint64)])
    starts = np.concatenate([r.fps.start_lines for r in results] or [np.zeros(0, np.uint32)])
    ends = np.concatenate([r.fps.end_lines for r in results] or [np.zeros(0, np.uint32)])
    order = np.argsort(hashes, kind="stable")
    paths = [r.path for r in results]
    index = PathIndex(paths)
    parents = [parents_of(r.path, r.declared, r.modular, index) for r in results]
    common = sorted(maintainers(r.notice for r in results))
    conn = store.conn
    with conn:
        conn.execute("DELETE FROM clone_corpora WHERE name=?", (info.name,))
        cur = conn.execute(
            "INSERT INTO clone_corpora (name, source, kind, version, license, params, created,"
            " files, fingerprints, build_seconds, uid) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (
                info.name,
                info.source,
                info.kind,
                info.version,
                info.license,
                params.key(),
                info.created,
                info.files,
                info.fingerprints,
                info.build_seconds,
                uuid.uuid4().hex,
            ),
        )
        cid = cur.lastrowid
        conn.executemany(
            "INSERT INTO clone_files VALUES (?,?,?,?,?,?,?,?)",
            (
                (
                    cid,
                    i,
                    r.path,
                    r.language,
                    r.sha256,
                    r.lines,
                    int(np.unique(r.fps.hashes).shape[0]),
                    json.dumps(list(r.notice)),
                )
                for i, r in enumerate(results)
            ),
        )
        conn.execute(
            "INSERT INTO clone_postings VALUES (?,?,?,?,?)",
            (
                cid,
                hashes[order].tobytes(),
                file_idx[order].tobytes(),
                starts[order].tobytes(),
                ends[order].tobytes(),
            ),
        )
        pairs = file_pairs(hashes, file_idx, len(results))
        named_pairs = file_pairs(named, file_idx, len(results))
        by_file = np.argsort(file_idx[order], kind="stable").astype(np.uint32)
        conn.execute(
            "INSERT INTO clone_pairs VALUES (?,?,?,?,?,?,?,?,?,?)",
            (
                cid,
                named[order].tobytes(),
                by_file.tobytes(),
                pairs[0].tobytes(),
                pairs[1].tobytes(),
                pairs[2].tobytes(),
                named_pairs[0].tobytes(),
                named_pairs[1].tobytes(),
                named_pairs[2].tobytes(),
                json.dumps(common),
            ),
        )
        conn.executemany(
            "INSERT INTO clone_file_facts VALUES (?,?,?,?,?)",
            (
                (cid, i, json.dumps(list(p)), r.kept.hashes.tobytes(), r.kept.numbers.tobytes())
                for i, (r, p) in enumerate(zip(results, parents, strict=True))
            ),
        )


def file_pairs(
    hashes: np.ndarray, file_idx: np.ndarray, files: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each distinct (hash, file) once, sorted by hash, with the hash's rarity in the corpus
    (rarity.py, of its document frequency): a query sums weights over them without
    sorting anything."""
    if hashes.shape[0] == 0:
        return np.zeros(0, np.uint64), np.zeros(0, np.uint32), np.zeros(0, np.float32)
    order = np.lexsort((file_idx, hashes))
    h, f = hashes[order], file_idx[order]
    first = np.ones(h.shape[0], dtype=bool)
    first[1:] = (h[1:] != h[:-1]) | (f[1:] != f[:-1])
    h, f = h[first], f[first]
    _, counts = np.unique(h, return_counts=True)
    df = np.repeat(counts, counts)
    return h, f.astype(np.uint32), rarity(df, files).astype(np.float32)


# ---- listing, removing, loading ----------------------------------------------------------


def list_corpora() -> list[CorpusInfo]:
    if not has_store():
        return []
    store = schema(open_store())
    rows = store.conn.execute(
        "SELECT name, source, kind, version, license, files, fingerprints, created,"
        " build_seconds FROM clone_corpora ORDER BY name"
    ).fetchall()
    return [CorpusInfo(*row) for row in rows]


def remove_corpus(name: str) -> None:
    store = schema(open_store())
    with store.conn:
        cur = store.conn.execute("DELETE FROM clone_corpora WHERE name=?", (name,))
    if cur.rowcount == 0:
        raise UsageError(f"no corpus named {name!r} (see `provscan index list`)")


__all__ = [
    "CorpusInfo",
    "LoadedCorpus",
    "add_corpus",
    "list_corpora",
    "load_corpora",
    "remove_corpus",
]

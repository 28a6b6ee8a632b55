"""Reference code corpora: built from a folder, a git repository or an installed package,
stored in the SQLite store, loaded as sorted numpy arrays for fast lookup.

A corpus is a row per reference file (path, language, notice) and one posting list per
corpus (every winnowed fingerprint with its file and lines), sorted by hash so a query is
a binary search, not a SQL join: the models/ tree of transformers is ~1M postings that load
in milliseconds.
"""

from __future__ import annotations

import importlib.metadata as metadata
import json
import multiprocessing
import os
import sqlite3
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import AnalyzerError, UsageError
from ..model import FileKind
from ..snapshot import MAX_TEXT_BYTES, Progress, SilentProgress, Snapshot
from ..sources import open_target
from ..store import Store, default_store_path, open_store
from .headers import head_notice
from .tokens import family_of, tokenize
from .winnow import DEFAULT_PARAMS, Fingerprints, WinnowParams, fingerprint

SCHEMA = """
CREATE TABLE IF NOT EXISTS clone_corpora (
    id INTEGER PRIMARY KEY,
    name TEXT UNIQUE NOT NULL,
    source TEXT NOT NULL,
    kind TEXT NOT NULL,
    version TEXT,
    license TEXT,
    params TEXT NOT NULL,
    created TEXT NOT NULL,
    files INTEGER NOT NULL,
    fingerprints INTEGER NOT NULL,
    build_seconds REAL,
    uid TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS clone_files (
    corpus_id INTEGER NOT NULL REFERENCES clone_corpora(id) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    path TEXT NOT NULL,
    language TEXT,
    sha256 TEXT,
    lines INTEGER NOT NULL,
    fingerprints INTEGER NOT NULL,
    notice TEXT NOT NULL,
    PRIMARY KEY (corpus_id, idx)
);
CREATE TABLE IF NOT EXISTS clone_postings (
    corpus_id INTEGER PRIMARY KEY REFERENCES clone_corpora(id) ON DELETE CASCADE,
    hashes BLOB NOT NULL,
    file_idx BLOB NOT NULL,
    start_lines BLOB NOT NULL,
    end_lines BLOB NOT NULL
);
"""
# Below this many files, forking workers costs more than it saves.
_FORK_MIN_FILES = 64


@dataclass(frozen=True)
class CorpusInfo:
    """One indexed corpus, as `index list` shows it."""

    name: str
    source: str
    kind: str
    """folder, git or package."""
    version: str | None
    license: str | None
    files: int
    fingerprints: int
    created: str
    build_seconds: float | None = None


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


def schema(store: Store) -> Store:
    store.ensure_schema("clone_corpus", SCHEMA)
    return store


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
    """The license a distribution declares, as an SPDX expression: License-Expression,
    else License, else its trove classifiers, each read by scancode's own license
    detection ("Apache 2.0 License" is Apache-2.0, not the ids apache, 2.0 and license).
    None when scancode recognises no license in any of them."""
    from .scancode import license_of_statement

    md = dist.metadata
    statements = [
        value
        for key in ("License-Expression", "License")
        for value in (md.get_all(key) or ())[:1]
        if value and value.strip().upper() not in ("", "UNKNOWN")
    ]
    classifiers = [c for c in md.get_all("Classifier") or () if c.startswith("License ::")]
    if classifiers:
        statements.append("\n".join(classifiers))
    for statement in statements:
        found = license_of_statement(statement)
        if found is not None:
            return found.spdx
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
    fps = fingerprint(tokenize(text, language), params)
    return _FileResult(
        path=path,
        language=language,
        sha256=sha,
        lines=text.count("\n") + 1,
        notice=head_notice(text),
        fps=fps,
    )


def _items(
    roots: list[CorpusRoot], params: WinnowParams
) -> Iterator[tuple[str, str, str | None, bytes, WinnowParams]]:
    for corpus_root in roots:
        for f in corpus_root.snapshot.files:
            if f.kind != FileKind.CODE or family_of(f.language) is None or f.language is None:
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
    starts = np.concatenate([r.fps.start_lines for r in results] or [np.zeros(0, np.uint32)])
    ends = np.concatenate([r.fps.end_lines for r in results] or [np.zeros(0, np.uint32)])
    order = np.argsort(hashes, kind="stable")
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


# ---- listing, removing, loading ----------------------------------------------------------


def _has_store() -> bool:
    return default_store_path().exists()


def list_corpora() -> list[CorpusInfo]:
    if not _has_store():
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


@dataclass
class LoadedCorpus:
    """A corpus ready for queries: postings sorted by hash, file table in memory."""

    info: CorpusInfo
    params: str
    paths: list[str]
    file_fps: np.ndarray
    """Distinct fingerprints of each reference file."""
    hashes: np.ndarray
    file_idx: np.ndarray
    start_lines: np.ndarray
    end_lines: np.ndarray
    _cid: int = 0
    _notices: dict[int, tuple[str, ...]] = field(default_factory=dict)

    def notice(self, idx: int) -> tuple[str, ...]:
        if idx not in self._notices:
            row = (
                schema(open_store())
                .conn.execute(
                    "SELECT notice FROM clone_files WHERE corpus_id=? AND idx=?", (self._cid, idx)
                )
                .fetchone()
            )
            self._notices[idx] = tuple(json.loads(row[0])) if row else ()
        return self._notices[idx]


# Loaded corpora by (store, uid of the build): a batch scanning many releases in one process
# loads each corpus once.
_LOADED: dict[tuple[str, str], LoadedCorpus] = {}


def load_corpora() -> list[LoadedCorpus]:
    """Every indexed corpus; nothing (and no store created) when none was indexed."""
    if not _has_store():
        return []
    try:
        return _load_corpora()
    except sqlite3.Error as exc:
        raise AnalyzerError(
            f"the code index in {default_store_path()} is unreadable ({exc}); "
            "remove and re-add the corpora"
        ) from exc


def _load_corpora() -> list[LoadedCorpus]:
    store = schema(open_store())
    conn = store.conn
    out = []
    for row in conn.execute(
        "SELECT id, name, source, kind, version, license, files, fingerprints, created,"
        " build_seconds, params, uid FROM clone_corpora ORDER BY name"
    ).fetchall():
        cid, params = row[0], row[10]
        info = CorpusInfo(*row[1:10])
        key = (str(store.path), row[11])
        if key in _LOADED:
            out.append(_LOADED[key])
            continue
        files = conn.execute(
            "SELECT path, fingerprints FROM clone_files WHERE corpus_id=? ORDER BY idx", (cid,)
        ).fetchall()
        post = conn.execute(
            "SELECT hashes, file_idx, start_lines, end_lines FROM clone_postings WHERE corpus_id=?",
            (cid,),
        ).fetchone()
        if post is None:
            continue
        loaded = _LOADED[key] = LoadedCorpus(
            info=info,
            params=params,
            paths=[f[0] for f in files],
            file_fps=np.array([f[1] for f in files], dtype=np.int64),
            hashes=np.frombuffer(post[0], dtype=np.uint64),
            file_idx=np.frombuffer(post[1], dtype=np.uint32),
            start_lines=np.frombuffer(post[2], dtype=np.uint32),
            end_lines=np.frombuffer(post[3], dtype=np.uint32),
            _cid=cid,
        )
        out.append(loaded)
    return out

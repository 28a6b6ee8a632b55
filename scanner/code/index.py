"""The stored code index: its tables, and a corpus loaded for queries.

corpus.py builds a corpus from its source and writes these tables; this module reads them
back into sorted numpy arrays (a query is a binary search), with the document frequencies,
the identifier-keeping hashes, the genealogy and the maintainers beside the postings, and
the kept-line hashes of a file read only when a comparison needs them.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from ..errors import AnalyzerError
from ..model import Finding, not_analysed
from ..store import Store, default_store_path, open_store
from .attribution import PathIndex
from .genealogy import Genealogy, genealogy_of
from .lines import LineHashes
from .winnow import DEFAULT_PARAMS

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
CREATE TABLE IF NOT EXISTS clone_pairs (
    corpus_id INTEGER PRIMARY KEY REFERENCES clone_corpora(id) ON DELETE CASCADE,
    named BLOB NOT NULL,
    by_file BLOB NOT NULL,
    pair_hashes BLOB NOT NULL,
    pair_files BLOB NOT NULL,
    pair_rarity BLOB NOT NULL,
    named_pair_hashes BLOB NOT NULL,
    named_pair_files BLOB NOT NULL,
    named_pair_rarity BLOB NOT NULL,
    maintainers TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS clone_file_facts (
    corpus_id INTEGER NOT NULL REFERENCES clone_corpora(id) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    parents TEXT NOT NULL,
    line_hashes BLOB NOT NULL,
    line_numbers BLOB NOT NULL,
    PRIMARY KEY (corpus_id, idx)
);
"""


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


def schema(store: Store) -> Store:
    store.ensure_schema("clone_corpus", SCHEMA)
    return store


def has_store() -> bool:
    return default_store_path().exists()


@dataclass(frozen=True)
class Pairs:
    """Distinct (hash, file) pairs sorted by hash, with the hash's rarity in the corpus."""

    hashes: np.ndarray
    files: np.ndarray
    rarity: np.ndarray

    @classmethod
    def empty(cls) -> Pairs:
        return cls(np.zeros(0, np.uint64), np.zeros(0, np.uint32), np.zeros(0, np.float32))

    @classmethod
    def of(cls, hashes: bytes, files: bytes, rarity: bytes) -> Pairs:
        return cls(
            np.frombuffer(hashes, dtype=np.uint64),
            np.frombuffer(files, dtype=np.uint32),
            np.frombuffer(rarity, dtype=np.float32),
        )


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
    named: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint64))
    """Each posting's hash with the identifiers kept (winnow.Fingerprints.named)."""
    by_file: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint32))
    """Posting indices grouped by file (a file's are by_file[file_start[i]:file_start[i+1]])."""
    pairs: Pairs = field(default_factory=lambda: Pairs.empty())
    """Each distinct (hash, file), with the hash's rarity."""
    named_pairs: Pairs = field(default_factory=lambda: Pairs.empty())
    """Each distinct (named hash, file), with its rarity."""
    sha256: list[str | None] = field(default_factory=list)
    genealogy: Genealogy = field(default_factory=lambda: Genealogy({}))
    maintainers: frozenset[str] = frozenset()
    """Holder words of the corpus's own maintainers (genealogy.maintainers)."""
    _cid: int = 0
    _store: str | None = None
    """The store it was loaded from (lazy reads go there, whatever PROVSCAN_HOME is now)."""
    _notices: dict[int, tuple[str, ...]] = field(default_factory=dict)
    _kept: dict[int, LineHashes] = field(default_factory=dict)

    def _conn(self) -> sqlite3.Connection:
        return schema(open_store(Path(self._store) if self._store else None)).conn

    @cached_property
    def file_start(self) -> np.ndarray:
        """Where each file's postings start in by_file (one more entry: the end)."""
        counts = np.bincount(self.file_idx, minlength=len(self.paths))
        return np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)

    def postings_of(self, idx: int) -> np.ndarray:
        """Indices of one file's postings."""
        return self.by_file[self.file_start[idx] : self.file_start[idx + 1]]

    @cached_property
    def path_index(self) -> PathIndex:
        """Lookups of named paths (attribution.py)."""
        return PathIndex(self.paths)

    @cached_property
    def _folders(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for p in self.paths:
            out.setdefault(p.rsplit("/", 1)[0] + "/" if "/" in p else "", []).append(p)
        return out

    @cached_property
    def _by_sha(self) -> dict[str, list[int]]:
        out: dict[str, list[int]] = {}
        for i, sha in enumerate(self.sha256):
            if sha:
                out.setdefault(sha, []).append(i)
        return out

    def identical_to(self, sha256: str | None) -> list[int]:
        """The files of the corpus with this content hash."""
        return self._by_sha.get(sha256, []) if sha256 else []

    @cached_property
    def _by_name(self) -> dict[str, list[int]]:
        out: dict[str, list[int]] = {}
        for i, p in enumerate(self.paths):
            out.setdefault(p.rsplit("/", 1)[-1].lower(), []).append(i)
        return out

    def named_like(self, path: str | None) -> list[int]:
        """The files of the corpus with the same file name as `path`."""
        return self._by_name.get(path.rsplit("/", 1)[-1].lower(), []) if path else []

    @cached_property
    def _where(self) -> dict[str, int]:
        return {p: i for i, p in enumerate(self.paths)}

    def idx_of(self, path: str) -> int:
        return self._where[path]

    def files_in(self, folder: str) -> list[str]:
        """The files directly in a folder ('transformers/models/opt/')."""
        return self._folders.get(folder, [])

    def notice(self, idx: int) -> tuple[str, ...]:
        if idx not in self._notices:
            row = (
                self._conn()
                .execute(
                    "SELECT notice FROM clone_files WHERE corpus_id=? AND idx=?", (self._cid, idx)
                )
                .fetchone()
            )
            self._notices[idx] = tuple(json.loads(row[0])) if row else ()
        return self._notices[idx]

    def kept_lines(self, idx: int) -> LineHashes:
        """The countable lines of one reference file (lines.py), read on first use."""
        if idx not in self._kept:
            row = (
                self._conn()
                .execute(
                    "SELECT line_hashes, line_numbers FROM clone_file_facts"
                    " WHERE corpus_id=? AND idx=?",
                    (self._cid, idx),
                )
                .fetchone()
            )
            self._kept[idx] = LineHashes(
                hashes=np.frombuffer(row[0] if row else b"", dtype=np.uint32),
                numbers=np.frombuffer(row[1] if row else b"", dtype=np.uint32),
            )
        return self._kept[idx]


# Loaded corpora by (store, uid of the build): a batch scanning many releases in one process
# loads each corpus once.
_LOADED: dict[tuple[str, str], LoadedCorpus] = {}


def load_corpora() -> list[LoadedCorpus]:
    """Every indexed corpus; nothing (and no store created) when none was indexed."""
    if not has_store():
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
        loaded = _load(conn, cid, info, params)
        if loaded is not None:
            loaded._store = str(store.path)
            out.append(loaded)
            _LOADED[key] = loaded
    return out


def _load(conn: sqlite3.Connection, cid: int, info: CorpusInfo, params: str) -> LoadedCorpus | None:
    files = conn.execute(
        "SELECT path, fingerprints, sha256 FROM clone_files WHERE corpus_id=? ORDER BY idx",
        (cid,),
    ).fetchall()
    post = conn.execute(
        "SELECT hashes, file_idx, start_lines, end_lines FROM clone_postings WHERE corpus_id=?",
        (cid,),
    ).fetchone()
    if post is None:
        return None
    paths = [f[0] for f in files]
    loaded = LoadedCorpus(
        info=info,
        params=params,
        paths=paths,
        file_fps=np.array([f[1] for f in files], dtype=np.int64),
        hashes=np.frombuffer(post[0], dtype=np.uint64),
        file_idx=np.frombuffer(post[1], dtype=np.uint32),
        start_lines=np.frombuffer(post[2], dtype=np.uint32),
        end_lines=np.frombuffer(post[3], dtype=np.uint32),
        sha256=[f[2] for f in files],
        _cid=cid,
    )
    named = conn.execute(
        "SELECT named, by_file, pair_hashes, pair_files, pair_rarity, named_pair_hashes,"
        " named_pair_files, named_pair_rarity, maintainers FROM clone_pairs WHERE corpus_id=?",
        (cid,),
    ).fetchone()
    if named is None:  # indexed by an older version: the analyzer asks for a re-index
        return loaded
    loaded.named = np.frombuffer(named[0], dtype=np.uint64)
    loaded.by_file = np.frombuffer(named[1], dtype=np.uint32)
    loaded.pairs = Pairs.of(named[2], named[3], named[4])
    loaded.named_pairs = Pairs.of(named[5], named[6], named[7])
    loaded.maintainers = frozenset(json.loads(named[8]))
    parents = conn.execute(
        "SELECT idx, parents FROM clone_file_facts WHERE corpus_id=? AND parents != '[]'", (cid,)
    ).fetchall()
    by_idx = dict(parents)
    loaded.genealogy = genealogy_of(
        paths, (tuple(json.loads(by_idx[i])) if i in by_idx else () for i in range(len(paths)))
    )
    return loaded


def usable_corpora(
    given: list[LoadedCorpus] | None, analyzer: str
) -> tuple[list[Finding], list[LoadedCorpus]]:
    """The corpora a query can use (all indexed ones unless given), and a not-analysed
    finding for each indexed by another version of provscan."""
    corpora = given if given is not None else load_corpora()
    stale = [
        not_analysed(
            None,
            f"corpus {c.info.name!r} was indexed by another version of "
            "provscan; re-index it (`provscan index add --replace`)",
            analyzer,
        )
        for c in corpora
        if c.params != DEFAULT_PARAMS.key()
    ]
    return stale, [c for c in corpora if c.params == DEFAULT_PARAMS.key()]

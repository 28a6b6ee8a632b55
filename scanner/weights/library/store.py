"""The library's tables in the store: each entry's fingerprint file as a blob with its
format version, its index key (in a table of its own, read without touching the blobs), and
a generation number that changes with every edit.

A fingerprint of another format version stays listed but is not searched: `library list`
and every scan say which entries to add again (as `provscan fingerprint` files of an
older format ask to be re-made). A key of another version is recomputed from the blob.
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...errors import ProvscanError
from ...store import Store, open_store
from ..fingerprint import FORMAT_VERSION, Fingerprint
from .keys import KEY_VERSION, IndexKey, KeyFormatError, decode, key_of

SCHEMA = """
CREATE TABLE IF NOT EXISTS library_entries (
    name TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    added TEXT NOT NULL,
    fp_version INTEGER,
    fingerprint BLOB NOT NULL,
    summary TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS library_keys (
    name TEXT PRIMARY KEY,
    key_version INTEGER NOT NULL,
    key BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS library_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    generation INTEGER NOT NULL
);
INSERT OR IGNORE INTO library_state (id, generation) VALUES (1, 0);
"""
MAX_NAME = 200


class LibraryError(ProvscanError):
    """A library operation that cannot be done (unknown name, name taken, bad file)."""


@dataclass(frozen=True)
class LibraryEntry:
    """One known base model, as `library list` shows it."""

    name: str
    source: str
    """What it was fingerprinted from (a folder, a file, a git or hf: target)."""
    added: str
    fp_version: int | None
    summary: dict[str, Any]
    """architecture, layers, width, vocabulary, format, checkpoint and fingerprint bytes."""

    @property
    def searchable(self) -> bool:
        return self.fp_version == FORMAT_VERSION


def check_name(name: str) -> str:
    clean = name.strip()
    if not clean or len(clean) > MAX_NAME or not clean.isprintable():
        raise LibraryError(f"library names are 1 to {MAX_NAME} printable characters")
    return clean


def summary_of(fp: Fingerprint, fp_bytes: int) -> dict[str, Any]:
    cfg = fp.meta.get("config") or {}
    return {
        "architecture": cfg.get("model_type"),
        "layers": fp.n_layers,
        "width": fp.meta.get("d"),
        "vocabulary": fp.meta.get("vocab_size"),
        "format": fp.meta.get("format"),
        "checkpoint_bytes": fp.meta.get("total_bytes"),
        "fingerprint_bytes": fp_bytes,
        "sampling": fp.meta.get("sampling_name") or "default",
        **({"remote_read": fp.meta["remote_read"]} if "remote_read" in fp.meta else {}),
    }


def fingerprint_bytes(fp: Fingerprint) -> bytes:
    """The fingerprint file's bytes (Fingerprint.save writes a path)."""
    with tempfile.TemporaryDirectory(prefix="provscan-lib-") as tmp:
        path = Path(tmp) / "fp.npz"
        fp.save(path)
        return path.read_bytes()


def fingerprint_from_bytes(blob: bytes) -> Fingerprint:
    """A stored fingerprint (Fingerprint.load does every check on a path)."""
    with tempfile.TemporaryDirectory(prefix="provscan-lib-") as tmp:
        path = Path(tmp) / "fp.npz"
        path.write_bytes(blob)
        return Fingerprint.load(path)


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class LibraryStore:
    """The fingerprint library in a store (default: the user's store)."""

    def __init__(self, store: Store | None = None):
        self.store = store or open_store()
        self.store.ensure_schema("library", SCHEMA)
        self.conn = self.store.conn

    # ---- edits --------------------------------------------------------------------------

    def add(
        self,
        name: str,
        source: str,
        fp: Fingerprint,
        replace: bool = False,
        blob: bytes | None = None,
        added: str | None = None,
    ) -> LibraryEntry:
        """Store a fingerprint under NAME (LibraryError if taken and not `replace`)."""
        name = check_name(name)
        data = blob if blob is not None else fingerprint_bytes(fp)
        summary = summary_of(fp, len(data))
        key = key_of(fp).encode()
        with self.conn:
            exists = self.conn.execute(
                "SELECT 1 FROM library_entries WHERE name = ?", (name,)
            ).fetchone()
            if exists and not replace:
                raise LibraryError(f"{name!r} is already in the library (use --replace)")
            self.conn.execute(
                "INSERT OR REPLACE INTO library_entries (name, source, added, fp_version, "
                "fingerprint, summary) VALUES (?, ?, ?, ?, ?, ?)",
                (name, source, added or _now(), FORMAT_VERSION, data, json.dumps(summary)),
            )
            self.conn.execute(
                "INSERT OR REPLACE INTO library_keys (name, key_version, key) VALUES (?, ?, ?)",
                (name, KEY_VERSION, key),
            )
            self._bump()
        return LibraryEntry(name, source, added or _now(), FORMAT_VERSION, summary)

    def remove(self, name: str) -> None:
        with self.conn:
            cur = self.conn.execute("DELETE FROM library_entries WHERE name = ?", (name,))
            if cur.rowcount == 0:
                raise LibraryError(f"no library entry named {name!r}")
            self.conn.execute("DELETE FROM library_keys WHERE name = ?", (name,))
            self._bump()

    def _bump(self) -> None:
        self.conn.execute("UPDATE library_state SET generation = generation + 1 WHERE id = 1")

    # ---- reads --------------------------------------------------------------------------

    def generation(self) -> int:
        row = self.conn.execute("SELECT generation FROM library_state WHERE id = 1").fetchone()
        return int(row[0]) if row else 0

    def count(self) -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM library_entries").fetchone()[0])

    def has_hub_sources(self) -> bool:
        """Whether an entry was fingerprinted from an hf: target (its source column sits
        before the blob: no blob page is read)."""
        row = self.conn.execute(
            "SELECT 1 FROM library_entries WHERE source LIKE 'hf:%' LIMIT 1"
        ).fetchone()
        return row is not None

    def entries(self) -> list[LibraryEntry]:
        rows = self.conn.execute(
            "SELECT name, source, added, fp_version, summary FROM library_entries ORDER BY name"
        )
        return [LibraryEntry(n, s, a, v, json.loads(m)) for n, s, a, v, m in rows]

    def entry(self, name: str) -> LibraryEntry:
        row = self.conn.execute(
            "SELECT name, source, added, fp_version, summary FROM library_entries WHERE name = ?",
            (name,),
        ).fetchone()
        if row is None:
            raise LibraryError(f"no library entry named {name!r}")
        return LibraryEntry(row[0], row[1], row[2], row[3], json.loads(row[4]))

    def blob(self, name: str) -> bytes:
        row = self.conn.execute(
            "SELECT fingerprint FROM library_entries WHERE name = ?", (name,)
        ).fetchone()
        if row is None:
            raise LibraryError(f"no library entry named {name!r}")
        return bytes(row[0])

    def fingerprint(self, name: str) -> Fingerprint:
        return fingerprint_from_bytes(self.blob(name))

    def stale(self) -> list[str]:
        """Entries of another fingerprint format: to add again."""
        rows = self.conn.execute(
            "SELECT name FROM library_entries WHERE fp_version IS NOT ? ORDER BY name",
            (FORMAT_VERSION,),
        )
        return [r[0] for r in rows]

    def index_keys(self) -> Iterator[tuple[str, IndexKey]]:
        """(name, key) of every searchable entry; keys of another version are remade."""
        # The keys have their own table: a column after a fingerprint blob in the same row
        # is reached through the blob's overflow pages (10,000 entries: the whole 4 GiB store
        # read, 60 s, for a few MB of keys).
        rows = self.conn.execute(
            "SELECT e.name, k.key_version, k.key FROM library_entries AS e "
            "LEFT JOIN library_keys AS k ON k.name = e.name "
            "WHERE e.fp_version = ? ORDER BY e.name",
            (FORMAT_VERSION,),
        ).fetchall()
        for name, version, blob in rows:
            key = None
            if version == KEY_VERSION and blob is not None:
                try:
                    key = decode(bytes(blob))
                except KeyFormatError:
                    key = None
            if key is None:
                key = self._remake_key(name)
            yield name, key

    def _remake_key(self, name: str) -> IndexKey:
        key = key_of(self.fingerprint(name))
        with self.conn:
            self.conn.execute(
                "INSERT OR REPLACE INTO library_keys (name, key_version, key) VALUES (?, ?, ?)",
                (name, KEY_VERSION, key.encode()),
            )
        return key

"""The embedded store: one SQLite file for the result cache (by content hash), reference
code corpora and the fingerprint library. Each concern owns its tables and creates them
on first use through `ensure_schema`.

Location: $PROVSCAN_HOME/store.sqlite3, else the platform's user cache folder.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path

import platformdirs

_local = threading.local()


def home() -> Path:
    """Where provscan keeps its state (store, git clone cache)."""
    env = os.environ.get("PROVSCAN_HOME")
    base = Path(env) if env else Path(platformdirs.user_cache_dir("provscan"))
    base.mkdir(parents=True, exist_ok=True)
    return base


def default_store_path() -> Path:
    return home() / "store.sqlite3"


class Store:
    """A connection to the store; cheap to create, one per process (forked workers open
    their own: SQLite connections must not cross a fork)."""

    def __init__(self, path: Path | None = None):
        self.path = path or default_store_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(self.path, timeout=60)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute("PRAGMA foreign_keys=ON")
        self._schemas: set[str] = set()

    def ensure_schema(self, name: str, ddl: str) -> None:
        """Run a module's CREATE ... IF NOT EXISTS script once per connection."""
        if name not in self._schemas:
            self.conn.executescript(ddl)
            self._schemas.add(name)

    def close(self) -> None:
        self.conn.close()


def open_store(path: Path | None = None) -> Store:
    """The process's store (reopened after a fork)."""
    key = (os.getpid(), str(path or default_store_path()))
    cached = getattr(_local, "stores", {})
    store = cached.get(key)
    if store is None:
        store = Store(path)
        cached[key] = store
        _local.stores = cached
    return store

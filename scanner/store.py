"""The embedded store: one SQLite file for the result cache (by content hash), reference
code corpora and the fingerprint library. Each concern owns its tables and creates them
on first use through `ensure_schema`.

Location: $PROVSCAN_HOME/store.sqlite3, else the platform's user cache folder.

A home or store that cannot be used (a home that is a file or read-only, a full disk, a
damaged file) is a StoreError whose one line names the path and the remedy: commands that
need the store exit 2 with it, the audit goes on without its cache and says so.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path

import platformdirs

from .errors import ProvscanError

_local = threading.local()


class StoreError(ProvscanError):
    """provscan's home or its store cannot be used; the message names the path and what to
    do about it."""


def _home_path() -> Path:
    env = os.environ.get("PROVSCAN_HOME")
    return Path(env) if env else Path(platformdirs.user_cache_dir("provscan"))


def home() -> Path:
    """Where provscan keeps its state (store, git clone cache), created if need be."""
    base = _home_path()
    try:
        base.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(
            f"provscan's home {base} cannot be created ({exc.strerror or exc}); "
            "set PROVSCAN_HOME to a writable folder"
        ) from exc
    return base


def default_store_path() -> Path:
    return home() / STORE_FILE


STORE_FILE = "store.sqlite3"


def describe_store_error(exc: BaseException) -> str:
    """store_problem for the default store, for an error met while using it (the CLI's one
    line for a SQLite error in any command)."""
    return store_problem(exc, _home_path() / STORE_FILE)


def store_problem(exc: BaseException, path: Path) -> str:
    """One line: why the store at `path` cannot be used, and the remedy."""
    if isinstance(exc, StoreError):
        return str(exc)
    why = str(exc) or type(exc).__name__
    if isinstance(exc, OSError):
        why = exc.strerror or why
    if "not a database" in why or "malformed" in why:
        return (
            f"the store {path} is damaged ({why}); move it away and provscan makes a new "
            "one (indexed corpora must then be added again)"
        )
    if "full" in why or "No space" in why:
        return (
            f"the store {path} cannot be written ({why}); free disk space there or set "
            "PROVSCAN_HOME to a folder with room"
        )
    return f"the store {path} cannot be used ({why}); set PROVSCAN_HOME to a writable folder"


class Store:
    """A connection to the store; cheap to create, one per process (forked workers open
    their own: SQLite connections must not cross a fork)."""

    def __init__(self, path: Path | None = None):
        self.path = path or default_store_path()
        conn = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=60)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
        except (sqlite3.Error, OSError) as exc:
            if conn is not None:
                conn.close()
            raise StoreError(store_problem(exc, self.path)) from exc
        self.conn = conn
        self._schemas: set[str] = set()

    def ensure_schema(self, name: str, ddl: str) -> None:
        """Run a module's CREATE ... IF NOT EXISTS script once per connection."""
        if name not in self._schemas:
            try:
                self.conn.executescript(ddl)
            except sqlite3.Error as exc:
                raise StoreError(store_problem(exc, self.path)) from exc
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

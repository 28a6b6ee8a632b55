"""The clone cache: one bare, blobless clone per URL under PROVSCAN_HOME/git, and the
blob files analyzers read.

A clone is written by one scan at a time: clone, fetch, listing and prefetch hold an flock
on `<clone>.lock` (git's own ref updates are not safe between two fetches into one
repository), and temporary clones are named after their URL, so whoever holds the lock
removes those a killed scan left. Blob files (git/blobs/ab/<oid>) are shared by every
clone; each is checked against its object id before it is used (a planted or torn file is
rewritten) and written whole or not at all (own temporary file, fsync, rename).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import SourceError
from ..snapshot import ContentReader
from ..store import home
from .limits import current_limits

_CHUNK = 1 << 20

# No prompt for credentials (a scan must never hang on a terminal); only these transports,
# for every git process we start, lazy fetches and redirects included (ext::, fd:: refused);
# a stalled HTTP transfer is dropped after a minute below 1 KB/s.
_GIT_ENV = {
    "GIT_TERMINAL_PROMPT": "0",
    "GCM_INTERACTIVE": "never",
    "GIT_ALLOW_PROTOCOL": "file:git:http:https:ssh",
    "GIT_HTTP_LOW_SPEED_LIMIT": "1000",
    "GIT_HTTP_LOW_SPEED_TIME": "60",
}


def git_env() -> dict[str, str]:
    """The environment of every git process we start."""
    env = dict(_GIT_ENV)
    if not os.environ.get("GIT_SSH_COMMAND") and not os.environ.get("GIT_SSH"):
        env["GIT_SSH_COMMAND"] = "ssh -o BatchMode=yes"  # never a password prompt either
    return env


def git_module():  # type: ignore[no-untyped-def]
    """GitPython, imported late: `import git` looks for the git binary at import time."""
    try:
        import git
    except ImportError as exc:  # no git binary on PATH
        raise SourceError(f"git is not usable here: {exc}") from None
    return git


def cache_folder(url: str) -> Path:
    return home() / "git" / hashlib.sha256(url.encode()).hexdigest()[:24]


def clone_prefix(folder: Path) -> str:
    """Temporary clones of one URL are named after its cache folder: whoever holds that
    URL's lock knows every one left is a killed clone's."""
    return f".clone-{folder.name}-"


@contextmanager
def clone_lock(folder: Path, offline: bool, timeout: float | None = None) -> Iterator[None]:
    """Hold the clone cache of one URL alone (an flock on `<folder>.lock`, waited for up
    to `timeout` seconds: by default the source timeout, as long as this scan's own clone
    or fetch could take), and clear what killed clones of it left. Offline scans only read
    the clone, and take no lock."""
    if offline:
        yield
        return
    if timeout is None:
        timeout = current_limits().source_timeout
    folder.parent.mkdir(parents=True, exist_ok=True)
    lock = folder.with_name(folder.name + ".lock")
    fd = os.open(lock, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise SourceError(
                        f"another provscan has been cloning or fetching this repository for "
                        f"over {timeout:.0f} s (lock {lock}); try again later"
                    ) from None
                time.sleep(0.05)
        for stale in folder.parent.glob(clone_prefix(folder) + "*"):
            shutil.rmtree(stale, ignore_errors=True)
        yield
    finally:
        os.close(fd)  # releases the lock


class GitBlobReader(ContentReader):
    """Reads blobs of one revision; whole-file access goes through a content-addressed
    cache file (the blob's id names it), so range reads are seeks, not re-streams."""

    def __init__(self, repo: object, blobs: dict[str, str], blob_dir: Path):
        self._repo = repo
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._blobs = blobs
        self._dir = blob_dir
        self._verified: set[str] = set()

    def _current_repo(self) -> object:
        """The repository handle of this process: its cat-file pipe must not be shared
        with a forked worker."""
        if self._pid != os.getpid():
            git = git_module()
            self._repo = git.Repo(self._repo.git_dir)  # type: ignore[attr-defined]
            self._repo.git.update_environment(**git_env())  # type: ignore[attr-defined]
            self._pid = os.getpid()
            self._lock = threading.Lock()
        return self._repo

    def _oid(self, path: str) -> str:
        try:
            return self._blobs[path]
        except KeyError:
            raise SourceError(f"{path}: not a file of this release") from None

    def local_path(self, path: str) -> Path:
        """The blob's cache file, checked against its object id once per reader (a planted
        or torn entry is replaced), written whole or not at all."""
        oid = self._oid(path)
        target = self._dir / oid[:2] / oid
        if oid in self._verified or (target.is_file() and _holds_blob(target, oid)):
            self._verified.add(oid)
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".part-")
        try:
            with os.fdopen(fd, "wb") as out, self._lock:
                digest = _object_hash(oid)
                stream = self._current_repo().odb.stream(bytes.fromhex(oid))  # type: ignore[attr-defined]
                digest.update(b"blob %d\0" % stream.size)
                while chunk := stream.read(_CHUNK):  # to its end: the cat-file pipe is shared
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            if digest.hexdigest() != oid:
                raise SourceError(f"{path}: git gave content that does not match its object id")
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        _sync_folder(target.parent)
        self._verified.add(oid)
        return target

    def read_range(self, path: str, start: int, length: int) -> bytes:
        with open(self.local_path(path), "rb") as fh:
            fh.seek(start)
            return fh.read(length)


def stream_blob(repo: object, oid: str) -> Iterator[bytes]:
    """A blob's content in chunks, read to its end (the shared cat-file process must not
    be left mid-object)."""
    stream = repo.odb.stream(bytes.fromhex(oid))  # type: ignore[attr-defined]
    while chunk := stream.read(_CHUNK):
        yield chunk


def _object_hash(oid: str) -> Any:
    """A hash primed as git hashes a blob ("blob <size>\\0" then the content comes)."""
    return hashlib.sha1(usedforsecurity=False) if len(oid) == 40 else hashlib.sha256()


def _holds_blob(path: Path, oid: str) -> bool:
    """Whether a cache file holds exactly the blob `oid` names."""
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            digest = _object_hash(oid)
            digest.update(b"blob %d\0" % size)
            while chunk := fh.read(_CHUNK):
                digest.update(chunk)
    except OSError:
        return False
    return bool(digest.hexdigest() == oid)


def _sync_folder(folder: Path) -> None:
    """Make a rename into `folder` durable (best effort: not every filesystem can)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)

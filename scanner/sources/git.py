"""A git repository at a revision, read from a blobless bare clone without any checkout.

Why a bare, blobless clone in a cache: commits and trees are small, blobs are fetched once
for the one revision scanned, nothing is checked out (so no hook, filter or attribute of the
untrusted repository ever runs), and the next scan of the same URL only fetches what changed.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import posixpath
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from ..card import read_card
from ..errors import SourceError
from ..model import FileEntry, FileKind, Finding, not_analysed
from ..snapshot import ContentReader, Progress, Snapshot
from ..store import home
from .interface import (
    Hashed,
    Source,
    clean_path,
    entry_of,
    fail_if_too_many,
    hash_chunks,
    split_revision,
)
from .limits import current_limits

_CHUNK = 1 << 20
# How many missing blobs one prefetch command asks for (bounded command lines).
_PREFETCH_BATCH = 2000
_MAX_SYMLINK_HOPS = 8
# How long a scan waits for another scan of the same URL to finish its clone or fetch.
CLONE_LOCK_TIMEOUT = 600.0
# One record of `git ls-tree -z` longer than this is no real path (PATH_MAX is 4096).
_MAX_TREE_RECORD = 1 << 20
_MODE_SUBMODULE = "160000"
_MODE_SYMLINK = "120000"
# `<transport>::<address>` runs a remote helper; ext:: and fd:: run commands or use fds.
_REMOTE_HELPER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9+.-]*::")
_URL_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_SAFE_SCHEMES = {"https", "http", "git", "ssh", "file"}
_SCP_LIKE = re.compile(r"^[\w.-]+@[\w.-]+:")
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


def _git_env() -> dict[str, str]:
    env = dict(_GIT_ENV)
    if not os.environ.get("GIT_SSH_COMMAND") and not os.environ.get("GIT_SSH"):
        env["GIT_SSH_COMMAND"] = "ssh -o BatchMode=yes"  # never a password prompt either
    return env


def _git():  # type: ignore[no-untyped-def]
    """GitPython, imported late: `import git` looks for the git binary at import time."""
    try:
        import git
    except ImportError as exc:  # no git binary on PATH
        raise SourceError(f"git is not usable here: {exc}") from None
    return git


_GENERIC = (
    "could not read from remote repository",
    "please make sure you have",
    "and the repository exists",
    "cloning into",
    "warning:",
    "stderr:",
)


def _one_line(exc: Exception) -> str:
    """git's own explanation, on one line: its first specific 'fatal:' or 'error:' line,
    else the transport's own line (ssh's), rather than git's generic epilogue."""
    text = str(getattr(exc, "stderr", "") or exc)
    if "kill_after_timeout" in text:
        return f"took more than the --source-timeout ({current_limits().source_timeout:g} s)"
    lines = [ln.strip().strip("'").strip() for ln in text.splitlines() if ln.strip()]
    specific = [ln for ln in lines if not any(g in ln.lower() for g in _GENERIC)]
    for prefix in ("fatal:", "error:"):
        hits = [ln for ln in specific if prefix in ln]
        if hits:
            return hits[0].split(prefix, 1)[1].strip()
    if specific:
        return specific[0]
    return lines[-1].split(":", 1)[-1].strip() if lines else type(exc).__name__


def normalise_location(location: str) -> str:
    """The URL to clone, refusing option injection, remote helpers and unknown schemes."""
    if not location:
        raise SourceError("empty git location")
    if location.startswith("-"):
        raise SourceError(f"{location}: a git location cannot start with '-'")
    if _REMOTE_HELPER.match(location):
        helper = location.split("::", 1)[0]
        raise SourceError(f"{location}: the git '{helper}::' transport is refused (unsafe)")
    scheme = _URL_SCHEME.match(location)
    if scheme:
        if scheme.group(1).lower() not in _SAFE_SCHEMES:
            raise SourceError(f"{location}: the '{scheme.group(1)}://' transport is refused")
        return location
    if _SCP_LIKE.match(location):
        return location
    path = Path(location).expanduser()
    if not path.exists():
        raise SourceError(f"{location}: no such file or folder")
    path = path.resolve()
    if not _looks_like_repository(path):
        raise SourceError(f"{location}: not a git repository")
    return path.as_uri()


def _looks_like_repository(path: Path) -> bool:
    if (path / ".git").exists():
        return True
    return (path / "HEAD").is_file() and (path / "objects").is_dir() and (path / "refs").is_dir()


def cache_folder(url: str) -> Path:
    return home() / "git" / hashlib.sha256(url.encode()).hexdigest()[:24]


def _redact(url: str) -> str:
    """Never print credentials that a URL may carry."""
    return re.sub(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/@]*@", r"\1***@", url)


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
            git = _git()
            self._repo = git.Repo(self._repo.git_dir)  # type: ignore[attr-defined]
            self._repo.git.update_environment(**_git_env())  # type: ignore[attr-defined]
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


def _stream_blob(repo: object, oid: str) -> Iterator[bytes]:
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


@dataclass(frozen=True)
class _TreeEntry:
    mode: str
    kind: str
    oid: str
    path: str


def _list_tree(repo: object, commit: str) -> list[_TreeEntry]:
    """Every entry of the revision's tree, read as git writes them and stopped at the file
    limit: a tree of 10^8 paths fits in a few hundred bytes of objects."""
    proc = repo.git.ls_tree(  # type: ignore[attr-defined]
        "-r", "-z", "--full-tree", commit, as_process=True
    )
    out: list[_TreeEntry] = []
    try:
        for record in _records(proc.proc.stdout):
            meta, _, raw_path = record.partition(b"\t")
            mode, kind, oid = meta.decode("ascii", errors="replace").split()
            out.append(_TreeEntry(mode, kind, oid, raw_path.decode("utf-8", "surrogateescape")))
            fail_if_too_many(len(out), commit)
        stderr = proc.proc.stderr.read(4096)
        if proc.proc.wait() != 0:
            why = stderr.decode("utf-8", "replace").strip().splitlines()
            raise SourceError(f"cannot list the tree of {commit}: {why[0] if why else '?'}")
    finally:
        if proc.proc.poll() is None:
            proc.proc.kill()
            proc.proc.wait()
    return out


def _records(stream: IO[bytes]) -> Iterator[bytes]:
    """NUL-terminated records of a stream, each bounded."""
    pending = b""
    while chunk := stream.read(_CHUNK):
        pending += chunk
        *records, pending = pending.split(b"\0")
        yield from (r for r in records if r)
        if len(pending) > _MAX_TREE_RECORD:
            raise SourceError("a git tree entry longer than any real path; refused")
    if pending:
        yield pending


class GitSource(Source):
    name = "git"

    def open(self, spec: str, *, offline: bool, progress: Progress) -> Snapshot:
        location, rev = split_revision(spec)
        if rev is not None and rev.startswith("-"):
            raise SourceError(f"{rev}: a revision cannot start with '-'")
        url = normalise_location(location)
        # Every step that writes the clone holds its lock: git's own ref updates are not
        # safe between two fetches into one repository ("cannot lock ref").
        with clone_lock(cache_folder(url), offline):
            deadline = time.monotonic() + current_limits().source_timeout
            repo, how = self._clone_or_update(url, offline, progress, deadline)
            commit = _resolve(repo, rev, location)
            entries = _list_tree(repo, commit)
            missing = _missing_blobs(repo, commit)
            if missing and not offline:
                _prefetch(repo, sorted(missing), progress, deadline)
                missing = _missing_blobs(repo, commit)
        files, blobs, problems = _inventory(repo, entries, missing, progress)
        reader = GitBlobReader(repo, blobs, home() / "git" / "blobs")
        card, card_problems = read_card(files, reader)
        return Snapshot(
            target=spec,
            source=self.name,
            revision=commit,
            files=files,
            reader=reader,
            card=card,
            problems=tuple(problems) + card_problems,
            info={
                "url": _redact(url),
                "ref": rev or "HEAD",
                "commit": commit,
                "clone": how,
                "cache": str(cache_folder(url)),
            },
        )

    def _clone_or_update(
        self, url: str, offline: bool, progress: Progress, deadline: float
    ) -> tuple[object, str]:
        git = _git()
        folder = cache_folder(url)
        if folder.is_dir():
            try:
                repo = git.Repo(folder)
            except git.exc.GitError:
                shutil.rmtree(folder, ignore_errors=True)  # a broken cache: start again
            else:
                repo.git.update_environment(**_git_env())
                if offline:
                    return repo, "cache (offline)"
                with progress.task(f"fetching {_redact(url)}"):
                    try:
                        repo.git.fetch(
                            "origin",
                            "--prune",
                            "--force",
                            "--tags",
                            "+refs/heads/*:refs/heads/*",
                            kill_after_timeout=_time_left(deadline),
                        )
                    except git.exc.GitCommandError as exc:
                        raise SourceError(
                            f"{_redact(url)}: cannot fetch: {_one_line(exc)}"
                        ) from None
                return repo, "cache (fetched)"
        if offline:
            raise SourceError(
                f"{_redact(url)}: not in the clone cache, and offline mode is on "
                "(--offline or HF_HUB_OFFLINE=1)"
            )
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=_clone_prefix(folder)))
        try:
            with progress.task(f"cloning {_redact(url)}"):
                repo = git.Repo.clone_from(
                    url, tmp, bare=True, env=_git_env(), multi_options=["--filter=blob:none"]
                )
            os.replace(tmp, folder)
        except git.exc.UnsafeProtocolError:
            shutil.rmtree(tmp, ignore_errors=True)
            raise SourceError(f"{_redact(url)}: unsafe git transport refused") from None
        except git.exc.GitCommandError as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            raise SourceError(f"{_redact(url)}: cannot clone: {_one_line(exc)}") from None
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
            if not folder.is_dir():
                raise
            # Another scan cloned it first: use theirs.
        repo = git.Repo(folder)
        repo.git.update_environment(**_git_env())
        return repo, "cloned"


def _clone_prefix(folder: Path) -> str:
    """Temporary clones of one URL are named after its cache folder: whoever holds that
    URL's lock knows every one left is a killed clone's."""
    return f".clone-{folder.name}-"


@contextmanager
def clone_lock(folder: Path, offline: bool, timeout: float = CLONE_LOCK_TIMEOUT) -> Iterator[None]:
    """Hold the clone cache of one URL alone (an flock on `<folder>.lock`, waited for up
    to `timeout` seconds), and clear what killed clones of it left. Offline scans only
    read the clone, and take no lock."""
    if offline:
        yield
        return
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
        for stale in folder.parent.glob(_clone_prefix(folder) + "*"):
            shutil.rmtree(stale, ignore_errors=True)
        yield
    finally:
        os.close(fd)  # releases the lock


def _resolve(repo: object, rev: str | None, location: str) -> str:
    """A branch, tag, remote branch ('origin/x') or (abbreviated) commit sha -> commit sha."""
    git = _git()
    # git's own precedence (tag before branch before sha); the bare clone keeps the
    # remote's branches as local ones, so 'origin/x' is looked up as 'x'.
    candidates = ["HEAD" if rev is None else rev]
    if rev is not None and rev.startswith("origin/"):
        candidates.append(f"refs/heads/{rev[len('origin/') :]}")
    for name in candidates:
        try:
            sha = repo.git.rev_parse(  # type: ignore[attr-defined]
                "--verify", "--quiet", "--end-of-options", f"{name}^{{commit}}"
            )
        except git.exc.GitCommandError:
            continue
        return str(sha).strip()
    if rev is None:
        raise SourceError(f"{location}: the repository has no commits")
    raise SourceError(f"{location}: unknown revision '{rev}' (no such branch, tag or commit)")


def _missing_blobs(repo: object, commit: str) -> set[str]:
    """Blobs of this revision not yet in the clone (listing them fetches nothing)."""
    out = repo.git.rev_list(  # type: ignore[attr-defined]
        "--objects", "--no-walk", "--missing=print", commit
    )
    return {line[1:].split()[0] for line in out.splitlines() if line.startswith("?")}


def _time_left(deadline: float) -> float:
    """Seconds a git command may still run (GitPython kills it then, and says so)."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise SourceError(
            f"the git source took more than {current_limits().source_timeout:g} s "
            "(--source-timeout)"
        )
    return left


def _prefetch(repo: object, oids: list[str], progress: Progress, deadline: float) -> None:
    """Fetch the revision's blobs in a few batches, as git's own lazy fetch does for one."""
    git = _git()
    with progress.task("fetching file contents", total=len(oids)) as handle:
        for i in range(0, len(oids), _PREFETCH_BATCH):
            batch = oids[i : i + _PREFETCH_BATCH]
            try:
                repo.git(c="fetch.negotiationAlgorithm=noop").fetch(  # type: ignore
                    "origin",
                    "--no-tags",
                    "--no-write-fetch-head",
                    "--recurse-submodules=no",
                    "--filter=blob:none",
                    *batch,
                    kill_after_timeout=_time_left(deadline),
                )
            except git.exc.GitCommandError as exc:
                raise SourceError(f"cannot fetch file contents: {_one_line(exc)}") from None
            progress.advance(handle, len(batch))


# The longest target a symlink can have on Linux (PATH_MAX); a crafted tree may give one a
# blob of gigabytes, which must not be read into memory.
_MAX_LINK_BYTES = 4096


def _read_link(repo: object, oid: str) -> bytes | None:
    """A symlink blob's target, or None when it is longer than any real one."""
    head = b""
    size = 0
    for chunk in _stream_blob(repo, oid):  # read to its end: the cat-file pipe is shared
        size += len(chunk)
        if len(head) <= _MAX_LINK_BYTES:
            head += chunk[: _MAX_LINK_BYTES + 1 - len(head)]
    return head if size <= _MAX_LINK_BYTES else None


def _follow_links(
    entry: _TreeEntry,
    by_path: dict[str, _TreeEntry],
    missing: set[str],
    repo: object,
    links: dict[str, bytes | None],
) -> tuple[_TreeEntry | None, str]:
    """The blob a (chain of) symlink(s) leads to inside the tree, or why there is none.

    Links are resolved within the tree only: an absolute target or one climbing above
    the root is never followed, whatever it would point to on this machine.
    """
    current = entry
    for _ in range(_MAX_SYMLINK_HOPS):
        if current.mode != _MODE_SYMLINK:
            return current, ""
        if current.oid in missing:
            return None, "content not in the clone cache (offline)"
        if current.oid not in links:
            links[current.oid] = _read_link(repo, current.oid)
        raw = links[current.oid]
        if raw is None:
            return None, "symlink target longer than a path can be; not followed"
        text = raw.decode("utf-8", errors="replace")
        joined = posixpath.normpath(posixpath.join(posixpath.dirname(current.path), text))
        if text.startswith("/") or not safe_tree_path(joined):
            return None, "symlink points outside the release; not followed"
        target = by_path.get(joined)
        if target is None or target.mode == _MODE_SUBMODULE:
            return None, "symlink to a folder, a submodule or nothing; not followed"
        current = target
    return None, "symlink chain too long or looping; not followed"


def safe_tree_path(path: str) -> bool:
    """A release-relative path a checkout would create: no '', '.', '..' or '.git' part."""
    return (
        bool(path)
        and "\\" not in path
        and all(p not in ("", ".", "..") and p.lower() != ".git" for p in path.split("/"))
    )


def _inventory(
    repo: object, entries: list[_TreeEntry], missing: set[str], progress: Progress
) -> tuple[tuple[FileEntry, ...], dict[str, str], list[Finding]]:
    by_path = {e.path: e for e in entries}
    files: list[FileEntry] = []
    blobs: dict[str, str] = {}
    problems: list[Finding] = []
    # One blob under many paths (a tree bomb's way) is read and hashed once.
    hashed: dict[str, Hashed] = {}
    links: dict[str, bytes | None] = {}
    with progress.task("hashing files") as handle:
        for entry in entries:
            if not safe_tree_path(entry.path):
                # A crafted tree (git fsck would refuse it, a fetch does not check by
                # default) must not give a report a path that climbs out of the release.
                problems.append(
                    not_analysed(
                        None,
                        f"unsafe path {clean_path(entry.path[:200])!r} in the git tree "
                        "('..', '.git' or absolute); refused",
                        "source",
                    )
                )
                continue
            path = clean_path(entry.path)  # what reports show: valid Unicode
            if entry.mode == _MODE_SUBMODULE:
                files.append(
                    FileEntry(
                        path=path, size=0, sha256=None, kind=FileKind.SUBMODULE, target=entry.oid
                    )
                )
                continue
            blob, why = _follow_links(entry, by_path, missing, repo, links)
            if blob is not None and blob.oid in missing:
                blob, why = None, "content not in the clone cache (offline)"
            if blob is None:
                problems.append(not_analysed(path, why, "source"))
                continue
            if blob.oid not in hashed:
                hashed[blob.oid] = hash_chunks(_stream_blob(repo, blob.oid), progress, handle)
            files.append(entry_of(path, hashed[blob.oid]))
            blobs[path] = blob.oid
    return tuple(files), blobs, problems

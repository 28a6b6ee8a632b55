"""A git repository at a revision, read from a blobless bare clone without any checkout.

Why a bare, blobless clone in a cache: commits and trees are small, blobs are fetched once
for the one revision scanned, nothing is checked out (so no hook, filter or attribute of the
untrusted repository ever runs), and the next scan of the same URL only fetches what changed.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import re
import shutil
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..card import read_card
from ..errors import SourceError
from ..model import FileEntry, FileKind, Finding, not_analysed
from ..snapshot import ContentReader, Progress, Snapshot
from ..store import home
from .interface import (
    Source,
    clean_path,
    fail_if_too_many,
    hashed_entry,
    split_revision,
)

_CHUNK = 1 << 20
# How many missing blobs one prefetch command asks for (bounded command lines).
_PREFETCH_BATCH = 2000
_MAX_SYMLINK_HOPS = 8
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
        oid = self._oid(path)
        target = self._dir / oid[:2] / oid
        if target.is_file():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".part-")
        try:
            with os.fdopen(fd, "wb") as out, self._lock:
                for chunk in _stream_blob(self._current_repo(), oid):
                    out.write(chunk)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
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


@dataclass(frozen=True)
class _TreeEntry:
    mode: str
    kind: str
    oid: str
    path: str


def _list_tree(repo: object, commit: str) -> list[_TreeEntry]:
    raw = repo.git.ls_tree("-r", "-z", "--full-tree", commit)  # type: ignore[attr-defined]
    out = []
    for record in raw.split("\0"):
        if not record:
            continue
        meta, _, path = record.partition("\t")
        mode, kind, oid = meta.split()
        out.append(_TreeEntry(mode, kind, oid, path))
        fail_if_too_many(len(out), commit)
    return out


class GitSource(Source):
    name = "git"

    def open(self, spec: str, *, offline: bool, progress: Progress) -> Snapshot:
        location, rev = split_revision(spec)
        if rev is not None and rev.startswith("-"):
            raise SourceError(f"{rev}: a revision cannot start with '-'")
        url = normalise_location(location)
        repo, how = self._clone_or_update(url, offline, progress)
        commit = _resolve(repo, rev, location)
        entries = _list_tree(repo, commit)
        missing = _missing_blobs(repo, commit)
        if missing and not offline:
            _prefetch(repo, sorted(missing), progress)
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

    def _clone_or_update(self, url: str, offline: bool, progress: Progress) -> tuple[object, str]:
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
                            "origin", "--prune", "--force", "--tags", "+refs/heads/*:refs/heads/*"
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
        tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".clone-"))
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


def _prefetch(repo: object, oids: list[str], progress: Progress) -> None:
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
    entry: _TreeEntry, by_path: dict[str, _TreeEntry], missing: set[str], repo: object
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
        raw = _read_link(repo, current.oid)
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
    with progress.task("hashing files", unit="bytes") as handle:
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
            blob, why = _follow_links(entry, by_path, missing, repo)
            if blob is not None and blob.oid in missing:
                blob, why = None, "content not in the clone cache (offline)"
            if blob is None:
                problems.append(not_analysed(path, why, "source"))
                continue
            files.append(_hash_entry(repo, path, blob.oid, progress, handle))
            blobs[path] = blob.oid
    return tuple(files), blobs, problems


def _hash_entry(repo: object, path: str, oid: str, progress: Progress, handle: object) -> FileEntry:
    return hashed_entry(path, _stream_blob(repo, oid), progress, handle)

"""A git repository at a revision, read from a blobless bare clone without any checkout.

Why a bare, blobless clone in a cache: commits and trees are small, blobs are fetched once
for the one revision scanned, nothing is checked out (so no hook, filter or attribute of the
untrusted repository ever runs), and the next scan of the same URL only fetches what changed.
The cache itself (its lock, its blob files) is gitcache.py; the tree, gittree.py.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from pathlib import Path

from ..card import read_card
from ..errors import SourceError
from ..snapshot import Progress, Snapshot
from ..store import home
from .gitcache import (
    GitBlobReader,
    cache_folder,
    clone_lock,
    clone_prefix,
    git_env,
    git_module,
)
from .gittree import inventory, list_tree
from .interface import Source, split_revision
from .limits import current_limits

# How many missing blobs one prefetch command asks for (bounded command lines).
_PREFETCH_BATCH = 2000
# `<transport>::<address>` runs a remote helper; ext:: and fd:: run commands or use fds.
_REMOTE_HELPER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9+.-]*::")
_URL_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_SAFE_SCHEMES = {"https", "http", "git", "ssh", "file"}
_SCP_LIKE = re.compile(r"^[\w.-]+@[\w.-]+:")
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


def _redact(url: str) -> str:
    """Never print credentials that a URL may carry."""
    return re.sub(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/@]*@", r"\1***@", url)


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
            entries = list_tree(repo, commit)
            missing = _missing_blobs(repo, commit)
            if missing and not offline:
                _prefetch(repo, sorted(missing), progress, deadline)
                missing = _missing_blobs(repo, commit)
        files, blobs, problems = inventory(repo, entries, missing, progress)
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
        git = git_module()
        folder = cache_folder(url)
        if folder.is_dir():
            try:
                repo = git.Repo(folder)
            except git.exc.GitError:
                shutil.rmtree(folder, ignore_errors=True)  # a broken cache: start again
            else:
                repo.git.update_environment(**git_env())
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
        tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=clone_prefix(folder)))
        try:
            with progress.task(f"cloning {_redact(url)}"):
                repo = git.Repo.clone_from(
                    url, tmp, bare=True, env=git_env(), multi_options=["--filter=blob:none"]
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
        repo.git.update_environment(**git_env())
        return repo, "cloned"


def _resolve(repo: object, rev: str | None, location: str) -> str:
    """A branch, tag, remote branch ('origin/x') or (abbreviated) commit sha -> commit sha."""
    git = git_module()
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
    git = git_module()
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

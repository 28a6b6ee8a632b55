"""A Hugging Face Hub model repository, `hf:org/name[@rev]`, through huggingface_hub.

What is fetched, and why: the model info with files metadata (list, sizes, LFS sha256,
card data) in one call; the small non-weight files (card, config, tokenizer, code,
licenses) through the normal Hub cache; of the weights, only the safetensors headers, by
two HTTP range reads each. A weight file is downloaded only when an analyzer asks for its
local path. Offline (`--offline`, HF_HUB_OFFLINE=1) everything comes from the local cache.
Every request goes through hubhttp.py's client: bounded bodies, bounded retries, deadlines
(one HubSession per target, kept by its reader for the downloads analyzers ask for later).

Over 400 lines on purpose: one source, online and offline, whose every path must agree on
what a file is (its size, hash, LFS state); the HTTP limits already live in hubhttp.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from ..card import card_from_mapping, read_card
from ..classify import classify
from ..errors import SourceError
from ..model import CardData, FileEntry, FileKind, Finding, LfsPointer, not_analysed
from ..snapshot import (
    MAX_TEXT_BYTES,
    ContentReader,
    Progress,
    Snapshot,
    is_release_path,
    resolve_inside,
)
from .hubcache import (
    load_record,
    repo_folder,
    resolve_cached_revision,
    save_record,
    snapshot_files,
    write_ref,
)
from .hubhttp import (
    BodyRules,
    HubHttpError,
    HubOutOfReach,
    HubSession,
    body_rules,
    current_session,
    hub_session,
    install_client,
)
from .interface import (
    Source,
    clean_path,
    fail_if_too_many,
    parse_safetensors_header,
    split_revision,
)
from .pinned import Pin, check_content, hash_pinned, open_pinned

# Non-weight files above this size are listed from metadata, not downloaded.
MAX_DOWNLOAD = 50 * 1024 * 1024
_TIMEOUT = 30.0
_CHUNK = 1 << 20
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]{0,95}(/[A-Za-z0-9][\w.-]{0,95})?$")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
T = TypeVar("T")


class HubUnreachable(SourceError):
    """No answer from the Hub at all: nothing else of the scan can go on."""


def parse_spec(spec: str) -> tuple[str, str | None]:
    repo_id, rev = split_revision(spec)
    if not _REPO_ID.match(repo_id) or ".." in repo_id:
        raise SourceError(f"hf:{spec}: not a Hub repository id (expected hf:org/name[@rev])")
    if rev is not None and (rev.startswith("-") or ".." in rev):
        raise SourceError(f"hf:{spec}: not a usable revision name")
    return repo_id, rev


def hub_error(exc: BaseException, repo_id: str, rev: str | None) -> SourceError:
    """One clear line for each way the Hub can say no."""
    import httpx2
    from huggingface_hub import constants
    from huggingface_hub import errors as e

    where = f"hf:{repo_id}"
    if isinstance(exc, e.GatedRepoError):
        return SourceError(f"{where}: gated repository; access not granted to this account")
    if isinstance(exc, e.RepositoryNotFoundError):
        return SourceError(
            f"{where}: repository not found on {constants.ENDPOINT} (or private and no access)"
        )
    if isinstance(exc, e.RevisionNotFoundError):
        return SourceError(f"{where}: unknown revision '{rev or 'main'}'")
    if isinstance(exc, e.DisabledRepoError):
        return SourceError(f"{where}: repository disabled on the Hub")
    if isinstance(exc, e.RemoteEntryNotFoundError):
        return SourceError(f"{where}: file not found at revision {rev or 'main'}")
    if isinstance(exc, e.OfflineModeIsEnabled):
        return HubUnreachable(f"{where}: offline mode is on and the file is not in the Hub cache")
    if isinstance(exc, e.LocalEntryNotFoundError):
        return HubUnreachable(
            f"{where}: cannot reach {constants.ENDPOINT} and the file is not in the Hub cache"
        )
    if isinstance(exc, httpx2.TooManyRedirects):
        return SourceError(f"{where}: the Hub's redirects loop (more than a few); refused")
    if isinstance(exc, httpx2.TransportError | ConnectionError | TimeoutError):
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return HubUnreachable(f"{where}: cannot reach the Hub at {constants.ENDPOINT} ({reason})")
    if isinstance(exc, e.HfHubHTTPError):
        status = exc.response.status_code if exc.response is not None else "?"
        if status in (401, 403):
            return SourceError(
                f"{where}: not authorised ({status}); log in with a token that has access"
            )
        return SourceError(
            f"{where}: {constants.ENDPOINT} answered HTTP {status} "
            "(is it a Hugging Face Hub endpoint?)"
        )
    first = str(exc).splitlines()[0] if str(exc) else ""
    return SourceError(f"{where}: {type(exc).__name__}: {first}")


def _hub_call(fn: Callable[[], T], repo_id: str, rev: str | None) -> T:
    import httpx2
    from huggingface_hub import errors as e

    install_client()
    try:
        return fn()
    except HubOutOfReach as exc:
        raise HubUnreachable(f"hf:{repo_id}: {exc}") from None
    except HubHttpError as exc:
        raise SourceError(f"hf:{repo_id}: {exc}") from None
    except (
        e.HfHubHTTPError,
        e.OfflineModeIsEnabled,
        e.LocalEntryNotFoundError,
        httpx2.HTTPError,
        ConnectionError,
        TimeoutError,
    ) as exc:
        raise hub_error(exc, repo_id, rev) from None


def _model_info_without_card(repo_id: str, rev: str | None) -> tuple[Any, object]:
    """model_info(files_metadata=True), its card metadata set aside untyped: (info, card)."""
    from urllib.parse import quote

    from huggingface_hub import HfApi
    from huggingface_hub.hf_api import ModelInfo
    from huggingface_hub.utils import build_hf_headers, get_session, hf_raise_for_status

    api = HfApi()
    path = f"{api.endpoint}/api/models/{repo_id}"
    if rev is not None:
        path += f"/revision/{quote(rev, safe='')}"
    r = get_session().get(
        path, headers=build_hf_headers(), timeout=_TIMEOUT, params={"blobs": True}
    )
    hf_raise_for_status(r)
    try:
        data = r.json()
        if not isinstance(data, dict):
            raise ValueError("not an object")
        card = data.pop("cardData", None)
        data.pop("card_data", None)
        return ModelInfo(**data), card
    except (TypeError, KeyError, ValueError, AttributeError, RecursionError) as exc:
        raise SourceError(
            f"hf:{repo_id}: the Hub's answer is not valid model info ({type(exc).__name__})"
        ) from None


@dataclass(frozen=True)
class RemoteFile:
    """A file as the Hub's metadata describes it."""

    path: str
    size: int | None
    blob_id: str | None = None
    lfs_sha256: str | None = None
    lfs_size: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _safe_release_path(path: object) -> bool:
    """A relative path a checkout would create, as valid Unicode (no lone surrogates)."""
    return is_release_path(path) and clean_path(str(path)) == path


def read_remote_range(
    repo_id: str, commit: str, path: str, start: int, length: int, ranged_only: bool = False
) -> bytes:
    """Bytes [start, start+length) of a Hub file by one HTTP Range request; if the server
    ignores Range, only what was asked for is read before the connection is dropped.
    `ranged_only`: a server that ignores Range is refused instead (each of a remote
    fingerprint's hundreds of reads would stream the file from its start)."""
    from huggingface_hub import hf_hub_url
    from huggingface_hub.utils import build_hf_headers, get_session, hf_raise_for_status

    if length <= 0:
        return b""
    headers = build_hf_headers()
    headers["Range"] = f"bytes={start}-{start + length - 1}"
    headers["Accept-Encoding"] = "identity"
    url = hf_hub_url(repo_id, path, revision=commit)

    def request() -> bytes:
        with get_session().stream(
            "GET", url, headers=headers, follow_redirects=True, timeout=_TIMEOUT
        ) as response:
            if response.status_code == 416:
                return b""
            if response.status_code >= 400:
                response.read()
                hf_raise_for_status(response)
            if ranged_only and start and response.status_code != 206:
                raise SourceError(
                    f"{path}: the Hub server ignores byte ranges (HTTP "
                    f"{response.status_code} to a Range request); a remote fingerprint "
                    "needs them"
                )
            skip = 0 if response.status_code == 206 else start
            buf = bytearray()
            for chunk in response.iter_bytes(_CHUNK):
                buf += chunk
                if len(buf) >= skip + length:
                    break
            return bytes(buf[skip : skip + length])

    return _hub_call(request, repo_id, commit)


class HubReader(ContentReader):
    """Local files from the Hub cache; others by range requests or on-demand download."""

    def __init__(
        self,
        repo_id: str,
        commit: str,
        local: dict[str, Path],
        remote: dict[str, int | None],
        offline: bool,
        progress: Progress,
        session: HubSession,
        pins: dict[str, Pin] | None = None,
    ):
        self.repo_id, self.commit = repo_id, commit
        self._local = local
        self._remote = remote
        """Path -> the size the Hub's metadata declares (a download may not exceed it)."""
        self._offline = offline
        self._progress = progress
        self._session = session
        """The target's deadline and download budget, for the downloads asked later."""
        self._pins = pins or {}
        """Files of the Hub cache as they were hashed: reads must find them unchanged."""

    def _check(self, path: str) -> None:
        if path not in self._local and path not in self._remote:
            raise SourceError(f"{path}: not a file of this release")

    def read_range(self, path: str, start: int, length: int) -> bytes:
        self._check(path)
        if path in self._local:
            pin = self._pins.get(path)
            with open_pinned(path, pin) if pin else open(self._local[path], "rb") as fh:
                fh.seek(start)
                return fh.read(length)
        if self._offline:
            raise SourceError(f"{path}: not in the local Hub cache (offline)")
        with hub_session(self._session):
            return read_remote_range(self.repo_id, self.commit, path, start, length)

    def read_bytes(self, path: str, limit: int = MAX_TEXT_BYTES) -> bytes:
        data = super().read_bytes(path, limit)
        pin = self._pins.get(path)
        return check_content(path, pin, data) if pin else data

    def remote_range(self, path: str, start: int, length: int) -> bytes:
        """read_range for a file read by ranges (remote_size): only a ranged answer."""
        self._check(path)
        if path in self._local or self._offline:
            return self.read_range(path, start, length)
        with hub_session(self._session):
            return read_remote_range(self.repo_id, self.commit, path, start, length, True)

    def remote_size(self, path: str) -> int | None:
        """A file not in the cache, online, of a size the Hub's metadata declares."""
        self._check(path)
        if path in self._local or self._offline:
            return None
        return self._remote.get(path)

    def local_path(self, path: str) -> Path:
        self._check(path)
        if path in self._pins:
            open_pinned(path, self._pins[path]).close()  # still the file that was hashed
        if path not in self._local:
            if self._offline:
                raise SourceError(f"{path}: not in the local Hub cache (offline)")
            with hub_session(self._session):
                self._local[path] = download(
                    self.repo_id, self.commit, path, self._remote.get(path), self._progress
                )
        return self._local[path]


def download(repo_id: str, commit: str, path: str, size: int | None, progress: Progress) -> Path:
    """One file into the normal Hub cache; the result must stay inside the repo's cache.

    The body may not exceed the size the Hub's metadata declared (MAX_DOWNLOAD when it
    declared none): a server that streams more is cut off and the file refused; one that
    sends less or more than its own headers say (huggingface_hub's consistency check) costs
    that file only.
    """
    from huggingface_hub import hf_hub_download

    cap = size if size is not None else MAX_DOWNLOAD
    with (
        body_rules(BodyRules(cap=cap, declared=cap)),
        progress.task(f"downloading {path}", total=size, unit="bytes") as handle,
    ):
        try:
            local = _hub_call(
                lambda: hf_hub_download(repo_id, path, revision=commit, etag_timeout=_TIMEOUT),
                repo_id,
                commit,
            )
        except OSError as exc:
            why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise SourceError(f"hf:{repo_id}: {path}: {why}") from None
        progress.advance(handle, size or 0)
    real = resolve_inside(repo_folder(repo_id), Path(str(local)))
    if real is None:
        raise SourceError(f"{path}: the Hub cache entry points outside the cache; refused")
    return real


def _remote_files(siblings: list[Any] | None) -> tuple[dict[str, RemoteFile], list[Finding]]:
    files: dict[str, RemoteFile] = {}
    problems: list[Finding] = []
    for s in siblings or ():
        if not _safe_release_path(s.rfilename):
            problems.append(
                not_analysed(
                    str(s.rfilename)[:200], "unsafe file name in Hub metadata; refused", "source"
                )
            )
            continue
        lfs = s.lfs if isinstance(s.lfs, dict) else {}
        sha = lfs.get("sha256")
        files[s.rfilename] = RemoteFile(
            path=s.rfilename,
            size=_size(s.size),
            blob_id=s.blob_id if isinstance(s.blob_id, str) else None,
            lfs_sha256=sha if isinstance(sha, str) and _SHA256.match(sha) else None,
            lfs_size=_size(lfs.get("size")),
        )
        fail_if_too_many(len(files), "Hub repository")
    return files, problems


def _size(value: Any) -> int | None:
    """A size from untrusted metadata: a non-negative int, or unknown."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def wanted_by_default(f: RemoteFile) -> bool:
    """Small non-weight files are fetched; weights only ever by range reads."""
    kind = classify(f.path, b"", f.size).kind
    return kind is not FileKind.WEIGHTS and f.size is not None and f.size <= MAX_DOWNLOAD


class HubSource(Source):
    name = "hf"

    def open(self, spec: str, *, offline: bool, progress: Progress) -> Snapshot:
        from huggingface_hub import constants

        repo_id, rev = parse_spec(spec)
        with hub_session(HubSession()):
            if offline or constants.is_offline_mode():
                return self._open_offline(spec, repo_id, rev, progress)
            return self._open_online(spec, repo_id, rev, progress)

    def _open_online(
        self, spec: str, repo_id: str, rev: str | None, progress: Progress
    ) -> Snapshot:
        from huggingface_hub import HfApi
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()  # progress is ours to show, through `progress`
        with progress.task(f"reading Hub metadata of {repo_id}"):
            raw_card: object = None
            try:
                info = _hub_call(
                    lambda: HfApi().model_info(
                        repo_id, revision=rev, files_metadata=True, timeout=_TIMEOUT
                    ),
                    repo_id,
                    rev,
                )
            except (TypeError, KeyError, ValueError, AttributeError, RecursionError):
                # most often card metadata huggingface_hub cannot type (`tags: 5`): read the
                # answer without it; the card's fields then go through provscan's own checks
                info, raw_card = _hub_call(
                    lambda: _model_info_without_card(repo_id, rev), repo_id, rev
                )
        commit = str(info.sha or "")
        if not _COMMIT.match(commit):
            raise SourceError(f"hf:{repo_id}: the Hub answered without a commit sha")
        remote, problems = _remote_files(info.siblings)
        local: dict[str, Path] = {}
        for f in remote.values():
            if wanted_by_default(f):
                try:
                    local[f.path] = download(repo_id, commit, f.path, f.size, progress)
                except HubUnreachable:
                    raise
                except SourceError as exc:
                    problems.append(not_analysed(f.path, str(exc), "source"))
        write_ref(repo_id, rev or "main", commit)
        try:  # to_dict() deep-copies: card data nested a few hundred deep exhausts the stack
            mapping = (
                info.card_data.to_dict()
                if info.card_data is not None
                else raw_card
                if isinstance(raw_card, dict)
                else None
            )
        except RecursionError as exc:
            raise SourceError(f"hf:{repo_id}: the model card metadata nests too deeply") from exc
        snap = _build(
            spec,
            repo_id,
            commit,
            remote,
            local,
            {},
            mapping,
            problems,
            offline=False,
            progress=progress,
        )
        save_record(
            repo_id,
            commit,
            {
                "files": [f.to_dict() for f in remote.values()],
                "card": mapping,
                "safetensors": snap.info.get("safetensors", {}),
            },
        )
        return snap

    def _open_offline(
        self, spec: str, repo_id: str, rev: str | None, progress: Progress
    ) -> Snapshot:
        folder, commit = resolve_cached_revision(repo_id, rev)
        cached = snapshot_files(folder, commit)
        problems = [not_analysed(p, why, "source") for p, why in sorted(cached.refused.items())]
        # what an online scan saved; a record damaged on disk only loses what is damaged
        record = load_record(repo_id, commit) or {}
        remote: dict[str, RemoteFile] = {}
        for item in _list_of(record.get("files")):
            f = _remote_from_record(item)
            if f is not None and f.path not in cached.refused:
                remote[f.path] = f
        mapping = record.get("card") if isinstance(record.get("card"), dict) else None
        return _build(
            spec,
            repo_id,
            commit,
            remote,
            dict(cached.files),
            _headers_from_record(record.get("safetensors")),
            mapping,
            problems,
            offline=True,
            progress=progress,
        )


def _list_of(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _remote_from_record(item: object) -> RemoteFile | None:
    """A file of a saved record, every field checked as the Hub's metadata is."""
    if not isinstance(item, dict) or not _safe_release_path(item.get("path")):
        return None
    sha, blob = item.get("lfs_sha256"), item.get("blob_id")
    return RemoteFile(
        path=item["path"],
        size=_size(item.get("size")),
        blob_id=blob if isinstance(blob, str) else None,
        lfs_sha256=sha if isinstance(sha, str) and _SHA256.match(sha) else None,
        lfs_size=_size(item.get("lfs_size")),
    )


def _headers_from_record(value: object) -> dict[str, list[dict[str, Any]]]:
    """Saved safetensors headers: {path: [{name, dtype, shape}]}, damaged entries left out."""
    out: dict[str, list[dict[str, Any]]] = {}
    for path, tensors in (value if isinstance(value, dict) else {}).items():
        if (
            _safe_release_path(path)
            and isinstance(tensors, list)
            and all(
                isinstance(t, dict)
                and isinstance(t.get("name"), str)
                and isinstance(t.get("dtype"), str)
                and isinstance(t.get("shape"), list)
                and all(_size(d) is not None for d in t["shape"])
                for t in tensors
            )
        ):
            out[path] = [
                {"name": t["name"], "dtype": t["dtype"], "shape": list(t["shape"])} for t in tensors
            ]
    return out


def _build(
    spec: str,
    repo_id: str,
    commit: str,
    remote: dict[str, RemoteFile],
    local: dict[str, Path],
    known_headers: dict[str, Any],
    card_mapping: dict[str, Any] | None,
    problems: list[Finding],
    *,
    offline: bool,
    progress: Progress,
) -> Snapshot:
    """Entries for every file (hashed where local, LFS sha256 where remote), then headers
    of every safetensors file and the card."""
    paths = sorted(set(remote) | set(local))
    fail_if_too_many(len(paths), f"hf:{repo_id}")
    entries: list[FileEntry] = []
    pins: dict[str, Pin] = {}
    total = sum(p.stat().st_size for p in local.values() if p.is_file())
    reported = {p.location.path for p in problems}
    with progress.task("hashing files", total=total, unit="bytes") as handle:
        for path in paths:
            try:
                entry, pin = _entry(path, remote.get(path), local.get(path), progress, handle)
            except (OSError, SourceError) as exc:
                why = exc.strerror or exc if isinstance(exc, OSError) else exc
                problems.append(
                    not_analysed(path, f"unreadable in the Hub cache ({why})", "source")
                )
                local.pop(path, None)
                if path not in remote:
                    continue
                entry, pin = _entry(path, remote[path], None, progress, handle)
            if pin is not None:
                pins[path] = pin
            if entry.sha256 is None and path not in reported:
                problems.append(
                    not_analysed(
                        path,
                        "not downloaded (weights, or over the size "
                        "bound) and the Hub gives no LFS sha256 for it",
                        "source",
                    )
                )
            entries.append(entry)
    reader = HubReader(
        repo_id,
        commit,
        local,
        {
            p: f.lfs_size if f.lfs_size is not None else f.size
            for p, f in remote.items()
            if p not in local
        },
        offline,
        progress,
        current_session(),
        pins,
    )
    files = tuple(entries)
    info: dict[str, Any] = {
        "repo_id": repo_id,
        "commit": commit,
        "downloaded": sorted(local),
        "offline": offline,
    }
    safetensors: dict[str, list[dict[str, Any]]] = {}
    for entry in files:
        if entry.weight_format != "safetensors" or entry.kind is not FileKind.WEIGHTS:
            continue
        if entry.path not in local and entry.path in known_headers:
            safetensors[entry.path] = known_headers[entry.path]
            continue
        try:
            tensors = parse_safetensors_header(
                lambda s, n, p=entry.path: reader.read_range(p, s, n), entry.path
            )
        except SourceError as exc:
            problems.append(not_analysed(entry.path, str(exc), "source"))
            continue
        safetensors[entry.path] = [
            {"name": t.name, "dtype": t.dtype, "shape": list(t.shape)} for t in tensors
        ]
    if safetensors:
        info["safetensors"] = safetensors
    card: CardData | None
    card_problems: tuple[Finding, ...] = ()
    if card_mapping:
        card = card_from_mapping(card_mapping)
    else:
        card, card_problems = read_card(files, reader)
    return Snapshot(
        target=f"hf:{spec}",
        source="hf",
        revision=commit,
        files=files,
        reader=reader,
        card=card,
        problems=tuple(problems) + card_problems,
        info=info,
    )


def _entry(
    path: str, remote: RemoteFile | None, local: Path | None, progress: Progress, handle: object
) -> tuple[FileEntry, Pin | None]:
    """The entry of a file: hashed (and pinned) where it is in the Hub cache, else as the
    Hub's metadata describes it."""
    lfs = None
    if remote is not None and remote.lfs_sha256:
        lfs = LfsPointer(oid=remote.lfs_sha256, size=int(remote.lfs_size or remote.size or 0))
    if local is None:
        assert remote is not None
        c = classify(path, b"", remote.size)
        size = remote.size if remote.size is not None else (lfs.size if lfs else 0)
        entry = FileEntry(
            path=path,
            size=size,
            sha256=lfs.oid if lfs else None,
            kind=c.kind,
            language=c.language,
            weight_format=c.weight_format,
            lfs=lfs,
        )
        return entry, None
    return hash_pinned(path, local, None, progress, handle, lfs)

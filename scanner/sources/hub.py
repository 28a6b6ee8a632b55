"""A Hugging Face Hub model repository, `hf:org/name[@rev]`, through huggingface_hub.

What is fetched, and why: the model info with files metadata (list, sizes, LFS sha256,
card data) in one call; the small non-weight files (card, config, tokenizer, code,
licenses) through the normal Hub cache; of the weights, only the safetensors headers, by
two HTTP range reads each. A weight file is downloaded only when an analyzer asks for its
local path. Offline (`--offline`, HF_HUB_OFFLINE=1) everything comes from the local cache.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from ..card import card_from_mapping, read_card
from ..classify import classify
from ..errors import SourceError
from ..model import CardData, FileEntry, FileKind, Finding, LfsPointer, not_analysed
from ..snapshot import ContentReader, Progress, Snapshot, is_release_path, resolve_inside
from .hubcache import (
    load_record,
    repo_folder,
    resolve_cached_revision,
    save_record,
    snapshot_files,
    write_ref,
)
from .interface import (
    Source,
    clean_path,
    fail_if_too_many,
    file_chunks,
    hashed_entry,
    parse_safetensors_header,
    split_revision,
)

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

    install_body_cap()
    try:
        return fn()
    except (
        e.HfHubHTTPError,
        e.OfflineModeIsEnabled,
        e.LocalEntryNotFoundError,
        httpx2.TransportError,
        ConnectionError,
        TimeoutError,
    ) as exc:
        raise hub_error(exc, repo_id, rev) from None
    except BodyTooLarge as exc:
        raise SourceError(
            f"hf:{repo_id}: the Hub sent more than the {exc.args[0]} bytes "
            "allowed for this answer (its declared size); refused"
        ) from None


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


# Response bodies from the Hub are bounded: a download by the size its metadata declared
# (plus _SLACK), anything else (model info, header ranges) by MAX_METADATA.
MAX_METADATA = 64 * 1024 * 1024
_SLACK = 64 * 1024
_BODY_CAP: ContextVar[int] = ContextVar("provscan_hub_body_cap", default=MAX_METADATA)
_CAP_LOCK = threading.Lock()
_cap_installed = False


class BodyTooLarge(Exception):
    """A Hub response body went past its cap (see install_body_cap)."""


def install_body_cap() -> None:
    """Give huggingface_hub a client whose response bodies stop at _BODY_CAP bytes.

    huggingface_hub streams a download to disk until the server stops; a hostile server
    that declares 1 kB and sends terabytes would fill the disk. The client is the default
    one (same request hooks, redirects, environment proxies) plus a response hook that
    wraps each body in a counting stream.
    """
    global _cap_installed
    with _CAP_LOCK:
        if _cap_installed:
            return
        import httpx2
        from huggingface_hub import get_session, set_client_factory

        class Capped(httpx2.SyncByteStream):
            def __init__(self, inner: Any, cap: int):
                self.inner, self.cap = inner, cap

            def __iter__(self) -> Iterator[bytes]:
                seen = 0
                for chunk in self.inner:
                    seen += len(chunk)
                    if seen > self.cap:
                        raise BodyTooLarge(self.cap)
                    yield chunk

            def close(self) -> None:
                self.inner.close()

        def cap_body(response: httpx2.Response) -> None:
            response.stream = Capped(response.stream, _BODY_CAP.get())

        hooks = {k: list(v) for k, v in get_session().event_hooks.items()}
        hooks["response"] = [*hooks.get("response", []), cap_body]
        set_client_factory(
            lambda: httpx2.Client(event_hooks=hooks, follow_redirects=True, timeout=None)
        )
        _cap_installed = True


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


def read_remote_range(repo_id: str, commit: str, path: str, start: int, length: int) -> bytes:
    """Bytes [start, start+length) of a Hub file by one HTTP Range request; if the server
    ignores Range, only what was asked for is read before the connection is dropped."""
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
    ):
        self.repo_id, self.commit = repo_id, commit
        self._local = local
        self._remote = remote
        """Path -> the size the Hub's metadata declares (a download may not exceed it)."""
        self._offline = offline
        self._progress = progress

    def _check(self, path: str) -> None:
        if path not in self._local and path not in self._remote:
            raise SourceError(f"{path}: not a file of this release")

    def read_range(self, path: str, start: int, length: int) -> bytes:
        self._check(path)
        if path in self._local:
            with open(self._local[path], "rb") as fh:
                fh.seek(start)
                return fh.read(length)
        if self._offline:
            raise SourceError(f"{path}: not in the local Hub cache (offline)")
        return read_remote_range(self.repo_id, self.commit, path, start, length)

    def local_path(self, path: str) -> Path:
        self._check(path)
        if path not in self._local:
            if self._offline:
                raise SourceError(f"{path}: not in the local Hub cache (offline)")
            self._local[path] = download(
                self.repo_id, self.commit, path, self._remote.get(path), self._progress
            )
        return self._local[path]


def download(repo_id: str, commit: str, path: str, size: int | None, progress: Progress) -> Path:
    """One file into the normal Hub cache; the result must stay inside the repo's cache.

    The body may not exceed the size the Hub's metadata declared (MAX_DOWNLOAD when it
    declared none): a server that streams more is cut off and the file refused.
    """
    from huggingface_hub import hf_hub_download

    token = _BODY_CAP.set(size + _SLACK if size is not None else MAX_DOWNLOAD)
    try:
        with progress.task(f"downloading {path}", total=size, unit="bytes") as handle:
            local = _hub_call(
                lambda: hf_hub_download(repo_id, path, revision=commit, etag_timeout=_TIMEOUT),
                repo_id,
                commit,
            )
            progress.advance(handle, size or 0)
    finally:
        _BODY_CAP.reset(token)
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
        record = load_record(repo_id, commit) or {}
        remote: dict[str, RemoteFile] = {}
        for item in record.get("files", []):
            try:
                f = RemoteFile(**item)
            except TypeError:
                continue
            if _safe_release_path(f.path) and f.path not in cached.refused:
                remote[f.path] = f
        headers = record.get("safetensors") if isinstance(record.get("safetensors"), dict) else {}
        mapping = record.get("card") if isinstance(record.get("card"), dict) else None
        return _build(
            spec,
            repo_id,
            commit,
            remote,
            dict(cached.files),
            headers or {},
            mapping,
            problems,
            offline=True,
            progress=progress,
        )


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
    total = sum(p.stat().st_size for p in local.values() if p.is_file())
    reported = {p.location.path for p in problems}
    with progress.task("hashing files", total=total, unit="bytes") as handle:
        for path in paths:
            try:
                entry = _entry(path, remote.get(path), local.get(path), progress, handle)
            except OSError as exc:
                problems.append(
                    not_analysed(
                        path, f"unreadable in the Hub cache ({exc.strerror or exc})", "source"
                    )
                )
                local.pop(path, None)
                if path not in remote:
                    continue
                entry = _entry(path, remote[path], None, progress, handle)
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
) -> FileEntry:
    lfs = None
    if remote is not None and remote.lfs_sha256:
        lfs = LfsPointer(oid=remote.lfs_sha256, size=int(remote.lfs_size or remote.size or 0))
    if local is None:
        assert remote is not None
        c = classify(path, b"", remote.size)
        size = remote.size if remote.size is not None else (lfs.size if lfs else 0)
        return FileEntry(
            path=path,
            size=size,
            sha256=lfs.oid if lfs else None,
            kind=c.kind,
            language=c.language,
            weight_format=c.weight_format,
            lfs=lfs,
        )
    return hashed_entry(path, file_chunks(local), progress, handle, lfs)

"""A real HTTP server on 127.0.0.1 that answers the few Hub endpoints huggingface_hub
calls for a scan, the way the Hub answers them, and logs every request for assertions.

Endpoints (as read from huggingface_hub 2.4's source):
- GET  /api/models/{repo}[/revision/{rev}]?blobs=True      model_info(files_metadata=True)
- HEAD /{repo}/resolve/{rev}/{path}   get_hf_file_metadata: X-Repo-Commit, ETag (X-Linked-Etag
                                      and X-Linked-Size for LFS files), Content-Length
- GET  /{repo}/resolve/{rev}/{path}   the content, honouring a single `Range: bytes=a-b`
                                      (the bytes sent are counted per file: `served`)
Errors carry X-Error-Code (RepoNotFound, RevisionNotFound, EntryNotFound, GatedRepo), which
huggingface_hub turns into its typed errors.

Hostile modes (HubServer.faults), each keyed by "info" (the model info endpoint) or a file
path: a status answered for the next N requests (429 with Retry-After, 500, 503), a body
sent one byte at a time, a gzip bomb, a redirect loop; HubRepo.oversend sends more bytes
than a file's declared size.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import threading
import time
import zlib
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

import yaml

_RANGE = re.compile(r"^bytes=(\d+)-(\d*)$")


def git_blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def lfs_pointer(data: bytes) -> bytes:
    return (
        f"version https://git-lfs.github.com/spec/v1\n"
        f"oid sha256:{hashlib.sha256(data).hexdigest()}\nsize {len(data)}\n"
    ).encode()


@dataclass
class HubRepo:
    """One model repository at one commit, with named refs pointing at it."""

    files: dict[str, bytes]
    lfs: set[str] = field(default_factory=set)
    """Paths stored in LFS (they get lfs metadata and linked ETags, as on the Hub)."""
    commit: str = "0123456789abcdef0123456789abcdef01234567"
    refs: tuple[str, ...] = ("main",)
    gated: bool = False
    """Metadata is public but file downloads answer 403 GatedRepo, as for a gated repo."""
    oversend: dict[str, int] = field(default_factory=dict)
    """Path -> extra bytes a hostile server streams after the file (no Content-Length, the
    body ends when the connection closes), while metadata and HEAD declare the real size."""

    def card_data(self) -> dict[str, Any] | None:
        text = self.files.get("README.md", b"").decode()
        if not text.startswith("---\n"):
            return None
        front = text[4:].split("\n---", 1)[0]
        meta = yaml.safe_load(front)
        return meta if isinstance(meta, dict) else None

    def sibling(self, path: str) -> dict[str, Any]:
        data = self.files[path]
        out: dict[str, Any] = {"rfilename": path, "size": len(data)}
        if path in self.lfs:
            pointer = lfs_pointer(data)
            out["blobId"] = git_blob_id(pointer)
            out["lfs"] = {
                "size": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
                "pointerSize": len(pointer),
            }
        else:
            out["blobId"] = git_blob_id(data)
        return out

    def etag(self, path: str) -> str:
        data = self.files[path]
        return hashlib.sha256(data).hexdigest() if path in self.lfs else git_blob_id(data)


@dataclass
class Fault:
    """What a hostile server does instead of answering (see HubServer.faults)."""

    status: int | None = None
    """Answer this status (429, 500, 503...) with `headers`, for `times` requests."""
    headers: dict[str, str] = field(default_factory=dict)
    times: int = 1
    trickle: float | None = None
    """Send the real answer one byte every `trickle` seconds."""
    gzip_bomb: int | None = None
    """Answer with a gzip body that decodes to this many bytes."""
    redirect_loop: bool = False
    """Answer 302 to the very same URL, forever."""


_BOMBS: dict[int, bytes] = {}


def gzip_bomb(size: int) -> bytes:
    """`size` zero bytes, gzip-compressed (about size / 1000 bytes); made once a size."""
    if size not in _BOMBS:
        z = zlib.compressobj(9, zlib.DEFLATED, 31)
        block = bytes(1 << 20)
        parts = [z.compress(block) for _ in range(size // len(block))]
        _BOMBS[size] = b"".join(parts) + z.flush()
    return _BOMBS[size]


class HubServer:
    """Start with `with HubServer(repos) as hub:`; `hub.endpoint` goes in HF_ENDPOINT."""

    def __init__(
        self,
        repos: dict[str, HubRepo],
        honour_range: bool = True,
        faults: dict[str, Fault] | None = None,
    ):
        self.repos = repos
        self.honour_range = honour_range
        """False: answer every GET with the whole file, as some proxies and CDNs do."""
        self.faults = dict(faults or {})
        """"info" or a file path -> the fault served for it (GET and HEAD alike)."""
        self.log: list[tuple[str, str, str | None]] = []
        self.served: dict[str, int] = {}
        """File path -> bytes of its content sent in GET bodies (whole or ranges)."""
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def record(self, method: str, path: str, range_header: str | None) -> None:
        with self._lock:
            self.log.append((method, path, range_header))

    def count_served(self, path: str, nbytes: int) -> None:
        with self._lock:
            self.served[path] = self.served.get(path, 0) + nbytes

    def requests_for(self, suffix: str) -> list[tuple[str, str, str | None]]:
        with self._lock:
            return [r for r in self.log if r[1].endswith(suffix)]

    def fault_for(self, key: str) -> Fault | None:
        """The fault to serve now for `key` (a status fault is used up `times` times)."""
        with self._lock:
            fault = self.faults.get(key)
            if fault is not None and fault.status is not None:
                fault.times -= 1
                if fault.times < 0:
                    del self.faults[key]
                    return None
            return fault

    def __enter__(self) -> HubServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def _handler(hub: HubServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # headers and body go out as two writes: with Nagle's algorithm each small answer
        # waits for the client's delayed ACK (40 ms), which a remote fingerprint's hundreds
        # of range requests would all pay
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
            return None

        def do_GET(self) -> None:
            self._serve(head=False)

        def do_HEAD(self) -> None:
            self._serve(head=True)

        def _serve(self, head: bool) -> None:
            path = unquote(urlsplit(self.path).path)
            hub.record(self.command, path, self.headers.get("Range"))
            if path.startswith("/api/models/"):
                self._model_info(path[len("/api/models/") :])
                return
            match = re.match(r"^/(.+?)/resolve/([^/]+)/(.+)$", path)
            if match:
                self._resolve(*match.groups(), head=head)
                return
            self._error(404, None, "Not found")

        def _find(self, repo_id: str, rev: str) -> HubRepo | None:
            repo = hub.repos.get(repo_id)
            if repo is None:
                self._error(404, "RepoNotFound", "Repository not found")
                return None
            if rev not in repo.refs and rev != repo.commit:
                self._error(404, "RevisionNotFound", "Invalid rev id", commit=None)
                return None
            return repo

        trickle: float | None = None
        """Set by a trickle fault: the answer goes out one byte at a time."""

        def _answered_by_fault(self, key: str) -> bool:
            """Serve the fault for `key` when it replaces the answer (True); a trickle
            fault only changes how the real answer is sent."""
            self.trickle = None
            fault = hub.fault_for(key)
            if fault is None:
                return False
            if fault.status is not None:
                self._error(fault.status, None, "hostile fault", None, fault.headers)
            elif fault.redirect_loop:
                self._send(302, {"Location": self.path}, b"")
            elif fault.gzip_bomb is not None:
                body = gzip_bomb(fault.gzip_bomb)
                headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
                self._send(200, headers, b"" if self.command == "HEAD" else body)
            else:
                self.trickle = fault.trickle
                return False
            return True

        def _model_info(self, rest: str) -> None:
            repo_id, _, rev = rest.partition("/revision/")
            if self._answered_by_fault("info"):
                return
            repo = self._find(repo_id, rev or "main")
            if repo is None:
                return
            body = json.dumps(
                {
                    "id": repo_id,
                    "sha": repo.commit,
                    "private": False,
                    "gated": repo.gated,
                    "tags": [],
                    "cardData": repo.card_data(),
                    "siblings": [repo.sibling(p) for p in sorted(repo.files)],
                }
            ).encode()
            self._send(200, {"Content-Type": "application/json"}, body)

        def _resolve(self, repo_id: str, rev: str, file: str, head: bool) -> None:
            if self._answered_by_fault(file):
                return
            repo = self._find(repo_id, rev)
            if repo is None:
                return
            if repo.gated:
                self._error(403, "GatedRepo", "Access to this repo is restricted", repo.commit)
                return
            if file not in repo.files:
                self._error(404, "EntryNotFound", "Entry not found", repo.commit)
                return
            data = repo.files[file]
            headers = {
                "X-Repo-Commit": repo.commit,
                "ETag": f'"{repo.etag(file)}"',
                "Accept-Ranges": "bytes",
                "Content-Type": "application/octet-stream",
            }
            if file in repo.lfs:
                headers["X-Linked-Etag"] = f'"{repo.etag(file)}"'
                headers["X-Linked-Size"] = str(len(data))
            status, body = 200, data
            wanted = self.headers.get("Range")
            if file in repo.oversend and not head and not wanted:
                self._stream_too_much(headers, data, repo.oversend[file])
                return
            if wanted and not head and hub.honour_range:
                m = _RANGE.match(wanted.strip())
                if m is None:
                    self._error(416, None, "Bad range", repo.commit)
                    return
                start = int(m.group(1))
                end = min(int(m.group(2)) if m.group(2) else len(data) - 1, len(data) - 1)
                if start >= len(data):
                    self._error(416, None, "Range not satisfiable", repo.commit)
                    return
                status, body = 206, data[start : end + 1]
                headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
            headers["Content-Length"] = str(len(body))
            if not head:
                hub.count_served(file, len(body))
            self._send(status, headers, b"" if head else body, length_set=True)

        def _stream_too_much(self, headers: dict[str, str], data: bytes, extra: int) -> None:
            self.send_response(200)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(data)
                block = b"\0" * 65536
                for _ in range(extra // len(block)):
                    self.wfile.write(block)
                self.wfile.write(b"\0" * (extra % len(block)))

        def _error(
            self,
            status: int,
            code: str | None,
            message: str,
            commit: str | None = None,
            extra: dict[str, str] | None = None,
        ) -> None:
            headers = {"Content-Type": "application/json", "X-Error-Message": message}
            headers.update(extra or {})
            if code:
                headers["X-Error-Code"] = code
            if commit:
                headers["X-Repo-Commit"] = commit
            body = b"" if self.command == "HEAD" else json.dumps({"error": message}).encode()
            self._send(status, headers, body)

        def _send(
            self, status: int, headers: dict[str, str], body: bytes, length_set: bool = False
        ) -> None:
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            if not length_set:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if body:
                # the client may read what it wanted (a range) and hang up
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    if self.trickle is None:
                        self.wfile.write(body)
                        return
                    for i in range(len(body)):
                        self.wfile.write(body[i : i + 1])
                        self.wfile.flush()
                        time.sleep(self.trickle)

    return Handler

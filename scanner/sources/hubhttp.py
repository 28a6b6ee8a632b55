"""The HTTP client huggingface_hub uses inside provscan: every answer bounded, retried a
bounded number of times, and on a deadline.

huggingface_hub's own client trusts the server: it sleeps whatever Retry-After says (an
hour, five times), retries nothing on model info, has no total deadline (a server sending a
byte a second is waited for forever), counts a body's compressed bytes (a 2 MB gzip answer
decodes to 2 GB), and logs a warning line per retry. Installed with set_client_factory,
PolicyClient answers all of that in one place, for model info, range reads and downloads
alike, under the limits of sources/limits.py:

- 429, 5xx and dropped connections are retried `retries` times, waiting the server's
  Retry-After up to `retry_after_max`, else a doubling backoff; then one clear error, which
  huggingface_hub does not retry again (it is not an httpx error);
- a request has `request_timeout` seconds end to end (a download, one more second per
  MIN_RATE bytes it declares), and one target's network work `source_timeout` in all;
- a body is cut at its cap in decoded bytes (gzip and deflate are decoded here, in 1 MiB
  steps; any other encoding is refused); file bodies count against `max_download`;
- a redirect loop is one clear error.
"""

from __future__ import annotations

import threading
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import httpx2

from ..errors import SourceError
from .limits import BACKOFF, MIN_RATE, SourceLimits, current_limits

MAX_METADATA = 64 * 1024 * 1024
"""Bytes of any answer that is not a file download (model info, header ranges)."""
_RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
_MAX_REDIRECTS = 10
_STEP = 1 << 20


class HubHttpError(SourceError):
    """An answer refused by the client; the message says why, in one line."""


class BodyTooLarge(HubHttpError):
    """A body went past its cap."""


class HubOutOfReach(HubHttpError):
    """Nothing more can be fetched for this target: the Hub cannot be reached, or the
    target's whole time is spent."""


@dataclass
class HubSession:
    """The network work of one target: its deadline and the bytes it downloaded."""

    limits: SourceLimits = field(default_factory=current_limits)
    started: float = field(default_factory=time.monotonic)
    downloaded: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def deadline(self) -> float:
        return self.started + self.limits.source_timeout

    def remaining(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise HubOutOfReach(
                f"the Hub source took more than {self.limits.source_timeout:g} s in all "
                "(--source-timeout)"
            )
        return left

    def count_download(self, nbytes: int) -> None:
        with self._lock:
            self.downloaded += nbytes
            if self.downloaded > self.limits.max_download:
                raise HubHttpError(
                    f"the download budget of {self.limits.max_download} bytes for this "
                    "target is spent (--max-download)"
                )


@dataclass(frozen=True)
class BodyRules:
    """What one answer may be: its cap in decoded bytes, and the size a download declares
    (0 for metadata), which earns it time and counts it against the download budget."""

    cap: int = MAX_METADATA
    declared: int = 0


_SESSION: ContextVar[HubSession | None] = ContextVar("provscan_hub_session", default=None)
_RULES: ContextVar[BodyRules | None] = ContextVar("provscan_hub_body", default=None)
_METADATA = BodyRules()


@contextmanager
def hub_session(session: HubSession) -> Iterator[HubSession]:
    """Requests made inside belong to `session` (its deadline, its download budget)."""
    token = _SESSION.set(session)
    try:
        yield session
    finally:
        _SESSION.reset(token)


@contextmanager
def body_rules(rules: BodyRules) -> Iterator[None]:
    token = _RULES.set(rules)
    try:
        yield
    finally:
        _RULES.reset(token)


def current_session() -> HubSession:
    """The session requests now belong to."""
    session = _SESSION.get()
    if session is None:  # huggingface_hub used outside a Hub source: a session of its own
        session = HubSession()
        _SESSION.set(session)
    return session


def _what(request: Any) -> str:
    return f"{request.method} {request.url.path}"[:200]


def _retry_after(response: Any) -> float | None:
    value = response.headers.get("retry-after", "").strip()
    return float(value) if value.isdigit() else None


class _Inflater:
    """gzip or deflate decoded in bounded steps: a small chunk of a bomb never becomes
    gigabytes at once."""

    def __init__(self, encoding: str):
        self.encoding = encoding
        self._z = zlib.decompressobj(31 if encoding in ("gzip", "x-gzip") else 15)
        self._started = False

    def feed(self, data: bytes) -> Iterator[bytes]:
        if not self._started and self.encoding == "deflate":
            self._started = True
            try:  # deflate is zlib-wrapped by the standard, raw by some servers
                first = self._z.decompress(data, _STEP)
            except zlib.error:
                self._z = zlib.decompressobj(-15)
            else:
                yield first
                data = self._z.unconsumed_tail
        while data:
            yield self._z.decompress(data, _STEP)
            data = self._z.unconsumed_tail

    def finish(self) -> Iterator[bytes]:
        while piece := self._z.decompress(b"", _STEP):
            yield piece
        yield self._z.flush()


class _Bounded(httpx2.SyncByteStream):
    """A response body: decoded here when encoded, cut at its cap in decoded bytes, on the
    request's deadline."""

    def __init__(
        self,
        inner: Any,
        inflater: _Inflater | None,
        rules: BodyRules,
        deadline: float,
        session: HubSession,
        what: str,
    ):
        self.inner, self.inflater, self.rules = inner, inflater, rules
        self.deadline, self.session, self.what = deadline, session, what

    def __iter__(self) -> Iterator[bytes]:
        seen = 0
        try:
            for raw in self.inner:
                self._check_time()
                pieces = self.inflater.feed(raw) if self.inflater else (raw,)
                for piece in pieces:
                    seen = self._count(seen, piece)
                    yield piece
            for piece in self.inflater.finish() if self.inflater else ():
                seen = self._count(seen, piece)
                yield piece
        except zlib.error:
            raise HubHttpError(f"{self.what}: the answer's compression is corrupt") from None
        except (httpx2.TimeoutException, httpx2.NetworkError, httpx2.RemoteProtocolError) as exc:
            raise HubHttpError(f"{self.what}: the answer was cut ({type(exc).__name__})") from None

    def _check_time(self) -> None:
        self.session.remaining()
        if time.monotonic() > self.deadline:
            raise HubHttpError(
                f"{self.what}: no complete answer within {self.session.limits.request_timeout:g} s"
                " (--request-timeout)"
            )

    def _count(self, seen: int, piece: bytes) -> int:
        seen += len(piece)
        if seen > self.rules.cap:
            raise BodyTooLarge(
                f"{self.what}: the Hub sent more than the {self.rules.cap} bytes allowed for "
                "this answer (its declared size, or the metadata cap); refused"
            )
        if self.rules.declared:
            self.session.count_download(len(piece))
        return seen

    def close(self) -> None:
        self.inner.close()


class PolicyClient(httpx2.Client):
    """huggingface_hub's client, with provscan's bounds (see the module docstring)."""

    def send(self, request: Any, *, stream: bool = False, **kw: Any) -> Any:
        session, rules = current_session(), _RULES.get() or _METADATA
        limits = session.limits
        wait = BACKOFF
        for attempt in range(limits.retries + 1):
            last = attempt == limits.retries
            deadline = min(
                session.deadline,
                time.monotonic() + limits.request_timeout + rules.declared / MIN_RATE,
            )
            _clamp_timeouts(request, deadline - time.monotonic())
            session.remaining()
            try:
                response = super().send(request, stream=True, **kw)
            except httpx2.TooManyRedirects:
                raise HubHttpError(
                    f"{_what(request)}: more than {_MAX_REDIRECTS} redirects (a loop?)"
                ) from None
            except httpx2.ConnectError as exc:  # refused, no route: retrying will not help
                raise _unreachable(request, exc) from None
            except (httpx2.TimeoutException, httpx2.NetworkError) as exc:
                if last or not _can_wait(session, wait):
                    raise _transport_error(request, exc, session, deadline) from None
                time.sleep(wait)
                wait *= 2
                continue
            if response.status_code in _RETRY_STATUSES:
                response.close()
                delay = min(_retry_after(response) or wait, limits.retry_after_max)
                if last or not _can_wait(session, delay):
                    raise HubHttpError(
                        f"{_what(request)}: answered HTTP {response.status_code} "
                        f"{attempt + 1} times; gave up"
                    )
                time.sleep(delay)
                wait *= 2
                continue
            _bound(response, rules, deadline, session, _what(request))
            if not stream:
                try:
                    response.read()
                except BaseException:
                    response.close()
                    raise
            return response
        raise AssertionError("unreachable")


def _can_wait(session: HubSession, seconds: float) -> bool:
    return time.monotonic() + seconds < session.deadline


def _clamp_timeouts(request: Any, seconds: float) -> None:
    """No single network operation may outlive the request's deadline."""
    seconds = max(seconds, 0.001)
    current = dict(request.extensions.get("timeout") or {})
    clamped = {
        k: seconds if current.get(k) is None else min(current[k], seconds)
        for k in ("connect", "read", "write", "pool")
    }
    request.extensions = {**request.extensions, "timeout": clamped}


def _unreachable(request: Any, exc: Exception) -> HubOutOfReach:
    reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return HubOutOfReach(
        f"cannot reach the Hub at {request.url.scheme}://{request.url.netloc.decode()} ({reason})"
    )


def _transport_error(
    request: Any, exc: Exception, session: HubSession, deadline: float
) -> HubHttpError:
    """The error of a request the network kept failing (never an httpx error, which
    huggingface_hub would retry again, with a warning line each time)."""
    session.remaining()  # out of total time: say so
    if isinstance(exc, httpx2.TimeoutException) and time.monotonic() >= deadline - 0.01:
        return HubHttpError(
            f"{_what(request)}: no complete answer within {session.limits.request_timeout:g} s"
            " (--request-timeout)"
        )
    return _unreachable(request, exc)


def _bound(
    response: Any, rules: BodyRules, deadline: float, session: HubSession, what: str
) -> None:
    """Replace the response's body by a bounded one, decoding it here when encoded."""
    encodings = [
        e.strip().lower()
        for e in response.headers.get_list("content-encoding", split_commas=True)
        if e.strip().lower() not in ("", "identity")
    ]
    if len(encodings) > 1 or (encodings and encodings[0] not in ("gzip", "x-gzip", "deflate")):
        response.close()
        raise HubHttpError(f"{what}: answer encoded as {', '.join(encodings)[:80]}; refused")
    inflater = _Inflater(encodings[0]) if encodings else None
    if encodings:
        del response.headers["content-encoding"]  # decoded here, not again by httpx
    response.stream = _Bounded(response.stream, inflater, rules, deadline, session, what)


_install_lock = threading.Lock()
_installed = False


def install_client() -> None:
    """Give huggingface_hub the PolicyClient (once per process)."""
    global _installed
    with _install_lock:
        if _installed:
            return
        from huggingface_hub import get_session, set_client_factory

        hooks = {k: list(v) for k, v in get_session().event_hooks.items()}
        set_client_factory(
            lambda: PolicyClient(
                event_hooks=hooks,
                follow_redirects=True,
                max_redirects=_MAX_REDIRECTS,
                timeout=None,
                headers={"Accept-Encoding": "gzip, deflate"},
            )
        )
        _installed = True

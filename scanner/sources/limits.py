"""How much a source may take from a target: files, bytes downloaded, time, retries.

A release is untrusted and so is the server it comes from: a tree can list 10^8 paths, a
Hub server can answer 429 with `Retry-After: 3600`, trickle a byte a second or send a gzip
bomb. Each bound has a default that real releases never reach, and can be changed for one
run with the global options of `provscan` (--max-files, --max-download, --source-timeout,
--request-timeout) or for a whole environment with the PROVSCAN_* variables below; the
options set the variables, so forked workers and batch processes inherit them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from functools import cache

_ENV = {
    "max_files": "PROVSCAN_MAX_FILES",
    "max_download": "PROVSCAN_MAX_DOWNLOAD",
    "source_timeout": "PROVSCAN_SOURCE_TIMEOUT",
    "request_timeout": "PROVSCAN_HUB_REQUEST_TIMEOUT",
    "retries": "PROVSCAN_HUB_RETRIES",
    "retry_after_max": "PROVSCAN_HUB_RETRY_AFTER_MAX",
}


@dataclass(frozen=True)
class SourceLimits:
    max_files: int = 200_000
    """Files a release may hold (a tree listing stops there)."""
    max_download: int = 512 * 1024**3
    """Bytes of files one target may download from the Hub, all files together (each file
    is also bounded by the size its metadata declares)."""
    source_timeout: float = 4 * 3600.0
    """Seconds one target's network work may take in all (requests, retries, downloads)."""
    request_timeout: float = 120.0
    """Seconds one request may take, end to end (a download of a large file is also allowed
    MIN_RATE for each byte it declares)."""
    retries: int = 4
    """Retries of a request answered 429 or 5xx, or cut by the network."""
    retry_after_max: float = 60.0
    """The longest wait a server's Retry-After is granted."""


MIN_RATE = 256 * 1024
"""Bytes a second a download must average beyond its request_timeout."""
BACKOFF = 1.0
"""First wait before a retry without Retry-After; doubled at each retry."""


def current_limits() -> SourceLimits:
    """The limits in force: the defaults, changed by the PROVSCAN_* variables."""
    return _limits_from(tuple(os.environ.get(name, "") for name in _ENV.values()))


@cache
def _limits_from(raws: tuple[str, ...]) -> SourceLimits:
    values: dict[str, int | float] = {}
    for f, raw in zip(fields(SourceLimits), raws, strict=True):
        raw = raw.strip()
        if not raw:
            continue
        try:
            value = float(raw) if f.type in ("float", float) else int(raw)
        except ValueError:
            continue  # a malformed variable leaves the default in force
        if value > 0 or (f.name == "retries" and value == 0):
            values[f.name] = value
    return SourceLimits(**values)  # type: ignore[arg-type]


def set_limits(**changes: int | float | None) -> None:
    """Change limits for this process and the processes it starts (the CLI's options)."""
    for name, value in changes.items():
        if value is not None:
            os.environ[_ENV[name]] = str(value)

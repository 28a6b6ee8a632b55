"""provscan: provenance and license compliance scanner for AI model releases."""

from __future__ import annotations

SCHEMA_VERSION = "1.0"


def __getattr__(name: str) -> str:
    # importlib.metadata costs ~40 ms at start-up: looked up only when asked for
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("provscan")
        except PackageNotFoundError:  # running from a source tree without an install
            return "0.0.0+source"
    raise AttributeError(name)

"""provscan: provenance and license compliance scanner for AI model releases."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("provscan")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0+source"

SCHEMA_VERSION = "1.0"

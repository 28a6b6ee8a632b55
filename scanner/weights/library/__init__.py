"""The fingerprint library: known base models that every scan compares a release's weights
with, without being told which.

keys.py: the compact index key of a fingerprint; index.py: the first stage (which entries
to compare); store.py: the entries in the SQLite store (fingerprint files as blobs, keyed
by format version); search.py: first stage, then the calibrated comparison; exchange.py:
the shareable library file (`library export` / `library import`). docs/library.md says how.
"""

from .add import add_model, default_name
from .exchange import ImportOutcome, export_library, import_library
from .search import LibraryOutcome, Searched, library_index, search
from .store import LibraryEntry, LibraryError, LibraryStore

__all__ = [
    "ImportOutcome",
    "LibraryEntry",
    "LibraryError",
    "LibraryOutcome",
    "LibraryStore",
    "Searched",
    "add_model",
    "default_name",
    "export_library",
    "import_library",
    "library_index",
    "search",
]

"""What a release's weight files declare about their model in their own metadata: the
license and base models of a GGUF header (`general.license`, `general.base_model.*`) or of
an ONNX model's metadata_props.

The weight formats own how their headers are read (`WeightFormat.declaration`, reached
through weights/formats/registry.py); the license analyzer (code/) owns what a declaration
means, as it does for the card and config files. This module is the one door between the
two, so that code/ and weights/ never import each other: the analyzer asks here, this asks
the format registry, and only `FileDeclaration`s (model.py) come back. It is not in the
snapshot because reading a header costs a range read (a download on a remote source) that
only this analyzer needs; the sources stay as cheap as they are.
"""

from __future__ import annotations

from .errors import ProvscanError, SourceError
from .model import FileDeclaration, FileKind, Finding, not_analysed
from .snapshot import Snapshot

MAX_WEIGHT_FILES = 32
"""Weight files whose headers are read (a repository of many quantizations says the same
in each)."""


def weight_file_declarations(
    snapshot: Snapshot, analyzer: str
) -> tuple[tuple[FileDeclaration, ...], tuple[Finding, ...]]:
    """What the release's weight files declare; a header that cannot be read becomes a
    not-analysed finding of `analyzer`."""
    from .weights.formats.registry import declaration_of

    found: list[FileDeclaration] = []
    problems: list[Finding] = []
    unavailable: list[tuple[str, str]] = []
    # A Hub file stored in LFS is still a weight file, read by range; a git LFS pointer
    # is of kind LFS_POINTER and has no header to read.
    weights = [f for f in snapshot.files if f.kind is FileKind.WEIGHTS]
    for f in weights[:MAX_WEIGHT_FILES]:

        def read(start: int, length: int, path: str = f.path) -> bytes:
            return snapshot.reader.read_range(path, start, length)

        try:
            declared = declaration_of(f.path, read)
        except SourceError as exc:  # not to be had (offline, not in the cache): one line
            unavailable.append((f.path, str(exc)))
            continue
        except ProvscanError as exc:
            problems.append(not_analysed(f.path, f"metadata not read: {exc}", analyzer))
            continue
        if declared is not None:
            found.append(declared)
    if unavailable:
        path, why = unavailable[0]
        more = f" (and {len(unavailable) - 1} more weight file(s))" if len(unavailable) > 1 else ""
        problems.append(not_analysed(path, f"metadata not read{more}: {why}", analyzer))
    return tuple(found), tuple(problems)

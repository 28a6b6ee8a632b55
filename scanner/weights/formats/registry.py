"""The weight formats provscan reads: one module each under formats/, listed here.

Each module defines FORMAT, a WeightFormat (interface.py). A new format is its module and
one line in READERS. Pickle checkpoints are a format too, one never opened: running them
is running their author's code.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from functools import cache
from pathlib import Path

from .interface import (
    Checkpoint,
    Fetch,
    FileDeclaration,
    Read,
    TensorReader,
    WeightFormat,
    WeightFormatError,
)

READERS = ("safetensors", "gguf", "onnx")
"""Modules of formats/ (or dotted module paths), in order of preference when a release
holds several formats."""

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")


@cache
def _format_in(module: str) -> WeightFormat:
    path = module if "." in module else f"{__package__}.{module}"
    fmt = importlib.import_module(path).FORMAT
    assert isinstance(fmt, WeightFormat), f"{path}.FORMAT is not a WeightFormat"
    return fmt


def formats() -> tuple[WeightFormat, ...]:
    """Every format, in order of preference."""
    return tuple(_format_in(m) for m in READERS)


def is_weight_file(path: str) -> bool:
    """A file of any format provscan reads, by its name."""
    return any(f.holds(path) for f in formats())


def find_checkpoint(files: Sequence[str], fetch: Fetch) -> Checkpoint | None:
    """The checkpoint of a release: the first format, in order of preference, that finds
    its files among them."""
    for fmt in formats():
        found = fmt.checkpoint(files, fetch)
        if found is not None:
            return found
    return None


def is_pickle(path: str) -> bool:
    """A pickle checkpoint, by its name."""
    return path.lower().endswith(PICKLE_SUFFIXES)


def open_weight_file(path: Path) -> TensorReader:
    """One reader for one weight file, by the format that claims its name."""
    if is_pickle(path.name):
        raise WeightFormatError(
            f"{path.name}: pickle-based checkpoint; provscan never unpickles untrusted files"
        )
    fmt = next((f for f in formats() if f.holds(path.name)), None)
    if fmt is None:
        raise WeightFormatError(f"{path.name}: not a weight format provscan reads")
    return fmt.open([path], {})


def declaration_of(path: str, read: Read) -> FileDeclaration | None:
    """What a weight file says of its model in its own metadata, by the format that claims
    its name (None: no format claims it, or the format says nothing)."""
    if is_pickle(path):
        return None
    fmt = next((f for f in formats() if f.holds(path)), None)
    return fmt.declaration(read, path) if fmt is not None else None

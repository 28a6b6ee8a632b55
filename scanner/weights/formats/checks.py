"""Bounds on hostile weight headers and the error every reader raises.

Free of numpy on purpose: the sources parse safetensors headers at start-up
(safetensors_header.py), before anything heavy is imported.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ...errors import ProvscanError

# Bounds on hostile headers: no real checkpoint comes near these.
MAX_TENSORS = 500_000
MAX_DIMS = 8
MAX_ELEMENTS = 1 << 40
MAX_HEADER_BYTES = 100 * 1024 * 1024
"""The safetensors format caps its JSON header at 100 MB."""


class WeightFormatError(ProvscanError):
    """A weight file is truncated, malformed or hostile; one clear line says which."""


def check_shape(
    shape: tuple[int, ...], name: str, path: str, error: type[ProvscanError] = WeightFormatError
) -> tuple[int, ...]:
    """Refuse shapes no real tensor has (not integers, negative, too many dims, absurd
    sizes). A zero dimension does not let another one be absurd."""
    if len(shape) > MAX_DIMS:
        raise error(f"{path}: tensor {name[:200]!r} has {len(shape)} dimensions")
    total = 1
    for d in shape:
        # bool is an int to Python, never to a header
        if type(d) is not int or d < 0 or d > MAX_ELEMENTS:
            raise error(f"{path}: tensor {name[:200]!r} has a bad dimension {d!r}")
        total *= d
    if total > MAX_ELEMENTS:
        raise error(f"{path}: tensor {name[:200]!r} declares {total} elements")
    return shape


def check_count(n: int, path: str, error: type[ProvscanError] = WeightFormatError) -> None:
    if n > MAX_TENSORS:
        raise error(f"{path}: {n} tensors exceeds the {MAX_TENSORS} limit")


def read_json(path: Path, limit: int) -> Any:
    """A JSON file of a release (config, index), refused past `limit` bytes or nested past
    the recursion limit."""
    if path.stat().st_size > limit:
        raise WeightFormatError(f"{path.name}: larger than {limit} bytes")
    try:
        return json.loads(path.read_bytes())
    except (ValueError, RecursionError) as exc:  # nesting bombs recurse in json
        raise WeightFormatError(f"{path.name}: not valid JSON") from exc

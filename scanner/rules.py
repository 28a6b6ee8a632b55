"""Access to the knowledge in rules/ (data, not code) and templates/.

In a source tree they sit at the repository root; in an installed wheel they are packed
under scanner/_data/ (see pyproject.toml, force-include).
"""

from __future__ import annotations

import tomllib
from functools import cache
from pathlib import Path
from typing import Any

_PACKAGE = Path(__file__).resolve().parent


def _data_dir(name: str) -> Path:
    packed = _PACKAGE / "_data" / name
    if packed.is_dir():
        return packed
    return _PACKAGE.parent / name


def rules_dir() -> Path:
    return _data_dir("rules")


def templates_dir() -> Path:
    return _data_dir("templates")


@cache
def load_rules(name: str) -> dict[str, Any]:
    """Load rules/<name>.toml (cached; rules do not change during a run)."""
    with open(rules_dir() / f"{name}.toml", "rb") as fh:
        return tomllib.load(fh)

"""The format interface: one module per output format."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

from ..audit import AuditResult


class Format(ABC):
    name: str

    @abstractmethod
    def render(self, result: AuditResult) -> str:
        """The whole document as text."""

    def write(self, result: AuditResult, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # A lone surrogate that escaped every source still gives a valid UTF-8 file.
        path.write_text(self.render(result), encoding="utf-8", errors="backslashreplace")

"""The format interface: one module per output format, a pure function of the Report.

A format never reads the release or anything else: what it quotes was gathered into the
Report by the assessment stage (assess/excerpts.py). Formats are listed in registry.py.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

from ..assess.model import Report


class Format(ABC):
    name: str

    @abstractmethod
    def render(self, report: Report) -> str:
        """The whole document as text."""

    def write(self, report: Report, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # A lone surrogate that escaped every source still gives a valid UTF-8 file.
        path.write_text(self.render(report), encoding="utf-8", errors="backslashreplace")

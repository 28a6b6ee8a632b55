"""What the analyzers found in one release: the hand-off from analyzers to the assessment."""

from __future__ import annotations

from dataclasses import dataclass

from .model import Finding
from .snapshot import Snapshot


@dataclass(frozen=True)
class AuditResult:
    """A snapshot and every finding about it, in the analyzers' order (F1, F2 ...)."""

    snapshot: Snapshot
    findings: tuple[Finding, ...]

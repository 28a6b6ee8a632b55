"""The analyzer interface: each turns a snapshot into findings."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, field

from .model import Finding
from .snapshot import Progress, SilentProgress, Snapshot


@dataclass(frozen=True)
class AuditOptions:
    """What the user asked of one audit."""

    offline: bool = False
    """Use only local caches (Hub cache, git cache); no network."""
    against: tuple[str, ...] = ()
    """Reference models or fingerprint files to compare the release's weights with."""
    publisher: str | None = None
    """Who publishes the release (a Hub org or a name); notices of anyone else are foreign.
    None: the Hub org for hf: targets, else unknown."""
    library: bool = True
    """Compare the release's weights with the fingerprint library (`provscan library`)."""


@dataclass(frozen=True)
class AuditContext:
    options: AuditOptions = field(default_factory=AuditOptions)
    progress: Progress = field(default_factory=SilentProgress)


class Analyzer(ABC):
    """One concern (licenses, notices, clones, weights...) over a whole snapshot."""

    name: str

    @abstractmethod
    def analyze(self, snapshot: Snapshot, ctx: AuditContext) -> Iterable[Finding]:
        """Findings for the snapshot. A file that fails becomes a not-analysed finding."""

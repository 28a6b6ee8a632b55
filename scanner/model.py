"""Data that crosses stage boundaries: frozen dataclasses, never loose dicts."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from .evidence import details_from_dict
from .records import Record, RecordError


class FileKind(StrEnum):
    """What a file in a release is, as far as the analyzers care."""

    CODE = "code"
    LICENSE = "license"
    NOTICE = "notice"
    MODEL_CARD = "model-card"
    CONFIG = "config"
    TOKENIZER = "tokenizer"
    WEIGHTS = "weights"
    LFS_POINTER = "lfs-pointer"
    SUBMODULE = "submodule"
    DOCS = "docs"
    OTHER = "other"


class Severity(StrEnum):
    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


@dataclass(frozen=True)
class LfsPointer:
    """A Git LFS pointer file: the real content lives elsewhere."""

    oid: str
    """sha256 of the real content, as written in the pointer."""
    size: int
    """Size in bytes of the real content."""


@dataclass(frozen=True)
class FileEntry:
    """One file of a snapshot, classified; content is read lazily through the snapshot."""

    path: str
    """POSIX path relative to the release root."""
    size: int
    """Size in bytes of the stored object (for an LFS pointer: the pointer itself)."""
    sha256: str | None
    """sha256 of the content; None only when it could not be computed (unreadable)."""
    kind: FileKind
    language: str | None = None
    """Programming language, for code files."""
    weight_format: str | None = None
    """safetensors, gguf, onnx or pickle, for weight files."""
    lfs: LfsPointer | None = None
    """Set when the file is (or is stored as) a Git LFS pointer."""
    target: str | None = None
    """Where a submodule points (its commit), for submodule entries."""


@dataclass(frozen=True)
class CardData:
    """Metadata declared by the release's model card (YAML front matter) or Hub info."""

    license: str | None = None
    license_name: str | None = None
    license_link: str | None = None
    base_model: tuple[str, ...] = ()
    base_model_relation: str | None = None
    datasets: tuple[str, ...] = ()
    pipeline_tag: str | None = None
    tags: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "license": self.license,
            "license_name": self.license_name,
            "license_link": self.license_link,
            "base_model": list(self.base_model),
            "base_model_relation": self.base_model_relation,
            "datasets": list(self.datasets),
            "pipeline_tag": self.pipeline_tag,
            "tags": list(self.tags),
        }


@dataclass(frozen=True)
class FileDeclaration:
    """What a weight file declares about its model in its own metadata (a GGUF header's
    `general.*` keys, an ONNX model's metadata_props), the way a card's front matter does."""

    path: str
    """The release file that says it."""
    license: str | None = None
    license_name: str | None = None
    license_link: str | None = None
    base_models: tuple[str, ...] = ()
    """Models it names as its base (a Hub id where the file gives a Hub URL)."""
    keys: tuple[str, ...] = ()
    """The metadata keys these values were read from, for the reader (general.license)."""


@dataclass(frozen=True)
class TensorInfo:
    """A tensor's header entry, readable without loading its data."""

    name: str
    dtype: str
    shape: tuple[int, ...]


@dataclass(frozen=True)
class Location:
    """Where a finding points: a file and lines, or a tensor / layer of a checkpoint."""

    path: str | None = None
    start_line: int | None = None
    end_line: int | None = None
    tensor: str | None = None
    layer: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}

    @classmethod
    def from_dict(cls, data: object, where: str) -> Location:
        d = _object(data, where)
        return cls(
            path=_opt(d, "path", str, where),
            start_line=_opt(d, "start_line", int, where),
            end_line=_opt(d, "end_line", int, where),
            tensor=_opt(d, "tensor", str, where),
            layer=_opt(d, "layer", int, where),
        )


@dataclass(frozen=True)
class Evidence:
    """What was matched, how strongly, and what unrelated inputs would score."""

    matched: str | None = None
    """The text, tensor or item that was matched, verbatim where short."""
    score: float | None = None
    null_mean: float | None = None
    null_std: float | None = None
    z: float | None = None
    p_value: float | None = None
    details: Record | None = field(default=None, hash=False, compare=False)
    """The record of the finding's kind (scanner/evidence.py), None for kinds without."""

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if v is not None and k != "details"}
        if self.details is not None:
            out["details"] = self.details.to_dict()
        return out

    @classmethod
    def from_dict(cls, data: object, kind: str, where: str) -> Evidence:
        d = _object(data, where)
        details = d.get("details")
        return cls(
            matched=_opt(d, "matched", str, where),
            **{k: _opt(d, k, float, where) for k in _NUMBERS},
            details=None
            if details is None
            else details_from_dict(kind, details, f"{where}.details"),
        )


_NUMBERS = ("score", "null_mean", "null_std", "z", "p_value")


@dataclass(frozen=True)
class Finding:
    """One fact the audit establishes, with its evidence."""

    kind: str
    """Stable kebab-case name: license, foreign-notice, copied-code, not-analysed, ..."""
    severity: Severity
    message: str
    location: Location = field(default_factory=Location)
    evidence: Evidence = field(default_factory=Evidence)
    analyzer: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "severity": str(self.severity),
            "message": self.message,
            "location": self.location.to_dict(),
            "evidence": self.evidence.to_dict(),
            "analyzer": self.analyzer,
        }

    @classmethod
    def from_dict(cls, data: object, where: str = "finding") -> Finding:
        """A finding from its JSON form, every type checked: a report may come from
        elsewhere, and a wrong type must be a clear RecordError, not a crash later."""
        d = _object(data, where)
        kind, message = d.get("kind"), d.get("message")
        if not isinstance(kind, str) or not isinstance(message, str):
            raise RecordError(f"{where}: kind and message must be strings")
        try:
            severity = Severity(str(d.get("severity")))
        except ValueError:
            raise RecordError(f"{where}.severity: not one of info, low, medium, high") from None
        return cls(
            kind=kind,
            severity=severity,
            message=message,
            location=Location.from_dict(d.get("location") or {}, f"{where}.location"),
            evidence=Evidence.from_dict(d.get("evidence") or {}, kind, f"{where}.evidence"),
            analyzer=str(d.get("analyzer", "")),
        )


def _object(data: object, where: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise RecordError(f"{where}: expected an object, got {type(data).__name__}")
    return data


def _opt(d: dict[str, Any], key: str, tp: type, where: str) -> Any:
    """d[key] when absent, None or of type tp (an int for a float); else a RecordError."""
    value = d.get(key)
    ok = value is None or (
        isinstance(value, int | float if tp is float else tp) and not isinstance(value, bool)
    )
    if not ok:
        raise RecordError(f"{where}.{key}: expected {tp.__name__}, got {type(value).__name__}")
    return value


def not_analysed(path: str | None, why: str, analyzer: str = "") -> Finding:
    """The one way a file that could not be analysed is reported."""
    return Finding(
        kind="not-analysed",
        severity=Severity.LOW,
        message=f"not analysed: {why}",
        location=Location(path=path),
        analyzer=analyzer,
    )


def analyzer_failed(analyzer: str, why: str) -> Finding:
    """The one way an analyzer that could not run at all is reported: whatever it would
    have found is unknown, so `check` never passes such a release (assess/policy.py)."""
    return Finding(
        kind="analyzer-failed",
        severity=Severity.HIGH,
        message=f"the {analyzer} analyzer did not run: {why}",
        analyzer=analyzer,
    )


def cache_unavailable(why: str, analyzer: str) -> Finding:
    """The audit ran without a cache (its results are complete, not stored): `why` names
    the store and the remedy."""
    return Finding(
        kind="cache-unavailable",
        severity=Severity.LOW,
        message=f"results not cached: {why}",
        analyzer=analyzer,
    )

"""The JSON report: inventory, card metadata, findings and the assessment (DESIGN.md's
contract, docs/report.schema.json); and the way back, so `check` can gate a saved scan."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from .. import SCHEMA_VERSION, __version__
from ..assess.model import Report, finding_id
from ..card import card_from_mapping
from ..errors import SourceError
from ..model import FileEntry, FileKind, Finding, LfsPointer
from ..result import AuditResult
from ..snapshot import ContentReader, Snapshot, is_release_path, resolve_inside
from ..sources.local import FolderReader
from .assessment_dict import assessment_to_dict
from .interface import Format


def file_to_dict(f: FileEntry) -> dict[str, Any]:
    out: dict[str, Any] = {"path": f.path, "size": f.size, "sha256": f.sha256, "kind": str(f.kind)}
    if f.language:
        out["language"] = f.language
    if f.weight_format:
        out["weight_format"] = f.weight_format
    if f.lfs:
        out["lfs"] = {"oid": f.lfs.oid, "size": f.lfs.size}
    if f.target:
        out["target"] = f.target
    return out


def report_to_dict(report: Report) -> dict[str, Any]:
    result = report.result
    snap = result.snapshot
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "provscan", "version": __version__},
        "target": snap.target,
        "source": snap.source,
        "revision": snap.revision,
        "card": snap.card.to_dict() if snap.card else None,
        "info": snap.info,
        "summary": {
            "files": len(snap.files),
            "bytes": sum(f.size for f in snap.files),
            "kinds": dict(sorted(Counter(str(f.kind) for f in snap.files).items())),
            "findings": dict(sorted(Counter(f.kind for f in result.findings).items())),
        },
        "files": [file_to_dict(f) for f in snap.files],
        "findings": [{"id": finding_id(i), **f.to_dict()} for i, f in enumerate(result.findings)],
        "assessment": assessment_to_dict(report.assessment),
    }


class JsonFormat(Format):
    name = "json"

    def render(self, report: Report) -> str:
        return json.dumps(report_to_dict(report), indent=2, sort_keys=False, default=str) + "\n"


class _NoContent(ContentReader):
    """A reader for a result loaded from JSON whose release is not at hand."""

    def read_range(self, path: str, start: int, length: int) -> bytes:
        raise SourceError(f"{path}: content not available (result loaded from a JSON report)")

    def local_path(self, path: str) -> Path:
        raise SourceError(f"{path}: content not available (result loaded from a JSON report)")


def _expect(ok: bool, what: str) -> None:
    if not ok:
        raise TypeError(what)


def _listed_files_reader(root: Path, files: tuple[FileEntry, ...]) -> ContentReader:
    """A reader of the report's own files in its release folder, and nothing else: the
    report may come from elsewhere, and its `target` ("/", a home folder) is not walked."""
    root = root.resolve()
    allowed: dict[str, Path] = {}
    for f in files:
        real = resolve_inside(root, root / f.path) if is_release_path(f.path) else None
        if real is not None and real.is_file():
            allowed[f.path] = real
    return FolderReader(root, allowed)


def load_result(path: Path) -> AuditResult:
    """An AuditResult from a JSON report, so `check` can gate a scan made earlier. File
    contents come from the release folder when it is still there (local scans)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        files = tuple(
            FileEntry(
                path=f["path"],
                size=int(f["size"]),
                sha256=f.get("sha256"),
                kind=FileKind(f["kind"]),
                language=f.get("language"),
                weight_format=f.get("weight_format"),
                lfs=LfsPointer(**f["lfs"]) if f.get("lfs") else None,
                target=f.get("target"),
            )
            for f in data["files"]
        )
        _expect(
            isinstance(data, dict)
            and isinstance(data.get("card") or {}, dict)
            and isinstance(data["files"], list)
            and isinstance(data["findings"], list),
            "not an object with files, findings and card",
        )
        card = card_from_mapping(data["card"]) if data.get("card") else None
        findings = tuple(
            Finding.from_dict(f, f"findings[{i}]") for i, f in enumerate(data["findings"])
        )
        target, source = str(data["target"]), str(data["source"])
    except (OSError, ValueError, KeyError, TypeError, RecursionError) as exc:
        raise SourceError(f"{path}: not a provscan JSON report ({exc})") from exc
    if not str(data.get("schema_version", "")).startswith("1."):
        raise SourceError(f"{path}: unsupported schema_version {data.get('schema_version')!r}")
    reader: ContentReader = _NoContent()
    if source == "local" and Path(target).is_dir():
        reader = _listed_files_reader(Path(target), files)
    snapshot = Snapshot(
        target=target,
        source=source,
        revision=data.get("revision"),
        files=files,
        reader=reader,
        card=card,
        info=data.get("info") or {},
    )
    return AuditResult(snapshot=snapshot, findings=findings)

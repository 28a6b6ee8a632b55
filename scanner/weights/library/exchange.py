"""The shareable library file: `library export FILE` and `library import FILE`.

A zip archive: `manifest.json` (the entries: name, source, date added, fingerprint format,
file, size, sha256) and each fingerprint file under `fingerprints/`, as `provscan
fingerprint` writes them (pickle-free .npz). Importing reads a file from elsewhere: every
size is bounded before it is read, every sha256 checked, every fingerprint loaded with its
own checks, and the index keys recomputed here (a file carries no key to trust).
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..fingerprint import FORMAT_VERSION
from ..formats.interface import WeightFormatError
from .store import LibraryError, LibraryStore, check_name, fingerprint_from_bytes

FILE_FORMAT = 1
MANIFEST = "manifest.json"
MAX_MANIFEST = 64 * 1024 * 1024
MAX_ENTRIES = 1_000_000
MAX_FINGERPRINT = 512 * 1024 * 1024
"""As Fingerprint.load's own limit."""


@dataclass(frozen=True)
class ImportOutcome:
    added: tuple[str, ...]
    replaced: tuple[str, ...]
    kept: tuple[str, ...]
    """Names already in the library, left as they were (no --replace)."""
    refused: tuple[str, ...]
    """'name: why' for entries that could not be imported (older format, bad file)."""


def export_library(lib: LibraryStore, path: Path, names: list[str] | None = None) -> int:
    """Write the library (or the named entries) to a library file; the count written."""
    entries = lib.entries()
    if names:
        wanted = set(names)
        missing = wanted - {e.name for e in entries}
        if missing:
            raise LibraryError(f"no library entry named {sorted(missing)[0]!r}")
        entries = [e for e in entries if e.name in wanted]
    manifest: dict[str, Any] = {"provscan_library": FILE_FORMAT, "entries": []}
    tmp = path.with_name(path.name + ".part")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for i, e in enumerate(entries):
            blob = lib.blob(e.name)
            member = f"fingerprints/{i:06d}.npz"
            zf.writestr(member, blob)
            manifest["entries"].append(
                {
                    "name": e.name,
                    "source": e.source,
                    "added": e.added,
                    "fingerprint_version": e.fp_version,
                    "file": member,
                    "bytes": len(blob),
                    "sha256": hashlib.sha256(blob).hexdigest(),
                }
            )
        zf.writestr(MANIFEST, json.dumps(manifest, indent=1))
    tmp.replace(path)
    return len(entries)


def import_library(lib: LibraryStore, path: Path, replace: bool = False) -> ImportOutcome:
    """Add a library file's entries; names already present are kept unless `replace`."""
    added: list[str] = []
    replaced: list[str] = []
    kept: list[str] = []
    refused: list[str] = []
    present = {e.name for e in lib.entries()}
    try:
        with zipfile.ZipFile(path) as zf:
            for item in _manifest_entries(zf):
                name = str(item.get("name", ""))
                try:
                    name = check_name(name)
                    if name in present and not replace:
                        kept.append(name)
                        continue
                    blob = _member(zf, item)
                    fp = fingerprint_from_bytes(blob)
                    lib.add(
                        name,
                        str(item.get("source", "")),
                        fp,
                        replace=True,
                        blob=blob,
                        added=str(item.get("added") or "") or None,
                    )
                except (LibraryError, WeightFormatError) as exc:
                    refused.append(f"{name or '(no name)'}: {exc}")
                    continue
                (replaced if name in present else added).append(name)
                present.add(name)
    except (zipfile.BadZipFile, OSError) as exc:
        raise LibraryError(f"{path.name}: not a provscan library file ({exc})") from exc
    return ImportOutcome(tuple(added), tuple(replaced), tuple(kept), tuple(refused))


def _manifest_entries(zf: zipfile.ZipFile) -> list[dict[str, Any]]:
    try:
        info = zf.getinfo(MANIFEST)
    except KeyError as exc:
        raise LibraryError("not a provscan library file (no manifest.json)") from exc
    if info.file_size > MAX_MANIFEST:
        raise LibraryError("library manifest larger than its limit")
    with zf.open(info) as fh:
        raw = fh.read(MAX_MANIFEST + 1)
    if len(raw) > MAX_MANIFEST:
        raise LibraryError("library manifest larger than its limit")
    try:
        manifest = json.loads(raw)
    except ValueError as exc:
        raise LibraryError(f"library manifest is not JSON ({exc})") from exc
    if not isinstance(manifest, dict) or manifest.get("provscan_library") != FILE_FORMAT:
        raise LibraryError(f"not a provscan library file of format {FILE_FORMAT}")
    entries = manifest.get("entries")
    if not isinstance(entries, list) or len(entries) > MAX_ENTRIES:
        raise LibraryError("library manifest without a list of entries")
    return [e if isinstance(e, dict) else {} for e in entries]


def _member(zf: zipfile.ZipFile, item: dict[str, Any]) -> bytes:
    version = item.get("fingerprint_version")
    if version != FORMAT_VERSION:
        raise LibraryError(
            f"fingerprint format {version!r}, this provscan reads {FORMAT_VERSION}: "
            "add the model again where it can be read"
        )
    member, size, digest = item.get("file"), item.get("bytes"), item.get("sha256")
    if not isinstance(member, str) or not isinstance(digest, str) or type(size) is not int:
        raise LibraryError("manifest entry without its file, size and sha256")
    try:
        info = zf.getinfo(member)
    except KeyError as exc:
        raise LibraryError(f"{member} is missing from the file") from exc
    if not 0 < size <= MAX_FINGERPRINT or info.file_size != size:
        raise LibraryError(f"{member}: size {info.file_size} is not the manifest's {size}")
    with zf.open(info) as fh:
        blob = fh.read(size + 1)
    if len(blob) != size or hashlib.sha256(blob).hexdigest() != digest:
        raise LibraryError(f"{member}: content does not match the manifest's sha256")
    return blob

"""The licenses analyzer: declared licenses (card, configs), licenses and notices found in
the files (scancode, cached by content hash), and the findings that compare them."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from ..analyzers import Analyzer, AuditContext
from ..card import MAX_CARD_BYTES, declaration_lines, find_card
from ..errors import ProvscanError
from ..licenses import license_ids
from ..model import FileEntry, FileKind, Finding, cache_unavailable, not_analysed
from ..snapshot import Snapshot
from .declared import DeclaredLicense, declarations_of, undeclared_hints
from .filescan import MAX_SCAN_BYTES, FileScan, scan_files
from .findings import (
    ANALYZER,
    ScannedFile,
    declared_findings,
    hint_findings,
    license_findings,
    mismatch_findings,
    missing_findings,
    notice_findings,
    notice_missing_findings,
)
from .scancode import DetectionInfo, FileLicenses

NOT_SCANNED = frozenset({FileKind.WEIGHTS, FileKind.LFS_POINTER, FileKind.SUBMODULE})
MUST_SCAN = frozenset({FileKind.LICENSE, FileKind.NOTICE, FileKind.CODE, FileKind.MODEL_CARD})
MAX_TOKENIZER_BYTES = 64 * 1024
"""Vocabularies and merges hold no license; small tokenizer configs are still scanned."""


def publisher_of(snapshot: Snapshot, explicit: str | None) -> str | None:
    """The publisher: as given, else the Hub org of an hf: target."""
    if explicit:
        return explicit
    if snapshot.source == "hf":
        spec = snapshot.target.removeprefix("hf:")
        org, sep, _ = spec.partition("/")
        return org if sep and org else None
    return None


def files_to_scan(snapshot: Snapshot) -> tuple[list[FileEntry], list[Finding]]:
    chosen: list[FileEntry] = []
    problems: list[Finding] = []
    # The source already reported why these could not be read: one finding a file is enough.
    reported = {p.location.path for p in snapshot.problems if p.kind == "not-analysed"}
    for f in snapshot.files:
        # (a file the Hub stores in LFS is content like any other: only pointers are not)
        if f.kind in NOT_SCANNED or (f.kind is FileKind.TOKENIZER and f.size > MAX_TOKENIZER_BYTES):
            continue
        if f.sha256 is None:
            if f.path in reported:
                continue
            problems.append(not_analysed(f.path, "content hash unavailable", ANALYZER))
        elif f.size > MAX_SCAN_BYTES:
            if f.kind in MUST_SCAN:
                problems.append(
                    not_analysed(
                        f.path, f"larger than {MAX_SCAN_BYTES} bytes; not license-scanned", ANALYZER
                    )
                )
        else:
            chosen.append(f)
    return chosen, problems


def card_restatements(snapshot: Snapshot) -> tuple[str | None, tuple[tuple[int, int], ...]]:
    """The card's path and its lines that restate rather than carry (card.declaration_lines)."""
    entry = find_card(snapshot.files)
    if entry is None:
        return None, ()
    try:
        head = snapshot.reader.read_range(entry.path, 0, MAX_CARD_BYTES)
    except ProvscanError:
        return entry.path, ()
    return entry.path, declaration_lines(head.decode("utf-8", errors="replace"))


# Keys scancode gives a license named without its text (`license: other` on a card).
UNNAMED_LICENSE_KEYS = frozenset({"unknown-license-reference", "unknown"})


def without_restated(
    scan: FileScan,
    ranges: tuple[tuple[int, int], ...],
    known: frozenset[str],
) -> FileScan:
    """The card's scan less what its front matter and disclosure section only restate.

    Anyone can write the section's markers, so they hide nothing new: a license detection
    there is dropped only when every license it names is already `known` (declared, or found
    outside these lines), or names no license at all; a license that appears only there is
    kept and reported like any other. Notices there are quotes of notices found elsewhere
    (or of an upstream's, in the disclosure) and are dropped."""

    def inside(start: int, end: int) -> bool:
        return any(lo <= start and end <= hi for lo, hi in ranges)

    def restated(d: DetectionInfo) -> bool:
        if not all(inside(m.start_line, m.end_line) for m in d.matches):
            return False
        return all(k in known or k in UNNAMED_LICENSE_KEYS for k in license_ids(d.expression))

    lic = scan.licenses
    kept = tuple(d for d in lic.detections if not restated(d))
    notices = tuple(n for n in scan.notices if not inside(n.start_line, n.end_line))
    if len(kept) == len(lic.detections) and len(notices) == len(scan.notices):
        return scan

    def combined(parts: Iterable[str | None]) -> str | None:
        unique = dict.fromkeys(p for p in parts if p)
        return " AND ".join(p if " " not in p else f"({p})" for p in unique) or None

    licenses = FileLicenses(
        combined(d.expression for d in kept),
        combined(d.spdx for d in kept if d.expression),
        kept,
        lic.approximate,
    )
    return FileScan(licenses, notices, scan.error)


def known_licenses(
    scanned: list[ScannedFile],
    card_path: str | None,
    ranges: tuple[tuple[int, int], ...],
    declared: list[DeclaredLicense],
) -> frozenset[str]:
    """License ids declared, or detected anywhere outside the card's restating lines."""
    keys: set[str] = {k for d in declared for k in (d.key, d.spdx) if k}
    for sf in scanned:
        for det in sf.scan.licenses.detections:
            if sf.path == card_path and all(
                any(lo <= m.start_line and m.end_line <= hi for lo, hi in ranges)
                for m in det.matches
            ):
                continue
            keys.update(license_ids(det.expression))
    return frozenset(k.lower() for k in keys)


class LicenseAnalyzer(Analyzer):
    """Licenses and copyright notices of a release, declared vs found."""

    name = ANALYZER

    def __init__(self, workers: int | None = None):
        self.workers = workers

    def analyze(self, snapshot: Snapshot, ctx: AuditContext) -> Iterable[Finding]:
        findings: list[Finding] = []
        entries, problems = files_to_scan(snapshot)
        findings.extend(problems)
        locations: dict[str, Path] = {}
        for f in entries:
            if f.sha256 in locations:
                continue
            try:
                locations[f.sha256] = snapshot.reader.local_path(f.path)  # type: ignore[index]
            except ProvscanError as exc:
                findings.append(not_analysed(f.path, str(exc), ANALYZER))
        notes: list[str] = []
        with ctx.progress.task("licenses and notices", total=len(locations)) as handle:
            scans = scan_files(
                locations,
                workers=self.workers,
                on_done=lambda n: ctx.progress.advance(handle, n),
                notes=notes,
                progress=ctx.progress,
            )
        findings.extend(cache_unavailable(note, ANALYZER) for note in notes)
        scanned: list[ScannedFile] = []
        for f in entries:
            scan = scans.get(f.sha256 or "")
            if scan is None:
                continue
            if scan.error:
                findings.append(not_analysed(f.path, scan.error, ANALYZER))
            scanned.append(ScannedFile(f.path, scan))

        declared = declarations_of(snapshot)
        findings.extend(declared.problems)
        card_path, restated = card_restatements(snapshot)
        if restated:
            known = known_licenses(scanned, card_path, restated, declared.licenses)
            scanned = [
                ScannedFile(sf.path, without_restated(sf.scan, restated, known))
                if sf.path == card_path
                else sf
                for sf in scanned
            ]
        publisher = publisher_of(snapshot, ctx.options.publisher)
        notices = notice_findings(scanned, publisher)
        findings.extend(declared_findings(declared.licenses))
        findings.extend(license_findings(scanned))
        findings.extend(notices)
        findings.extend(mismatch_findings(declared.primary, scanned, notices))
        card_entry = find_card(snapshot.files)
        findings.extend(
            missing_findings(
                bool(snapshot.by_kind(FileKind.LICENSE)),
                declared.licenses,
                card_entry.path if card_entry else None,
            )
        )
        findings.extend(hint_findings(undeclared_hints(snapshot, declared.hints)))
        findings.extend(
            notice_missing_findings(scanned, notices, bool(snapshot.by_kind(FileKind.NOTICE)))
        )
        return findings

"""The licenses analyzer: declared licenses (card, configs), licenses and notices found in
the files (scancode, cached by content hash), and the findings that compare them."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ..analyzers import Analyzer, AuditContext
from ..card import (
    MAX_CARD_BYTES,
    BaseHint,
    base_model_hints,
    config_base_hint,
    declares_base,
    find_card,
)
from ..declarations import weight_file_declarations
from ..errors import ProvscanError
from ..model import FileEntry, FileKind, Finding, not_analysed
from ..snapshot import Snapshot
from .declared import (
    MAX_CONFIG_BYTES,
    DeclaredLicense,
    card_license,
    config_licenses,
    weight_file_licenses,
)
from .filescan import MAX_SCAN_BYTES, scan_files
from .findings import (
    ANALYZER,
    HintSource,
    ScannedFile,
    declared_findings,
    hint_findings,
    license_findings,
    mismatch_findings,
    missing_findings,
    notice_findings,
    notice_missing_findings,
)

NOT_SCANNED = frozenset({FileKind.WEIGHTS, FileKind.LFS_POINTER, FileKind.SUBMODULE})
MUST_SCAN = frozenset({FileKind.LICENSE, FileKind.NOTICE, FileKind.CODE, FileKind.MODEL_CARD})
MAX_TOKENIZER_BYTES = 64 * 1024
"""Vocabularies and merges hold no license; small tokenizer configs are still scanned."""
CONFIG_WITH_LICENSE = (
    "config.json",
    "tokenizer_config.json",
    "generation_config.json",
    "adapter_config.json",
    "params.json",
)


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
        if (
            f.kind in NOT_SCANNED
            or f.lfs is not None
            or (f.kind is FileKind.TOKENIZER and f.size > MAX_TOKENIZER_BYTES)
        ):
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


@dataclass
class Declarations:
    """What the release declares: licenses (card, configs, weight files' metadata) and
    hints of a base model outside the card's base_model."""

    card: DeclaredLicense | None = None
    licenses: list[DeclaredLicense] = field(default_factory=list)
    hints: list[tuple[BaseHint, HintSource, str]] = field(default_factory=list)
    """(hint, where it comes from, the release path that says it)."""
    problems: list[Finding] = field(default_factory=list)

    @property
    def primary(self) -> DeclaredLicense | None:
        """The license the release declares: the card's, else the first one resolved."""
        if self.card is not None and self.card.resolved:
            return self.card
        return next((d for d in self.licenses if d.resolved), self.card)


def _read_configs(snapshot: Snapshot, out: Declarations) -> None:
    for f in snapshot.files:
        if (
            f.path.rsplit("/", 1)[-1] not in CONFIG_WITH_LICENSE
            or f.size > MAX_CONFIG_BYTES
            or f.lfs is not None
        ):
            continue
        try:
            text = snapshot.reader.read_text(f.path, MAX_CONFIG_BYTES)
        except ProvscanError as exc:
            out.problems.append(not_analysed(f.path, str(exc), ANALYZER))
            continue
        out.licenses.extend(config_licenses(text, f.path))
        try:
            data = json.loads(text)
        except ValueError:
            continue
        hint = config_base_hint(data) if isinstance(data, dict) else None
        if hint is not None:
            out.hints.append((hint, "config", f.path))


def declarations_of(snapshot: Snapshot) -> Declarations:
    """The card's license, every license declared (card, config files, weight files'
    metadata) and the base-model hints of the card's text, configs and weight files."""
    card_entry = find_card(snapshot.files)
    out = Declarations(card=card_license(snapshot.card, card_entry.path if card_entry else "hub"))
    if out.card is not None:
        out.licenses.append(out.card)
    if card_entry is not None and card_entry.lfs is None:
        try:
            head = snapshot.reader.read_range(card_entry.path, 0, MAX_CARD_BYTES)
            for hint in base_model_hints(head.decode("utf-8", errors="replace")):
                out.hints.append((hint, "card-text", card_entry.path))
        except ProvscanError:
            pass  # the source already reported a card it could not read
    _read_configs(snapshot, out)
    weights, problems = weight_file_declarations(snapshot, ANALYZER)
    out.problems.extend(problems)
    out.licenses.extend(weight_file_licenses(weights))
    for w in weights:
        for name in w.base_models:
            out.hints.append(
                (BaseHint(name, f"general.base_model: {name}"), "weights-metadata", w.path)
            )
    return out


def undeclared_hints(
    snapshot: Snapshot, hints: list[tuple[BaseHint, HintSource, str]]
) -> list[tuple[BaseHint, HintSource, str]]:
    """The hints naming neither a declared base model nor the release itself."""
    declared = snapshot.card.base_model if snapshot.card else ()
    itself = snapshot.target if snapshot.source == "hf" else None
    seen: set[str] = set()
    out = []
    for hint, source, path in hints:
        key = hint.name.lower()
        if key in seen or declares_base(declared, hint.name):
            continue
        if itself and declares_base((hint.name,), itself):
            continue
        seen.add(key)
        out.append((hint, source, path))
    return out


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
        with ctx.progress.task("licenses and notices", total=len(locations)) as handle:
            scans = scan_files(
                locations, workers=self.workers, on_done=lambda n: ctx.progress.advance(handle, n)
            )
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

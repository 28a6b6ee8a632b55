"""Every output format, in one place: the CLI's `scan` options, the demo's files (and
batch's, later) all come from this list. A new format is one module with a Format class
(report/interface.py) and one line here."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the CLI reads this list at start; formats load when written
    from .interface import Format


@dataclass(frozen=True)
class OutputFormat:
    name: str
    options: tuple[str, ...]
    """The `provscan scan` option(s) that ask for it."""
    default_file: str
    """Its file name where a command writes every format (demo, batch)."""
    help: str
    implementation: str
    """module:Class, imported only when the format is written (the CLI starts fast)."""

    def load(self) -> Format:
        module, _, cls = self.implementation.partition(":")
        fmt: Format = getattr(importlib.import_module(module), cls)()
        return fmt


FORMATS: tuple[OutputFormat, ...] = (
    OutputFormat(
        "html",
        ("-o", "--html"),
        "report.html",
        "Write the HTML report here.",
        "scanner.report.html:HtmlFormat",
    ),
    OutputFormat(
        "json",
        ("--json",),
        "report.json",
        "Write the JSON report here.",
        "scanner.report.json:JsonFormat",
    ),
    OutputFormat(
        "sarif",
        ("--sarif",),
        "report.sarif",
        "Write SARIF 2.1.0 here.",
        "scanner.report.sarif:SarifFormat",
    ),
    OutputFormat(
        "cyclonedx",
        ("--cyclonedx",),
        "report.cdx.json",
        "Write a CycloneDX 1.6 ML-BOM here.",
        "scanner.report.cyclonedx:CycloneDxFormat",
    ),
    OutputFormat(
        "spdx",
        ("--spdx",),
        "report.spdx.json",
        "Write SPDX 3.0 (JSON-LD, AI profile) here.",
        "scanner.report.spdx:SpdxFormat",
    ),
    OutputFormat(
        "notice",
        ("--notice",),
        "NOTICE",
        "Write the generated NOTICE file here.",
        "scanner.report.notice:NoticeFormat",
    ),
)

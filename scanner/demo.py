"""`provscan demo`: build the example release, scan it with every analyzer, write every
report format. The example is made at run time (scanner.demo_release), nothing is bundled.

The analyzers (licenses, clones, weights) and the reference index are used through their
public entry points only: audit() with AuditOptions(against=...), and the `index add`
command. A piece missing from this build is said plainly; the rest of the demo goes on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .analyzers import AuditOptions
from .audit import AuditResult, audit
from .demo_release import DemoRelease, build_release
from .report.cyclonedx import CycloneDxFormat
from .report.html import HtmlFormat
from .report.interface import Format
from .report.json import JsonFormat
from .report.notice import NoticeFormat
from .report.sarif import SarifFormat
from .report.spdx import SpdxFormat

DEMO_CORPUS = "transformers-demo"
OUTPUTS: tuple[tuple[str, Callable[[], Format]], ...] = (
    ("report.html", HtmlFormat), ("report.json", JsonFormat), ("report.sarif", SarifFormat),
    ("report.cdx.json", CycloneDxFormat), ("report.spdx.json", SpdxFormat),
    ("NOTICE", NoticeFormat))
# Which analyzer produces which finding kinds: a kind absent from the result means that
# analyzer did not run in this build (or found nothing, which the demo release rules out).
ANALYZER_KINDS = {
    "licenses and notices": ("license", "foreign-notice"),
    "copied code": ("copied-code", "notice-removed"),
    "weight lineage": ("weights-derived", "undeclared-base-model"),
}


@dataclass(frozen=True)
class DemoOutcome:
    demo: DemoRelease
    result: AuditResult
    written: tuple[Path, ...]
    notes: tuple[str, ...]


def index_corpus(name: str, folder: Path, version: str, license: str) -> str | None:
    """Index the reference corpus through the `index add` command; a note if it cannot."""
    import typer.main

    from .cli import app

    group = typer.main.get_command(app)
    if "index" not in getattr(group, "commands", {}):
        return ("copied-code detection skipped: this build has no reference index "
                "(`provscan index add` is not available)")
    try:
        app(args=["index", "add", name, str(folder), "--replace", "--version", version,
                  "--license", license], prog_name="provscan", standalone_mode=False)
    except Exception as exc:  # an index failure must not stop the rest of the demo
        return f"copied-code detection skipped: indexing the corpus failed: {exc}"
    return None


def run_demo(out: Path, say: Callable[[str], None]) -> DemoOutcome:
    """Build, index, scan, write. `say` prints a progress line."""
    out = out.resolve()
    say(f"building the example release under {out / 'example'} "
        "(real transformers files, tiny numpy weights)")
    demo = build_release(out / "example")
    notes: list[str] = []
    say(f"indexing the reference corpus (transformers {demo.transformers_version} files)")
    # transformers is Apache-2.0 (its LICENSE file says so). The corpus gets a name of its
    # own, so re-running the demo replaces only itself, never a user's "transformers" corpus.
    note = index_corpus(DEMO_CORPUS, demo.corpus, demo.transformers_version, "apache-2.0")
    if note:
        notes.append(note)
    say(f"scanning {demo.release.name} against the base model {demo.base.name}")
    result = audit(str(demo.release), AuditOptions(against=(str(demo.base),)))
    kinds = {f.kind for f in result.findings}
    for analyzer, produced in ANALYZER_KINDS.items():
        if not kinds.intersection(produced):
            notes.append(f"no {analyzer} findings: that analyzer is not part of this build "
                         "yet, so the report lacks its evidence")
    written = []
    for filename, fmt in OUTPUTS:
        path = out / filename
        fmt().write(result, path)
        written.append(path)
    return DemoOutcome(demo=demo, result=result, written=tuple(written), notes=tuple(notes))

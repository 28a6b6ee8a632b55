"""`provscan demo`: build the example release, scan it with every analyzer, write every
report format. The example is made at run time (scanner.demo_release), nothing is bundled.

The analyzers (licenses, clones, weights) and the reference index are used through their
public entry points only: audit() with AuditOptions(against=...), and add_corpus (what
`index add` runs). Every registered output format is written (report/registry.py). A
piece that fails is said plainly; the rest of the demo goes on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .analyzers import AuditOptions
from .assess.model import Report
from .audit import audit
from .demo_release import DemoRelease, build_release
from .report.registry import FORMATS

DEMO_CORPUS = "transformers-demo"
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
    report: Report
    written: tuple[Path, ...]
    notes: tuple[str, ...]


def index_corpus(
    name: str, folder: Path, version: str, license: str, say: Callable[[str], None]
) -> str | None:
    """Index the reference corpus (replacing an earlier demo's); a note if it cannot."""
    from .code.corpus import add_corpus

    try:
        info = add_corpus(name, str(folder), replace=True, license=license, version=version)
    except Exception as exc:  # an index failure must not stop the rest of the demo
        return f"copied-code detection skipped: indexing the corpus failed: {exc}"
    say(f"indexed {info.name}: {info.files} files, {info.fingerprints} fingerprints")
    return None


def run_demo(out: Path, say: Callable[[str], None]) -> DemoOutcome:
    """Build, index, scan, write. `say` prints a progress line."""
    out = out.resolve()
    say(
        f"building the example release under {out / 'example'} "
        "(real transformers files, tiny numpy weights)"
    )
    demo = build_release(out / "example")
    notes: list[str] = []
    say(f"indexing the reference corpus (transformers {demo.transformers_version} files)")
    # transformers is Apache-2.0 (its LICENSE file says so). The corpus gets a name of its
    # own, so re-running the demo replaces only itself, never a user's "transformers" corpus.
    note = index_corpus(DEMO_CORPUS, demo.corpus, demo.transformers_version, "apache-2.0", say)
    if note:
        notes.append(note)
    say(f"scanning {demo.release.name} against the base model {demo.base.name}")
    report = audit(str(demo.release), AuditOptions(against=(str(demo.base),)))
    kinds = {f.kind for f in report.result.findings}
    for analyzer, produced in ANALYZER_KINDS.items():
        if not kinds.intersection(produced):
            notes.append(
                f"no {analyzer} findings: that analyzer is not part of this build "
                "yet, so the report lacks its evidence"
            )
    written = []
    for fmt in FORMATS:
        path = out / fmt.default_file
        fmt.load().write(report, path)
        written.append(path)
    return DemoOutcome(demo=demo, report=report, written=tuple(written), notes=tuple(notes))

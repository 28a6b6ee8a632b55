"""`provscan demo`: build the example release, scan it with every analyzer, write every
report format. The example is made at run time (scanner.demo_release), nothing is bundled.

The demo lives in its --out folder and nowhere else: its store (the reference corpus it
indexes, the caches of its scan) is a folder there, so a user's corpora and caches are
never read nor written, and the demo's report does not depend on them. The folder is
claimed with a mark file; a folder without the mark that holds anything is refused, and a
marked one gets back only what the demo writes (DEMO_ENTRIES), never anything else.

The analyzers (licenses, clones, weights) and the reference index are used through their
public entry points only: audit() with AuditOptions(against=...), and add_corpus (what
`index add` runs). Every registered output format is written (report/registry.py). A
piece that fails is said plainly; the rest of the demo goes on.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .analyzers import AuditOptions
from .assess.model import Report
from .audit import audit
from .demo_release import RELEASE_NAME, DemoRelease, build_release
from .errors import UsageError
from .report.registry import FORMATS
from .snapshot import Progress, SilentProgress

DEMO_CORPUS = "transformers-demo"
DEMO_MARK = ".provscan-demo"
"""Written in the --out folder the demo claimed: only such a folder is ever cleared."""
EXAMPLE, STORE = "example", "store"
DEMO_ENTRIES = (EXAMPLE, STORE, *(fmt.default_file for fmt in FORMATS))
"""What the demo writes in its folder: all it ever replaces there."""
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
    store: Path
    """The demo's own provscan home (PROVSCAN_HOME for a rerun with its corpus)."""


def claim_folder(out: Path) -> None:
    """Make `out` the demo's folder: new, empty, or marked by an earlier demo. What an
    earlier demo wrote there is removed; nothing else is touched."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out}: is a file; give a folder for the demo")
    if out.is_dir() and not _made_by_a_demo(out) and any(out.iterdir()):
        raise UsageError(
            f"--out {out}: the folder holds files that `provscan demo` did not write; "
            "give a new or empty folder (the demo never deletes what it did not create)"
        )
    try:
        out.mkdir(parents=True, exist_ok=True)
        for name in DEMO_ENTRIES:
            entry = out / name
            if entry.is_symlink() or entry.is_file():
                entry.unlink()
            elif entry.is_dir():
                shutil.rmtree(entry)
        (out / DEMO_MARK).write_text(
            "This folder was made by `provscan demo`; a later demo replaces "
            + ", ".join(DEMO_ENTRIES)
            + " here and nothing else.\n",
            encoding="utf-8",
        )
    except OSError as exc:
        raise UsageError(f"--out {out}: cannot prepare the folder ({exc.strerror})") from None


def _made_by_a_demo(out: Path) -> bool:
    """Marked by a demo; or left by one that predates the mark: its example release is
    there and nothing but what a demo writes."""
    if (out / DEMO_MARK).is_file():
        return True
    names = {p.name for p in out.iterdir()}
    return (out / EXAMPLE / RELEASE_NAME).is_dir() and names <= set(DEMO_ENTRIES)


@contextmanager
def own_store(home: Path) -> Iterator[Path]:
    """PROVSCAN_HOME pointed at `home` for the demo's work, then put back as it was."""
    before = os.environ.get("PROVSCAN_HOME")
    os.environ["PROVSCAN_HOME"] = str(home)
    try:
        yield home
    finally:
        if before is None:
            os.environ.pop("PROVSCAN_HOME", None)
        else:
            os.environ["PROVSCAN_HOME"] = before


def index_corpus(
    name: str,
    folder: Path,
    version: str,
    license: str,
    say: Callable[[str], None],
    progress: Progress,
) -> str | None:
    """Index the reference corpus (in the demo's store); a note if it cannot."""
    from .code.corpus import add_corpus

    try:
        info = add_corpus(
            name, str(folder), replace=True, license=license, version=version, progress=progress
        )
    except Exception as exc:  # an index failure must not stop the rest of the demo
        return f"copied-code detection skipped: indexing the corpus failed: {exc}"
    say(f"indexed {info.name}: {info.files} files, {info.fingerprints} fingerprints")
    return None


def run_demo(
    out: Path, say: Callable[[str], None], progress: Progress | None = None
) -> DemoOutcome:
    """Claim the folder, build, index, scan, write. `say` prints a line of what is done;
    `progress` shows the long steps."""
    progress = progress or SilentProgress()
    out = out.absolute()
    claim_folder(out)
    say(
        f"building the example release under {out / EXAMPLE} "
        "(real transformers files, tiny numpy weights)"
    )
    demo = build_release(out / EXAMPLE)
    notes: list[str] = []
    with own_store(out / STORE) as store:
        say(
            f"indexing the reference corpus (transformers {demo.transformers_version} files) "
            f"in the demo's own store {store}"
        )
        # transformers is Apache-2.0 (its LICENSE file says so).
        note = index_corpus(
            DEMO_CORPUS, demo.corpus, demo.transformers_version, "apache-2.0", say, progress
        )
        if note:
            notes.append(note)
        say(f"scanning {demo.release.name} against the base model {demo.base.name}")
        report = audit(
            str(demo.release), AuditOptions(against=(str(demo.base),)), progress=progress
        )
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
    return DemoOutcome(
        demo=demo, report=report, written=tuple(written), notes=tuple(notes), store=store
    )

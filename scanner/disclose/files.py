"""Writing a disclosure: its files in an output folder, and, with --apply, the release's own
README.md (a local folder only).

Without --apply nothing in the release is touched: the output folder may not lie inside it.
With --apply the card is rewritten only when it is exactly what was audited (same sha256),
is no symlink, and can be edited safely (card_edit.py); otherwise a CardConflict (exit 2),
and the card is left as it was.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..assess.model import Report
from ..errors import ProvscanError, UsageError
from ..report.registry import FORMATS
from ..snapshot import Snapshot
from .build import disclosure_of
from .card_edit import SECTION_BEGIN, CardConflict, front_matter_text, updated_card
from .model import Disclosure
from .render import metadata_diff, metadata_yaml, page_html, section_markdown

CARD = "README.md"
MAX_CARD_BYTES = 8 * 1024 * 1024
OUTPUTS = {
    "section": "provenance.md",
    "metadata": "card-metadata.yaml",
    "diff": "card-metadata.diff",
    "card": "README.proposed.md",
    "page": "disclosure.html",
    "report": "report.json",
}


@dataclass(frozen=True)
class Outcome:
    """What `disclose` wrote, and the card --apply would write."""

    disclosure: Disclosure
    written: tuple[Path, ...]
    card_before: str | None
    """README.md as audited (None: the release has none)."""
    card_after: str | None
    """README.md as --apply writes it; None when the card cannot be edited safely."""
    card_problem: str | None
    """Why the card cannot be edited, if it cannot."""


def local_root(report: Report) -> Path | None:
    """The release folder of a local target, else None (git and Hub targets)."""
    snap = report.result.snapshot
    root = snap.info.get("root") if isinstance(snap.info, dict) else None
    return Path(root) if snap.source == "local" and isinstance(root, str) else None


def card_text(snapshot: Snapshot) -> str | None:
    """README.md as the audit saw it, undecodable bytes kept (surrogateescape)."""
    if snapshot.get(CARD) is None:
        return None
    try:
        data = snapshot.reader.read_bytes(CARD, MAX_CARD_BYTES)
    except (ProvscanError, OSError) as exc:
        raise UsageError(f"{CARD}: cannot be read: {exc}") from exc
    return data.decode("utf-8", errors="surrogateescape")


def _refuse_inside(out: Path, report: Report) -> None:
    root = local_root(report)
    if root is not None:
        _refuse_inside_root(out, root)


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8", errors="surrogateescape", newline="")
    return path


def _proposed_card(
    report: Report, d: Disclosure, section: str
) -> tuple[str | None, str | None, str | None]:
    """README.md as audited, as --apply would write it, and why it cannot be, if so."""
    try:
        before = card_text(report.result.snapshot)
    except UsageError as exc:
        return None, None, str(exc)
    if not d.metadata.card_readable:
        return (
            before,
            None,
            f"the card's front matter cannot be parsed (see the audit's {CARD} finding)",
        )
    try:
        return before, updated_card(before or "", d.metadata.proposed, section), None
    except CardConflict as exc:
        return before, None, str(exc)


def write_disclosure(report: Report, out: Path) -> Outcome:
    """Write the disclosure's files into `out`."""
    _refuse_inside(out, report)
    d = disclosure_of(report)
    section = section_markdown(d)
    before, after, problem = _proposed_card(report, d, section)
    keys_block = metadata_yaml(d.metadata.proposed)
    out.mkdir(parents=True, exist_ok=True)
    written = [_write(out / OUTPUTS["section"], section)]
    if after is not None:
        proposed_front = front_matter_text(after)
        written.append(_write(out / OUTPUTS["metadata"], proposed_front))
        diff = metadata_diff(front_matter_text(before or ""), proposed_front)
        written.append(_write(out / OUTPUTS["diff"], diff))
        written.append(_write(out / OUTPUTS["card"], after))
    else:
        written.append(_write(out / OUTPUTS["metadata"], keys_block))
    written.append(_write(out / OUTPUTS["page"], page_html(d, section, keys_block)))
    json_format = next(f for f in FORMATS if f.name == "json").load()
    json_format.write(report, out / OUTPUTS["report"])
    written.append(out / OUTPUTS["report"])
    return Outcome(d, tuple(written), before, after, problem)


# ---- --apply -------------------------------------------------------------------------------


def refuse_out_inside(target: str, out: Path) -> None:
    """--out inside a local release folder is refused before any audit runs."""
    from ..sources import source_for
    from ..sources.local import LocalSource

    source, spec = source_for(target)
    root = Path(spec).expanduser()
    if isinstance(source, LocalSource) and root.is_dir():
        _refuse_inside_root(out, root)


def _refuse_inside_root(out: Path, root: Path) -> None:
    if out.resolve().is_relative_to(root.resolve()):
        raise UsageError(
            f"--out {out} is inside the release; without --apply nothing in the release is "
            "written: choose a folder outside it"
        )


def refuse_apply_to(target: str) -> None:
    """--apply writes into a local folder only: say so before any audit runs."""
    from ..sources import source_for
    from ..sources.local import LocalSource

    source, _ = source_for(target)
    if not isinstance(source, LocalSource):
        raise UsageError(
            f"--apply writes into a local release folder only; {target} is a git or Hub "
            "target: run without --apply and publish the proposed README.proposed.md yourself"
        )


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def apply_to_release(report: Report, outcome: Outcome) -> tuple[str, ...]:
    """Write the proposed card into the release; what changed, in words."""
    root = local_root(report)
    if root is None:
        raise UsageError("--apply writes into a local release folder only")
    if outcome.card_after is None:
        raise CardConflict(f"{CARD} left unchanged: {outcome.card_problem}")
    path = root / CARD
    entry = report.result.snapshot.get(CARD)
    if path.is_symlink():
        raise CardConflict(f"{CARD} is a symlink; provscan writes no file through a link")
    current = path.read_bytes() if path.exists() else None
    audited = entry.sha256 if entry is not None else None
    if (current is None) != (entry is None) or (
        current is not None and _sha256(current) != audited
    ):
        raise CardConflict(f"{CARD} changed since it was audited; run disclose again")
    data = outcome.card_after.encode("utf-8", errors="surrogateescape")
    if current == data:
        return ()
    _replace(path, data)
    return changes_in_words(outcome)


def _replace(path: Path, data: bytes) -> None:
    """Write the file whole or not at all (a temporary file renamed over it)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".provscan")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o7777)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def changes_in_words(outcome: Outcome) -> tuple[str, ...]:
    """What --apply changes in the card, one line each."""
    lines = []
    for c in outcome.disclosure.metadata.changes:
        if c.proposed is None:
            lines.append(f"removed {c.key} (was {c.current})")
        elif c.current is None:
            lines.append(f"added {c.key}: {c.proposed}")
        else:
            lines.append(f"set {c.key}: {c.proposed} (was {c.current})")
    before = outcome.card_before or ""
    verb = "replaced" if SECTION_BEGIN in before else "added"
    lines.append(f'{verb} the "Provenance and licenses" section')
    return tuple(lines)

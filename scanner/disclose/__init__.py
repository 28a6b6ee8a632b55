"""`provscan disclose`: what a release should say about its own provenance, written from its
audit. The model card metadata it should declare (the Hub's keys), a "Provenance and
licenses" section for its card, and a public disclosure page; with --apply, the release's
README.md rewritten with both, everything else in it kept byte for byte.

    build.py      disclosure_of(report) -> Disclosure (a pure function of the Report)
    metadata.py   the card metadata: established base models, the license honouring them
    statements.py the section's statements, each citing its finding ids; what is to review
    wording.py    the words and thresholds (rules/disclosure.toml)
    markdown.py   release text made safe inside Markdown
    render.py     Markdown (templates/disclosure.md.j2), YAML, diff, HTML page
    card_edit.py  editing README.md as text, refusing what it cannot do safely
    files.py      the output folder, and --apply
"""

from .build import disclosure_of
from .card_edit import CardConflict
from .files import (
    Outcome,
    apply_to_release,
    refuse_apply_to,
    refuse_out_inside,
    write_disclosure,
)

__all__ = [
    "CardConflict",
    "Outcome",
    "apply_to_release",
    "disclosure_of",
    "refuse_apply_to",
    "refuse_out_inside",
    "write_disclosure",
]

"""The NOTICE file a release should carry: third-party notices verbatim, with their origin.

Generated from what was detected (copied code, foreign notices, the base model) and what
the applicable licenses prescribe, so a publisher can review it and ship it.
"""

from __future__ import annotations

import re

from ..assess.model import Assessment, CopiedCode, Report
from ..safetext import one_line
from .interface import Format

_COMMENT = re.compile(r"^\s*(#+|//+|/\*+|\*+/?|--|;+|\"\"\"|\'\'\')\s?")


def _without_closer(text: str) -> str:
    """`text` without a trailing block-comment closer (`  **/`). Not a regex: a pattern
    starting with optional spaces is retried from each space of a long run (quadratic)."""
    text = text.rstrip()
    if text.endswith("*/"):
        text = text[:-1].rstrip("*").rstrip()
    return text


def notice_lines(text: str) -> list[str]:
    """A notice as NOTICE-file lines: comment markers of the source language dropped, the
    words kept verbatim, each line indented."""
    out = []
    for line in text.splitlines():
        words = _without_closer(_COMMENT.sub("", line))
        if words:
            out.append(f"    {words}")
    return out


def notice_text(text: str) -> str:
    """A notice as plain text (for a BOM's copyright or attribution field): comment
    markers dropped, its lines kept."""
    return "\n".join(line.strip() for line in notice_lines(text))


def _key(text: str) -> str:
    """What makes two notices the same: their words, whatever the comment style or spacing."""
    return " ".join(notice_text(text).split())


def _section(title: str) -> list[str]:
    return ["", title, "-" * len(title)]


def render_notice(assessment: Assessment, name: str) -> str:
    out = [
        f"{name}",
        "",
        "This release contains material from third parties. Their notices follow,",
        "verbatim, with where provscan found them. Review before publishing.",
    ]
    quoted: set[str] = set()  # each notice once, where it is first met
    by_upstream: dict[str, list[CopiedCode]] = {}
    for c in assessment.copied:
        by_upstream.setdefault(c.corpus or "upstream", []).append(c)
    for corpus, items in by_upstream.items():
        version = next((c.version for c in items if c.version), None)
        lic = next((c.license for c in items if c.license), None)
        out += _section(
            f"Code from {corpus}"
            + (f" {version}" if version else "")
            + (f" (license: {lic})" if lic else "")
        )
        for c in items:
            out.append(
                f"{one_line(c.path)}: from {one_line(c.upstream_path)}"
                + (" (modified)" if c.share is not None and c.share < 0.999 else "")
            )
            if c.upstream_notice:
                out += notice_lines(c.upstream_notice)
                quoted.update(_key(line) for line in c.upstream_notice.splitlines())
                quoted.add(_key(c.upstream_notice))
    for o in assessment.origins:
        fam = f" / {o.family}" if o.family else ""
        lic = f" (license: {o.license})" if o.license else ""
        out += _section(f"{o.org}{fam}{lic}")
        fresh = [n for n in o.notices if _key(n) not in quoted]
        for n in fresh:
            out += notice_lines(n)
            quoted.add(_key(n))
        if len(fresh) < len(o.notices):
            out.append("    (notices quoted above, with the code they came with)")
        out.append("    in: " + ", ".join(one_line(p) for p in o.paths))
    bases = [c for c in assessment.lineage if c.verdict in ("identical", "derived")]
    for claim in bases:
        rel = f" ({claim.relation})" if claim.relation else ""
        out += _section(f"Base model: {claim.name}")
        out.append(
            f"    The weights of this release are derived{rel} from {claim.name}"
            + (f", licensed under {claim.license}." if claim.license else ".")
        )
    prescribed = list(dict.fromkeys(o.notice for o in assessment.obligations if o.notice))
    if prescribed:
        out += _section("Attribution notices required by the licenses")
        out += [f"    {n}" for n in prescribed]
    if len(out) == 4:
        out += ["", "No third-party material was detected."]
    return "\n".join(out) + "\n"


class NoticeFormat(Format):
    name = "notice"

    def render(self, report: Report) -> str:
        return render_notice(report.assessment, report.name)

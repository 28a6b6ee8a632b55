"""The HTML report: one self-contained file (inline CSS and SVG, no script, no network),
rendered from jinja2 templates in templates/ with autoescaping on."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from .. import __version__
from ..assess.model import Report
from ..assess.release import release_name
from ..rules import templates_dir
from .html_view import view
from .interface import Format
from .notice import render_notice

# A release with thousands of files gives thousands of findings; the HTML lists the first
# ones (the JSON report has them all) so it stays a file a browser opens.
MAX_FINDINGS_SHOWN = 2000
STATUS_MARK = {"met": "✓", "unmet": "✗", "unknown": "?", "manual": "☐"}


def pvalue(p: float | None) -> str:
    """A p-value as a reader should see it: an underflow to 0 is "< 1e-300", not 0."""
    if p is None:
        return "–"
    if p <= 0:
        return "< 1e-300"
    return f"{p:.2g}"


def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(templates_dir())),
        autoescape=select_autoescape(["html", "j2", "svg"], default_for_string=True, default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["status_mark"] = STATUS_MARK
    env.filters["pvalue"] = pvalue
    return env


class HtmlFormat(Format):
    name = "html"

    def render(self, report: Report) -> str:
        a = report.assessment
        snap = report.result.snapshot
        name = release_name(snap)
        template = environment().get_template("report.html.j2")
        return template.render(
            name=name,
            snap=snap,
            a=a,
            version=__version__,
            generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            kinds=sorted(Counter(str(f.kind) for f in snap.files).items()),
            by_id=dict(a.findings),
            notice=render_notice(a, name),
            obligation_counts=Counter(o.status for o in a.obligations),
            max_findings=MAX_FINDINGS_SHOWN,
            **view(report),
        )

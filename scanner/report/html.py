"""The HTML report: one self-contained file (inline CSS and SVG, no script, no network),
rendered from jinja2 templates in templates/ with autoescaping on.

Every text the template prints goes through `visible` first: control characters and
bidirectional overrides from the release (a file named `bidi<U+202E>txt.py` would read as
`bidiyp.txt`) are printed as escapes such as `\\u202e`, and the report says how many."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

from .. import __version__
from ..assess.model import Report
from ..rules import templates_dir
from ..safetext import visible
from .html_view import view
from .interface import Format
from .notice import render_notice
from .wording import claim_sureness

# A release with thousands of files gives thousands of findings; the HTML lists the first
# ones (the JSON report has them all) so it stays a file a browser opens.
MAX_FINDINGS_SHOWN = 2000
STATUS_MARK = {"met": "✓", "unmet": "✗", "unknown": "?", "manual": "☐"}
# Findings about the whole checkpoint: no tensor or layer is "where" they are.
WHOLE_MODEL_KINDS = ("weights-derived", "undeclared-base-model", "weights-lineage")
# Where a long name (a path, an upstream corpus:path) may wrap: after / _ : @ - before a
# word character, after a dot only before a word of 3 letters or more (not in "2.0", not
# before a short extension as in "acme.py").
_BREAK_AFTER = re.compile(r"([/_:@\\-](?=\w)|\.(?=[A-Za-z]\w{3}))")


def pvalue(p: float | None) -> str:
    """A p-value as a reader should see it: an underflow to 0 is "< 1e-300", not 0."""
    if p is None:
        return "–"
    if p <= 0:
        return "< 1e-300"
    return f"{p:.2g}"


@dataclass
class Escapes:
    """Counts the texts whose control or bidi characters were written as escapes."""

    count: int = 0
    samples: list[str] = field(default_factory=list)

    def text(self, value: str) -> str:
        shown, n = visible(value)
        if n:
            self.count += 1
            if len(self.samples) < 3:
                self.samples.append(shown[:80])
        return shown

    def finalize(self, value: Any) -> Any:
        """Every printed value: strings made visible (Markup was built from such)."""
        if isinstance(value, str) and not isinstance(value, Markup):
            return self.text(value)
        return value

    def breakable(self, value: Any) -> Markup:
        """A name that may wrap after / _ . : @ - (never inside a word), escaped."""
        safe = str(escape(self.text(str(value))))
        return Markup(_BREAK_AFTER.sub(r"\1<wbr>", safe))


def environment(escapes: Escapes | None = None) -> Environment:
    escapes = escapes or Escapes()
    env = Environment(
        loader=FileSystemLoader(str(templates_dir())),
        autoescape=select_autoescape(["html", "j2", "svg"], default_for_string=True, default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=escapes.finalize,
    )
    env.globals["status_mark"] = STATUS_MARK
    env.globals["whole_model_kinds"] = WHOLE_MODEL_KINDS
    env.filters["pvalue"] = pvalue
    env.filters["breakable"] = escapes.breakable
    env.filters["sureness"] = claim_sureness
    return env


class HtmlFormat(Format):
    name = "html"

    def render(self, report: Report) -> str:
        # Rendered twice when the release holds unsafe characters: the first pass counts
        # them, so that the top of the report can say so.
        html, escapes = self._render(report, None)
        if escapes.count:
            html, _ = self._render(report, escapes)
        return html

    def _render(self, report: Report, found: Escapes | None) -> tuple[str, Escapes]:
        a = report.assessment
        snap = report.result.snapshot
        name = report.name
        escapes = Escapes()
        template = environment(escapes).get_template("report.html.j2")
        html = template.render(
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
            escaped=found,
            **view(report),
        )
        return html, escapes

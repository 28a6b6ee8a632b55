"""The disclosure as text: the card's section (Markdown), its metadata (a YAML front matter
block and a diff against the card's current one) and the public page (HTML).

The page renders the same Markdown (markdown-it, CommonMark with tables, raw HTML off) into
templates/disclosure.html.j2: one content, two forms, and the page shows exactly how the
card's section reads.
"""

from __future__ import annotations

import difflib
import re
from datetime import UTC, datetime

import yaml
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markdown_it import MarkdownIt
from markupsafe import Markup

from .. import __version__
from ..rules import templates_dir
from . import markdown as md
from .model import METADATA_KEYS, CardMetadata, Disclosure

MAX_PATHS_SHOWN = 8
_CITATION = re.compile(r"\[(F\d+(?:, F\d+)*)\]")


def _environment(autoescape: bool) -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(templates_dir())),
        autoescape=select_autoescape(["html"], default=False) if autoescape else False,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        text=md.text, line=md.line, code=md.code, cell=md.cell, fence=md.fence, cite=md.cite
    )
    return env


def section_markdown(d: Disclosure) -> str:
    """The "Provenance and licenses" section, as the card carries it."""
    example = d.cited[0].id if d.cited else "F1"
    text = (
        _environment(autoescape=False)
        .get_template("disclosure.md.j2")
        .render(d=d, version=__version__, example_id=f"[{example}]", max_paths=MAX_PATHS_SHOWN)
    )
    return re.sub(r"\n{3,}", "\n\n", text).strip("\n") + "\n"


def metadata_yaml(meta: CardMetadata) -> str:
    """The provenance keys as a YAML front matter block (only the keys with a value)."""
    values = {k: meta.value(k) for k in METADATA_KEYS if meta.value(k) is not None}
    body = yaml.safe_dump(values, sort_keys=False, allow_unicode=True, width=4096) if values else ""
    return f"---\n{body}---\n"


def metadata_diff(current: str, proposed: str, path: str = "README.md") -> str:
    """A unified diff between two front matter blocks ('' when they are the same)."""
    return "".join(
        difflib.unified_diff(
            current.splitlines(keepends=True),
            proposed.splitlines(keepends=True),
            f"a/{path}",
            f"b/{path}",
        )
    )


def _link_citations(html: str) -> str:
    """[F3, F4] markers as links to the cited findings at the end of the page."""

    def link(m: re.Match[str]) -> str:
        ids = m.group(1).split(", ")
        return "[" + ", ".join(f'<a href="#{i}" class="fid">{i}</a>' for i in ids) + "]"

    return _CITATION.sub(link, html)


def _anchor_cited(html: str) -> str:
    """Give each entry of the cited findings list (the section's last list) the id its
    markers link to."""
    head, mark, tail = html.rpartition("<h3>Findings cited</h3>")
    if not mark:
        return html
    return head + mark + re.sub(r"<li>(F\d+):", r'<li id="\1">\1:', tail)


def section_html(section: str) -> str:
    """The section's Markdown rendered: CommonMark with tables, raw HTML shown as text."""
    renderer = MarkdownIt("commonmark", {"html": False}).enable("table")
    return _anchor_cited(_link_citations(renderer.render(section)))


def page_html(d: Disclosure, section: str, metadata_block: str) -> str:
    """The self-contained public disclosure page."""
    return (
        _environment(autoescape=True)
        .get_template("disclosure.html.j2")
        .render(
            d=d,
            version=__version__,
            generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            section=Markup(section_html(section)),
            metadata_block=metadata_block,
        )
    )

# ruff: noqa: F811  (pytest fixtures imported from test_report_data)
"""The public disclosure page as a person sees it: the card's Markdown section rendered,
laid out by headless Chromium (as the HTML report is), citations linking to the findings
cited; self-contained; release text stays text in the Markdown and in the page."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from test_report_data import audit_with, demo_release, demo_report, make_clean_release  # noqa: F401
from test_report_html import _Collect, chromium, needs_chromium, png_pixels

from scanner.assess.model import Report
from scanner.demo_release import BASE_NAME
from scanner.disclose import disclosure_of, write_disclosure
from scanner.disclose.render import page_html, section_html, section_markdown
from scanner.evidence import ForeignNotice, UpstreamId
from scanner.model import Evidence, Finding, Location, Severity

PROBE = """
<script>
addEventListener('load', () => {
  const box = el => { const r = el.getBoundingClientRect(), s = getComputedStyle(el);
    return {top: r.top + scrollY, height: r.height, width: r.width,
            visible: s.display !== 'none' && s.visibility !== 'hidden' && r.height > 0}; };
  const out = {
    h3: [...document.querySelectorAll('#provenance h3')].map(h => [h.innerText, box(h)]),
    tables: [...document.querySelectorAll('#provenance table')].map(t => [t.rows.length, box(t)]),
    pre: [...document.querySelectorAll('#provenance pre')].map(p => box(p)),
    links: [...document.querySelectorAll('a.fid')].map(a => a.getAttribute('href')),
    targets: [...document.querySelectorAll('#provenance li[id]')].map(li => li.id),
    metadata: box(document.getElementById('card-metadata')),
    text: document.body.innerText.slice(0, 60000)};
  document.body.setAttribute('data-layout', JSON.stringify(out));
});
</script>
"""
SUBSECTIONS = (
    "Base model",
    "Third-party code",
    "Notices carried",
    "Obligations and how they are met",
    "To review",
    "Findings cited",
)


@pytest.fixture(scope="module")
def page(demo_report: Report, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("disclosure")
    write_disclosure(demo_report, out)
    return out / "disclosure.html"


def layout_of(page: Path, tmp_path: Path) -> dict:
    html = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", page.read_text())
    probe = tmp_path / "probe.html"
    probe.write_text(html.replace("</body>", PROBE + "</body>"))
    res = chromium(
        tmp_path,
        "--window-size=1100,900",
        "--virtual-time-budget=3000",
        "--dump-dom",
        probe.as_uri(),
    )
    assert res.returncode == 0, res.stderr[-2000:]
    raw = re.search(r'data-layout="([^"]*)"', res.stdout).group(1)
    return json.loads(
        raw.replace("&quot;", '"').replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    )


@needs_chromium
def test_the_section_renders_with_its_headings_tables_and_notices(
    page: Path, tmp_path: Path
) -> None:
    layout = layout_of(page, tmp_path)
    headings = [h for h, _ in layout["h3"]]
    assert headings == list(SUBSECTIONS)
    assert all(box["visible"] and box["width"] > 500 for _, box in layout["h3"])
    tops = [box["top"] for _, box in layout["h3"]]
    assert tops == sorted(tops)
    assert layout["metadata"]["visible"] and layout["metadata"]["top"] < tops[0]
    rows = [n for n, _ in layout["tables"]]
    assert rows[0] == 1 + 3  # header + the three copied files
    assert all(box["visible"] for _, box in layout["tables"])
    assert len(layout["pre"]) >= 4 and all(p["visible"] for p in layout["pre"])
    text = layout["text"]
    assert f"base_model: {BASE_NAME}" in text and "Built with Qwen." in text
    assert "Copyright 2024 The Qwen team, Alibaba Group" in text
    assert "modeling_acme.py" in text and "replaced by another notice in the copy" in text
    # every citation marker links to the finding it cites, listed on the page
    assert layout["links"] and {h[1:] for h in layout["links"]} <= set(layout["targets"])


@needs_chromium
def test_screenshot_of_the_page_is_rendered_not_blank(page: Path, tmp_path: Path) -> None:
    shot = tmp_path / "page.png"
    res = chromium(tmp_path, "--window-size=1100,1800", f"--screenshot={shot}", page.as_uri())
    assert res.returncode == 0 and shot.exists(), res.stderr[-2000:]
    width, height, raw = png_pixels(shot)
    stride = len(raw) // height
    rows = [raw[i * stride + 1 : (i + 1) * stride] for i in range(height)]
    assert sum(1 for r in rows if len(set(r)) > 2) > height // 4


def test_page_is_self_contained(page: Path) -> None:
    parser = _Collect()
    parser.feed(page.read_text())
    tags = {t for t, _ in parser.tags}
    assert not tags & {"script", "link", "img", "iframe", "object"}
    for tag, attrs in parser.tags:
        assert "src" not in attrs and not any(k.startswith("on") for k in attrs), tag
    assert next(a for t, a in parser.tags if t == "html").get("lang") == "en"


def test_page_and_section_say_the_same(demo_report: Report) -> None:
    d = disclosure_of(demo_report)
    section = section_markdown(d)
    html = page_html(d, section, "---\n---\n")
    assert section_html(section) in html
    for marker in re.findall(r"\[(F\d+)", section):
        assert f'href="#{marker}"' in html


def test_release_text_stays_text_in_the_markdown_and_the_page(tmp_path: Path) -> None:
    root = make_clean_release(tmp_path / "r")
    evil = (
        "<script>alert(1)</script> [click](javascript:alert(1)) ![x](http://evil.example/x.png)"
        " | **bold** `code` <img src=x onerror=alert(1)>"
    )
    line = f"# Copyright 2024 {evil}\n```\n"
    finding = Finding(
        kind="foreign-notice",
        severity=Severity.MEDIUM,
        message="notice",
        location=Location(path="evil.py", start_line=1, end_line=1),
        evidence=Evidence(
            matched=line,
            details=ForeignNotice(
                statement=line,
                holder=evil,
                holder_key="evil",
                lines=(line,),
                origins=(UpstreamId(id="x", organisation=evil, project=evil, usual_license=evil),),
                publisher=None,
            ),
        ),
    )
    (root / "evil.py").write_text(line + "print(1)\n")
    d = disclosure_of(audit_with(root, [finding]))
    section = section_markdown(d)
    html = page_html(d, section, "---\n---\n")
    for bad in ("<script", "<img", 'href="javascript', 'href="http://evil', "<strong>bold"):
        assert bad not in html, bad
    assert "[click](javascript:alert(1))" in html  # shown as the text it is
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    # the notice line, fences and all, stays inside its code block
    assert re.search(r"<pre><code[^>]*>[^<]*Copyright 2024 &lt;script&gt;", html)
    notices = section.split("### Notices carried", 1)[1]
    assert "````text" in notices  # a longer fence than the ``` inside the notice

# ruff: noqa: F811  (pytest fixtures imported from test_report_data)
"""The HTML report as a person sees it: rendered by headless Chromium, screenshot taken,
every section laid out and visible, the verdict first; escaped; self-contained; printable."""

from __future__ import annotations

import json
import re
import struct
import zlib
from html.parser import HTMLParser
from pathlib import Path

import pytest
from layout_probe import CHROMIUM, PRINT_WIDTH, chromium, layout, screenshot
from test_report_data import audit_with, demo_release, demo_report, make_clean_release  # noqa: F401

from scanner.assess.model import Report
from scanner.demo_release import BASE_NAME
from scanner.evidence import ForeignNotice, SignalEvidence, UpstreamId, WeightsLineage
from scanner.model import Evidence, Finding, Location, Severity
from scanner.report.html import HtmlFormat

SECTIONS = (
    "verdict",
    "declared-vs-detected",
    "discrepancies",
    "evidence",
    "obligations",
    "notice",
    "findings",
    "method",
)
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian package chromium missing (make system-deps installs it)"
)


def png_pixels(path: Path) -> tuple[int, int, bytes]:
    """Width, height and the raw scanlines of an 8-bit RGB(A) PNG (no imaging library)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height = 8, b"", 0, 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height = struct.unpack(">II", body[:8])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    return width, height, zlib.decompress(idat)


LAYOUT_PROBE = """
<script>
addEventListener('load', () => {
  const out = {};
  for (const id of %s) {
    const el = document.getElementById(id);
    if (!el) { out[id] = null; continue; }
    const r = el.getBoundingClientRect(), s = getComputedStyle(el);
    out[id] = {top: r.top + scrollY, height: r.height, width: r.width,
               visible: s.display !== 'none' && s.visibility !== 'hidden' && r.height > 0,
               text: el.innerText.slice(0, 50000)};
  }
  document.body.setAttribute('data-layout', JSON.stringify(out));
});
</script>
"""


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


@pytest.fixture(scope="module")
def report_html(demo_report: Report, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("html") / "report.html"
    HtmlFormat().write(demo_report, out)
    return out


@needs_chromium
def test_every_section_is_laid_out_and_the_verdict_comes_first(
    report_html: Path, tmp_path: Path
) -> None:
    # A copy with a layout probe: the report itself carries no script (and its CSP forbids one).
    html = report_html.read_text()
    html = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", html)
    probe = tmp_path / "probe.html"
    probe.write_text(html.replace("</body>", LAYOUT_PROBE % json.dumps(SECTIONS) + "</body>"))
    res = chromium(
        tmp_path,
        "--window-size=1200,900",
        "--virtual-time-budget=3000",
        "--dump-dom",
        probe.as_uri(),
    )
    assert res.returncode == 0, res.stderr[-2000:]
    layout = json.loads(
        re.search(r'data-layout="([^"]*)"', res.stdout)
        .group(1)
        .replace("&quot;", '"')
        .replace("&amp;", "&")
    )
    for section in SECTIONS:
        box = layout[section]
        assert box is not None and box["visible"], section
        assert box["width"] > 600, section
    tops = [layout[s]["top"] for s in SECTIONS]
    assert tops == sorted(tops)
    assert layout["verdict"]["top"] < 900  # in the first screenful
    assert "FAIL" in layout["verdict"]["text"] and BASE_NAME in layout["verdict"]["text"]
    assert "modeling_acme.py" in layout["evidence"]["text"]


@needs_chromium
def test_screenshot_is_rendered_not_blank(report_html: Path, tmp_path: Path) -> None:
    shot = tmp_path / "report.png"
    res = chromium(
        tmp_path, "--window-size=1200,2000", f"--screenshot={shot}", report_html.as_uri()
    )
    assert res.returncode == 0 and shot.exists(), res.stderr[-2000:]
    width, height, raw = png_pixels(shot)
    assert (width, height) == (1200, 2000)
    stride = len(raw) // height
    rows = [raw[i * stride + 1 : (i + 1) * stride] for i in range(height)]
    inked = sum(1 for r in rows if len(set(r)) > 2)
    assert inked > height // 4  # text and tables on many rows, not a blank page
    # the verdict box is tinted (fail: light red), so its rows hold more than black and white
    assert len(set(raw[: stride * 400])) > 20


@needs_chromium
def test_report_prints_to_pdf(report_html: Path, tmp_path: Path) -> None:
    pdf = tmp_path / "report.pdf"
    res = chromium(
        tmp_path, f"--print-to-pdf={pdf}", "--no-pdf-header-footer", report_html.as_uri()
    )
    assert res.returncode == 0 and pdf.exists(), res.stderr[-2000:]
    pages = len(re.findall(rb"/Type\s*/Page[^s]", pdf.read_bytes()))
    assert pages >= 3


def test_report_is_self_contained(report_html: Path) -> None:
    parser = _Collect()
    parser.feed(report_html.read_text())
    tags = {t for t, _ in parser.tags}
    assert "script" not in tags and "link" not in tags and "img" not in tags
    assert "iframe" not in tags and "object" not in tags
    for tag, attrs in parser.tags:
        assert "src" not in attrs, tag
        assert not any(k.startswith("on") for k in attrs), tag
    html_tag = next(a for t, a in parser.tags if t == "html")
    assert html_tag.get("lang") == "en"
    assert all(a.get("role") == "img" for t, a in parser.tags if t == "svg")


def test_hostile_text_from_the_release_is_escaped(tmp_path: Path) -> None:
    root = make_clean_release(tmp_path / "r")
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    (root / "evil.py").write_text(f"# Copyright 2024 {evil}\nprint(1)\n")
    finding = Finding(
        kind="foreign-notice",
        severity=Severity.MEDIUM,
        message=f"notice {evil}",
        location=Location(path="evil.py", start_line=1, end_line=1),
        evidence=Evidence(
            matched=f"Copyright 2024 {evil}",
            details=ForeignNotice(
                statement=f"Copyright 2024 {evil}",
                holder=evil,
                holder_key=evil,
                lines=(f"# Copyright 2024 {evil}",),
                origins=(UpstreamId(id="x", organisation=evil, project=evil, usual_license=evil),),
                publisher=None,
            ),
        ),
    )
    html = HtmlFormat().render(audit_with(root, [finding]))
    assert "<script>" not in html and "<img" not in html
    assert "&lt;script&gt;alert(" in html


def test_clean_release_report_says_pass(tmp_path: Path) -> None:
    html = HtmlFormat().render(audit_with(make_clean_release(tmp_path / "c"), []))
    assert 'Verdict: <span class="level">PASS</span>' in html


def _luminance(hex_color: str) -> float:
    rgb = [int(hex_color[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def contrast(fg: str, bg: str) -> float:
    hi, lo = sorted((_luminance(fg), _luminance(bg)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_text_colours_meet_wcag_aa() -> None:
    from scanner.rules import templates_dir

    css = (templates_dir() / "report.css").read_text()
    var = dict(re.findall(r"--([\w-]+):\s*(#[0-9a-fA-F]{6})", css))
    white = "#ffffff"
    pairs = [
        (var["ink"], white),
        (var["muted"], white),
        (var["accent"], white),
        (var["fail"], var["fail-bg"]),
        (var["warn"], var["warn-bg"]),
        (var["pass"], var["pass-bg"]),
        (white, var["fail"]),
        (white, var["warn"]),
        (var["muted"], var["bg-soft"]),
        (var["ink"], "#fff3b0"),
        (var["ink"], "#fde2e1"),
    ]
    for fg, bg in pairs:
        assert contrast(fg, bg) >= 4.5, (fg, bg, contrast(fg, bg))


def test_odd_weight_numbers_do_not_break_the_report(tmp_path: Path) -> None:
    root = make_clean_release(tmp_path / "r")

    def signal(name: str, score: float, std: float, per_layer: object) -> SignalEvidence:
        return SignalEvidence(
            name=name,
            score=score,
            null_mean=0.1,
            null_std=std,
            z=0.0,
            p_value=0.5,
            robust_to=(),
            details={"per_layer": per_layer},
        )

    weird = Finding(
        kind="weights-derived",
        severity=Severity.HIGH,
        message="derived",
        evidence=Evidence(
            matched="ref",
            details=WeightsLineage(
                verdict="derived",
                relation=None,
                reasons=(),
                signals=(
                    signal("a", float("nan"), 0.1, None),
                    signal("b", 0.5, float("inf"), {"0": 1.0, "1": float("inf")}),
                    signal("c", 0.9, 0.0, {"x": 1, "1": "y"}),
                    signal("d", 0.8, 0.1, "nonsense"),
                ),
            ),
        ),
    )
    html = HtmlFormat().render(audit_with(root, [weird]))
    assert "Verdict" in html and "signals-0" in html  # the valid signal is still charted


@needs_chromium
@pytest.mark.parametrize("width", [1280, 390])
def test_report_fits_the_screen_and_breaks_no_word(
    report_html: Path, tmp_path: Path, width: int
) -> None:
    """Nothing wider than the viewport (code scrolls in its own box), and no word of a
    table cell cut in two, at desktop and phone widths; a screenshot of each to look at."""
    found = layout(report_html, width, tmp_path)
    assert found["viewport"] == width
    assert found["page_width"] <= width, found["wide"][:5]
    assert found["wide"] == []
    assert found["broken"] == []
    screenshot(report_html, width, tmp_path / f"report-{width}.png", tmp_path)


@needs_chromium
def test_report_fits_the_printed_page_and_breaks_no_word(report_html: Path, tmp_path: Path) -> None:
    found = layout(report_html, PRINT_WIDTH, tmp_path, print_rules=True)
    assert found["page_width"] <= PRINT_WIDTH and found["wide"] == []
    assert found["broken"] == []

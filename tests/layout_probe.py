"""The HTML report laid out by headless Chromium at a given width, measured from the DOM:
what sticks out of the viewport, and which words a table cell breaks in two.

The report carries no script (its CSP forbids one): a copy of it, without the CSP, is
shown in an iframe of the width to measure (Chromium's own window is at least 500 px
wide), and a script of the page around it writes what it measured into the DOM, which
`--dump-dom` returns. `print` applies the report's @media print rules on screen, at the
width of an A4 page less Chromium's default margins, to measure the printed layout.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html import escape
from pathlib import Path

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
PRINT_WIDTH = 718
"""CSS pixels across an A4 page (8.27 in) less Chromium's default margins (0.4 in each)."""

PROBE = """
<script>
const frame = document.getElementById('report');
frame.addEventListener('load', () => {
  const doc = frame.contentDocument;
  const vw = doc.documentElement.clientWidth, out = {viewport: vw,
    page_width: doc.documentElement.scrollWidth, wide: [], broken: []};
  const describe = el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
    (el.className && typeof el.className === 'string' ? '.' + el.className.split(' ')[0] : '');
  for (const el of doc.body.querySelectorAll('*')) {
    // Off the screen on purpose: the skip link (shown on focus); scrolled: code boxes.
    if (el.closest('.scroll, .skip, svg, details:not([open])')) continue;
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) continue;
    if (r.right > vw + 1 || r.left < -1)
      out.wide.push(describe(el) + ' ' + Math.round(r.left) + '..' + Math.round(r.right) +
                    ': ' + (el.innerText || '').slice(0, 60));
  }
  for (const cell of doc.querySelectorAll('td, th')) {
    if (cell.closest('table.code, details:not([open])')) continue;
    const walker = doc.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      for (const m of node.data.matchAll(/[A-Za-z0-9]+/g)) {
        const range = doc.createRange();
        range.setStart(node, m.index);
        range.setEnd(node, m.index + m[0].length);
        const tops = new Set([...range.getClientRects()].filter(b => b.width > 0)
                              .map(b => Math.round(b.top)));
        if (tops.size > 1) out.broken.push(m[0] + ' in ' + describe(cell) + ': ' +
                                           cell.innerText.slice(0, 60));
      }
    }
  }
  document.body.setAttribute('data-probe', JSON.stringify(out));
});
</script>
"""
# Chromium's window is at least 500 px wide: narrower screens are an iframe of that width.
FRAME = (
    '<!DOCTYPE html><html><body style="margin:0">'
    '<iframe id="report" style="border:0;width:{width}px;height:1000px" srcdoc="{doc}">'
    "</iframe>{probe}</body></html>"
)


def chromium(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    profile = tmp / "chromium-profile"
    cmd = [
        CHROMIUM or "chromium",
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        *args,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180)


def _print_rules_on_screen(html: str) -> str:
    """The report with its @media print block applied to the screen."""
    opening = html.index("{", html.index("@media print {"))
    depth, end = 0, opening
    for end in range(opening, len(html)):
        depth += {"{": 1, "}": -1}.get(html[end], 0)
        if depth == 0:
            break
    body = html[opening + 1 : end]
    return html.replace("</style>", f"\n{body}\n</style>", 1)


def layout(report: Path, width: int, tmp: Path, *, print_rules: bool = False) -> dict:
    """What sticks out and which words break, at `width` CSS pixels."""
    html = report.read_text(encoding="utf-8")
    html = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", html)
    if print_rules:
        html = _print_rules_on_screen(html)
    probe = tmp / f"probe-{width}{'-print' if print_rules else ''}.html"
    probe.write_text(FRAME.format(width=width, doc=escape(html), probe=PROBE), encoding="utf-8")
    res = chromium(
        tmp,
        f"--window-size={max(width, 1280)},1000",
        "--virtual-time-budget=5000",
        "--dump-dom",
        probe.as_uri(),
    )
    assert res.returncode == 0, res.stderr[-2000:]
    found = re.search(r'data-probe="([^"]*)"', res.stdout)
    assert found, res.stdout[-2000:]
    text = found.group(1).replace("&quot;", '"').replace("&lt;", "<").replace("&gt;", ">")
    return json.loads(text.replace("&amp;", "&"))


def screenshot(report: Path, width: int, out: Path, tmp: Path, height: int = 8000) -> Path:
    res = chromium(tmp, f"--window-size={width},{height}", f"--screenshot={out}", report.as_uri())
    assert res.returncode == 0 and out.exists(), res.stderr[-2000:]
    return out

"""The batch index page in a real browser: the column headings sort the table with the one
script the page's Content-Security-Policy allows; any other script is refused."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

from test_report_html import chromium, needs_chromium

from scanner.batch.index_page import IndexRow, render_index

PROBE = """
var table = document.getElementById("targets");
var button = table.tHead.rows[0].cells[0].querySelector("button");
var orders = [];
function order() {
  return Array.prototype.map.call(table.tBodies[0].rows, function (r) {
    return r.cells[0].textContent.trim();
  }).join("|");
}
orders.push(order());
button.click();
orders.push(order());
button.click();
orders.push(order());
document.body.setAttribute("data-orders", orders.join(";"));
"""
HOSTILE = '<script>document.body.setAttribute("data-pwned", "1");</script>'


def _row(target: str, level: str, high: int = 0) -> IndexRow:
    return IndexRow(
        target,
        "mit",
        (),
        level,
        "",
        (f"{high} high x",) if high else (),
        None,
        (("html", f"reports/{target}/report.html"),),
        high,
        0,
    )


def _hash(script: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()


def _browse(tmp_path: Path, html: str) -> str:
    page = tmp_path / "index.html"
    page.write_text(html)
    res = chromium(tmp_path, "--virtual-time-budget=3000", "--dump-dom", page.as_uri())
    assert res.returncode == 0, res.stderr[-2000:]
    return res.stdout


@needs_chromium
def test_column_headings_sort_the_rows_in_the_browser(tmp_path: Path) -> None:
    rows = [_row("b-model", "fail", 2), _row("c-model", "warn"), _row("a-model", "pass")]
    html = render_index("targets.txt", rows)
    # the probe is allowed the way the sort script is: by its hash
    html = html.replace("script-src '", f"script-src '{_hash(PROBE)}' '", 1)
    html = html.replace("</body>", f"<script>{PROBE}</script>{HOSTILE}</body>")
    dom = _browse(tmp_path, html)
    orders = re.search(r'data-orders="([^"]*)"', dom)
    assert orders, dom[-2000:]
    first, up, down = orders.group(1).split(";")
    assert first == "b-model|c-model|a-model"  # as written: worst first
    assert up == "a-model|b-model|c-model"
    assert down == "c-model|b-model|a-model"
    assert 'data-pwned="1"' not in dom  # a script without the hash does not run

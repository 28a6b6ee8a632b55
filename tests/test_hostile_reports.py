"""Hostile file names and notices in the machine formats and the NOTICE file: valid
documents, no forged lines, no markup."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from scanner.code.corpus import add_corpus

TRANSFORMERS = Path(__import__("transformers").__file__).resolve().parent
LLAMA = TRANSFORMERS / "models" / "llama" / "modeling_llama.py"
FORGED = "Third-party: none (all MIT)"


def test_sarif_uris_of_odd_file_names_are_encoded(cli, tmp_path: Path) -> None:
    rel = tmp_path / "rel"
    rel.mkdir()
    outside = tmp_path / "outside.txt"
    outside.write_text("x")
    names = ["a:b.py", "x#frag.py", "sp ace%41.py", "nl\nx.py", "\x1b[31mred"]
    for name in names:
        os.symlink(outside, rel / name)
    sarif = tmp_path / "r.sarif"
    r = cli("scan", str(rel), "--sarif", str(sarif))
    assert r.returncode == 0, r.stderr
    uris = [
        loc["physicalLocation"]["artifactLocation"]["uri"]
        for res in json.loads(sarif.read_text())["runs"][0]["results"]
        for loc in res.get("locations", [])
    ]  # release-wide findings have none
    for uri in uris:
        parts = urlsplit(uri)
        assert (
            not parts.scheme
            and not parts.fragment
            and not any(c.isspace() or ord(c) < 32 for c in uri)
        ), uri
    assert sorted(unquote(u) for u in uris) == sorted(names)


def test_notice_file_has_no_lines_forged_by_a_file_name(cli, tmp_path: Path) -> None:
    ref = tmp_path / "ref"
    ref.mkdir()
    shutil.copy(LLAMA, ref / "modeling_llama.py")
    add_corpus("ref", str(ref), license="Apache-2.0")
    rel = tmp_path / "rel"
    rel.mkdir()
    (rel / f"x\n\n{FORGED}\nmodel.py").write_text(LLAMA.read_text())
    notice = tmp_path / "NOTICE"
    r = cli("scan", str(rel), "--notice", str(notice), "--json", str(tmp_path / "r.json"))
    assert r.returncode == 0, r.stderr
    kinds = {f["kind"] for f in json.loads((tmp_path / "r.json").read_text())["findings"]}
    assert kinds & {"copied-code", "notice-removed"}, kinds  # the copy was found
    lines = notice.read_text().splitlines()
    assert FORGED not in lines and any(FORGED in line for line in lines)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.__setitem__("card", "apache-2.0"),
        lambda d: d["findings"][0]["evidence"].__setitem__("details", [1, "a"]),
        lambda d: d["findings"][0]["evidence"].__setitem__("score", "high"),
        lambda d: d["findings"][0].__setitem__("location", "a.py"),
        lambda d: d.__setitem__("findings", {"a": 1}),
        lambda d: d.__setitem__("files", "[" * 100_000),
    ],
)
def test_check_of_a_malformed_report_is_one_clear_error(cli, tmp_path: Path, mutate) -> None:
    rel = tmp_path / "rel"
    rel.mkdir()
    os.symlink("/", rel / "root")  # one not-analysed finding to mutate
    report = tmp_path / "r.json"
    assert cli("scan", str(rel), "--json", str(report)).returncode == 0
    data = json.loads(report.read_text())
    mutate(data)
    text = json.dumps(data).replace('"[[[', "[" * 100_000 + '"[[[')  # deep: not JSON-able
    report.write_text(text)
    r = cli("check", str(report))
    assert r.returncode == 2
    assert "not a provscan JSON report" in r.stderr and "internal error" not in r.stderr


def test_notice_lines_are_linear_in_a_long_run_of_spaces() -> None:
    import signal

    from scanner.report.notice import notice_lines

    def hang(*_: object) -> None:
        raise TimeoutError("notice_lines is quadratic")

    line = "// Copyright Acme" + " " * 300_000 + "Inc. */"
    old = signal.signal(signal.SIGALRM, hang)
    signal.alarm(30)  # a hang guard, not a benchmark: the old regex needed ~15 minutes
    try:
        assert notice_lines(line) == ["    Copyright Acme" + " " * 300_000 + "Inc."]
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def test_html_report_of_thousands_of_copies_stays_a_file_a_browser_opens(
    cli, tmp_path: Path
) -> None:
    from scanner.report.html_view import MAX_SIDE_BY_SIDE

    source = TRANSFORMERS / "models" / "data2vec" / "configuration_data2vec_vision.py"
    ref = tmp_path / "ref"
    ref.mkdir()
    shutil.copy(source, ref / source.name)
    add_corpus("ref", str(ref), license="Apache-2.0")
    rel = tmp_path / "rel"
    rel.mkdir()
    extra = 7
    for i in range(MAX_SIDE_BY_SIDE + extra):
        shutil.copy(source, rel / f"copy_{i}.py")
    html = tmp_path / "r.html"
    r = cli("scan", str(rel), "-o", str(html), "--json", str(tmp_path / "r.json"))
    assert r.returncode == 0, r.stderr
    copies = [
        f
        for f in json.loads((tmp_path / "r.json").read_text())["findings"]
        if f["kind"] in ("copied-code", "notice-removed")
    ]
    assert len(copies) == MAX_SIDE_BY_SIDE + extra  # the JSON has them all
    text = html.read_text()
    assert text.count('<table class="code side"') == MAX_SIDE_BY_SIDE
    assert f"{extra} more copied file(s)" in text


def test_check_of_a_report_naming_the_root_folder_reads_only_its_listed_files(
    cli, tmp_path: Path
) -> None:
    rel = tmp_path / "rel"
    rel.mkdir()
    (rel / "README.md").write_text("---\nlicense: apache-2.0\n---\n")
    report = tmp_path / "r.json"
    assert cli("scan", str(rel), "--json", str(report)).returncode == 0
    data = json.loads(report.read_text())
    data["target"] = "/"  # a report from elsewhere: its target is not walked and hashed
    data["files"].append({"path": "etc/hostname", "size": 1, "sha256": None, "kind": "other"})
    report.write_text(json.dumps(data))
    r = cli("check", str(report), timeout=60)
    assert r.returncode in (0, 1), r.stderr
    assert "Traceback" not in r.stderr and "files; refusing" not in r.stderr

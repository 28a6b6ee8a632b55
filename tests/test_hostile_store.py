"""The store and provscan's home when they cannot be used: an unwritable home, a full disk
at the cache write, a damaged store file. The audit completes without the cache and says
so; commands that need the store exit 2 with one line naming the path and the remedy
(issue 13, items 2 and 16)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from pathlib import Path

import pytest
from failing_release import CODE_RULES, make_failing_release

from scanner.assess.policy import evaluate, load_policy
from scanner.audit import audit
from scanner.code.analyzer import LicenseAnalyzer
from scanner.store import default_store_path, open_store


def _home_is_a_file(tmp_path: Path, request: pytest.FixtureRequest) -> Path:
    home = tmp_path / "home"
    home.write_text("not a folder\n")
    return home


def _home_below_a_file(tmp_path: Path, request: pytest.FixtureRequest) -> Path:
    return _home_is_a_file(tmp_path, request) / "provscan"


def _home_read_only(tmp_path: Path, request: pytest.FixtureRequest) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    if os.geteuid() != 0:
        home.chmod(0o555)
        return home
    # root writes into read-only folders: only a read-only mount stops it
    mount = ["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(home)]
    if subprocess.run(mount, capture_output=True).returncode != 0:
        pytest.skip("running as root, and no read-only mount to be had")
    request.addfinalizer(lambda: subprocess.run(["umount", str(home)], check=False))
    return home


UNUSABLE_HOMES = [_home_is_a_file, _home_below_a_file, _home_read_only]


@pytest.mark.parametrize("unusable", UNUSABLE_HOMES, ids=lambda f: f.__name__[1:])
def test_an_unusable_home_still_audits_the_release_and_says_so(
    cli, tmp_path: Path, request: pytest.FixtureRequest, unusable
) -> None:
    rel = make_failing_release(tmp_path / "rel")
    home = unusable(tmp_path, request)
    env = {"PROVSCAN_HOME": str(home)}
    r = cli("scan", str(rel), "--json", str(tmp_path / "r.json"), env=env)
    assert r.returncode == 0, r.stderr
    doc = json.loads((tmp_path / "r.json").read_text())
    kinds = {f["kind"] for f in doc["findings"]}
    assert {"license", "foreign-notice"} <= kinds, kinds
    notes = [f["message"] for f in doc["findings"] if f["kind"] == "cache-unavailable"]
    assert len(notes) == 1 and str(home) in notes[0] and "PROVSCAN_HOME" in notes[0]
    assert "cache-unavailable" in r.stdout
    # the same release, gated: it fails for what it carries, the cache note on stderr
    r = cli("check", str(rel), env=env)
    assert r.returncode == 1, r.stdout + r.stderr
    assert all(rule in r.stdout for rule in CODE_RULES), r.stdout
    assert str(home) in r.stderr


@pytest.mark.parametrize("unusable", UNUSABLE_HOMES, ids=lambda f: f.__name__[1:])
def test_index_commands_on_an_unusable_home_are_one_line_naming_it(
    cli, tmp_path: Path, request: pytest.FixtureRequest, unusable
) -> None:
    home = unusable(tmp_path, request)
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "m.py").write_text("def f(a, b):\n    return a + b\n")
    for args in (("index", "add", "ref", str(corpus)), ("index", "remove", "ref")):
        r = cli(*args, env={"PROVSCAN_HOME": str(home)})
        assert r.returncode == 2, r.stderr
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and "internal error" not in lines[0], lines
        assert str(home) in lines[0] and "PROVSCAN_HOME" in lines[0]


def test_a_damaged_store_is_named_with_its_remedy(cli, tmp_path: Path, provscan_home: Path) -> None:
    store = provscan_home / "store.sqlite3"
    store.write_bytes(b"this is not a database, whatever it says " * 200)
    r = cli("index", "list")
    assert r.returncode == 2
    line = r.stderr.strip()
    assert "internal error" not in line and str(store) in line and "move it away" in line
    # a scan still completes: without the cache, and it says so
    rel = make_failing_release(tmp_path / "rel")
    r = cli("scan", str(rel), "--json", str(tmp_path / "r.json"))
    assert r.returncode == 0, r.stderr
    found = json.loads((tmp_path / "r.json").read_text())["findings"]
    assert any(f["kind"] == "foreign-notice" for f in found)
    assert any(f["kind"] == "cache-unavailable" and str(store) in f["message"] for f in found)
    # the clones analyzer cannot read its corpora from it: it did not run, and says why
    failed = [f["message"] for f in found if f["kind"] == "analyzer-failed"]
    assert len(failed) == 1 and "clones" in failed[0] and str(store) in failed[0]


def test_a_full_disk_at_the_final_cache_write_keeps_the_finished_scan(tmp_path: Path) -> None:
    rel = make_failing_release(tmp_path / "rel")
    store = open_store()
    from scanner.code.cache import _DDL

    store.ensure_schema("code_scan_cache", _DDL)
    pages = store.conn.execute("PRAGMA page_count").fetchone()[0]
    # SQLite's own limit: no page beyond those it has, as on a disk with no space left.
    store.conn.execute(f"PRAGMA max_page_count = {pages}")
    with pytest.raises(sqlite3.OperationalError, match="full"), store.conn:
        store.conn.execute("CREATE TABLE filler (x BLOB)")
        store.conn.execute("INSERT INTO filler VALUES (?)", (bytes(100_000),))
    report = audit(str(rel), analyzers=[LicenseAnalyzer(workers=1)])
    findings = report.result.findings
    notes = [f for f in findings if f.kind == "cache-unavailable"]
    assert len(notes) == 1 and "full" in notes[0].message
    assert str(default_store_path()) in notes[0].message
    assert not [f for f in findings if f.kind == "analyzer-failed"]
    outcome = evaluate(load_policy(None), report.assessment, report.result.snapshot)
    assert {v.rule for v in outcome.violations} >= CODE_RULES

"""`provscan demo`: builds the example from real upstream files, scans it, writes every
format, each valid against its schema. With the analyzers merged it shows the acceptance
evidence of issue 6 and fails the default policy."""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import subprocess
from pathlib import Path

import pytest
from layout_probe import CHROMIUM, layout, screenshot
from test_formats import validate_cyclonedx, validate_report_json, validate_sarif, validate_spdx

from scanner.audit import default_analyzers
from scanner.demo import DEMO_ENTRIES, DEMO_MARK, claim_folder
from scanner.demo_release import BASE_NAME, RELEASE_NAME

REPO = Path(__file__).resolve().parent.parent

OUTPUTS = (
    "report.html",
    "report.json",
    "report.sarif",
    "report.cdx.json",
    "report.spdx.json",
    "NOTICE",
)


def tree_digest(root: Path) -> dict[str, str]:
    """Every file under root with the sha256 of its bytes."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def user_home(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A user's own store, with a corpus of theirs, as it was before the demo ran."""
    from conftest import run_cli

    home = tmp_path_factory.mktemp("user-home")
    code = tmp_path_factory.mktemp("user-code")
    (code / "util.py").write_text("def add(a, b):\n    return a + b\n" * 20)
    res = run_cli("index", "add", "mine", str(code), env={"PROVSCAN_HOME": str(home)})
    assert res.returncode == 0, res.stderr
    return home, tree_digest(home)


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory, user_home):
    from conftest import run_cli

    out = tmp_path_factory.mktemp("demo-out") / "demo-report"
    home, _ = user_home
    res = run_cli("demo", "--out", str(out), env={"PROVSCAN_HOME": str(home)})
    # The user's store as the demo left it (later tests scan with it).
    user_home_after_demo[str(home)] = tree_digest(home)
    return out, res, home


user_home_after_demo: dict[str, dict[str, str]] = {}


def test_demo_writes_every_format_and_says_where(demo_run) -> None:
    out, res, _ = demo_run
    assert res.returncode == 0, res.stderr
    for name in OUTPUTS:
        assert (out / name).is_file(), name
        assert str(out / name) in res.stdout
    assert (out / "example" / RELEASE_NAME / "model.safetensors").is_file()


def test_demo_formats_validate_against_their_schemas(demo_run) -> None:
    out, _, _ = demo_run
    validate_report_json(json.loads((out / "report.json").read_text()))
    validate_sarif(json.loads((out / "report.sarif").read_text()))
    validate_cyclonedx((out / "report.cdx.json").read_text())
    validate_spdx(json.loads((out / "report.spdx.json").read_text()))


def test_demo_release_declares_apache_and_no_base(demo_run) -> None:
    out, _, _ = demo_run
    card = json.loads((out / "report.json").read_text())["card"]
    assert card["license"] == "apache-2.0" and card["base_model"] == []


def test_missing_pieces_are_said_plainly(demo_run) -> None:
    _, res, _ = demo_run
    kinds = {
        f["kind"] for f in json.loads((Path(demo_run[0]) / "report.json").read_text())["findings"]
    }
    if "weights-derived" not in kinds:
        assert "weight lineage" in res.stderr
    if "copied-code" not in kinds and "notice-removed" not in kinds:
        assert "copied" in res.stderr
    assert "Traceback" not in res.stderr


def test_every_analyzer_runs_in_a_scan() -> None:
    names = {type(a).__name__ for a in default_analyzers()}
    assert {"LicenseAnalyzer", "ClonesAnalyzer", "WeightsAnalyzer"} <= names


def test_demo_report_shows_the_acceptance_evidence(demo_run, cli) -> None:
    out, _, home = demo_run
    report = json.loads((out / "report.json").read_text())
    a = report["assessment"]
    assert any(
        c["path"] == "modeling_acme.py" and c["notice_status"] in ("changed", "removed", "replaced")
        for c in a["copied_code"]
    )
    assert any(o["family"] and "qwen" in o["family"].lower() for o in a["origins"])
    assert any(
        d["kind"] == "undeclared-base-model" and BASE_NAME in d["title"] for d in a["discrepancies"]
    )
    assert a["obligations"]
    # One missing-attribution per upstream, not one per analyzer that noticed it.
    attributions = [d for d in a["discrepancies"] if d["kind"] == "missing-attribution"]
    assert len(attributions) == len({o["org"] for o in a["origins"]})
    html = (out / "report.html").read_text()
    assert "modeling_acme.py" in html and "Qwen" in html and BASE_NAME in html
    assert "Generated NOTICE" in html
    release = out / "example" / RELEASE_NAME
    base = out / "example" / "base" / BASE_NAME
    res = cli("check", str(release), "--against", str(base), env={"PROVSCAN_HOME": str(home)})
    assert res.returncode == 1, res.stdout + res.stderr


def test_the_users_store_is_unchanged_by_the_demo(demo_run, user_home, cli) -> None:
    out, res, home = demo_run
    assert res.returncode == 0, res.stderr
    _, before = user_home
    assert user_home_after_demo[str(home)] == before  # not one byte of it was written
    listed = cli("index", "list", env={"PROVSCAN_HOME": str(home)}).stdout
    assert "mine" in listed and "transformers-demo" not in listed
    assert (out / "store" / "store.sqlite3").is_file()  # the demo's corpus is in its own


def test_the_demo_tips_run_as_printed(demo_run) -> None:
    out, res, home = demo_run
    lines = res.stdout.splitlines()
    tips = [
        line.strip()
        for line in lines[
            lines.index(
                "Gate the saved scan as CI would (exit 1: the example fails the default policy):"
            ) :
        ]
        if line.startswith("  ")
    ]
    assert len(tips) == 2, res.stdout
    env = {**os.environ, "PYTHONPATH": str(REPO), "PROVSCAN_HOME": str(home)}
    env.pop("PROVSCAN_DEBUG", None)
    codes = []
    for tip in tips:
        assert shlex.split(tip)[0].startswith("/") or "PROVSCAN_HOME=/" in tip  # full paths
        done = subprocess.run(tip, shell=True, env=env, capture_output=True, text=True, timeout=600)
        assert "internal error" not in done.stderr and "Traceback" not in done.stderr
        codes.append(done.returncode)
    assert codes == [1, 0]  # the gate fails the example; the rescan runs


def test_a_rerun_replaces_only_what_the_demo_wrote(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    claim_folder(out)
    for name in DEMO_ENTRIES:
        (out / name).mkdir() if "." not in name else (out / name).write_text("old")
    (out / "example" / "old.txt").write_text("old")
    (out / "my-notes.txt").write_text("mine")
    claim_folder(out)
    assert (out / DEMO_MARK).is_file() and (out / "my-notes.txt").read_text() == "mine"
    assert sorted(p.name for p in out.iterdir()) == [DEMO_MARK, "my-notes.txt"]


@pytest.mark.skipif(CHROMIUM is None, reason="Debian package chromium missing")
@pytest.mark.parametrize("width", [1280, 390])
def test_the_demo_report_fits_the_screen(demo_run, tmp_path: Path, width: int) -> None:
    out, _, _ = demo_run
    found = layout(out / "report.html", width, tmp_path)
    assert found["viewport"] == width and found["page_width"] <= width
    assert found["wide"] == [] and found["broken"] == []
    screenshot(out / "report.html", width, out / f"screenshot-{width}.png", tmp_path)


def test_a_folder_left_by_an_older_demo_is_reused_and_any_other_refused(tmp_path: Path) -> None:
    from scanner.errors import UsageError

    old = tmp_path / "demo-report"  # made by a demo from before the mark file
    (old / "example" / RELEASE_NAME).mkdir(parents=True)
    (old / "report.html").write_text("old")
    claim_folder(old)
    assert (old / DEMO_MARK).is_file() and not (old / "example").exists()
    mine = tmp_path / "mine"
    (mine / "example" / RELEASE_NAME).mkdir(parents=True)
    (mine / "thesis.tex").write_text("mine")
    with pytest.raises(UsageError, match="did not write"):
        claim_folder(mine)
    assert (mine / "thesis.tex").read_text() == "mine" and (mine / "example").is_dir()

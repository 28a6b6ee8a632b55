"""`provscan demo`: builds the example from real upstream files, scans it, writes every
format, each valid against its schema. With the analyzers merged it shows the acceptance
evidence of issue 6 and fails the default policy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_formats import validate_cyclonedx, validate_report_json, validate_sarif, validate_spdx

from scanner.audit import default_analyzers
from scanner.demo_release import BASE_NAME, RELEASE_NAME

OUTPUTS = (
    "report.html",
    "report.json",
    "report.sarif",
    "report.cdx.json",
    "report.spdx.json",
    "NOTICE",
)


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory):
    from conftest import run_cli

    out = tmp_path_factory.mktemp("demo-out") / "demo-report"
    home = tmp_path_factory.mktemp("demo-home")
    res = run_cli("demo", "--out", str(out), env={"PROVSCAN_HOME": str(home)})
    return out, res, home


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
    # One missing-attribution per license whose NOTICE attribution is owed and missing
    # (the detected Qwen base's license), not one per analyzer that noticed it.
    attributions = [d for d in a["discrepancies"] if d["kind"] == "missing-attribution"]
    unmet = [
        o for o in a["obligations"] if o["id"].endswith("/notice-file") and o["status"] == "unmet"
    ]
    assert unmet and len(attributions) == len(unmet)
    assert any("Qwen" in d["title"] for d in attributions)
    html = (out / "report.html").read_text()
    assert "modeling_acme.py" in html and "Qwen" in html and BASE_NAME in html
    assert "Generated NOTICE" in html
    release = out / "example" / RELEASE_NAME
    base = out / "example" / "base" / BASE_NAME
    res = cli("check", str(release), "--against", str(base), env={"PROVSCAN_HOME": str(home)})
    assert res.returncode == 1, res.stdout + res.stderr

# ruff: noqa: F811  (pytest fixtures imported from test_report_data)
"""`provscan check`: the policy gate's exit codes and messages, run as a user runs it."""

from __future__ import annotations

import json
from pathlib import Path

from test_report_data import audit_with, demo_release, demo_report, make_clean_release  # noqa: F401

from scanner.assess import assess
from scanner.assess.model import Report
from scanner.assess.policy import evaluate, load_policy, parse_policy
from scanner.model import Evidence, Finding, Location, Severity
from scanner.report.json import JsonFormat, load_result


def write_report(report: Report, path: Path) -> Path:
    JsonFormat().write(report, path)
    return path


def test_demo_release_fails_the_default_policy(cli, demo_report: Report, tmp_path: Path) -> None:
    report = write_report(demo_report, tmp_path / "scan.json")
    res = cli("check", str(report), "--json", str(tmp_path / "check.json"))
    assert res.returncode == 1, res.stderr
    assert "FAIL" in res.stdout
    assert "lineage.fail_on_undeclared_base" in res.stdout
    assert "notices.fail_on_removed" in res.stdout and "modeling_acme.py" in res.stdout
    assert "replaced" in res.stdout
    assert "attributions.foreign_notices_in_notice_file" in res.stdout
    outcome = json.loads((tmp_path / "check.json").read_text())
    assert outcome["passed"] is False and outcome["verdict"]["level"] == "fail"


def test_clean_release_passes_the_default_policy(cli, tmp_path: Path) -> None:
    root = make_clean_release(tmp_path / "clean")
    res = cli("check", str(root))
    assert res.returncode == 0, res.stdout + res.stderr
    assert "PASS" in res.stdout


def test_clean_release_with_its_license_finding_passes(cli, tmp_path: Path) -> None:
    root = make_clean_release(tmp_path / "clean")
    lic = Finding(
        kind="license",
        severity=Severity.INFO,
        message="Apache-2.0",
        location=Location(path="LICENSE"),
        evidence=Evidence(matched="apache-2.0"),
    )
    report = write_report(audit_with(root, [lic]), tmp_path / "scan.json")
    assert cli("check", str(report)).returncode == 0


def test_denied_license_fails_a_custom_policy(cli, tmp_path: Path) -> None:
    root = make_clean_release(tmp_path / "clean")
    report = write_report(audit_with(root, []), tmp_path / "scan.json")  # no scancode load
    policy = tmp_path / "policy.toml"
    policy.write_text('[licenses]\ndenied = ["apache-*"]\n')
    res = cli("check", str(report), "--policy", str(policy))
    assert res.returncode == 1
    assert "licenses.denied" in res.stdout and "apache-2.0" in res.stdout


def test_allowed_list_and_required_attribution(tmp_path: Path) -> None:
    root = make_clean_release(tmp_path / "r")
    (root / "README.md").write_text("---\nlicense: llama3.1\n---\n# Llama-tune\n")
    report = audit_with(root, [])
    policy = parse_policy(
        {
            "licenses": {"allowed": ["apache-2.0"]},
            "attributions": {"required": [{"family": "llama3", "text": "Built with Llama"}]},
        },
        "test",
    )
    rules = {v.rule for v in evaluate(policy, report.assessment, report.result.snapshot).violations}
    assert rules == {"licenses.allowed", "attributions.required"}
    (root / "NOTICE").write_text("Built with Llama\n")
    report = audit_with(root, [])
    rules = {v.rule for v in evaluate(policy, report.assessment, report.result.snapshot).violations}
    assert rules == {"licenses.allowed"}


def test_bad_policy_is_an_error_not_a_pass(cli, tmp_path: Path) -> None:
    root = make_clean_release(tmp_path / "clean")
    policy = tmp_path / "policy.toml"
    policy.write_text('[licence]\ndenied = ["mit"]\n')  # a typo must not silently pass
    res = cli("check", str(root), "--policy", str(policy))
    assert res.returncode == 2
    assert res.stderr.strip().count("\n") == 0 and "unknown section" in res.stderr


def test_missing_target_is_exit_2(cli, tmp_path: Path) -> None:
    res = cli("check", str(tmp_path / "nope"))
    assert res.returncode == 2 and "Traceback" not in res.stderr


def test_json_report_round_trips_for_check(demo_report: Report, tmp_path: Path) -> None:
    loaded = load_result(write_report(demo_report, tmp_path / "scan.json"))
    assert loaded.findings == demo_report.result.findings
    assert loaded.snapshot.card == demo_report.result.snapshot.card
    before = evaluate(load_policy(None), demo_report.assessment, demo_report.result.snapshot)
    after = evaluate(load_policy(None), assess(loaded), loaded.snapshot)
    assert before.violations == after.violations


def test_what_scan_calls_warn_check_passes_and_says(cli, tmp_path: Path) -> None:
    """A missing LICENSE file is a WARN in the scan's verdict; the default policy does not
    gate on it (the card's `license:` declares the license), and check says so in words."""
    from scanner.evidence import MissingLicense

    root = make_clean_release(tmp_path / "r")
    (root / "LICENSE").unlink()
    missing = Finding(
        kind="missing-license",
        severity=Severity.MEDIUM,
        message="no LICENSE or COPYING file in the release",
        evidence=Evidence(details=MissingLicense("license-file")),
    )
    report = audit_with(root, [missing])
    assert report.assessment.verdict.level == "warn"
    res = cli("check", str(write_report(report, tmp_path / "scan.json")))
    assert res.returncode == 0, res.stdout + res.stderr
    assert "PASS" in res.stdout and "WARN" in res.stdout
    assert report.assessment.verdict.headline in res.stdout
    assert "missing-license: no LICENSE or COPYING file in the release" in res.stdout

"""Fail closed: an analyzer loses a file to hostile input, never itself; `check` never passes
a release that was not fully analysed (issue 13, deliver 1)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import pytest
from test_report_data import make_clean_release

from scanner.analyzers import Analyzer, AuditContext
from scanner.assess.policy import evaluate, load_policy, parse_policy
from scanner.audit import audit
from scanner.errors import UsageError
from scanner.model import Finding, not_analysed
from scanner.report.json import JsonFormat
from scanner.snapshot import Snapshot


class Breaks(Analyzer):
    """An analyzer that meets an error it did not anticipate."""

    name = "breaks"

    def analyze(self, snapshot: Snapshot, ctx: AuditContext) -> Iterable[Finding]:
        yield not_analysed("train.py", "half-way", self.name)
        raise TypeError("'NoneType' object is not subscriptable")


class LosesOneFile(Analyzer):
    name = "loses-one-file"

    def analyze(self, snapshot: Snapshot, ctx: AuditContext) -> Iterable[Finding]:
        return [not_analysed("train.py", "RecursionError: nested too deeply", self.name)]


def test_an_analyzer_that_breaks_is_reported_and_fails_the_gate(tmp_path: Path) -> None:
    root = make_clean_release(tmp_path / "clean")
    report = audit(str(root), analyzers=[Breaks()])
    failed = [f for f in report.result.findings if f.kind == "analyzer-failed"]
    assert len(failed) == 1 and failed[0].analyzer == "breaks"
    assert "TypeError" in failed[0].message and str(failed[0].severity) == "high"
    # what it found before it broke is not half-reported
    assert not [f for f in report.result.findings if f.kind == "not-analysed"]
    lenient = parse_policy({"coverage": {"fail_on_not_analysed": False}}, "lenient")
    outcome = evaluate(lenient, report.assessment, report.result.snapshot)
    assert [v.rule for v in outcome.violations] == ["coverage.analyzer_failed"]
    assert report.assessment.verdict.level != "pass"


def test_a_saved_report_with_a_failed_analyzer_fails_check(cli, tmp_path: Path) -> None:
    root = make_clean_release(tmp_path / "clean")
    saved = tmp_path / "scan.json"
    JsonFormat().write(audit(str(root), analyzers=[Breaks()]), saved)
    r = cli("check", str(saved))
    assert r.returncode == 1, r.stdout + r.stderr
    assert "coverage.analyzer_failed" in r.stdout and "breaks" in r.stdout


def test_files_not_analysed_fail_the_default_policy(tmp_path: Path) -> None:
    root = make_clean_release(tmp_path / "clean")
    report = audit(str(root), analyzers=[LosesOneFile()])
    outcome = evaluate(load_policy(None), report.assessment, report.result.snapshot)
    assert [v.rule for v in outcome.violations] == ["coverage.fail_on_not_analysed"]
    assert "train.py" in outcome.violations[0].message
    assert outcome.violations[0].finding_ids == ("F1",)
    lenient = parse_policy({"coverage": {"fail_on_not_analysed": False}}, "lenient")
    assert evaluate(lenient, report.assessment, report.result.snapshot).passed


def test_the_coverage_key_must_be_true_or_false() -> None:
    with pytest.raises(UsageError, match="coverage.fail_on_not_analysed"):
        parse_policy({"coverage": {"fail_on_not_analysed": "no"}}, "bad")


def test_the_default_policy_file_documents_the_coverage_key() -> None:
    from scanner.rules import rules_dir

    text = (rules_dir() / "policy_default.toml").read_text()
    assert "[coverage]" in text and "fail_on_not_analysed = true" in text
    assert load_policy(None).fail_on_not_analysed is True


def test_check_json_lists_the_coverage_violations(cli, tmp_path: Path) -> None:
    root = make_clean_release(tmp_path / "clean")
    saved = tmp_path / "scan.json"
    JsonFormat().write(audit(str(root), analyzers=[LosesOneFile()]), saved)
    r = cli("check", str(saved), "--json", str(tmp_path / "check.json"))
    assert r.returncode == 1
    doc = json.loads((tmp_path / "check.json").read_text())
    assert doc["passed"] is False
    assert [v["rule"] for v in doc["violations"]] == ["coverage.fail_on_not_analysed"]

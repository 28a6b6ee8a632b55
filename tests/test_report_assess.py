# ruff: noqa: F811  (pytest fixtures imported from test_report_data)
"""The assessment: declared vs detected discrepancies and the obligations checklist."""

from __future__ import annotations

from pathlib import Path

from test_report_data import (  # noqa: F401
    audit_with,
    demo_release,
    demo_report,
    make_clean_release,
)

from scanner.assess.model import Report
from scanner.demo_release import BASE_NAME
from scanner.evidence import WeightsLineage
from scanner.licenses import family_of, license_ids, reflected
from scanner.model import Evidence, Finding, Location, Severity


def test_undeclared_base_model_is_the_headline(demo_report: Report) -> None:
    a = demo_report.assessment
    assert a.verdict.level == "fail"
    first = a.discrepancies[0]
    assert first.kind == "undeclared-base-model" and BASE_NAME in first.title
    assert not a.lineage[0].declared and a.lineage[0].relation == "fine-tune"


def test_changed_notice_and_base_license_are_discrepancies(demo_report: Report) -> None:
    kinds = {d.kind: d for d in demo_report.assessment.discrepancies}
    assert kinds["notice-replaced"].path == "modeling_acme.py"
    assert "Acme" in kinds["notice-replaced"].explanation
    assert "EleutherAI" in kinds["notice-replaced"].explanation
    # the base's Qwen license (read from the reference's own card) is not apache-2.0
    assert demo_report.assessment.lineage[0].license == "qwen"
    assert any(
        d.kind == "license-not-reflected" and "qwen" in d.title
        for d in demo_report.assessment.discrepancies
    )


def test_qwen_notices_keep_their_origin_and_verbatim_lines(demo_report: Report) -> None:
    origins = demo_report.assessment.origins
    qwen = next(o for o in origins if o.family == "Qwen")
    assert qwen.org == "Alibaba Group"
    assert all("Qwen" in n for n in qwen.notices)
    assert set(qwen.paths) == {"configuration_acme.py", "tokenization_acme.py"}


def test_obligations_carry_their_clause_and_a_checked_status(demo_report: Report) -> None:
    obs = {o.id: o for o in demo_report.assessment.obligations}
    assert obs["apache-2.0/license-copy"].status == "met"  # the LICENSE file is there
    # no NOTICE file: Apache-2.0 owes one only where an upstream ships one, which provscan
    # cannot see; the Qwen license of the detected base owes one whatever the upstream
    assert obs["apache-2.0/notice-file"].status == "unknown"
    assert "owed only if an upstream" in obs["apache-2.0/notice-file"].how_checked
    assert obs["qwen/notice-file"].status == "unmet"
    assert obs["apache-2.0/keep-notices"].status == "unmet"  # a notice was replaced
    assert "4(c)" in obs["apache-2.0/keep-notices"].section
    assert "retain" in obs["apache-2.0/keep-notices"].quote
    # the detected base's Qwen license brings its own duties, with the reason why
    assert obs["qwen/built-with"].status == "unmet"
    assert any("base model" in r for r in obs["qwen/built-with"].applies_because)


def test_clean_release_passes(tmp_path: Path) -> None:
    root = make_clean_release(tmp_path / "clean")
    lic = Finding(
        kind="license",
        severity=Severity.INFO,
        message="Apache-2.0",
        location=Location(path="LICENSE"),
        evidence=Evidence(matched="apache-2.0"),
    )
    a = audit_with(root, [lic]).assessment
    assert a.verdict.level == "pass" and not a.discrepancies


def test_declared_base_is_confirmed_not_flagged(tmp_path: Path) -> None:
    root = make_clean_release(tmp_path / "r")
    (root / "README.md").write_text("---\nlicense: apache-2.0\nbase_model: org/base-7b\n---\n")
    derived = Finding(
        kind="weights-derived",
        severity=Severity.INFO,
        message="derived",
        evidence=Evidence(
            matched="hf:org/base-7b@main",
            details=WeightsLineage(verdict="derived", relation="fine-tune", signals=(), reasons=()),
        ),
    )
    a = audit_with(root, [derived]).assessment
    assert a.lineage[0].declared and a.verdict.level == "pass"


def test_license_ids_and_families() -> None:
    assert license_ids("Apache-2.0 AND (MIT OR LicenseRef-scancode-llama-3.1-license)") == (
        "apache-2.0",
        "mit",
        "llama-3.1-license",
    )
    assert family_of("llama3.1").id == "llama3"
    assert family_of("gemma").id == "gemma"
    assert family_of("cc-by-nc-4.0").id == "cc-by-nc"
    assert family_of("creativeml-openrail-m").id == "openrail"
    assert not reflected("qwen", ("apache-2.0",))
    assert reflected("mit", ("apache-2.0",))
    assert reflected("llama3.1", ("llama3",))


def test_declared_license_resolved_by_the_license_analyzer_counts(tmp_path: Path) -> None:
    from test_report_data import declared_license_finding

    root = make_clean_release(tmp_path / "r")
    (root / "README.md").write_text("---\nlicense: other\nlicense_name: qwen\n---\n")
    found = [
        declared_license_finding(
            "other (qwen)", "qwen-2024", "LicenseRef-scancode-qwen-2024", "model-license"
        )
    ]
    a = audit_with(root, found).assessment
    assert "qwen-2024" in a.declared.license_ids
    assert {o.family for o in a.obligations} == {"qwen"}


def test_per_layer_signal_values_become_curves(demo_report: Report) -> None:
    curves = demo_report.assessment.lineage[0].curves
    cos = curves["direct_cosine"]
    assert cos.layers == (0, 1, 2, 3) and all(v > 0.98 for v in cos.values)
    assert cos.null_std == 0.004


def test_a_change_notice_must_be_the_copys_own(demo_release, tmp_path: Path) -> None:
    import shutil

    from test_report_data import demo_findings

    obs = {
        o.id: o
        for o in audit_with(
            demo_release.release, demo_findings(demo_release)
        ).assessment.obligations
    }
    # modeling_acme.py keeps transformers' "modified from its original forms": not its own
    assert obs["apache-2.0/state-changes"].status == "unmet"
    assert "modeling_acme.py" in obs["apache-2.0/state-changes"].how_checked
    copy = tmp_path / demo_release.release.name
    shutil.copytree(demo_release.release, copy)
    for name in ("modeling_acme.py", "configuration_acme.py", "tokenization_acme.py"):
        target = copy / name
        target.write_text("# Changed by Acme AI Labs: names and defaults.\n" + target.read_text())
    obs = {o.id: o for o in audit_with(copy, demo_findings(demo_release)).assessment.obligations}
    assert obs["apache-2.0/state-changes"].status == "met"


def test_a_base_counts_as_declared_by_its_repo_or_its_name() -> None:
    from scanner.card import declares_base

    card = ("Qwen/Qwen2.5-7B",)
    assert declares_base(card, "hf:qwen/qwen2.5-7b@main")
    assert declares_base(card, "/models/Qwen2.5-7B/")  # a local copy of the same model
    assert declares_base(card, None, "refs/qwen2.5-7b.npz")  # a fingerprint's file name
    assert not declares_base(card, "hf:Qwen/Qwen2.5-14B", "qwen2.5-14b")
    assert not declares_base((), "hf:Qwen/Qwen2.5-7B")

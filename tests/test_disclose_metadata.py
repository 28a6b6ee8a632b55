# ruff: noqa: F811  (pytest fixtures imported from test_report_data)
"""What the disclosure declares, from the Report: only established lineage becomes a
base_model line, the license honours the base, the Hub's relation values, and the rest goes
under "to review". Reports built from the analyzers' own records (test_report_data)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from test_report_data import (  # noqa: F401
    audit_with,
    declared_license_finding,
    demo_findings,
    demo_release,
    demo_report,
    make_clean_release,
)

from scanner.assess.model import Report
from scanner.demo_release import BASE_NAME, DemoRelease
from scanner.disclose import disclosure_of
from scanner.disclose.wording import HUB_RELATIONS
from scanner.evidence import SignalEvidence, WeightsLineage
from scanner.model import Evidence, Finding, Location, Severity
from scanner.rules import rules_dir


def lineage_finding(
    reference: str,
    verdict: str,
    relation: str | None = None,
    z: float = 40.0,
    kind: str = "weights-derived",
    signal: str = "aligned_forms",
) -> Finding:
    s = SignalEvidence(
        name=signal,
        score=0.9,
        null_mean=0.01,
        null_std=0.02,
        z=z,
        p_value=1e-12,
        robust_to=("permutation",),
        details={},
    )
    return Finding(
        kind=kind,
        severity=Severity.HIGH,
        message=f"{verdict} {reference}",
        location=Location(tensor="model.layers.0.mlp.up_proj.weight", layer=0),
        evidence=Evidence(
            matched=reference,
            score=0.9,
            z=z,
            p_value=1e-12,
            details=WeightsLineage(verdict=verdict, relation=relation, signals=(s,), reasons=()),
        ),
        analyzer="weights",
    )


def release_with(root: Path, card: str, findings: list[Finding]) -> Report:
    make_clean_release(root)
    (root / "README.md").write_text(card)
    return audit_with(root, findings)


def test_demo_declares_the_detected_base_and_the_license_that_honours_it(
    demo_report: Report,
) -> None:
    d = disclosure_of(demo_report)
    p = d.metadata.proposed
    assert p.base_model == (BASE_NAME,)
    assert p.base_model_relation == "finetune"
    # the base model's card declares license: other / qwen: the release must say the same
    assert (p.license, p.license_name) == ("other", "qwen")
    assert p.license_link and p.license_link.startswith("https://")
    assert d.metadata.current.license == "apache-2.0"
    changed = {c.key for c in d.metadata.changes}
    assert changed == {
        "license",
        "license_name",
        "license_link",
        "base_model",
        "base_model_relation",
    }
    assert [b.name for b in d.bases] == [BASE_NAME]
    assert "beyond reasonable doubt" in d.bases[0].how_sure
    assert ("Built with Qwen", d.displayed[0][1]) == d.displayed[0]


def test_inconclusive_lineage_gets_no_base_model_line(tmp_path: Path) -> None:
    report = release_with(
        tmp_path / "r",
        "---\nlicense: apache-2.0\n---\n# r\n",
        [lineage_finding("hf:Org/Base-7B", "inconclusive", kind="weights-lineage", z=2.0)],
    )
    d = disclosure_of(report)
    assert d.metadata.proposed.base_model == ()
    assert d.metadata.proposed.base_model_relation is None
    assert d.metadata.proposed.value("base_model") is None
    assert not d.bases and not d.metadata.changes
    assert any("inconclusive" in r.text and "Base-7B" in r.text for r in d.to_review)


@pytest.mark.parametrize(
    ("verdict", "z"), [("derived", 4.0), ("shared-components", 11.0), ("unrelated", 0.5)]
)
def test_weak_or_partial_lineage_is_never_a_base_model(
    tmp_path: Path, verdict: str, z: float
) -> None:
    report = release_with(
        tmp_path / "r",
        "---\nlicense: apache-2.0\n---\n# r\n",
        [lineage_finding("hf:Org/Base-7B", verdict, "fine-tune", z=z)],
    )
    d = disclosure_of(report)
    assert d.metadata.proposed.base_model == () and not d.bases
    if verdict != "unrelated":
        assert any("not stated as a base model" in r.text for r in d.to_review)


def test_hub_reference_is_written_as_its_hub_id(tmp_path: Path) -> None:
    report = release_with(
        tmp_path / "r",
        "---\nlicense: apache-2.0\n---\n# r\n",
        [lineage_finding("hf:Org/Base-7B@main", "derived", "quantized")],
    )
    d = disclosure_of(report)
    assert d.metadata.proposed.base_model == ("Org/Base-7B",)
    assert d.metadata.proposed.base_model_relation == "quantized"
    assert not any("local copy" in r.text for r in d.to_review)
    # the Hub reference's license is not on this machine: said, not guessed
    assert d.metadata.proposed.license == "apache-2.0"
    assert any("license of the base model Org/Base-7B is unknown" in r.text for r in d.to_review)


@pytest.mark.parametrize(
    ("relation", "hub"),
    [
        ("fine-tune", "finetune"),
        ("continued-pretraining", "finetune"),
        ("quantized", "quantized"),
        ("merged", "merge"),
        ("pruned", None),
        ("upcycled-moe", None),
    ],
)
def test_relation_maps_to_the_hubs_values(tmp_path: Path, relation: str, hub: str | None) -> None:
    report = release_with(
        tmp_path / "r",
        "---\nlicense: mit\n---\n# r\n",
        [lineage_finding("hf:o/b", "derived", relation)],
    )
    d = disclosure_of(report)
    assert d.metadata.proposed.base_model == ("o/b",)
    assert d.metadata.proposed.base_model_relation == hub
    if hub is None:
        assert any("no base_model_relation" in r.text for r in d.to_review)


def test_a_declared_base_is_kept_and_confirmed(tmp_path: Path) -> None:
    report = release_with(
        tmp_path / "r",
        "---\nlicense: apache-2.0\nbase_model:\n- o/b\nbase_model_relation: finetune\n---\n# r\n",
        [lineage_finding("hf:o/b", "derived", "fine-tune")],
    )
    d = disclosure_of(report)
    assert not d.metadata.changes
    assert d.bases[0].declared_before


def test_several_bases_keep_the_declared_ones_and_add_the_detected(tmp_path: Path) -> None:
    report = release_with(
        tmp_path / "r",
        "---\nlicense: apache-2.0\nbase_model: o/declared\n---\n# r\n",
        [
            lineage_finding("hf:o/a", "derived", "merged"),
            lineage_finding("hf:o/b", "derived", "merged"),
        ],
    )
    d = disclosure_of(report)
    assert d.metadata.proposed.base_model == ("o/declared", "o/a", "o/b")
    assert d.metadata.proposed.value("base_model") == ["o/declared", "o/a", "o/b"]
    assert d.metadata.proposed.base_model_relation == "merge"


def test_another_restrictive_declared_license_is_not_overwritten(
    demo_release: DemoRelease, tmp_path: Path
) -> None:
    card = "---\nlicense: llama3.1\n---\n# acme\n"
    (tmp_path / "rel").mkdir()
    root = tmp_path / "rel"
    for f in demo_release.release.iterdir():
        (root / f.name).write_bytes(f.read_bytes())
    (root / "README.md").write_text(card)
    findings = demo_findings(
        DemoRelease(root, demo_release.base, demo_release.corpus, demo_release.transformers_version)
    )
    d = disclosure_of(audit_with(root, findings))
    assert d.metadata.proposed.license == "llama3.1"
    assert d.metadata.proposed.base_model == (BASE_NAME,)
    assert any("does not choose" in r.text for r in d.to_review)


def test_no_license_anywhere_stays_undeclared_and_is_to_review(tmp_path: Path) -> None:
    root = tmp_path / "r"
    root.mkdir()
    (root / "README.md").write_text("# r\n")
    d = disclosure_of(audit_with(root, []))
    assert d.metadata.proposed.license is None and d.license is None
    assert any("declares no license" in r.text for r in d.to_review)


def test_every_hub_relation_in_the_rules_is_one_the_hub_knows() -> None:
    with open(rules_dir() / "disclosure.toml", "rb") as fh:
        rules = tomllib.load(fh)
    assert set(rules["relations"].values()) <= set(HUB_RELATIONS)


def test_display_statements_meet_their_obligations_needle() -> None:
    """The words the disclosure displays must satisfy the check of the obligation they meet
    (rules/obligations.toml's needle): the two files cannot drift apart."""
    import re

    with open(rules_dir() / "disclosure.toml", "rb") as fh:
        statements = tomllib.load(fh)["statements"]
    with open(rules_dir() / "obligations.toml", "rb") as fh:
        obligations = {
            o["id"]: o for fam in tomllib.load(fh)["family"] for o in fam.get("obligation", [])
        }
    displays = {i for i, o in obligations.items() if o.get("check") == "text-in-release"}
    assert set(statements) == displays
    for oid, words in statements.items():
        assert re.search(obligations[oid]["needle"], words, re.IGNORECASE), oid


def test_a_release_vendoring_many_files_gets_a_readable_section(tmp_path: Path) -> None:
    from scanner.disclose.build import MAX_CODE_ROWS, MAX_IDS, MAX_NOTICE_LINES
    from scanner.disclose.render import section_markdown
    from scanner.evidence import CopiedCodeEvidence, ForeignNotice, NoticeFate, UpstreamId

    copies = [
        Finding(
            kind="copied-code",
            severity=Severity.INFO,
            message="copied",
            location=Location(path=f"vendor/m{i}.py", start_line=1, end_line=10),
            evidence=Evidence(
                matched=f"tf:m{i}.py",
                score=1.0,
                details=CopiedCodeEvidence(
                    corpus="tf",
                    corpus_source="pkg:transformers",
                    upstream_path=f"m{i}.py",
                    upstream_version="4.0",
                    upstream_license="apache-2.0",
                    shared_fingerprints=10,
                    target_fingerprints=10,
                    upstream_share=1.0,
                    ranges=(),
                    range_count=0,
                    notice=NoticeFate(status="kept", upstream=(), target=()),
                    other_matches=(),
                ),
            ),
        )
        for i in range(MAX_CODE_ROWS + 50)
    ]
    notices = [
        Finding(
            kind="foreign-notice",
            severity=Severity.INFO,
            message="notice",
            location=Location(path=f"vendor/m{i}.py", start_line=1, end_line=1),
            evidence=Evidence(
                matched=f"Copyright {1990 + i} Example Org",
                details=ForeignNotice(
                    statement=f"Copyright {1990 + i} Example Org",
                    holder="Example Org",
                    holder_key="example org",
                    lines=(),
                    origins=(UpstreamId("ex", "Example Org", "Ex", "apache-2.0"),),
                    publisher=None,
                ),
            ),
        )
        for i in range(MAX_NOTICE_LINES + 10)
    ]
    d = disclosure_of(
        release_with(tmp_path / "r", "---\nlicense: apache-2.0\n---\n", copies + notices)
    )
    assert len(d.code) == MAX_CODE_ROWS
    assert any(r.text.startswith("50 more copied files") for r in d.to_review)
    assert len(d.notices[0].notices) == MAX_NOTICE_LINES and d.notices[0].more == 10
    statements = [*d.code, *d.notices, *d.obligations, *d.to_review]
    assert all(0 < len(s.finding_ids) <= MAX_IDS for s in statements)
    section = section_markdown(d)
    assert f"(the first {MAX_NOTICE_LINES} of its {MAX_NOTICE_LINES + 10} notices)" in section
    assert len(section) < 60_000


def base_folder(root: Path, card: str) -> Path:
    root.mkdir(parents=True)
    (root / "README.md").write_text(card)
    return root


def test_a_hint_of_a_llama_base_obliges_the_card_to_display_nothing(tmp_path: Path) -> None:
    base = base_folder(tmp_path / "llama-base", "---\nlicense: llama3.1\n---\n")
    report = release_with(
        tmp_path / "r",
        "---\nlicense: apache-2.0\n---\n# r\n",
        [lineage_finding(str(base), "derived", "fine-tune", z=4.0)],
    )
    d = disclosure_of(report)
    assert not d.displayed and not d.prescribed_notices
    assert not [o for o in d.obligations if o.id.startswith("llama3/")]
    review = [r.text for r in d.to_review if "Llama" in r.text]
    assert len(review) == 1 and "not established" in review[0]
    # the same base, established: "Built with Llama" and the llama3.1 license
    d = disclosure_of(
        release_with(
            tmp_path / "r2",
            "---\nlicense: apache-2.0\n---\n# r\n",
            [lineage_finding(str(base), "derived", "fine-tune", z=40.0)],
        )
    )
    assert [w for w, _ in d.displayed] == ["Built with Llama"]
    assert d.metadata.proposed.license == "llama3.1" and d.metadata.proposed.license_name is None
    assert any(o.id == "llama3/name-prefix" and o.status == "unmet" for o in d.obligations)


def test_a_replaced_declaration_no_longer_brings_its_duties(tmp_path: Path) -> None:
    base = base_folder(tmp_path / "qwen-base", "---\nlicense: other\nlicense_name: qwen\n---\n")
    root = tmp_path / "r"
    root.mkdir()
    (root / "README.md").write_text("---\nlicense: mit\n---\n# r\n")
    declared = declared_license_finding("mit", "mit", "MIT", "permissive")
    report = audit_with(root, [declared, lineage_finding(str(base), "derived", "fine-tune")])
    assert any(o.family == "mit" for o in report.assessment.obligations)  # as audited
    d = disclosure_of(report)
    assert (d.metadata.proposed.license, d.metadata.proposed.license_name) == ("other", "qwen")
    families = {o.family_name for o in d.obligations}
    assert families and not any("MIT" in f for f in families)

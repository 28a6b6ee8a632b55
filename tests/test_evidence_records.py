# ruff: noqa: F811  (pytest fixtures imported from test_report_data)
"""The evidence records: one schema from the analyzers to the JSON report and back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_formats import REPO, validate_report_json
from test_report_data import audit_with, demo_release, demo_report, make_clean_release  # noqa: F401

from scanner.assess.model import Report
from scanner.errors import SourceError
from scanner.evidence import (
    DETAILS,
    CopiedCodeEvidence,
    CopyBackground,
    CopyrightNotice,
    Declaration,
    DeclaredAdaptation,
    ForeignNotice,
    LicenseDeclared,
    LicenseInFile,
    LicenseMismatch,
    LicenseReview,
    MatchedRange,
    MissingLicense,
    NoticeFate,
    NoticeMissing,
    OtherMatch,
    SignalEvidence,
    UpstreamId,
    WeightsLineage,
)
from scanner.model import Evidence, Finding, Location, Severity
from scanner.records import Record, RecordError
from scanner.report.json import JsonFormat, load_result
from scanner.report.schema import with_evidence_records

DECLARATION = Declaration(
    declared="apache-2.0",
    key="apache-2.0",
    license_id="Apache-2.0",
    family="permissive",
    declared_in="README.md",
)
QWEN = UpstreamId(
    id="qwen", organisation="Alibaba Group", project="Qwen", usual_license="apache-2.0"
)
LINEAGE = WeightsLineage(
    verdict="shared-components",
    relation=None,
    reasons=("r",),
    signals=(
        SignalEvidence(
            name="direct_cosine",
            score=0.5,
            null_mean=0.0,
            null_std=0.01,
            z=50.0,
            p_value=1e-9,
            robust_to=("fine-tuning",),
            details={"per_layer": {"0": 0.4, "1": 0.6}, "strongest_tensor": "q@0"},
        ),
    ),
)
# One record of each kind the analyzers emit (two for `license`, told apart by `source`).
SAMPLES: dict[str, tuple[Record, ...]] = {
    "license": (
        LicenseInFile(
            license_expression="mit",
            license_expression_spdx="MIT",
            families={"mit": "permissive"},
            rules=("mit.LICENSE",),
            matchers=("1-hash",),
            needs_review=False,
            approximate=False,
        ),
        LicenseDeclared.of(DECLARATION),
    ),
    "license-review": (
        LicenseReview(
            license_expression=None,
            reasons=("partial coverage",),
            rules=("x.RULE",),
            matchers=("3-seq",),
        ),
    ),
    "copyright-notice": (
        CopyrightNotice(
            statement="Copyright 2025 Acme",
            holder="Acme",
            holder_key="acme",
            lines=("# Copyright 2025 Acme",),
        ),
    ),
    "foreign-notice": (
        ForeignNotice(
            statement="Copyright 2024 Qwen",
            holder=None,
            holder_key="qwen",
            lines=("# Copyright 2024 Qwen",),
            origins=(QWEN,),
            publisher="acme",
        ),
    ),
    "license-mismatch": (
        LicenseMismatch(
            declared=DECLARATION,
            detected="llama3",
            detected_name="Llama 3",
            detected_family="model",
            files=("LICENSE",),
            via="license-text",
        ),
        LicenseMismatch(
            declared=DECLARATION,
            detected="qwen",
            detected_family="model",
            files=("a.py",),
            via="upstream-notice",
            origin="qwen",
        ),
    ),
    "missing-license": (MissingLicense("license-file"),),
    "notice-missing": (NoticeMissing(holders=("Qwen",), files=("a.py",)),),
    "copied-code": (
        CopiedCodeEvidence(
            corpus="tf",
            corpus_source="pkg:transformers",
            upstream_path="m.py",
            upstream_version=None,
            upstream_license="apache-2.0",
            shared_fingerprints=10,
            target_fingerprints=12,
            upstream_share=0.5,
            ranges=(MatchedRange(target=(1, 9), upstream=(3, 11)),),
            range_count=1,
            notice=NoticeFate(status="kept", upstream=("# c",), target=("# c",)),
            other_matches=(OtherMatch(corpus="tf", path="n.py", shared=3, share=0.25),),
        ),
        CopiedCodeEvidence(
            corpus="tf",
            corpus_source="pkg:transformers",
            upstream_path="m.py",
            upstream_version="5.0",
            upstream_license="apache-2.0",
            shared_fingerprints=10,
            target_fingerprints=120,
            upstream_share=0.1,
            ranges=(
                MatchedRange(
                    target=(40, 59), upstream=(3, 22), lines=18, evidence=14.5, unit="A.forward"
                ),
            ),
            range_count=1,
            notice=NoticeFate(
                status="original", upstream=("# c",), target=("# d",), original=("# d",)
            ),
            other_matches=(
                OtherMatch(corpus="tf", path="n.py", shared=3, share=0.25, evidence=2.0),
            ),
            basis="regions",
            region_evidence=14.5,
            named_fingerprints=8,
            matched_lines=18,
            background=CopyBackground(
                region_threshold=12.0,
                region_q99=7.1,
                region_max=24.1,
                share_threshold=0.5,
                share_q99=0.15,
                share_max=0.29,
                n=624,
                measured_on="keras-hub",
            ),
        ),
    ),
    "declared-adaptation": (
        DeclaredAdaptation(
            phrase="Adapted from",
            reference="https://github.com/o/r/blob/v1/src/m.py",
            repository="o/r",
            revision="v1",
            symbol=None,
            ranges=(MatchedRange(target=(5, 9), upstream=(7, 11), lines=4),),
            range_count=1,
            upstream_path="m.py",
            corpus="tf",
            upstream_version="5.0",
            upstream_license="apache-2.0",
            kept_lines=6,
            notice=NoticeFate(status="kept", upstream=("# c",), target=("# c",)),
        ),
        DeclaredAdaptation(
            phrase="Adapted from",
            reference="https://github.com/o/elsewhere/blob/main/x.py",
            repository="o/elsewhere",
            revision="main",
            symbol=None,
            ranges=(),
            range_count=0,
        ),
    ),
    "weights-lineage": (LINEAGE,),
}


def findings_of_every_kind() -> list[Finding]:
    return [
        Finding(
            kind=kind,
            severity=Severity.LOW,
            message=kind,
            location=Location(path="a.py", start_line=1, end_line=1),
            evidence=Evidence(matched="m", score=1, details=record),
            analyzer="t",
        )
        for kind, records in SAMPLES.items()
        for record in records
    ]


def test_every_kind_with_details_has_a_sample() -> None:
    kinds_by_record = {r for records in DETAILS.values() for r in records}
    assert kinds_by_record == {type(r) for records in SAMPLES.values() for r in records}


def test_every_record_round_trips_through_its_json_form() -> None:
    for kind, records in SAMPLES.items():
        for record in records:
            again = type(record).from_dict(json.loads(json.dumps(record.to_dict())))
            assert again.to_dict() == record.to_dict(), kind


def test_a_report_of_every_kind_validates_and_loads_back(tmp_path: Path) -> None:
    root = make_clean_release(tmp_path / "r")
    path = tmp_path / "scan.json"
    JsonFormat().write(audit_with(root, findings_of_every_kind()), path)
    doc = json.loads(path.read_text())
    validate_report_json(doc)
    loaded = load_result(path)
    assert [f.to_dict() for f in loaded.findings] == [
        {k: v for k, v in f.items() if k != "id"} for f in doc["findings"]
    ]
    assert [type(f.evidence.details) for f in loaded.findings] == [
        type(r) for records in SAMPLES.values() for r in records
    ]


def test_the_demo_report_round_trips(demo_report: Report, tmp_path: Path) -> None:
    path = tmp_path / "scan.json"
    JsonFormat().write(demo_report, path)
    loaded = load_result(path)
    assert [f.to_dict() for f in loaded.findings] == json.loads(
        json.dumps([f.to_dict() for f in demo_report.result.findings])
    )


def test_the_schema_says_what_each_kind_carries() -> None:
    import jsonschema

    schema = json.loads((REPO / "docs" / "report.schema.json").read_text())
    assert with_evidence_records(schema) == schema, (
        "docs/report.schema.json is stale: run python -m scanner.report.schema"
    )
    finding = Finding(
        kind="copied-code",
        severity=Severity.LOW,
        message="m",
        evidence=Evidence(details=SAMPLES["license-review"][0]),
    ).to_dict()
    validator = jsonschema.Draft202012Validator({**schema, "$ref": "#/$defs/finding"})
    with pytest.raises(jsonschema.ValidationError):
        validator.validate({"id": "F1", **finding})


@pytest.mark.parametrize(
    ("path", "value", "says"),
    [
        (("notice", "status"), "lost", "notice.status"),
        (("ranges", 0, "target"), [1], "ranges[0].target"),
        (("shared_fingerprints",), "10", "shared_fingerprints"),
        (("upstream_path",), None, "upstream_path"),
    ],
)
def test_a_wrong_type_in_the_details_of_a_report_is_one_clear_error(
    tmp_path: Path, path: tuple, value: object, says: str
) -> None:
    root = make_clean_release(tmp_path / "r")
    report = tmp_path / "scan.json"
    JsonFormat().write(audit_with(root, findings_of_every_kind()), report)
    doc = json.loads(report.read_text())
    index = next(i for i, f in enumerate(doc["findings"]) if f["kind"] == "copied-code")
    target = doc["findings"][index]["evidence"]["details"]
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    report.write_text(json.dumps(doc))
    with pytest.raises(SourceError, match="not a provscan JSON report") as err:
        load_result(report)
    assert f"findings[{index}].evidence.details.{says}" in str(err.value)


def test_records_refuse_a_missing_key() -> None:
    data = SAMPLES["notice-missing"][0].to_dict()
    del data["files"]
    with pytest.raises(RecordError, match="missing 'files'"):
        NoticeMissing.from_dict(data)

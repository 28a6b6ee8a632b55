"""License detection with scancode as a library: exact first, approximate where unclear,
review flags, the content-hash cache, forked workers. Test data: real source files of the
installed transformers package and scancode's own installed license texts."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import licensedcode
import pytest
import transformers

from scanner.audit import analyze_target
from scanner.code.analyzer import LicenseAnalyzer
from scanner.code.filescan import scan_files, scan_one
from scanner.code.scancode import load_index

REPO = Path(__file__).resolve().parent.parent
QWEN2 = Path(transformers.__file__).parent / "models" / "qwen2"
SCANCODE_LICENSES = Path(licensedcode.__file__).parent / "data" / "licenses"


@pytest.fixture(scope="session")
def scancode_index():
    """One index load (~6 s) shared by every test of the session."""
    return load_index()


def scancode_license_text(key: str) -> str:
    """The license text of a scancode license data file (after its YAML front matter)."""
    text = (SCANCODE_LICENSES / f"{key}.LICENSE").read_text()
    return text.split("\n---\n", 1)[1] if text.startswith("---") else text


def apache_header_with_a_changed_line(tmp_path: Path) -> Path:
    lines = (QWEN2 / "configuration_qwen2.py").read_text().splitlines()[:15]
    mangled = lines[:6] + ["# you may not do much with this file except what we say, really,"]
    path = tmp_path / "partial.py"
    path.write_text("\n".join(mangled + lines[9:] + ["x = 1"]) + "\n")
    return path


def test_apache_header_is_found_by_the_exact_pass(scancode_index):
    scan = scan_one(QWEN2 / "configuration_qwen2.py")
    assert scan.error is None
    assert scan.licenses.expression == "apache-2.0"
    assert scan.licenses.spdx == "Apache-2.0"
    assert not scan.licenses.approximate
    assert not scan.licenses.needs_review
    match = scan.licenses.detections[0].matches[0]
    assert match.coverage == 100 and match.matcher != "3-seq"
    assert "Apache License" in match.matched_text


def test_changed_header_goes_to_the_approximate_matcher_and_is_flagged(scancode_index, tmp_path):
    scan = scan_one(apache_header_with_a_changed_line(tmp_path))
    assert scan.licenses.approximate
    assert scan.licenses.expression == "apache-2.0"
    assert scan.licenses.needs_review


def test_file_without_license_has_none(scancode_index, tmp_path):
    path = tmp_path / "plain.py"
    path.write_text("def add(x, y):\n    return x + y\n")
    scan = scan_one(path)
    assert scan.licenses.expression is None and scan.notices == () and scan.error is None


def test_two_forked_workers_give_the_in_process_result(scancode_index, tmp_path):
    partial = apache_header_with_a_changed_line(tmp_path)
    items = {_sha(p): p for p in [*sorted(QWEN2.glob("*.py")), partial]}
    forked = scan_files(items, use_cache=False, workers=2)
    alone = scan_files(items, use_cache=False, workers=1)
    assert forked == alone
    assert forked[_sha(partial)].licenses.needs_review
    assert all(s.error is None for s in forked.values())


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _release(tmp_path: Path, card_license: str, license_key: str | None) -> Path:
    root = tmp_path / "release"
    root.mkdir()
    for name in ("configuration_qwen2.py", "tokenization_qwen2.py"):
        (root / name).write_bytes((QWEN2 / name).read_bytes())
    (root / "README.md").write_text(f"---\nlicense: {card_license}\n---\n# A model\n")
    if license_key:
        (root / "LICENSE").write_text(scancode_license_text(license_key))
    return root


def test_llama_license_text_under_an_apache_card_is_a_mismatch(scancode_index, tmp_path):
    root = _release(tmp_path, "apache-2.0", "llama-3.1-license-2024")
    findings = analyze_target(str(root), analyzers=[LicenseAnalyzer()]).findings
    mismatch = [
        f
        for f in findings
        if f.kind == "license-mismatch" and f.evidence.details.via == "license-text"
    ]
    assert [f.evidence.details.detected for f in mismatch] == ["llama-3.1-license-2024"]
    assert mismatch[0].severity == "high"
    assert mismatch[0].location.path == "LICENSE"
    assert mismatch[0].evidence.details.declared.license_id == "Apache-2.0"
    declared = [
        f for f in findings if f.kind == "license" and f.evidence.details.source == "declared"
    ]
    assert declared[0].evidence.details.license_id == "Apache-2.0"
    assert not [f for f in findings if f.kind == "missing-license"]


def test_matching_card_and_license_file_give_no_mismatch(scancode_index, tmp_path):
    root = _release(tmp_path, "llama3.1", "llama-3.1-license-2024")
    findings = analyze_target(str(root), analyzers=[LicenseAnalyzer()]).findings
    assert not [
        f
        for f in findings
        if f.kind == "license-mismatch" and f.evidence.details.via == "license-text"
    ]
    licensed = {
        f.location.path: f.evidence.details.license_expression
        for f in findings
        if f.kind == "license" and f.evidence.details.source == "file"
    }
    assert licensed["LICENSE"] == "llama-3.1-license-2024"
    assert licensed["configuration_qwen2.py"] == "apache-2.0"


def test_release_without_license_file_or_declaration(scancode_index, tmp_path):
    root = tmp_path / "bare"
    root.mkdir()
    (root / "tokenization_qwen2.py").write_bytes((QWEN2 / "tokenization_qwen2.py").read_bytes())
    findings = analyze_target(str(root), analyzers=[LicenseAnalyzer()]).findings
    missing = sorted(f.evidence.details.missing for f in findings if f.kind == "missing-license")
    assert missing == ["declared-license", "license-file"]


def test_warm_rescan_never_loads_the_scancode_index(tmp_path, provscan_home):
    root = _release(tmp_path, "apache-2.0", None)
    code = (
        "import sys, json; from scanner.audit import analyze_target; "
        "from scanner.code.analyzer import LicenseAnalyzer; "
        "import licensedcode.cache as c; "
        f"r = analyze_target({str(root)!r}, analyzers=[LicenseAnalyzer()]); "
        "print(json.dumps([c._LICENSE_CACHE is not None, "
        "sorted(f.kind for f in r.findings)]))"
    )
    runs = [
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True
        )
        for _ in range(2)
    ]
    first, second = (r.stdout.strip().splitlines()[-1] for r in runs)
    assert first.startswith("[true,") and second.startswith("[false,")
    assert first.split(",", 1)[1] == second.split(",", 1)[1]


def test_scan_cli_reports_foreign_notices_for_a_publisher(cli, tmp_path):
    root = _release(tmp_path, "apache-2.0", "apache-2.0")
    out = tmp_path / "report.json"
    proc = cli("scan", str(root), "--publisher", "Qwen", "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    import json

    findings = json.loads(out.read_text())["findings"]
    foreign = [f for f in findings if f["kind"] == "foreign-notice"]
    assert foreign and all(f["severity"] == "medium" for f in foreign)
    # The publisher's own origin (Qwen) is not foreign; the Hugging Face part is.
    origins = {o["id"] for f in foreign for o in f["evidence"]["details"]["origins"]}
    assert origins == {"huggingface"}


def test_unclear_match_becomes_a_license_review_finding(scancode_index, tmp_path):
    root = tmp_path / "r"
    root.mkdir()
    apache_header_with_a_changed_line(root)
    findings = analyze_target(str(root), analyzers=[LicenseAnalyzer()]).findings
    review = [f for f in findings if f.kind == "license-review"]
    assert len(review) == 1 and review[0].location.path == "partial.py"
    assert review[0].evidence.score < 100
    assert "partial coverage" in review[0].evidence.details.reasons
    lic = [f for f in findings if f.kind == "license" and f.location.path == "partial.py"]
    assert lic[0].evidence.details.needs_review and lic[0].evidence.details.approximate


def test_fragments_of_one_notice_go_to_the_approximate_matcher(scancode_index):
    # A BSD notice that the exact pass finds as three pieces (clause, clause, disclaimer);
    # scancode's CLI sees one bsd-new notice, and so must we.
    path = Path(transformers.__file__).parent / "models" / "blip" / "modeling_blip_text.py"
    scan = scan_one(path)
    assert scan.licenses.approximate
    assert scan.licenses.expression == "bsd-new"

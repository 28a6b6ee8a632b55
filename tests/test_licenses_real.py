"""License verdicts that hold on real releases: what files say of themselves wins over what a
holder usually publishes, package licenses read as SPDX expressions, obligations checked
against the license text scancode identifies, weight files' own license metadata, and
base-model hints. Test data: real files of the installed transformers package, the Apache
LICENSE it ships, scancode's own license texts, and GGUF / ONNX files written by the `gguf`
and `onnx` packages."""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path

import gguf
import licensedcode
import numpy as np
import onnx
import pytest
import transformers
from onnx import TensorProto, helper, numpy_helper

from scanner.audit import analyze_target, audit
from scanner.code.analyzer import LicenseAnalyzer
from scanner.code.corpus import package_license
from scanner.code.declared import config_licenses
from scanner.code.scancode import load_index
from scanner.demo_release import apache_license_text
from scanner.evidence import BaseModelHint, LicenseDeclared, LicenseMismatch
from scanner.licenses import reflected, spdx_ids_as_keys

TF = Path(transformers.__file__).parent
BERT = TF / "models" / "bert" / "modeling_bert.py"
SCANCODE_LICENSES = Path(licensedcode.__file__).parent / "data" / "licenses"


@pytest.fixture(scope="module")
def scancode_index():
    return load_index()


def scancode_license_text(key: str) -> str:
    text = (SCANCODE_LICENSES / f"{key}.LICENSE").read_text()
    return text.split("\n---\n", 1)[1] if text.startswith("---") else text


def transformers_reuse(root: Path, license_text: str) -> Path:
    """A release that reuses transformers' BERT modeling file unchanged (its Apache-2.0
    header, its Google and NVIDIA notices), under an Apache-2.0 card."""
    root.mkdir(parents=True)
    (root / "modeling_bert.py").write_bytes(BERT.read_bytes())
    (root / "LICENSE").write_text(license_text)
    (root / "README.md").write_text("---\nlicense: apache-2.0\n---\n# bert-tuned\n")
    return root


def test_package_license_metadata_is_read_as_an_spdx_expression(scancode_index):
    # transformers declares "Apache 2.0 License": one license, not the ids apache, 2.0, license
    assert metadata.distribution("transformers").metadata["License"] == "Apache 2.0 License"
    assert package_license(metadata.distribution("transformers")) == "Apache-2.0"
    # a classifier alone (tokenizers) and an SPDX License-Expression (torch) read the same way
    assert package_license(metadata.distribution("tokenizers")) == "Apache-2.0"
    torch_expression = package_license(metadata.distribution("torch"))
    assert torch_expression is not None and torch_expression.startswith("Apache-2.0 AND")
    assert "MIT" in torch_expression.split(" AND ")


def test_a_corpus_license_is_read_as_spdx_ids(scancode_index):
    # SPDX's BSL-1.0 is Boost (scancode's boost-1.0), not scancode's bsl-1.0 (the Business
    # Source License); an exception (WITH LLVM-exception) only adds permissions
    assert spdx_ids_as_keys("BSD-3-Clause AND BSL-1.0") == ("bsd-new", "boost-1.0")
    torch_ids = spdx_ids_as_keys(package_license(metadata.distribution("torch")))
    assert "llvm-exception" in torch_ids
    assert all(reflected(i, ("apache-2.0",)) for i in torch_ids)


def test_unchanged_transformers_code_under_apache_passes_the_default_policy(cli, tmp_path):
    root = transformers_reuse(tmp_path / "r", apache_license_text() or "")
    res = cli("check", str(root), "--json", str(tmp_path / "check.json"))
    assert res.returncode == 0, res.stdout + res.stderr
    assert "PASS" in res.stdout
    verdict = json.loads((tmp_path / "check.json").read_text())
    assert verdict["passed"] is True and verdict["violations"] == []


def test_unchanged_transformers_copy_found_in_an_indexed_corpus_passes(cli, tmp_path):
    # `index add NAME pkg:...` stores the package license as SPDX, so the copied code's
    # license (Apache-2.0) is reflected by the card's apache-2.0.
    added = cli("index", "add", "tf-bert", "pkg:transformers/models/bert")
    assert added.returncode == 0, added.stderr
    listed = cli("index", "list")
    assert "license Apache-2.0" in listed.stdout, listed.stdout
    root = transformers_reuse(tmp_path / "r", apache_license_text() or "")
    res = cli("check", str(root), "--json", str(tmp_path / "check.json"))
    assert res.returncode == 0, res.stdout + res.stderr


def test_holders_usual_licenses_never_override_the_files_own_license(scancode_index, tmp_path):
    root = transformers_reuse(tmp_path / "r", apache_license_text() or "")
    report = audit(str(root))
    a = report.assessment
    # Google (Gemma) and NVIDIA (Open Model License) notices in an Apache-2.0 file: the
    # file's own license text says what covers it
    assert {i for d in a.detected_licenses for i in d.ids} == {"apache-2.0"}
    assert all(d.reflected for d in a.detected_licenses)
    assert not [f for _, f in a.findings if f.kind == "license-mismatch"]
    assert {o.org for o in a.origins} >= {"Google", "NVIDIA", "Hugging Face"}
    assert a.verdict.level != "fail"


def test_notices_in_a_file_without_license_text_get_a_review_note_only(scancode_index, tmp_path):
    root = tmp_path / "r"
    root.mkdir()
    head = BERT.read_text().splitlines()[:2]  # the Google and NVIDIA lines, no license
    (root / "bert_bits.py").write_text("\n".join(head) + "\nx = 1\n")
    (root / "LICENSE").write_text(apache_license_text() or "")
    (root / "README.md").write_text("---\nlicense: apache-2.0\n---\n")
    report = audit(str(root))
    notes = [f for _, f in report.assessment.findings if f.kind == "license-mismatch"]
    assert notes and all(f.severity == "low" for f in notes)
    assert {
        f.evidence.details.origin for f in notes if isinstance(f.evidence.details, LicenseMismatch)
    } == {
        "google",
        "nvidia",
    }
    assert all("without license text" in f.message for f in notes)
    a = report.assessment
    assert not [d for d in a.detected_licenses if not d.reflected]
    assert not [d for d in a.discrepancies if d.severity in ("high", "medium")]


def test_mit_only_license_file_leaves_apache_4a_unmet(scancode_index, tmp_path):
    mit = "Copyright (c) 2025 Acme\n\n" + scancode_license_text("mit")
    root = transformers_reuse(tmp_path / "r", mit)
    a = audit(str(root)).assessment
    copy = next(o for o in a.obligations if o.id == "apache-2.0/license-copy")
    assert copy.status == "unmet"
    assert "mit" in copy.how_checked and "4(a)" in copy.section
    assert any(
        d.kind == "missing-license" and "copy of the License" in d.title for d in a.discrepancies
    )


def test_apache_license_file_meets_apache_4a(scancode_index, tmp_path):
    root = transformers_reuse(tmp_path / "r", apache_license_text() or "")
    a = audit(str(root)).assessment
    copy = next(o for o in a.obligations if o.id == "apache-2.0/license-copy")
    assert copy.status == "met" and "apache-2.0" in copy.how_checked


def test_a_license_name_no_hub_key_knows_is_read_by_scancode(scancode_index):
    (found,) = config_licenses(json.dumps({"license": "Apache License 2.0"}), "config.json")
    assert found.resolved and found.key == "apache-2.0" and found.spdx == "Apache-2.0"
    (unknown,) = config_licenses(json.dumps({"license": "my own terms"}), "config.json")
    assert not unknown.resolved


def write_gguf(path: Path, license: str | None, base_url: str | None) -> None:
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_name("tiny")
    if license:
        w.add_license(license)
    if base_url:
        w.add_base_model_count(1)
        w.add_base_model_name(0, "Base")
        w.add_base_model_repo_url(0, base_url)
    w.add_block_count(1)
    w.add_token_list([f"t{i}" for i in range(5000)])  # a vocabulary after general.*
    w.add_tensor("token_embd.weight", np.zeros((8, 16), np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def test_gguf_general_license_and_base_model_are_read(scancode_index, tmp_path):
    root = tmp_path / "r"
    root.mkdir()
    write_gguf(root / "tiny.Q8_0.gguf", "apache-2.0", "https://huggingface.co/org/base-7b")
    findings = analyze_target(str(root), analyzers=[LicenseAnalyzer()]).findings
    declared = [
        f
        for f in findings
        if f.kind == "license" and isinstance(f.evidence.details, LicenseDeclared)
    ]
    assert [(f.location.path, f.evidence.details.key) for f in declared] == [
        ("tiny.Q8_0.gguf", "apache-2.0")
    ]
    missing = [f.evidence.details.missing for f in findings if f.kind == "missing-license"]
    assert "declared-license" not in missing
    (hint,) = [f for f in findings if f.kind == "base-model-hint"]
    assert isinstance(hint.evidence.details, BaseModelHint)
    assert hint.evidence.details.name == "org/base-7b"
    assert hint.evidence.details.source == "weights-metadata" and hint.severity == "info"


def test_a_truncated_gguf_header_is_reported_not_guessed(tmp_path):
    root = tmp_path / "r"
    root.mkdir()
    write_gguf(root / "m.gguf", "mit", None)
    data = (root / "m.gguf").read_bytes()
    (root / "m.gguf").write_bytes(data[:40])
    findings = analyze_target(str(root), analyzers=[LicenseAnalyzer()]).findings
    problems = [f for f in findings if f.kind == "not-analysed" and f.location.path == "m.gguf"]
    assert problems and "GGUF" in problems[0].message


def test_onnx_metadata_props_license_is_read(scancode_index, tmp_path):
    root = tmp_path / "r"
    root.mkdir()
    weight = numpy_helper.from_array(np.ones((8, 4), np.float32), "W")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
        [weight],
    )
    model = helper.make_model(graph)
    helper.set_model_props(model, {"producer_note": "x", "License": "MIT"})
    onnx.save(model, str(root / "model.onnx"))
    findings = analyze_target(str(root), analyzers=[LicenseAnalyzer()]).findings
    declared = [
        f
        for f in findings
        if f.kind == "license" and isinstance(f.evidence.details, LicenseDeclared)
    ]
    assert [(f.location.path, f.evidence.details.key) for f in declared] == [("model.onnx", "mit")]


def test_card_text_and_config_name_undeclared_bases_as_hints(scancode_index, tmp_path):
    root = tmp_path / "r"
    root.mkdir()
    (root / "README.md").write_text(
        "---\nlicense: apache-2.0\nbase_model: org/declared-1b\n---\n"
        "This model is a fine-tuned version of "
        "[meta-llama/Llama-3.1-8B](https://huggingface.co/meta-llama/Llama-3.1-8B).\n"
        "It is based on the transformer architecture, and was first based on "
        "org/declared-1b.\n"
    )
    (root / "config.json").write_text(json.dumps({"_name_or_path": "Qwen/Qwen2.5-7B"}))
    (root / "adapter_config.json").write_text(
        json.dumps({"base_model_name_or_path": "/home/me/checkpoints/run-3"})
    )
    findings = analyze_target(str(root), analyzers=[LicenseAnalyzer()]).findings
    hints = {
        f.evidence.details.name: (f.evidence.details.source, f.severity)
        for f in findings
        if f.kind == "base-model-hint" and isinstance(f.evidence.details, BaseModelHint)
    }
    assert hints == {
        "meta-llama/Llama-3.1-8B": ("card-text", "info"),
        "Qwen/Qwen2.5-7B": ("config", "info"),
    }

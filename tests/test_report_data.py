"""Audit results for the report tests: the demo release, with the findings the analyzers emit.

The release is built from real transformers files (scanner.demo_release); the findings are
real Finding objects shaped as the license, notice, clone and weight analyzers emit them
(see issues 3-5), with lines and notices read from the files, never typed in by hand.
The report tests run on these, so they do not depend on the analyzers' branches.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pytest

from scanner.analyzers import Analyzer, AuditContext
from scanner.audit import AuditResult, audit
from scanner.demo_release import (
    BASE_NAME,
    COPIED,
    DemoRelease,
    build_release,
    fine_tune,
    make_weights,
)
from scanner.model import Evidence, Finding, Location, Severity
from scanner.sources.interface import Snapshot


class FixedFindings(Analyzer):
    """An analyzer that reports given findings: the analyzers' output, without them."""

    name = "fixed"

    def __init__(self, findings: Iterable[Finding]):
        self.findings = list(findings)

    def analyze(self, snapshot: Snapshot, ctx: AuditContext) -> Iterable[Finding]:
        return self.findings


def copyright_line(path: Path) -> tuple[int, str]:
    for i, line in enumerate(path.read_text().splitlines(), start=1):
        if "copyright" in line.lower():
            return i, line.lstrip("# ").strip()
    raise AssertionError(f"no copyright line in {path}")


def layer_curves(base_seed: int, tune_seed: int) -> dict[str, object]:
    """Per-layer curves of the demo's base and its fine-tune, as the weights analyzer
    charts them: std of attention Q, and cosine of matching MLP tensors."""
    a = make_weights(base_seed)
    b = fine_tune(a, tune_seed)
    layers = sorted({int(k.split(".")[2]) for k in a if ".layers." in k})
    def std(w: dict[str, np.ndarray]) -> list[float]:
        return [float(w[f"model.layers.{i}.self_attn.q_proj.weight"].std()) for i in layers]
    def cosine(x: np.ndarray, y: np.ndarray) -> float:
        x, y = x.ravel(), y.ravel()
        return float(x @ y / np.linalg.norm(x) / np.linalg.norm(y))
    cos = [cosine(a[f"model.layers.{i}.mlp.up_proj.weight"],
                  b[f"model.layers.{i}.mlp.up_proj.weight"]) for i in layers]
    return {"std_q": {"label": "std of attention Q by layer", "layers": layers,
                      "target": std(b), "base": std(a)},
            "cosine": {"label": "cosine of matching MLP tensors by layer", "layers": layers,
                       "values": cos, "null_mean": 0.0, "null_std": 0.02}}


def demo_findings(demo: DemoRelease) -> list[Finding]:
    """What the analyzers find in the demo release (shapes from issues 3, 4 and 5)."""
    rel, tf_root = demo.release, demo.corpus
    findings: list[Finding] = [
        Finding(kind="license", severity=Severity.INFO, message="Apache-2.0 in LICENSE",
                location=Location(path="LICENSE", start_line=1, end_line=202),
                evidence=Evidence(matched="apache-2.0", score=100.0,
                                  details={"rule": "apache-2.0.LICENSE", "coverage": 100.0,
                                           "review": False}), analyzer="licenses")]
    for upstream, dest, replaced in COPIED:
        line_no, line = copyright_line(rel / dest)
        up_line = copyright_line(tf_root / upstream)[1]
        n_lines = len((rel / dest).read_text().splitlines())
        if "Qwen" in line:
            findings.append(Finding(
                kind="foreign-notice", severity=Severity.MEDIUM,
                message=f"notice of The Qwen team, Alibaba Group in {dest}",
                location=Location(path=dest, start_line=line_no, end_line=line_no),
                evidence=Evidence(matched=line, details={
                    "holder": "The Qwen team, Alibaba Group",
                    "origin": {"org": "Alibaba Group", "family": "Qwen",
                               "license": "apache-2.0"}}), analyzer="notices"))
        kind, status = ("notice-removed", "changed") if replaced else ("copied-code", "kept")
        findings.append(Finding(
            kind=kind, severity=Severity.HIGH if replaced else Severity.MEDIUM,
            message=f"{dest} copied from transformers/{upstream} (notice {status})",
            location=Location(path=dest, start_line=1, end_line=n_lines),
            evidence=Evidence(matched=f"transformers/{upstream}", score=0.97,
                              null_mean=0.02, null_std=0.01, details={
                "corpus": "transformers", "upstream_path": upstream,
                "version": demo.transformers_version, "license": "apache-2.0",
                "share": 0.97, "target_lines": [1, n_lines], "upstream_lines": [1, n_lines],
                "notice_status": status, "upstream_notice": up_line,
                "target_notice": line}), analyzer="clones"))
    curves = layer_curves(1234, 99)
    signals = [
        {"name": "std-curve-correlation", "score": 0.98, "null_mean": 0.90, "null_std": 0.06,
         "z": 1.3, "p_value": 0.09, "robust_to": ["permutation", "rotation"]},
        {"name": "direct-cosine", "score": 0.995, "null_mean": 0.0, "null_std": 0.004,
         "z": 248.0, "p_value": 1e-300, "robust_to": ["fine-tune", "quantized"]},
    ]
    findings.append(Finding(
        kind="weights-derived", severity=Severity.HIGH,
        message=f"weights derive from {BASE_NAME} (fine-tune)",
        location=Location(path="model.safetensors"),
        evidence=Evidence(matched=BASE_NAME, score=0.995, null_mean=0.0, null_std=0.004,
                          z=248.0, p_value=1e-300, details={
                              "base": str(demo.base), "base_license": "qwen",
                              "verdict": "derived", "relation": "fine-tune",
                              "signals": signals, "curves": curves}), analyzer="weights"))
    findings.append(Finding(
        kind="undeclared-base-model", severity=Severity.HIGH,
        message=f"the card names no base model; the weights derive from {BASE_NAME}",
        location=Location(path="README.md"),
        evidence=Evidence(matched=BASE_NAME, details={"base": str(demo.base)}),
        analyzer="weights"))
    return findings


def audit_with(target: Path, findings: Iterable[Finding]) -> AuditResult:
    return audit(str(target), analyzers=[FixedFindings(findings)])


@pytest.fixture(scope="session")
def demo_release(tmp_path_factory: pytest.TempPathFactory) -> DemoRelease:
    return build_release(tmp_path_factory.mktemp("demo"))


@pytest.fixture(scope="session")
def demo_result(demo_release: DemoRelease) -> AuditResult:
    return audit_with(demo_release.release, demo_findings(demo_release))


def make_clean_release(root: Path) -> Path:
    """A release with its own code, an Apache LICENSE and NOTICE, a matching card."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "README.md").write_text("---\nlicense: apache-2.0\n---\n# clean-model\n")
    (root / "LICENSE").write_text("Apache License\nVersion 2.0, January 2004\n")
    (root / "NOTICE").write_text("clean-model\nCopyright 2025 Clean Labs\n")
    (root / "train.py").write_text("# Copyright 2025 Clean Labs\nprint('hello')\n")
    return root


def test_demo_release_carries_the_real_upstream_notices(demo_release: DemoRelease) -> None:
    line = copyright_line(demo_release.release / "configuration_acme.py")[1]
    assert "Qwen" in line
    changed = copyright_line(demo_release.release / "modeling_acme.py")[1]
    upstream = copyright_line(demo_release.corpus / "models/llama/modeling_llama.py")[1]
    assert changed != upstream and "Acme" in changed


def test_demo_weights_are_a_fine_tune_of_the_base(demo_release: DemoRelease) -> None:
    from safetensors.numpy import load_file

    a = load_file(str(demo_release.base / "model.safetensors"))
    b = load_file(str(demo_release.release / "model.safetensors"))
    name = "model.layers.0.mlp.up_proj.weight"
    x, y = a[name].ravel(), b[name].ravel()
    cos = float(x @ y / np.linalg.norm(x) / np.linalg.norm(y))
    assert cos > 0.98  # derived: far above the ~N(0, 1/n) cosine of unrelated tensors
    other = make_weights(seed=7)[name].ravel()
    assert abs(float(x @ other / np.linalg.norm(x) / np.linalg.norm(other))) < 0.05

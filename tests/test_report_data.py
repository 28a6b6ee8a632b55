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
from scanner.assess.model import Report
from scanner.audit import audit
from scanner.demo_release import (
    COPIED,
    DemoRelease,
    apache_license_text,
    build_release,
    fine_tune,
    make_weights,
)
from scanner.evidence import (
    CopiedCodeEvidence,
    ForeignNotice,
    LicenseDeclared,
    LicenseInFile,
    MatchedRange,
    NoticeFate,
    SignalEvidence,
    UpstreamId,
    WeightsLineage,
)
from scanner.model import Evidence, Finding, Location, Severity
from scanner.snapshot import Snapshot


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


def per_layer_cosine(base_seed: int, tune_seed: int) -> dict[str, float]:
    """Mean cosine per layer between the demo's base and its fine-tune (the weights
    analyzer's direct_cosine per_layer detail)."""
    a = make_weights(base_seed)
    b = fine_tune(a, tune_seed)
    out: dict[str, list[float]] = {}
    for name, x in a.items():
        if ".layers." in name and x.ndim == 2:
            y = b[name]
            c = float(x.ravel() @ y.ravel() / np.linalg.norm(x) / np.linalg.norm(y))
            out.setdefault(name.split(".")[2], []).append(c)
    return {k: round(float(np.mean(v)), 4) for k, v in sorted(out.items())}


def license_file_finding() -> Finding:
    return Finding(
        kind="license",
        severity=Severity.INFO,
        message="apache-2.0 in LICENSE",
        location=Location(path="LICENSE", start_line=2, end_line=202),
        evidence=Evidence(
            matched="Apache License\nVersion 2.0, January 2004",
            score=100.0,
            details=LicenseInFile(
                license_expression="apache-2.0",
                license_expression_spdx="Apache-2.0",
                families={"apache-2.0": "permissive"},
                rules=("apache-2.0.LICENSE",),
                matchers=("1-hash",),
                needs_review=False,
                approximate=False,
            ),
        ),
        analyzer="licenses",
    )


def declared_license_finding(raw: str, key: str, spdx: str, family: str) -> Finding:
    return Finding(
        kind="license",
        severity=Severity.INFO,
        message=f"declared license {raw}",
        location=Location(path="README.md"),
        evidence=Evidence(
            matched=raw,
            details=LicenseDeclared(
                declared=raw, key=key, license_id=spdx, family=family, declared_in="README.md"
            ),
        ),
        analyzer="licenses",
    )


def demo_findings(demo: DemoRelease) -> list[Finding]:
    """What the analyzers find in the demo release, as the records they emit (licenses:
    ForeignNotice, LicenseInFile; clones: CopiedCodeEvidence; weights: WeightsLineage with
    evidence.matched = the reference, signals with per_layer details)."""
    rel, corpus = demo.release, demo.corpus
    findings: list[Finding] = [
        declared_license_finding("apache-2.0", "apache-2.0", "Apache-2.0", "permissive"),
        license_file_finding(),
    ]
    for upstream, dest, replaced in COPIED:
        line_no, line = copyright_line(rel / dest)
        up_line = copyright_line(corpus / upstream)[1]
        n_lines = len((rel / dest).read_text().splitlines())
        n_up = len((corpus / upstream).read_text().splitlines())
        if "Qwen" in line:
            findings.append(
                Finding(
                    kind="foreign-notice",
                    severity=Severity.MEDIUM,
                    message=f"notice of The Qwen team, Alibaba Group (origin: Qwen / Alibaba "
                    f"Group) in {dest}",
                    location=Location(path=dest, start_line=line_no, end_line=line_no),
                    evidence=Evidence(
                        matched=line,
                        details=ForeignNotice(
                            statement=line,
                            holder="The Qwen team, Alibaba Group",
                            holder_key="qwen team alibaba group",
                            lines=(line,),
                            origins=(
                                UpstreamId(
                                    id="qwen",
                                    organisation="Alibaba Group",
                                    project="Qwen",
                                    usual_license="apache-2.0",
                                ),
                            ),
                            publisher=None,
                        ),
                    ),
                    analyzer="licenses",
                )
            )
        status = "replaced" if replaced else "kept"
        findings.append(
            Finding(
                kind="notice-removed" if replaced else "copied-code",
                severity=Severity.HIGH if replaced else Severity.INFO,
                message=f"97% of this file is copied from transformers:{upstream} "
                f"({demo.transformers_version}) with its copyright notice {status}",
                location=Location(path=dest, start_line=1, end_line=n_lines),
                evidence=Evidence(
                    matched=f"transformers:{upstream}",
                    score=0.97,
                    null_mean=0.01,
                    null_std=0.02,
                    z=48.0,
                    p_value=0.001,
                    details=CopiedCodeEvidence(
                        corpus="transformers",
                        corpus_source=str(corpus),
                        upstream_path=upstream,
                        upstream_version=demo.transformers_version,
                        upstream_license="apache-2.0",
                        shared_fingerprints=400,
                        target_fingerprints=412,
                        upstream_share=0.97,
                        ranges=(MatchedRange(target=(1, n_lines), upstream=(1, n_up)),),
                        range_count=1,
                        notice=NoticeFate(status=status, upstream=(up_line,), target=(line,)),
                        other_matches=(),
                    ),
                ),
                analyzer="clones",
            )
        )
    per_layer = per_layer_cosine(1234, 99)
    signals = (
        SignalEvidence(
            name="direct_cosine",
            score=0.995,
            null_mean=0.0,
            null_std=0.004,
            z=248.0,
            p_value=1e-300,
            robust_to=("fine-tuning", "quantization"),
            details={"per_layer": per_layer},
        ),
        SignalEvidence(
            name="std_curve",
            score=0.98,
            null_mean=0.5,
            null_std=0.25,
            z=1.9,
            p_value=0.03,
            robust_to=("everything",),
            details={"weak": "unrelated models of one architecture also score high"},
        ),
    )
    evidence = Evidence(
        matched=str(demo.base),
        score=0.995,
        null_mean=0.0,
        null_std=0.004,
        z=248.0,
        p_value=1e-300,
        details=WeightsLineage(
            verdict="derived",
            relation="fine-tune",
            signals=signals,
            reasons=("direct cosine 0.995 vs 0 +- 0.004",),
        ),
    )
    where = Location(tensor="model.layers.0.mlp.up_proj.weight", layer=0)
    findings.append(
        Finding(
            kind="weights-derived",
            severity=Severity.HIGH,
            message=f"weights are derived (fine-tune) from {demo.base}",
            location=where,
            evidence=evidence,
            analyzer="weights",
        )
    )
    findings.append(
        Finding(
            kind="undeclared-base-model",
            severity=Severity.HIGH,
            message=f"the model card declares no base model, but the weights derive from "
            f"{demo.base}",
            location=where,
            evidence=evidence,
            analyzer="weights",
        )
    )
    return findings


def audit_with(target: Path, findings: Iterable[Finding]) -> Report:
    return audit(str(target), analyzers=[FixedFindings(findings)])


@pytest.fixture(scope="session")
def demo_release(tmp_path_factory: pytest.TempPathFactory) -> DemoRelease:
    return build_release(tmp_path_factory.mktemp("demo"))


@pytest.fixture(scope="session")
def demo_report(demo_release: DemoRelease) -> Report:
    return audit_with(demo_release.release, demo_findings(demo_release))


def make_clean_release(root: Path) -> Path:
    """A release with its own code, an Apache LICENSE and NOTICE, a matching card."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "README.md").write_text("---\nlicense: apache-2.0\n---\n# clean-model\n")
    (root / "LICENSE").write_text(apache_license_text() or "Apache License 2.0\n")
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

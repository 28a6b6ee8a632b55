"""The assessment of a hostile release: linear in the number of findings and license ids."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from scanner.assess import assess
from scanner.evidence import (
    CopiedCodeEvidence,
    ForeignNotice,
    MatchedRange,
    NoticeFate,
    UpstreamId,
)
from scanner.licenses import declared_ids, license_ids
from scanner.model import Evidence, Finding, Location, Severity
from scanner.result import AuditResult
from scanner.snapshot import Snapshot
from scanner.sources.local import FolderReader

REPO = Path(__file__).resolve().parent.parent


def run_bounded(function: str, seconds: int) -> None:
    """Run this module's `function` in a fresh interpreter that must finish within
    `seconds`: a hang guard (quadratic code needed minutes here), not a benchmark."""
    code = f"import tests.test_hostile_assess as t; t.{function}()"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    try:
        proc = subprocess.run(
            [sys.executable, "-c", code],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=seconds,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"{function} still running after {seconds} s: quadratic on hostile input")
    assert proc.returncode == 0, proc.stderr


def license_ids_of_a_huge_expression() -> None:
    expression = " OR ".join(f"LicenseRef-x{i}" for i in range(100_000))
    ids = license_ids(expression)
    declared = declared_ids("other", expression)
    assert len(ids) == 100_000 and ids[0] == "licenseref-x0" and ids[-1] == "licenseref-x99999"
    assert declared == ids
    assert license_ids("MIT OR mit AND (Apache-2.0 WITH llvm-exception)") == (
        "mit",
        "apache-2.0",
        "llvm-exception",
    )


def _copy(i: int) -> Finding:
    return Finding(
        kind="notice-removed",
        severity=Severity.HIGH,
        message="copied",
        location=Location(path=f"m{i}.py", start_line=1, end_line=9),
        evidence=Evidence(
            matched="ref:up.py",
            score=1.0,
            details=CopiedCodeEvidence(
                corpus="ref",
                corpus_source="",
                upstream_path="up.py",
                upstream_version=None,
                upstream_license="Apache-2.0",
                shared_fingerprints=9,
                target_fingerprints=9,
                upstream_share=1.0,
                ranges=(MatchedRange(target=(1, 9), upstream=(1, 9)),),
                range_count=1,
                notice=NoticeFate(status="removed", upstream=("Copyright Up",), target=()),
                other_matches=(),
            ),
        ),
        analyzer="clones",
    )


def _notice(i: int) -> Finding:
    return Finding(
        kind="foreign-notice",
        severity=Severity.MEDIUM,
        message="notice",
        location=Location(path=f"n{i}.py", start_line=1, end_line=1),
        evidence=Evidence(
            matched=f"Copyright {i} The Qwen team",
            details=ForeignNotice(
                statement=f"Copyright {i} The Qwen team",
                holder="The Qwen team",
                holder_key="qwen",
                lines=(f"Copyright {i} The Qwen team",),
                origins=(
                    UpstreamId(
                        id="qwen", organisation="Qwen", project="Qwen", usual_license="Apache-2.0"
                    ),
                ),
                publisher=None,
            ),
        ),
        analyzer="notices",
    )


def assessment_of_many_copies_and_notices() -> None:
    n = 60_000
    root = Path(tempfile.mkdtemp())
    snap = Snapshot(
        target=str(root), source="local", revision=None, files=(), reader=FolderReader(root, {})
    )
    findings = tuple(_copy(i) for i in range(n)) + tuple(_notice(i) for i in range(n))
    a = assess(AuditResult(snapshot=snap, findings=findings))
    assert len(a.copied) == n
    (origin,) = a.origins
    assert len(origin.paths) == n and len(origin.notices) == n
    via_copy = [d for d in a.detected_licenses if d.via == "copied-code"]
    assert len(via_copy) == 1 and len(via_copy[0].finding_ids) == n


def test_license_ids_of_a_huge_expression_are_linear() -> None:
    run_bounded("license_ids_of_a_huge_expression", 30)


def test_assessment_of_many_copies_and_notices_is_linear() -> None:
    run_bounded("assessment_of_many_copies_and_notices", 40)

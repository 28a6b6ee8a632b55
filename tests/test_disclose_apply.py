# ruff: noqa: F811  (pytest fixtures imported from test_report_data)
"""--apply's guards, in process: a card changed since the audit, a symlinked card, a git
target; and a git target disclosed to a folder, its card read from the repository."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from test_git_source import git, write
from test_report_data import audit_with, demo_findings, demo_release, make_clean_release  # noqa: F401

from scanner.demo_release import BASE_NAME, DemoRelease
from scanner.disclose import CardConflict, apply_to_release, write_disclosure
from scanner.errors import UsageError


def copy_of(demo: DemoRelease, root: Path) -> DemoRelease:
    shutil.copytree(demo.release, root)
    return DemoRelease(root, demo.base, demo.corpus, demo.transformers_version)


def test_apply_writes_once_and_reports_each_change(
    demo_release: DemoRelease, tmp_path: Path
) -> None:
    demo = copy_of(demo_release, tmp_path / "rel")
    report = audit_with(demo.release, demo_findings(demo))
    outcome = write_disclosure(report, tmp_path / "out")
    said = apply_to_release(report, outcome)
    assert said[0] == "set license: other (was apache-2.0)"
    assert f"added base_model: {BASE_NAME}" in said
    assert said[-1] == 'added the "Provenance and licenses" section'
    card = (demo.release / "README.md").read_text()
    assert card == outcome.card_after == (tmp_path / "out" / "README.proposed.md").read_text()


def test_a_card_changed_since_the_audit_is_left_alone(
    demo_release: DemoRelease, tmp_path: Path
) -> None:
    demo = copy_of(demo_release, tmp_path / "rel")
    report = audit_with(demo.release, demo_findings(demo))
    outcome = write_disclosure(report, tmp_path / "out")
    edited = (demo.release / "README.md").read_bytes() + b"\nEdited meanwhile.\n"
    (demo.release / "README.md").write_bytes(edited)
    with pytest.raises(CardConflict, match="changed since it was audited"):
        apply_to_release(report, outcome)
    assert (demo.release / "README.md").read_bytes() == edited


def test_a_symlinked_card_is_not_written_through(demo_release: DemoRelease, tmp_path: Path) -> None:
    demo = copy_of(demo_release, tmp_path / "rel")
    outside = tmp_path / "outside.md"
    outside.write_bytes((demo.release / "README.md").read_bytes())
    (demo.release / "README.md").unlink()
    (demo.release / "README.md").symlink_to(outside)
    report = audit_with(demo.release, demo_findings(demo))
    outcome = write_disclosure(report, tmp_path / "out")
    before = outside.read_bytes()
    with pytest.raises(CardConflict):
        apply_to_release(report, outcome)
    assert outside.read_bytes() == before


def test_a_git_target_is_disclosed_to_the_folder_but_never_applied(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    make_clean_release(repo)
    write(repo, "README.md", "---\nlicense: apache-2.0\n---\n# clean-model\n")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "release")
    report = audit_with(Path(f"{repo}@main"), [])
    assert report.result.snapshot.source == "git"
    outcome = write_disclosure(report, tmp_path / "out")
    proposed = (tmp_path / "out" / "README.proposed.md").read_text()
    assert proposed.startswith("---\nlicense: apache-2.0\n---\n# clean-model\n")
    assert "## Provenance and licenses" in proposed
    with pytest.raises(UsageError, match="local release folder only"):
        apply_to_release(report, outcome)

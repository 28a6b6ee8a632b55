"""Hostile local folders: nothing in the tree is skipped unseen, and a file swapped after it
was hashed is never read (issue 13, items 3 and 6)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import scanner.audit as audit_module
from scanner.audit import analyze_target
from scanner.code.analyzer import LicenseAnalyzer
from scanner.errors import SourceError
from scanner.sources import open_target

GPL_HEADER = (
    "# SPDX-License-Identifier: GPL-3.0-or-later\n"
    "# Copyright 2019 Outside Copyleft Corp\n"
    "# This program is free software: you can redistribute it and/or modify it under the\n"
    "# terms of the GNU General Public License as published by the Free Software\n"
    "# Foundation, either version 3 of the License, or (at your option) any later version.\n"
    "x = 1\n"
)
CLEAN_CARD = "---\nlicense: apache-2.0\n---\n# model\n"
HIDING_PLACES = [".cache", "__pycache__", ".hg", ".svn", "a/b/.cache", "src/__pycache__"]


def _release(root: Path) -> Path:
    root.mkdir(parents=True)
    (root / "README.md").write_text(CLEAN_CARD)
    (root / "train.py").write_text("print('hello')\n")
    return root


@pytest.mark.parametrize("folder", HIDING_PLACES)
def test_tooling_folders_are_part_of_a_folder_scan(tmp_path: Path, folder: str) -> None:
    root = _release(tmp_path / "rel")
    (root / folder).mkdir(parents=True)
    (root / folder / "gpl.py").write_text(GPL_HEADER)
    snap = open_target(str(root))
    assert snap.get(f"{folder}/gpl.py") is not None
    assert not snap.problems


def test_gpl_code_in_a_cache_folder_fails_check(cli, tmp_path: Path) -> None:
    root = _release(tmp_path / "rel")
    (root / "src" / "__pycache__").mkdir(parents=True)
    (root / "src" / "__pycache__" / "gpl.py").write_text(GPL_HEADER)
    r = cli("check", str(root))
    assert r.returncode == 1, r.stdout + r.stderr
    assert "gpl-3.0" in r.stdout and "__pycache__/gpl.py" in r.stdout


def test_a_nested_git_folder_is_a_finding_not_a_silent_skip(tmp_path: Path) -> None:
    root = _release(tmp_path / "rel")
    (root / "vendor" / ".git").mkdir(parents=True)
    (root / "vendor" / ".git" / "gpl.py").write_text(GPL_HEADER)
    snap = open_target(str(root))
    skipped = [p for p in snap.problems if p.location.path == "vendor/.git"]
    assert skipped and skipped[0].kind == "not-analysed"
    assert "git" in skipped[0].message


def test_the_checkouts_own_git_folder_is_skipped_and_said(tmp_path: Path) -> None:
    root = _release(tmp_path / "rel")
    (root / ".git" / "objects").mkdir(parents=True)
    (root / ".git" / "refs").mkdir()
    (root / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    snap = open_target(str(root))
    assert [f.path for f in snap.files] == ["README.md", "train.py"]
    assert snap.info["skipped"] == [".git"]


def test_a_top_level_git_folder_that_is_no_repository_is_reported(tmp_path: Path) -> None:
    root = _release(tmp_path / "rel")
    (root / ".git").mkdir()
    (root / ".git" / "gpl.py").write_text(GPL_HEADER)
    snap = open_target(str(root))
    assert any(p.location.path == ".git" for p in snap.problems)


# ---- one read per file: what was hashed is what is analysed (item 6) -----------------------


def _swap_after_hashing(monkeypatch: pytest.MonkeyPatch, rel: str, outside: Path) -> None:
    """Open the target as the audit does, then replace `rel` by a symlink to `outside`."""
    real_open = audit_module.open_target

    def open_then_swap(target: str, **kw: object):  # noqa: ANN202
        snap = real_open(target, **kw)  # type: ignore[arg-type]
        path = Path(target) / rel
        path.unlink()
        os.symlink(outside, path)
        return snap

    monkeypatch.setattr(audit_module, "open_target", open_then_swap)


def test_a_file_swapped_for_a_symlink_after_hashing_is_never_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outside = tmp_path / "outside.py"
    outside.write_text(GPL_HEADER)
    root = _release(tmp_path / "rel")
    original = "# Copyright 2025 Clean Labs\nprint('clean')\n"
    (root / "model.py").write_text(original)
    _swap_after_hashing(monkeypatch, "model.py", outside)
    result = analyze_target(str(root), analyzers=[LicenseAnalyzer(workers=1)])
    about = [f for f in result.findings if f.location.path == "model.py"]
    assert [f.kind for f in about] == ["not-analysed"], about
    assert "changed since" in about[0].message
    assert "Outside" not in repr(result.findings)

    # the cache holds nothing under the clean content's hash: a later scan of an unrelated
    # folder with that clean content reports only what that content says
    monkeypatch.undo()
    other = _release(tmp_path / "other")
    (other / "model.py").write_text(original)
    result = analyze_target(str(other), analyzers=[LicenseAnalyzer(workers=1)])
    about = [f for f in result.findings if f.location.path == "model.py"]
    assert "Outside" not in repr(about) and "gpl" not in repr(about).lower()
    assert any("Clean Labs" in f.message for f in about), about


def test_reads_through_the_reader_refuse_a_swapped_file(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("secret outside the release\n")
    root = _release(tmp_path / "rel")
    snap = open_target(str(root))
    (root / "train.py").unlink()
    os.symlink(outside, root / "train.py")
    with pytest.raises(SourceError, match="changed since"):
        snap.reader.read_text("train.py")
    with pytest.raises(SourceError, match="changed since"):
        snap.reader.read_range("train.py", 0, 10)
    with pytest.raises(SourceError, match="changed since"):
        snap.reader.local_path("train.py")


def test_a_file_rewritten_in_place_after_hashing_is_refused(tmp_path: Path) -> None:
    root = _release(tmp_path / "rel")
    snap = open_target(str(root))
    with open(root / "train.py", "r+") as fh:  # same inode, other bytes
        fh.write("import os\n")
    with pytest.raises(SourceError, match="changed since"):
        snap.reader.read_text("train.py")
    assert snap.reader.read_text("README.md") == CLEAN_CARD


def test_the_file_limit_is_a_global_option(cli, tmp_path: Path) -> None:
    root = _release(tmp_path / "rel")
    for i in range(5):
        (root / f"f{i}.txt").write_text(str(i))
    r = cli("--max-files", "4", "scan", str(root))
    assert r.returncode == 2 and "more than 4 files" in r.stderr, r.stderr
    assert "--max-files" in r.stderr
    assert (
        cli("--max-files", "7", "scan", str(root), "--json", str(tmp_path / "r.json")).returncode
        == 0
    )

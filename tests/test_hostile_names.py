"""File names that are not UTF-8 (any byte but '/' and NUL is allowed on Linux, and in git
trees): every report is still valid UTF-8 and names the file with visible escapes."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

BAD = b"\xff\xfe.py"
SHOWN = "\\xff\\xfe.py"


def _release(root: Path) -> Path:
    rel = root / "rel"
    rel.mkdir()
    with open(os.fsencode(rel) + b"/" + BAD, "w") as fh:
        fh.write("x = 1\n")
    os.symlink(root, os.fsencode(rel) + b"/\xc3(link")  # out of the tree: a finding
    return rel


def _git_release(root: Path) -> str:
    rel = _release(root)
    os.unlink(os.fsencode(rel) + b"/\xc3(link")
    for args in (
        ["init", "-q"],
        ["add", "-A"],
        ["-c", "user.email=a@b", "-c", "user.name=n", "commit", "-qm", "x"],
    ):
        subprocess.run(["git", "-C", str(rel), *args], check=True, capture_output=True)
    return f"{rel}@HEAD"


@pytest.mark.parametrize("make", [_release, _git_release])
def test_non_utf8_file_names_give_valid_reports(cli, tmp_path: Path, make) -> None:
    target = str(make(tmp_path))
    out = tmp_path / "out"
    r = cli(
        "scan",
        target,
        "--json",
        str(out / "r.json"),
        "-o",
        str(out / "r.html"),
        "--sarif",
        str(out / "r.sarif"),
        "--spdx",
        str(out / "s.json"),
        "--cyclonedx",
        str(out / "c.json"),
        "--notice",
        str(out / "NOTICE"),
    )
    assert r.returncode == 0, r.stderr
    for f in out.iterdir():
        f.read_bytes().decode("utf-8")  # strict: no lone surrogate made it through
    report = json.loads((out / "r.json").read_text())
    assert SHOWN in [f["path"] for f in report["files"]]
    assert "\\udc" not in (out / "r.json").read_text()

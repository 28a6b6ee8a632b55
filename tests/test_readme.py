"""The README's command lines run as written.

Every `provscan` line of its ```sh blocks is run by a shell, in a folder that holds what the
lines name (./my-release, ./model-repo, ./base, ./suspect, ./release, policy.toml), with
`provscan` on the PATH. Lines that need the network are left out, and said: a URL (`://`),
`git+`, or a Hub target (`hf:`). The `make` lines are the set-up itself (make test runs this
suite)."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from scanner.demo_release import build_release

REPO = Path(__file__).resolve().parent.parent
NEEDS_NETWORK = ("://", "git+", "hf:")


def readme_commands() -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```sh\n(.*?)```", text, re.S)
    lines = [line.strip() for block in blocks for line in block.splitlines()]
    return [line for line in lines if line.startswith("provscan")]


def without_comment(line: str) -> str:
    return re.sub(r"\s+#\s.*$", "", line).strip()


def test_no_readme_line_pipes_provscan_into_provscan() -> None:
    for line in readme_commands():
        assert not re.search(r"\|\s*provscan", without_comment(line)), line


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-C", str(repo), *args],
        check=True,
        capture_output=True,
        env={
            **os.environ,
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@t",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@t",
        },
    )


def _workspace(root: Path) -> Path:
    """A folder with everything the README's lines name."""
    work = root / "work"
    work.mkdir()
    demo = build_release(root / "built")
    shutil.copytree(demo.release, work / "release")
    shutil.copytree(demo.release, work / "suspect")
    shutil.copytree(demo.base, work / "base")
    shutil.copytree(demo.release, work / "my-release")
    repo = work / "model-repo"
    shutil.copytree(demo.release, repo)
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "release")
    (work / "policy.toml").write_text('[licenses]\ndenied = ["agpl-*"]\n')
    bin_dir = root / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "provscan"
    shim.write_text(f'#!/bin/sh\nexec {sys.executable} -m scanner "$@"\n')
    shim.chmod(shim.stat().st_mode | stat.S_IXUSR)
    return work


@pytest.mark.slow
def test_the_readme_command_lines_run_as_written(tmp_path: Path) -> None:
    work = _workspace(tmp_path)
    env = {
        **os.environ,
        "PATH": f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(REPO),
        "PROVSCAN_HOME": str(tmp_path / "home"),
    }
    env.pop("PROVSCAN_DEBUG", None)
    ran, left_out = [], []
    for line in readme_commands():
        if any(mark in without_comment(line) for mark in NEEDS_NETWORK):
            left_out.append(line)
            continue
        done = subprocess.run(
            line, shell=True, cwd=work, env=env, capture_output=True, text=True, timeout=900
        )
        allowed = (0, 1) if without_comment(line).startswith("provscan check") else (0,)
        assert done.returncode in allowed, f"{line}\n{done.stdout[-2000:]}{done.stderr[-2000:]}"
        assert "internal error" not in done.stderr and "Traceback" not in done.stderr, line
        ran.append(line)
    assert len(ran) >= 10, ran
    assert all(any(m in line for m in NEEDS_NETWORK) for line in left_out)
    assert (work / "report.json").is_file() and (work / "reports" / "report.html").is_file()
    assert (work / "base.npz").is_file() and (work / "demo-report" / "report.html").is_file()


def test_the_docs_install_provscan_from_its_repository() -> None:
    """provscan is not on PyPI: no doc tells a reader to `pip install provscan`."""
    for doc in [REPO / "README.md", *(REPO / "docs").glob("*.md")]:
        text = doc.read_text(encoding="utf-8")
        assert not re.search(r"pip install provscan\b(?!\S)", text), doc.name
    ci = (REPO / "docs" / "ci.md").read_text(encoding="utf-8")
    assert ci.count('pip install "provscan @ git+') == 2

"""The wheel must carry rules/ and templates/ so that a plain `pip install .` works
outside the repository."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_wheel_ships_rules_and_templates(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(REPO),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    [wheel] = tmp_path.glob("provscan-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for rule in (REPO / "rules").glob("*.toml"):
        assert f"scanner/_data/rules/{rule.name}" in names
    for template in (REPO / "templates").rglob("*"):
        if template.is_file():
            rel = template.relative_to(REPO / "templates").as_posix()
            assert f"scanner/_data/templates/{rel}" in names
    assert "scanner/cli.py" in names

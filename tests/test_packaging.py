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


def test_make_demo_installs_only_what_the_demo_needs_and_says_so(tmp_path: Path) -> None:
    """`make demo` installs the `demo` extra alone (no test tools, no torch) and lets pip
    say what it fetches; the extra holds transformers, the demo's upstream code."""
    import tomllib

    dry = subprocess.run(
        ["make", "-n", "demo", f"VENV={tmp_path / 'venv'}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert dry.returncode == 0, dry.stderr
    installs = [line for line in dry.stdout.splitlines() if "pip install" in line]
    assert installs == [f"{tmp_path / 'venv'}/bin/pip install --progress-bar off -e '.[demo]'"]
    assert any(line.startswith("echo") for line in dry.stdout.splitlines())  # it says so
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    assert [d.split(">")[0] for d in extras["demo"]] == ["transformers"]

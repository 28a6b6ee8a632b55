"""A newcomer's first minutes: a fresh virtualenv, `pip install <checkout>[demo]`, then
`provscan demo` writes its report. The demo extra is all it takes (no test tools, no
torch), and the user's own store is left as it was.

pip installs as configured on the machine (its index, its local wheel folders, its cache);
PROVSCAN_PIP_ARGS adds arguments, e.g. "--no-index --find-links /wheels" for a machine
without an index. Slow: pip installs scancode-toolkit and its dependencies."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_a_fresh_virtualenv_with_the_demo_extra_runs_the_demo(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PROVSCAN_DEBUG")}
    extra = shlex.split(os.environ.get("PROVSCAN_PIP_ARGS", ""))
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--progress-bar", "off", *extra, f"{REPO}[demo]"],
        capture_output=True,
        text=True,
        env=env,
        timeout=3000,
    )
    assert install.returncode == 0, install.stdout[-3000:] + install.stderr[-3000:]
    has = subprocess.run(
        [str(python), "-c", "import importlib.util as u; print(u.find_spec('torch') is None)"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert has.stdout.strip() == "True"  # the demo does not need torch, so it is not there
    home = tmp_path / "user-home"
    out = tmp_path / "demo-report"
    demo = subprocess.run(
        [str(venv / "bin" / "provscan"), "demo", "--out", str(out)],
        capture_output=True,
        text=True,
        env={**env, "PROVSCAN_HOME": str(home)},
        cwd=tmp_path,  # not the checkout: the installed package runs
        timeout=1200,
    )
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    assert "<!DOCTYPE html>" in (out / "report.html").read_text()
    assert "verdict: FAIL" in demo.stdout
    assert f"{venv}/bin/provscan check" in demo.stdout  # the tip names this provscan
    assert not home.exists()  # the user's store was not even created

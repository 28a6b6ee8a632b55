"""Progress as a user sees it: in a terminal, a live display naming the slow step with
counts as counts; in a log (CI, a pipe), a plain line at least every 10 s of work; names
from a release shown, never run; output never hard-wrapped."""

from __future__ import annotations

import io
import os
import pty
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from rich.console import Console
from rich.progress import Progress, TextColumn

from scanner.console import PLAIN_PREFIX, PlainProgress, RichProgress, _count_column, amount
from tests.hubserver import HubRepo, HubServer

REPO = Path(__file__).resolve().parent.parent
HOSTILE = ("x[/bold]y.txt", "title\x1b]0;pwned\x07.txt", "bidi\u202etxt.py")


def test_counts_read_as_counts_and_bytes_as_sizes() -> None:
    assert amount(120, 2597, "files") == "120/2,597 files"
    assert amount(1_200_000, 4_500_000, "bytes") == "1.2 MB of 4.5 MB"
    assert amount(3, None, "objects") == "3 objects"
    plain = PlainProgress(io.StringIO())
    with plain.task("licenses and notices", total=10) as outer:
        plain.advance(outer, 3)
        with plain.task("loading the license index"):
            line = plain.line()
    assert line.startswith(PLAIN_PREFIX)
    assert "licenses and notices 3/10 files > loading the license index" in line
    assert "bytes" not in line


def test_a_hostile_name_in_the_live_display_is_shown_not_run() -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=200, color_system="standard")
    columns = (TextColumn("{task.description}"), _count_column())
    with Progress(*columns, console=console, auto_refresh=False) as bar:
        progress = RichProgress(bar)
        for name in HOSTILE:
            with progress.task(f"downloading {name}", total=10, unit="bytes") as handle:
                progress.advance(handle, 5)
                bar.refresh()
    text = buffer.getvalue()
    assert "x[/bold]y.txt" in text  # the markup is text, and did not abort the display
    assert "\x1b]0;" not in text and "\u202e" not in text
    assert "\\x1b]0;pwned\\x07" in text and "\\u202e" in text


def run_in_terminal(args: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Run `provscan ARGS` with a pseudo-terminal as stdin, stdout and stderr."""
    full_env = {**os.environ, "PYTHONPATH": str(REPO), "TERM": "xterm", "COLUMNS": "160", **env}
    full_env.pop("PROVSCAN_DEBUG", None)
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "scanner", *args],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=full_env,
        close_fds=True,
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 1 << 16)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    code = proc.wait(timeout=600)
    os.close(master)
    return code, b"".join(chunks).decode("utf-8", "replace")


def test_hub_file_names_in_an_interactive_scan_are_shown_not_run(tmp_path: Path) -> None:
    files = {"README.md": b"---\nlicense: mit\n---\n# tiny\n"}
    files.update({name: b"plain text\n" for name in HOSTILE})
    with HubServer({"acme/hostile": HubRepo(files=files)}) as hub:
        env = {
            "HF_ENDPOINT": hub.endpoint,
            "HF_HUB_CACHE": str(tmp_path / "hf-cache"),
            "HF_HOME": str(tmp_path / "hf-home"),
            "HF_HUB_DISABLE_TELEMETRY": "1",
            "HF_HUB_OFFLINE": "0",
            "HF_TOKEN": "",
        }
        code, shown = run_in_terminal(["scan", "hf:acme/hostile"], env)
    assert code == 0, shown[-3000:]
    assert "internal error" not in shown and "MarkupError" not in shown
    assert "\x1b]0;pwned" not in shown and "\u202e" not in shown


def many_files_release(root: Path, n: int) -> Path:
    """A release of n small, distinct source files (no two share a cache entry)."""
    root.mkdir()
    (root / "README.md").write_text("---\nlicense: mit\n---\n# many files\n")
    for i in range(n):
        sub = root / f"pkg{i // 200}"
        sub.mkdir(exist_ok=True)
        body = "\n".join(f"def f_{i}_{k}(x):\n    return x * {i} + {k}\n" for k in range(12))
        (sub / f"mod_{i}.py").write_text(f"# module {i}\n{body}\n")
    return root


@pytest.mark.slow
def test_a_scan_into_a_log_says_what_it_does_at_least_every_10_s(tmp_path: Path) -> None:
    release = many_files_release(tmp_path / "rel", 1500)
    env = {**os.environ, "PYTHONPATH": str(REPO), "PROVSCAN_HOME": str(tmp_path / "home")}
    env.pop("PROVSCAN_DEBUG", None)
    start = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "scanner", "scan", str(release), "--json", str(tmp_path / "r.json")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    stamped: list[tuple[float, str]] = []

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            stamped.append((time.monotonic() - start, line.rstrip("\n")))

    reader = threading.Thread(target=read)
    reader.start()
    proc.wait(timeout=1200)
    reader.join()
    total = time.monotonic() - start
    assert proc.returncode == 0, "\n".join(line for _, line in stamped)
    if total < 12:
        pytest.skip(f"the scan took {total:.1f} s here: too fast to check a 10 s rhythm")
    times = [0.0] + [t for t, line in stamped if line.startswith(PLAIN_PREFIX)] + [total]
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert max(gaps) <= 10.0, ([round(g, 1) for g in gaps], stamped[-3:], total)
    lines = [line for _, line in stamped]
    assert any("loading the license index" in line for line in lines), lines
    assert any(" files" in line and "licenses and notices" in line for line in lines), lines
    assert not any("licenses and notices" in line and "bytes" in line for line in lines)


def test_long_paths_are_not_hard_wrapped_in_a_log(cli, tmp_path: Path) -> None:
    deep = tmp_path / ("a-rather-long-folder-name-for-a-release-" * 3) / "model"
    deep.mkdir(parents=True)
    (deep / "config.json").write_text('{"model_type": "llama"}\n')
    res = cli("scan", str(deep), "--json", str(tmp_path / "r.json"))
    assert res.returncode == 0, res.stderr
    assert f"{deep} (local)" in res.stdout  # on one line, though far past 80 columns

"""Shared fixtures: an isolated provscan home per test, and the CLI run as a user runs it."""

from __future__ import annotations

import atexit
import os
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def provscan_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Every test gets its own store and caches; nothing leaks between tests."""
    home = tmp_path_factory.mktemp("provscan-home")
    monkeypatch.setenv("PROVSCAN_HOME", str(home))
    return home


def run_cli(
    *args: str,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 600,
    fresh: bool = False,
) -> subprocess.CompletedProcess[str]:
    """Run `provscan ARGS` in a process of its own, as a user would, from this source tree.

    By default the process is forked from this one, which holds the scancode license index
    already loaded (~6 s and 1.4 GB a fresh interpreter would pay again): the CLI's code
    runs whole, with its own stdout, stderr, environment, working folder and exit code, and
    nothing it does comes back into the tests' process. A fresh interpreter (`fresh=True`)
    is used where start-up itself is under test, and wherever `env` sets variables other
    than provscan's own (libraries such as huggingface_hub read theirs once, at import).
    """
    own_only = all(key.startswith("PROVSCAN_") for key in env or {})
    if fresh or not own_only or not hasattr(os, "fork"):
        return _run_fresh(args, env, cwd, timeout)
    return _run_forked(args, env, cwd, timeout)


def _run_fresh(
    args: tuple[str, ...], env: dict[str, str] | None, cwd: Path | None, timeout: float
) -> subprocess.CompletedProcess[str]:
    full_env = dict(os.environ)
    full_env["PYTHONPATH"] = str(REPO) + os.pathsep + full_env.get("PYTHONPATH", "")
    full_env.pop("PROVSCAN_DEBUG", None)
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "scanner", *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd,
        timeout=timeout,
    )


_INDEX_LOADED = False


def _run_forked(
    args: tuple[str, ...], env: dict[str, str] | None, cwd: Path | None, timeout: float
) -> subprocess.CompletedProcess[str]:
    global _INDEX_LOADED
    if not _INDEX_LOADED:
        from scanner.code.scancode import load_index

        load_index()
        _INDEX_LOADED = True
        atexit.register(_exit_without_freeing_the_index)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        pid = os.fork()
        if pid == 0:  # the child: never returns into pytest
            code = 70
            try:
                code = _child(list(args), env, cwd, out.fileno(), err.fileno())
            except BaseException:
                traceback.print_exc()
                sys.stderr.flush()
            finally:
                os._exit(code)
        returncode = _wait(pid, timeout, args)
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess(
            ["provscan", *args],
            returncode,
            out.read().decode("utf-8", "surrogateescape"),
            err.read().decode("utf-8", "surrogateescape"),
        )


_EXIT_STATUS = 0


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    global _EXIT_STATUS
    _EXIT_STATUS = int(exitstatus)


def _exit_without_freeing_the_index() -> None:
    """Once pytest is done, exit as the CLI does (cli.run): the other exit handlers run, then
    the process ends without freeing the index's 1.4 GB of small objects one by one."""
    atexit.unregister(_exit_without_freeing_the_index)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(_EXIT_STATUS)


def _child(
    argv: list[str], env: dict[str, str] | None, cwd: Path | None, out: int, err: int
) -> int:
    import io

    atexit._clear()  # the tests' own exit handlers are not the CLI's
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(out, 1)
    os.dup2(err, 2)
    sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False), encoding="utf-8")
    sys.stdout = io.TextIOWrapper(
        io.FileIO(1, "w", closefd=False), encoding="utf-8", errors="surrogateescape"
    )
    sys.stderr = io.TextIOWrapper(
        io.FileIO(2, "w", closefd=False),
        encoding="utf-8",
        errors="backslashreplace",
        line_buffering=True,
    )
    os.environ.pop("PROVSCAN_DEBUG", None)
    os.environ.update(env or {})
    if cwd is not None:
        os.chdir(cwd)
    from scanner.cli import main

    code = main(argv)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    return code


def _wait(pid: int, timeout: float, args: tuple[str, ...]) -> int:
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise subprocess.TimeoutExpired(["provscan", *args], timeout)
        time.sleep(0.02)


@pytest.fixture
def cli():
    return run_cli

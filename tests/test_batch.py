"""provscan batch: every target audited once, resumable, failures recorded, an index page;
on a real Dask cluster (scheduler and worker processes on 127.0.0.1), a worker killed
mid-run does not lose or duplicate a result."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import sqlite3
import threading
from pathlib import Path

import pytest

from bench.batch_releases import make_releases
from scanner.batch import DaskCluster, LocalPool, UnitOptions, run_batch
from scanner.batch.index_page import SORT_SCRIPT, script_hash
from scanner.batch.targets import BatchError, read_targets, slug
from scanner.batch.unit import UnitResult
from scanner.report.registry import FORMATS
from scanner.weights.library import add_model

ALL = UnitOptions(formats=tuple(f.name for f in FORMATS))


@pytest.fixture(scope="module")
def shared_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("batch-home")


@pytest.fixture
def home(shared_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """One store for the module: the license scan's cache then serves the releases' repeated
    text files after the first test, and workers load no license index."""
    monkeypatch.setenv("PROVSCAN_HOME", str(shared_home))
    return shared_home


@pytest.fixture(scope="module")
def releases(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return make_releases(tmp_path_factory.mktemp("releases"), 8)


def _targets(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "targets.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


def _store_rows(home: Path, out: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(home / "store.sqlite3") as conn:
        return conn.execute(
            "SELECT target, status FROM batch_results WHERE out_dir = ? ORDER BY target",
            (str(out.resolve()),),
        ).fetchall()


def test_targets_file_skips_comments_blanks_and_repeats(tmp_path: Path) -> None:
    path = _targets(tmp_path, ["# releases of the week", "", " hf:a/b ", "./x", "hf:a/b"])
    assert read_targets(path) == ("hf:a/b", "./x")
    bad = _targets(tmp_path, ["ok", "bad\x1b[2J"])
    with pytest.raises(BatchError, match=":2: not a target"):
        read_targets(bad)
    with pytest.raises(BatchError, match="no target"):
        read_targets(_targets(tmp_path, ["# nothing"]))


def test_report_folders_are_safe_and_distinct() -> None:
    names = {slug(t) for t in ("hf:org/m", "hf:org/m@v2", "../../etc", "org/m", "")}
    assert len(names) == 5
    assert all(re.fullmatch(r"[A-Za-z0-9._-]+", n) and not n.startswith(".") for n in names)


def test_local_batch_records_failures_and_resumes(
    home: Path, releases: list[Path], tmp_path: Path
) -> None:
    missing = str(tmp_path / "no-such-release")
    targets = _targets(tmp_path, [str(p) for p in releases[:3]] + [missing])
    out = tmp_path / "out"
    seen: list[UnitResult] = []
    with LocalPool(2) as engine:
        first = run_batch(targets, out, engine, ALL, on_result=seen.append)
    assert (first.targets, first.done, first.failed, first.skipped) == (4, 3, 1, 0)
    assert sorted(r.target for r in seen) == sorted(read_targets(targets))
    failure = next(r for r in seen if not r.ok)
    assert failure.target == missing and "no such file or folder" in (failure.error or "")
    for p in releases[:3]:
        folder = out / "reports" / slug(str(p))
        assert {f.name for f in folder.iterdir()} == {f.default_file for f in FORMATS}
        report = json.loads((folder / "report.json").read_text())
        assert report["target"] == str(p)
    assert _store_rows(home, out) == sorted(
        [(str(p), "done") for p in releases[:3]] + [(missing, "failed")]
    )
    # the re-run audits only what is not done: the failure again, a new target
    targets.write_text(targets.read_text() + f"{releases[3]}\n")
    again: list[UnitResult] = []
    with LocalPool(1) as engine:
        second = run_batch(targets, out, engine, ALL, on_result=again.append)
    assert sorted(r.target for r in again) == sorted([missing, str(releases[3])])
    assert (second.skipped, second.done, second.failed) == (3, 1, 1)
    assert len(_store_rows(home, out)) == 5
    # a report deleted by hand is audited again
    (out / "reports" / slug(str(releases[0])) / "report.sarif").unlink()
    with LocalPool(1) as engine:
        third = run_batch(targets, out, engine, ALL)
    assert (third.skipped, third.done) == (3, 1)


def test_index_page_lists_each_target_once_worst_first(
    home: Path, releases: list[Path], tmp_path: Path
) -> None:
    add_model(str(releases[0].parent / "base"), "example/base", replace=True)
    missing = str(tmp_path / "gone")
    targets = _targets(tmp_path, [str(p) for p in releases[:4]] + [missing])
    out = tmp_path / "out"
    with LocalPool(2) as engine:
        run_batch(targets, out, engine, ALL)
    page = (out / "index.html").read_text()
    rows = re.findall(r"<tr>\s*<td>(.*?)</td>", page, re.S)
    assert len(rows) == 5
    assert missing in rows[0]  # the failure first
    for p in releases[:4]:
        href = f"reports/{slug(str(p))}/report.html"
        assert page.count(f'<a href="{href}">{p}</a>') == 1
    # r0003 fine-tunes the library's base without saying so: the index says which base
    undeclared = slug(str(releases[3]))
    row = next(r for r in page.split("<tr>") if undeclared in r)
    assert "example/base (derived" in row and "undeclared-base-model" in row
    declared = next(r for r in page.split("<tr>") if slug(str(releases[0])) in r)
    assert "example/base (derived" in declared and "undeclared-base-model" not in declared
    assert f"script-src '{script_hash()}'" in page and SORT_SCRIPT in page


def test_a_hostile_target_name_stays_text_in_the_index(home: Path, tmp_path: Path) -> None:
    name = '<img src=x onerror="alert(1)">'
    targets = _targets(tmp_path, [name])
    out = tmp_path / "out"
    with LocalPool(1) as engine:
        run_batch(targets, out, engine, ALL)
    page = (out / "index.html").read_text()
    assert name not in page and "&lt;img src=x onerror=" in page


@pytest.fixture
def dask_cluster(home: Path, monkeypatch: pytest.MonkeyPatch):
    distributed = pytest.importorskip("distributed")
    repo = str(Path(__file__).resolve().parents[1])
    monkeypatch.setenv("PYTHONPATH", repo + os.pathsep + os.environ.get("PYTHONPATH", ""))
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        silence_logs=logging.CRITICAL,
    )
    client = distributed.Client(cluster)
    yield cluster, client
    client.close()
    cluster.close()


def test_a_dask_batch_survives_a_killed_worker(
    home: Path, releases: list[Path], tmp_path: Path, dask_cluster
) -> None:
    cluster, client = dask_cluster
    add_model(
        str(releases[0].parent / "base"), "example/base", replace=True
    )  # every unit searches it
    targets = _targets(tmp_path, [str(p) for p in releases])
    out = tmp_path / "out"
    pids = client.run(os.getpid)
    killed: dict[str, object] = {}
    lock = threading.Lock()

    def kill_a_busy_worker(result: UnitResult) -> None:
        with lock:
            if killed:
                return
            busy = {w: keys for w, keys in client.processing().items() if keys}
            if not busy:
                return
            worker, keys = next(iter(busy.items()))
            killed.update(pid=pids[worker], keys=list(keys), after=result.target)
            os.kill(pids[worker], signal.SIGKILL)

    seen: list[UnitResult] = []

    def on_result(r: UnitResult) -> None:
        seen.append(r)
        kill_a_busy_worker(r)

    with DaskCluster(cluster.scheduler_address) as engine:
        outcome = run_batch(targets, out, engine, ALL, on_result=on_result)
    assert killed, "no worker was busy when the first result came back"
    assert outcome.done == len(releases) and outcome.failed == 0
    assert sorted(r.target for r in seen) == sorted(str(p) for p in releases)
    assert _store_rows(home, out) == sorted((str(p), "done") for p in releases)
    page = (out / "index.html").read_text()
    for p in releases:
        assert page.count(f">{p}</a>") == 1
    # the unit the dead worker was running came back from another process
    dead = f":{killed['pid']}"
    late = [r for r in seen if not r.worker.endswith(dead) and r.target != killed["after"]]
    assert len(late) >= len(releases) - 2
    assert all(pid != killed["pid"] for pid in client.run(os.getpid).values())

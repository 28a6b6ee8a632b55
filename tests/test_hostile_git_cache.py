"""The git source under hostile conditions (issue 13): planted or torn blob cache entries,
tree bombs, concurrent scans of one URL, killed clones, and weights in formats whose
reader needs the release's own file names (GGUF, ONNX with external data)."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import synth
from test_git_source import git, write

from scanner.sources import open_target
from scanner.sources.gitcache import cache_folder

REPO = Path(__file__).resolve().parent.parent
GPL = "GNU GENERAL PUBLIC LICENSE\nVersion 3, 29 June 2007\n" + "copyleft terms\n" * 40
APACHE = "Apache License\nVersion 2.0, January 2004\n"


def _repo(root: Path, files: dict[str, bytes | str]) -> Path:
    root.mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    for rel, data in files.items():
        write(root, rel, data)
    git(root, "add", ".")
    git(root, "commit", "-qm", "release")
    return root


def _blob_cache_entry(home: Path, repo: Path, rel: str) -> Path:
    oid = git(repo, "rev-parse", f"HEAD:{rel}")
    return home / "git" / "blobs" / oid[:2] / oid


# ---- item 7: blob cache entries are checked against their object id ------------------------


@pytest.mark.parametrize("damage", ["planted", "torn", "emptied"])
def test_a_damaged_blob_cache_entry_is_never_read(
    tmp_path: Path, provscan_home: Path, damage: str
) -> None:
    repo = _repo(tmp_path / "rel", {"LICENSE": GPL, "README.md": "# m\n"})
    snap = open_target(repo.as_uri())
    assert snap.reader.read_text("LICENSE") == GPL  # fills the blob cache
    entry = _blob_cache_entry(provscan_home, repo, "LICENSE")
    assert entry.is_file()
    entry.chmod(0o644)
    if damage == "planted":
        entry.write_text(APACHE)
    elif damage == "torn":
        entry.write_text(GPL[: len(GPL) // 2])
    else:
        entry.write_bytes(b"\0" * len(GPL))
    snap = open_target(repo.as_uri())
    assert snap.reader.read_text("LICENSE") == GPL
    assert Path(snap.reader.local_path("LICENSE")).read_text() == GPL


def test_blob_cache_entries_are_written_whole_or_not_at_all(
    tmp_path: Path, provscan_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import scanner.sources.gitcache as gitcache

    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(gitcache.os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd)))
    repo = _repo(tmp_path / "rel", {"LICENSE": GPL})
    snap = open_target(repo.as_uri())
    snap.reader.local_path("LICENSE")
    assert synced, "the entry is flushed to disk before it is renamed into place"
    assert not list((provscan_home / "git" / "blobs").rglob(".part-*"))


# ---- item 11: a tree bomb is listed as a stream and stopped at the file limit ---------------


def _tree_bomb(root: Path, fanout: int, depth: int) -> Path:
    """A repository of a few hundred bytes whose tree holds fanout**depth paths."""
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    blob = (
        subprocess.run(
            ["git", "-C", str(root), "hash-object", "-w", "--stdin"],
            input=b"x = 1\n",
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .strip()
    )
    oid, mode = blob, "100644"
    for _ in range(depth):
        listing = "".join(
            f"{mode} {'blob' if mode == '100644' else 'tree'} {oid}\t{i}\n" for i in range(fanout)
        )
        oid = (
            subprocess.run(
                ["git", "-C", str(root), "mktree"],
                input=listing.encode(),
                capture_output=True,
                check=True,
            )
            .stdout.decode()
            .strip()
        )
        mode = "040000"
    commit = git(root, "commit-tree", oid, "-m", "bomb")
    git(root, "update-ref", "refs/heads/main", commit)
    return root


def _limit_memory(nbytes: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (nbytes, nbytes))


def test_a_tree_bomb_is_refused_at_the_file_limit_in_bounded_memory(
    tmp_path: Path, provscan_home: Path
) -> None:
    repo = _tree_bomb(tmp_path / "bomb", fanout=10, depth=8)  # 10^8 paths
    env = {**os.environ, "PYTHONPATH": str(REPO), "PROVSCAN_HOME": str(provscan_home)}
    started = time.monotonic()
    r = subprocess.run(
        [sys.executable, "-m", "scanner", "scan", repo.as_uri()],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        preexec_fn=lambda: _limit_memory(3 << 30),
    )
    assert r.returncode == 2, r.stderr[-2000:]
    assert "more than 200000 files" in r.stderr
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr
    assert time.monotonic() - started < 240  # a hang guard, not a benchmark


def test_one_blob_under_many_paths_is_hashed_once(tmp_path: Path, monkeypatch) -> None:
    import scanner.sources.gittree as gittree

    repo = _tree_bomb(tmp_path / "small", fanout=10, depth=3)  # 1000 paths, one blob
    streamed: list[str] = []
    real_stream = gittree.stream_blob
    monkeypatch.setattr(
        gittree, "stream_blob", lambda r, oid: (streamed.append(oid), real_stream(r, oid))[1]
    )
    snap = open_target(repo.as_uri())
    assert len(snap.files) == 1000
    assert len({f.sha256 for f in snap.files}) == 1
    assert len(streamed) == 1


# ---- item 15: concurrent scans of one URL, killed clones ------------------------------------

_OPEN = "import sys; from scanner.sources import open_target; open_target(sys.argv[1])"


def _open_in(home: Path, target: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "PROVSCAN_HOME": str(home)}
    return subprocess.Popen(
        [sys.executable, "-c", _OPEN, target],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def test_concurrent_scans_of_one_url_share_the_clone_safely(
    tmp_path: Path, provscan_home: Path
) -> None:
    files = {f"src/m{i}.py": f"x = {i}\n" for i in range(50)}
    repo = _repo(tmp_path / "rel", files)
    for i in range(20):  # many branches: each fetch updates many refs
        git(repo, "branch", f"b{i}")
    for round_ in range(3):
        write(repo, "README.md", f"# round {round_}\n")
        git(repo, "add", ".")
        git(repo, "commit", "-qm", f"round {round_}")
        for i in range(20):
            git(repo, "branch", "-f", f"b{i}")
        procs = [_open_in(provscan_home, repo.as_uri()) for _ in range(5)]
        errors = [(p.wait(timeout=300), p.stderr.read()) for p in procs if p.stderr]
        failed = [err for rc, err in errors if rc != 0]
        assert not failed, failed[0][-1500:]
    leftovers = [p.name for p in (provscan_home / "git").iterdir() if p.name.startswith(".clone-")]
    assert not leftovers


def test_a_killed_clone_is_cleaned_up_by_the_next_run(tmp_path: Path, provscan_home: Path) -> None:
    files = {f"data/f{i}.txt": os.urandom(20_000).hex() for i in range(300)}
    repo = _repo(tmp_path / "rel", files)
    gitdir = provscan_home / "git"
    proc = _open_in(provscan_home, repo.as_uri())
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if gitdir.is_dir() and any(p.name.startswith(".clone-") for p in gitdir.iterdir()):
            break
        time.sleep(0.002)
    assert proc.poll() is None, "the clone ended before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    time.sleep(0.5)  # let the orphaned git finish or die
    assert any(p.name.startswith(".clone-") for p in gitdir.iterdir())
    snap = open_target(repo.as_uri())
    assert len(snap.files) == len(files)
    assert not [p.name for p in gitdir.iterdir() if p.name.startswith(".clone-")]
    assert cache_folder(repo.as_uri()).is_dir()


# ---- item 5: GGUF and ONNX reached through git are compared ---------------------------------


@pytest.fixture(scope="module")
def base_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, dict, str]:
    root = tmp_path_factory.mktemp("git-weights")
    vocab = {f"w{i}": i for i in range(400)}
    tok = json.dumps({"model": {"type": "WordLevel", "vocab": vocab, "unk_token": "w0"}})
    cfg = synth.llama_config(400, d=48, layers=3, heads=4, kv=4, ff=96)
    base = synth.random_llama(1, cfg)
    synth.save_model(root / "base", base, cfg, tok)
    return root / "base", base, cfg, tok


def _write_onnx_with_external_data(folder: Path, tensors: dict[str, np.ndarray]) -> None:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    inits = [numpy_helper.from_array(np.ascontiguousarray(v), k) for k, v in tensors.items()]
    first = next(iter(tensors))
    graph = helper.make_graph(
        [helper.make_node("Identity", [first], ["y"])],
        "g",
        [],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, list(tensors[first].shape))],
        inits,
    )
    onnx.save(
        helper.make_model(graph),
        str(folder / "model.onnx"),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location="model.onnx_data",
        size_threshold=0,
    )


@pytest.mark.parametrize("fmt", ["gguf", "onnx"])
def test_weights_in_git_are_compared_whatever_their_format(
    cli,
    tmp_path: Path,
    provscan_home: Path,
    base_model: tuple[Path, dict, dict, str],
    fmt: str,
) -> None:
    from tests.ggufexport import write_gguf

    base_dir, base, cfg, tok = base_model
    derived = synth.perturb(base, 2, 0.05)
    repo = tmp_path / "rel"
    repo.mkdir()
    if fmt == "gguf":
        write_gguf(repo / "model.gguf", derived, tok, heads=4, kv=4)
    else:
        _write_onnx_with_external_data(repo, derived)
        (repo / "config.json").write_text(json.dumps(cfg))
        (repo / "tokenizer.json").write_text(tok)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "weights")
    out = tmp_path / "c.json"
    r = cli("compare", str(base_dir), f"{repo}@main", "--json", str(out))
    assert r.returncode == 0, r.stderr
    assert json.loads(out.read_text())["verdict"] == "derived"
    assert not list((provscan_home / "views").iterdir())  # the links made for the reader


def test_the_file_limit_applies_to_a_git_tree(cli, tmp_path: Path) -> None:
    repo = _tree_bomb(tmp_path / "small", fanout=10, depth=2)  # 100 paths
    r = cli("--max-files", "50", "scan", repo.as_uri())
    assert r.returncode == 2 and "more than 50 files" in r.stderr, r.stderr


def test_a_scan_waits_for_the_clone_lock_no_longer_than_its_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import fcntl

    from scanner.errors import SourceError

    repo = _repo(tmp_path / "rel", {"README.md": "# m\n"})
    folder = cache_folder(repo.as_uri())
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.with_name(folder.name + ".lock"), "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # another scan, busy with this URL
        monkeypatch.setenv("PROVSCAN_SOURCE_TIMEOUT", "1")
        started = time.monotonic()
        with pytest.raises(SourceError, match="another provscan"):
            open_target(repo.as_uri())
        assert time.monotonic() - started < 30
    monkeypatch.delenv("PROVSCAN_SOURCE_TIMEOUT")
    assert open_target(repo.as_uri()).get("README.md") is not None

"""The git source against real repositories made here and cloned over file://."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import socket
import subprocess
from pathlib import Path

import pytest

from scanner.model import FileKind
from scanner.sources import open_target

LFS_OID = hashlib.sha256(b"the real weights live elsewhere").hexdigest()
LFS_POINTER = (
    f"version https://git-lfs.github.com/spec/v1\noid sha256:{LFS_OID}\nsize 31\n"
).encode()
_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.org",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.org",
    "GIT_CONFIG_NOSYSTEM": "1",
    "HOME": "/nonexistent",
}


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, **_ENV}
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True, env=env
    ).stdout.strip()


def write(root: Path, rel: str, data: bytes | str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)


def blob_files(repo: Path, rev: str) -> dict[str, bytes]:
    """Every regular file at `rev`, with its content, as git itself reports them."""
    out = {}
    for line in git(repo, "ls-tree", "-r", rev).splitlines():
        meta, path = line.split("\t", 1)
        mode, kind, oid = meta.split()
        if kind == "blob" and mode != "120000":
            out[path] = subprocess.run(
                ["git", "-C", str(repo), "cat-file", "blob", oid], check=True, capture_output=True
            ).stdout
    return out


@pytest.fixture(scope="module")
def origin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A release repository: three commits, a branch, tags, an LFS pointer, a submodule
    entry and a symlink out of the tree."""
    repo = tmp_path_factory.mktemp("origin") / "release"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "uploadpack.allowFilter", "true")  # as hosting services do
    write(repo, "README.md", "---\nlicense: apache-2.0\nbase_model: org/base\n---\n# m\n")
    write(repo, "LICENSE", "Apache License\nVersion 2.0, January 2004\n")
    write(repo, "config.json", '{"model_type": "llama"}\n')
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "first")
    git(repo, "tag", "v0.1")
    write(repo, "src/modeling.py", "# Copyright 2024 someone\nimport math\n")
    write(repo, ".gitattributes", "*.safetensors filter=lfs diff=lfs merge=lfs -text\n")
    # The pointer is committed as-is (no LFS filter runs): exactly what a clone holds.
    write(repo, "model.safetensors", LFS_POINTER)
    write(repo, "data/blob.bin", bytes(range(256)) * 40)
    os.symlink("../../../etc/passwd", repo / "leak")
    os.symlink("/etc/passwd", repo / "abs-leak")
    os.symlink("src", repo / "src-link")
    os.symlink("src/modeling.py", repo / "alias.py")
    git(repo, "add", ".")
    sub_commit = "1234567890abcdef1234567890abcdef12345678"
    git(repo, "update-index", "--add", "--cacheinfo", f"160000,{sub_commit},vendor/lib")
    write(
        repo,
        ".gitmodules",
        '[submodule "vendor/lib"]\n\tpath = vendor/lib\n\turl = https://example.org/lib.git\n',
    )
    git(repo, "add", ".gitmodules")
    git(repo, "commit", "-qm", "second")
    git(repo, "tag", "-a", "v1.0", "-m", "release 1.0")
    git(repo, "checkout", "-qb", "dev")
    write(repo, "src/extra.py", "print('dev only')\n")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "dev work")
    git(repo, "checkout", "-q", "main")
    return repo


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def url(repo: Path, rev: str | None = None) -> str:
    return repo.as_uri() + (f"@{rev}" if rev else "")


def test_tag_lists_exactly_its_files_with_sha256_and_kinds(
    origin: Path, cli, tmp_path: Path
) -> None:
    out = tmp_path / "out.json"
    proc = cli("scan", url(origin, "v1.0"), "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    expected = blob_files(origin, "v1.0")
    regular = {f["path"]: f for f in doc["files"] if f["kind"] != "submodule"}
    # alias.py is a symlink inside the tree: listed with its target's content.
    assert set(regular) == set(expected) | {"alias.py"}
    for path, content in expected.items():
        assert regular[path]["sha256"] == hashlib.sha256(content).hexdigest(), path
        assert regular[path]["size"] == len(content)
    assert regular["alias.py"]["sha256"] == regular["src/modeling.py"]["sha256"]
    kinds = {p: f["kind"] for p, f in regular.items()}
    assert kinds["README.md"] == "model-card" and kinds["LICENSE"] == "license"
    assert kinds["config.json"] == "config" and kinds["src/modeling.py"] == "code"
    assert kinds["model.safetensors"] == "lfs-pointer"
    assert regular["model.safetensors"]["lfs"] == {"oid": LFS_OID, "size": 31}
    [sub] = [f for f in doc["files"] if f["kind"] == "submodule"]
    assert sub["path"] == "vendor/lib"
    assert sub["target"] == "1234567890abcdef1234567890abcdef12345678"
    assert doc["revision"] == git(origin, "rev-parse", "v1.0^{commit}")
    assert doc["card"]["license"] == "apache-2.0"
    refused = {
        f["location"].get("path"): f["message"]
        for f in doc["findings"]
        if f["kind"] == "not-analysed"
    }
    assert "outside" in refused["leak"] and "outside" in refused["abs-leak"]
    assert "folder" in refused["src-link"]
    assert "Traceback" not in proc.stderr


def test_each_revision_form_resolves(origin: Path) -> None:
    first = git(origin, "rev-parse", "v0.1^{commit}")
    by_tag = open_target(url(origin, "v0.1"))
    assert by_tag.revision == first
    assert {f.path for f in by_tag.files} == set(blob_files(origin, "v0.1"))
    assert open_target(url(origin, first[:10])).revision == first
    dev = open_target(url(origin, "dev"))
    assert dev.revision == git(origin, "rev-parse", "dev")
    assert "src/extra.py" in {f.path for f in dev.files}
    assert open_target(url(origin, "origin/dev")).revision == dev.revision
    head = open_target(url(origin))
    assert head.revision == git(origin, "rev-parse", "main")
    assert "src/extra.py" not in {f.path for f in head.files}


def test_local_path_with_revision_is_read_through_the_clone(origin: Path) -> None:
    snap = open_target(f"{origin}@v1.0")
    assert snap.source == "git" and snap.revision == git(origin, "rev-parse", "v1.0^{commit}")
    entry = snap.get("data/blob.bin")
    assert entry is not None and snap.reader.read_range("data/blob.bin", 256, 4) == b"\0\1\2\3"
    assert snap.reader.local_path("data/blob.bin").read_bytes() == bytes(range(256)) * 40


def test_clone_is_blobless_and_reused_by_the_next_scan(tmp_path: Path, origin: Path) -> None:
    repo = tmp_path / "copy"
    subprocess.run(["git", "clone", "-q", "--mirror", str(origin), str(repo)], check=True)
    git(repo, "config", "uploadpack.allowFilter", "true")
    first = open_target(url(repo, "v0.1"))
    assert first.info["clone"] == "cloned"
    cache = Path(first.info["cache"])
    # Blobless: the dev branch's own file was never fetched.
    dev_blob = git(origin, "rev-parse", "dev:src/extra.py")
    missing = git(cache, "rev-list", "--objects", "--missing=print", "--all")
    assert f"?{dev_blob}" in missing.splitlines()
    # A new tag on the origin is seen by the next (fetching) scan of the same cache.
    git(repo, "tag", "later", "dev")
    second = open_target(url(repo, "later"))
    assert second.info["clone"] == "cache (fetched)" and second.info["cache"] == str(cache)
    assert "src/extra.py" in {f.path for f in second.files}
    # Offline, the cache alone answers, even with the origin gone.
    subprocess.run(["rm", "-rf", str(repo)], check=True)
    third = open_target(url(repo, "v1.0"), offline=True)
    assert third.info["clone"] == "cache (offline)"
    assert third.get("model.safetensors") is not None


@pytest.mark.parametrize(
    "target, words",
    [
        ("{origin_url}@no-such-tag", "unknown revision 'no-such-tag'"),
        ("{tmp}/plain@main", "not a git repository"),
        ("file://{tmp}/absent.git", "does not appear to be a git repository"),
        ("http://127.0.0.1:{closed_port}/org/model.git@v1", "cannot clone"),
        ("ext::sh -c touch% {tmp}/pwned", "transport is refused"),
        ("-- --upload-pack=touch {tmp}/pwned@main", "cannot start with '-'"),
        ("git+--upload-pack=touch {tmp}/pwned", "cannot start with '-'"),
        ("{origin_url}@--output=/tmp/x", "cannot start with '-'"),
    ],
)
def test_bad_git_input_is_one_line_and_exit_2(
    origin: Path, tmp_path: Path, cli, target: str, words: str
) -> None:
    (tmp_path / "plain").mkdir()
    spec = target.format(origin_url=origin.as_uri(), tmp=tmp_path, closed_port=closed_port())
    proc = cli("scan", *spec.split(" ", 1)) if spec.startswith("-- ") else cli("scan", spec)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert words in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "pwned").exists()


def test_offline_without_a_clone_is_one_line(origin: Path, cli) -> None:
    proc = cli("scan", url(origin, "v1.0"), "--offline")
    assert proc.returncode == 2
    assert "not in the clone cache" in proc.stderr and "Traceback" not in proc.stderr


def test_submodule_is_listed_not_followed(origin: Path) -> None:
    snap = open_target(url(origin, "v1.0"))
    [sub] = snap.by_kind(FileKind.SUBMODULE)
    assert sub.path == "vendor/lib" and sub.sha256 is None
    assert not any(f.path.startswith("vendor/lib/") for f in snap.files)


_FORKED: dict[str, object] = {}


def _read_in_child(path: str) -> bytes:
    return _FORKED["snap"].reader.read_bytes(path)  # type: ignore[attr-defined]


def test_reader_works_in_a_forked_worker(origin: Path) -> None:
    """Analyzers may fork workers after the scan: a child reads through the snapshot it
    inherited (with its own git process), and the parent still reads afterwards."""
    snap = open_target(url(origin, "v1.0"))
    assert snap.reader.read_bytes("LICENSE").startswith(b"Apache License")
    _FORKED["snap"] = snap
    try:
        with multiprocessing.get_context("fork").Pool(1) as pool:
            got = pool.apply(_read_in_child, ("config.json",))
    finally:
        _FORKED.clear()
    assert got == b'{"model_type": "llama"}\n'
    assert snap.reader.read_bytes("src/modeling.py").startswith(b"# Copyright")


def test_server_without_partial_clone_support_still_scans(
    tmp_path: Path, origin: Path, cli
) -> None:
    """Servers that refuse --filter get a full clone; the scan and its output are the same."""
    repo = tmp_path / "plain.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(origin), str(repo)], check=True)
    git(repo, "config", "uploadpack.allowFilter", "false")
    out = tmp_path / "out.json"
    proc = cli("scan", url(repo, "v0.1"), "--json", str(out))
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    # Nothing but provscan's own progress lines (a slow machine gets one every 5 s).
    assert [ln for ln in proc.stderr.splitlines() if not ln.startswith("provscan: [")] == []
    doc = json.loads(out.read_text())
    assert {f["path"]: f["sha256"] for f in doc["files"]} == {
        p: hashlib.sha256(c).hexdigest() for p, c in blob_files(origin, "v0.1").items()
    }

"""A crafted git tree (entries named '..', '.git', 'a/../../b', '/abs'): git fsck refuses
such trees, but a clone does not check by default, so the git source must."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

UNSAFE = [b"../../../escape.py", b"a/../../b.py", b"/abs.py", b"C:\\evil.py", b"./dot.py"]


def _git(repo: Path, *args: str, data: bytes | None = None) -> str:
    return (
        subprocess.run(["git", "-C", str(repo), *args], input=data, capture_output=True, check=True)
        .stdout.decode()
        .strip()
    )


def _tree(repo: Path, entries: list[tuple[bytes, bytes, str]]) -> str:
    entries = sorted(entries, key=lambda e: e[1] + (b"/" if e[0] == b"40000" else b""))
    raw = b"".join(mode + b" " + name + b"\0" + bytes.fromhex(oid) for mode, name, oid in entries)
    return _git(repo, "hash-object", "-w", "-t", "tree", "--literally", "--stdin", data=raw)


def _crafted_repo(root: Path) -> Path:
    repo = root / "evil"
    repo.mkdir()
    _git(repo, "init", "-q")
    card = _git(repo, "hash-object", "-w", "--stdin", data=b"---\nlicense: mit\n---\n")
    code = _git(repo, "hash-object", "-w", "--stdin", data=b"x = 1\n")
    link = _git(repo, "hash-object", "-w", "--stdin", data=b".git/config")
    huge_link = _git(repo, "hash-object", "-w", "--stdin", data=b"ok.py" + b"/." * 3_000_000)
    sub = _tree(repo, [(b"100644", b"config", code)])
    entries = [
        (b"100644", b"README.md", card),
        (b"100644", b"ok.py", code),
        (b"120000", b"link.py", link),
        (b"120000", b"huge_link.py", huge_link),
        (b"40000", b"..", sub),
        (b"40000", b".git", sub),
        (b"40000", b".GIT", sub),
    ]
    entries += [(b"100644", name, code) for name in UNSAFE]
    commit = _git(repo, "commit-tree", _tree(repo, entries), "-m", "crafted")
    _git(repo, "update-ref", "refs/heads/main", commit)
    _git(repo, "symbolic-ref", "HEAD", "refs/heads/main")
    return repo


def test_unsafe_tree_paths_are_refused_and_the_scan_goes_on(cli, tmp_path: Path) -> None:
    repo = _crafted_repo(tmp_path)
    out = tmp_path / "r.json"
    r = cli("scan", f"{repo}@main", "--json", str(out))
    assert r.returncode == 0, r.stderr
    report = json.loads(out.read_text())
    assert sorted(f["path"] for f in report["files"]) == ["README.md", "ok.py"]
    refused = [f["message"] for f in report["findings"] if f["kind"] == "not-analysed"]
    assert len(refused) == len(UNSAFE) + 5  # + '../config', '.git/config', '.GIT/config'
    assert any("longer than a path" in m for m in refused)  # a 6 MB "symlink", not read
    assert all(
        f["location"].get("path") is None
        for f in report["findings"]
        if "unsafe path" in f["message"]
    )
    assert report["card"]["license"] == "mit"

"""Reference corpora in the store: add (folder, package, git), list, remove."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from scanner.code.corpus import add_corpus, list_corpora, load_corpora, remove_corpus
from scanner.errors import UsageError

CODE = (
    "def f(a, b):\n    total = 0\n    for i in range(a):\n        total += i * b\n"
    "    return total\n" * 3
)


def _folder(tmp_path: Path) -> Path:
    root = tmp_path / "ref"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "a.py").write_text("# Copyright 2020 A\n" + CODE)
    (root / "pkg" / "b.js").write_text("function g(x) { return x + 1; }\n")
    (root / "README.md").write_text("not code\n")
    (root / "pkg" / "__pycache__").mkdir()
    (root / "pkg" / "__pycache__" / "a.cpython-311.py").write_text(CODE)
    return root


def test_folder_corpus_round_trip(tmp_path: Path, cli):
    res = cli("index", "add", "mine", str(_folder(tmp_path)), "--license", "MIT")
    assert res.returncode == 0, res.stderr
    assert "2 files" in res.stdout
    (info,) = list_corpora()
    assert (info.name, info.kind, info.license, info.files) == ("mine", "folder", "MIT", 2)
    (loaded,) = load_corpora()
    assert sorted(loaded.paths) == ["pkg/a.py", "pkg/b.js"]
    assert np.all(np.diff(loaded.hashes.astype(np.float64)) >= 0)  # sorted for lookups
    idx = loaded.paths.index("pkg/a.py")
    assert loaded.notice(idx) == ("Copyright 2020 A",)
    assert cli("index", "add", "mine", str(tmp_path / "ref")).returncode == 2
    assert cli("index", "add", "mine", str(tmp_path / "ref"), "--replace").returncode == 0
    assert len(list_corpora()) == 1
    assert cli("index", "remove", "mine").returncode == 0
    assert list_corpora() == [] and load_corpora() == []
    assert "no corpus" in cli("index", "list").stdout


def test_package_corpus_records_version_and_license():
    import importlib.metadata as md

    info = add_corpus("llama", "pkg:transformers/models/llama")
    assert info.kind == "package"
    assert info.version == md.version("transformers")
    assert info.license and "apache" in info.license.lower()
    (loaded,) = load_corpora()
    assert "transformers/models/llama/modeling_llama.py" in loaded.paths
    assert all(p.startswith("transformers/models/llama/") for p in loaded.paths)
    with pytest.raises(UsageError):
        add_corpus("x", "pkg:transformers/models/no-such-model")
    remove_corpus("llama")
    with pytest.raises(UsageError):
        remove_corpus("llama")


def test_git_corpus_is_read_at_its_revision(tmp_path: Path):
    pytest.importorskip("scanner.sources.git")
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "a.py").write_text(CODE)

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(repo), *args], check=True, text=True, capture_output=True
        ).stdout.strip()

    git("init", "-q")
    git("-c", "user.email=t@t", "-c", "user.name=t", "add", "a.py")
    git("-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "one")
    sha = git("rev-parse", "HEAD")
    info = add_corpus("g", f"{repo}@{sha}")
    assert info.kind == "git" and info.files == 1
    assert info.version and sha.startswith(info.version[:7])

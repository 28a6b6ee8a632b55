"""The local folder source: inventory, classification, symlink safety, bad input."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from scanner.model import FileKind
from scanner.sources import open_target


def _release(root: Path) -> Path:
    (root / "src").mkdir(parents=True)
    (root / "README.md").write_text("---\nlicense: apache-2.0\nbase_model:\n- org/base\n---\nhi\n")
    (root / "LICENSE").write_text("Apache License\nVersion 2.0\n")
    (root / "config.json").write_text('{"model_type": "llama"}')
    (root / "tokenizer.json").write_text("{}")
    (root / "src" / "model.py").write_text("import os\n")
    (root / "model.safetensors").write_bytes(b"\x02\x00\x00\x00\x00\x00\x00\x00{}")
    (root / "pytorch_model.bin").write_bytes(b"PK\x03\x04pickle-inside")
    (root / "w.gguf").write_bytes(b"GGUF\x03\x00\x00\x00")
    return root


def test_files_are_listed_with_sha256_and_kind(tmp_path: Path) -> None:
    root = _release(tmp_path / "rel")
    snap = open_target(str(root))
    kinds = {f.path: f.kind for f in snap.files}
    assert kinds == {
        "README.md": FileKind.MODEL_CARD,
        "LICENSE": FileKind.LICENSE,
        "config.json": FileKind.CONFIG,
        "tokenizer.json": FileKind.TOKENIZER,
        "src/model.py": FileKind.CODE,
        "model.safetensors": FileKind.WEIGHTS,
        "pytorch_model.bin": FileKind.WEIGHTS,
        "w.gguf": FileKind.WEIGHTS,
    }
    entry = snap.get("src/model.py")
    assert entry is not None and entry.language == "python"
    assert entry.sha256 == hashlib.sha256(b"import os\n").hexdigest()
    formats = {f.path: f.weight_format for f in snap.by_kind(FileKind.WEIGHTS)}
    assert formats == {
        "model.safetensors": "safetensors",
        "pytorch_model.bin": "pickle",
        "w.gguf": "gguf",
    }
    assert snap.card is not None and snap.card.license == "apache-2.0"
    assert snap.card.base_model == ("org/base",)


def test_symlink_out_of_the_folder_is_not_followed(tmp_path: Path) -> None:
    root = _release(tmp_path / "rel")
    secret = tmp_path / "secret.txt"
    secret.write_text("outside")
    os.symlink(secret, root / "leak.txt")
    os.symlink(root / "src" / "model.py", root / "alias.py")
    snap = open_target(str(root))
    paths = {f.path for f in snap.files}
    assert "leak.txt" not in paths
    assert "alias.py" in paths  # a link that stays inside is fine
    [problem] = [p for p in snap.problems if p.location.path == "leak.txt"]
    assert problem.kind == "not-analysed" and "outside" in problem.message


def test_scan_writes_json_inventory(tmp_path: Path, cli) -> None:
    root = _release(tmp_path / "rel")
    out = tmp_path / "out.json"
    proc = cli("scan", str(root), "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    assert doc["schema_version"]
    assert doc["card"]["license"] == "apache-2.0"
    assert {f["path"] for f in doc["files"]} >= {"README.md", "src/model.py"}
    assert "Traceback" not in proc.stderr


def test_missing_path_is_one_line_and_exit_2(tmp_path: Path, cli) -> None:
    proc = cli("scan", str(tmp_path / "nope"))
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "no such file" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_broken_card_front_matter_is_a_finding_not_a_crash(tmp_path: Path) -> None:
    root = tmp_path / "rel"
    root.mkdir()
    (root / "README.md").write_text("---\nlicense: [unclosed\n---\n")
    snap = open_target(str(root))
    assert snap.card is None
    assert any(p.kind == "not-analysed" and p.location.path == "README.md" for p in snap.problems)


def test_file_vanishing_during_the_scan_is_a_finding(tmp_path: Path, monkeypatch) -> None:
    """A file deleted between listing and hashing is reported; the scan goes on."""
    import scanner.sources.local as local

    root = _release(tmp_path / "rel")
    real_walk = local.walk_folder

    def walk_then_delete(r: Path):
        walk = real_walk(r)
        (root / "config.json").unlink()
        return walk

    monkeypatch.setattr(local, "walk_folder", walk_then_delete)
    snap = open_target(str(root))
    assert any(p.location.path == "config.json" and p.kind == "not-analysed" for p in snap.problems)
    assert snap.get("src/model.py") is not None

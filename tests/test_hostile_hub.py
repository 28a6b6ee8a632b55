"""A hostile Hub server: odd file names, malformed safetensors headers, odd card data."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

from tests.hubserver import HubRepo, HubServer
from tests.test_hub_source import hub_env


def _st(header: dict[str, Any]) -> bytes:
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + b"\0" * 16


def _scan(cli, tmp_path: Path, name: str, repo: HubRepo) -> dict[str, Any]:  # noqa: ANN001
    """`provscan scan hf:acme/NAME` against a loopback Hub serving `repo`: the JSON report."""
    out = tmp_path / "r.json"
    with HubServer({f"acme/{name}": repo}) as server:
        r = cli(
            "scan", f"hf:acme/{name}", "--json", str(out), env=hub_env(tmp_path, server.endpoint)
        )
    assert r.returncode == 0, r.stderr
    return json.loads(out.read_text())


class OddCardRepo(HubRepo):
    def card_data(self) -> dict[str, Any] | None:
        return {
            "license": {"a": 1},
            "base_model": [{"a": 1}, "org/base"],
            "license_name": [[["x"]]],
        }


def test_hostile_hub_metadata_becomes_findings(cli, tmp_path: Path) -> None:
    repo = OddCardRepo(
        files={
            "README.md": b"# card\n",
            "bad-shape.safetensors": _st(
                {"w": {"dtype": "F32", "shape": ["x"], "data_offsets": [0, 4]}}
            ),
            "neg.safetensors": _st({"w": {"dtype": "F32", "shape": [-4], "data_offsets": [0, 4]}}),
            ".git/config": b"[core]\n",
            "a/.GIT/hooks": b"x",
            "ok.py": b"x = 1\n",
        },
        lfs={"bad-shape.safetensors", "neg.safetensors"},
    )
    doc = _scan(cli, tmp_path, "evil", repo)
    paths = {f["path"] for f in doc["files"]}
    assert ".git/config" not in paths and "a/.GIT/hooks" not in paths and "ok.py" in paths
    refused = {
        f["location"].get("path"): f["message"]
        for f in doc["findings"]
        if f["kind"] == "not-analysed"
    }
    assert {"bad-shape.safetensors", "neg.safetensors", ".git/config", "a/.GIT/hooks"} <= set(
        refused
    ), refused
    assert doc["card"]["base_model"] == ["org/base"] and doc["card"]["license"] is None


class UntypedCardRepo(HubRepo):
    def card_data(self) -> dict[str, Any] | None:
        return {"tags": 5, "license": "mit", "base_model": 7}  # huggingface_hub chokes on tags


def test_card_metadata_huggingface_hub_cannot_type_does_not_stop_the_scan(
    cli, tmp_path: Path
) -> None:
    repo = UntypedCardRepo(
        files={
            "README.md": b"---\nlicense: mit\n---\n# card\n",
            "LICENSE": b"MIT License\n",
            "ok.py": b"x = 1\n",
        }
    )
    doc = _scan(cli, tmp_path, "untyped", repo)
    assert {f["path"] for f in doc["files"]} == {"README.md", "LICENSE", "ok.py"}
    declared = [
        f
        for f in doc["findings"]
        if f["kind"] == "license" and f["message"].startswith("declared license mit")
    ]
    assert declared, doc["findings"]


def test_a_download_longer_than_its_declared_size_is_cut_off(cli, tmp_path: Path) -> None:
    repo = HubRepo(
        files={
            "README.md": b"---\nlicense: mit\n---\n# card\n",
            "LICENSE": b"MIT License\n",
            "notes.txt": b"short\n",
        },
        oversend={"notes.txt": 32 * 1024 * 1024},
    )  # declares 6 bytes, sends 32 MB
    doc = _scan(cli, tmp_path, "flood", repo)
    refused = [
        f
        for f in doc["findings"]
        if f["kind"] == "not-analysed" and f["location"].get("path") == "notes.txt"
    ]
    assert refused and "more than" in refused[0]["message"], doc["findings"]
    assert any(f["kind"] == "license" for f in doc["findings"])  # the rest goes on
    cached = sum(p.stat().st_size for p in (tmp_path / "hf-cache").rglob("*") if p.is_file())
    assert cached < 1024 * 1024  # nowhere near the 32 MB that were sent

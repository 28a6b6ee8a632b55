"""The Hub source: the CLI against a real loopback Hub server (HF_ENDPOINT), the offline
path from a Hub cache filled online or laid out by hand, and every bad Hub input."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save

from tests.hubserver import HubRepo, HubServer

COMMIT = "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678"
CARD = """---
license: other
license_name: acme-model-license
license_link: https://example.org/LICENSE
base_model: acme/base-7b
base_model_relation: finetune
datasets:
- acme/corpus
---
# tiny model
"""


def _tensors() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1234)
    return {
        "model.embed_tokens.weight": rng.standard_normal((1024, 512), dtype=np.float32),
        "model.layers.0.self_attn.q_proj.weight": rng.standard_normal((512, 512)).astype(
            np.float16
        ),
        "lm_head.weight": rng.standard_normal((1024, 512), dtype=np.float32),
    }


def _repo() -> HubRepo:
    weights = save(_tensors(), metadata={"format": "pt"})
    assert len(weights) > 4 * 1024 * 1024  # big enough that a full download would show
    return HubRepo(
        files={
            "README.md": CARD.encode(),
            "config.json": b'{"model_type": "llama", "hidden_size": 512}',
            "tokenizer.json": b'{"version": "1.0", "model": {"type": "BPE"}}',
            "model.safetensors": weights,
            "pytorch_model.bin": b"PK\x03\x04" + bytes(range(256)) * 64,
            "src/modeling_tiny.py": b"# Copyright 2024 ACME\nimport torch\n",
        },
        lfs={"model.safetensors", "pytorch_model.bin"},
        commit=COMMIT,
        refs=("main", "v1.0"),
    )


@pytest.fixture
def hub() -> Iterator[HubServer]:
    gated = HubRepo(
        files={"README.md": b"# gated\n", "model.safetensors": b"x" * 64},
        lfs={"model.safetensors"},
        gated=True,
    )
    adapter = save({"lora_A": np.zeros((4, 8), dtype=np.float32)})
    plain = HubRepo(files={"README.md": b"# no card metadata\n", "adapter.safetensors": adapter})
    with HubServer({"acme/tiny": _repo(), "acme/gated": gated, "acme/plain": plain}) as server:
        yield server


def hub_env(tmp_path: Path, endpoint: str, **extra: str) -> dict[str, str]:
    env = {
        "HF_ENDPOINT": endpoint,
        "HF_HUB_CACHE": str(tmp_path / "hf-cache"),
        "HF_HOME": str(tmp_path / "hf-home"),
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_HUB_OFFLINE": "0",
        "HF_TOKEN": "",
    }
    env.update(extra)
    return env


def closed_endpoint() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def scan_json(cli, tmp_path: Path, target: str, env: dict[str, str], *args: str) -> dict:
    out = tmp_path / "out.json"
    out.unlink(missing_ok=True)
    proc = cli("scan", target, "--json", str(out), *args, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    return json.loads(out.read_text())


def assert_full_inventory(doc: dict) -> None:
    repo = _repo()
    files = {f["path"]: f for f in doc["files"]}
    assert set(files) == set(repo.files)
    for path, data in repo.files.items():
        assert files[path]["sha256"] == hashlib.sha256(data).hexdigest(), path
        assert files[path]["size"] == len(data), path
    assert files["model.safetensors"]["kind"] == "weights"
    assert files["model.safetensors"]["weight_format"] == "safetensors"
    assert files["model.safetensors"]["lfs"]["oid"] == files["model.safetensors"]["sha256"]
    assert files["pytorch_model.bin"]["weight_format"] == "pickle"
    assert files["README.md"]["kind"] == "model-card"
    assert files["config.json"]["kind"] == "config"
    assert files["tokenizer.json"]["kind"] == "tokenizer"
    assert files["src/modeling_tiny.py"]["kind"] == "code"
    assert doc["card"]["license"] == "other"
    assert doc["card"]["license_name"] == "acme-model-license"
    assert doc["card"]["license_link"] == "https://example.org/LICENSE"
    assert doc["card"]["base_model"] == ["acme/base-7b"]
    assert doc["card"]["base_model_relation"] == "finetune"
    assert doc["card"]["datasets"] == ["acme/corpus"]
    assert doc["revision"] == COMMIT
    shapes = {
        t["name"]: (t["dtype"], t["shape"]) for t in doc["info"]["safetensors"]["model.safetensors"]
    }
    assert shapes == {
        name: ({"float32": "F32", "float16": "F16"}[str(a.dtype)], list(a.shape))
        for name, a in _tensors().items()
    }


def test_hub_scan_lists_files_card_and_shapes_without_downloading_weights(
    hub: HubServer, cli, tmp_path: Path
) -> None:
    doc = scan_json(cli, tmp_path, "hf:acme/tiny", hub_env(tmp_path, hub.endpoint))
    assert_full_inventory(doc)
    weight_size = len(_repo().files["model.safetensors"])
    reads = hub.requests_for("/model.safetensors")
    gets = [r for r in reads if r[0] == "GET"]
    assert gets, "the header must be read from the server"
    assert all(r[2] is not None for r in gets), f"a full GET of the weights: {reads}"
    asked = sum(
        int(end) - int(start) + 1
        for _, _, rng in gets
        for start, end in [rng.removeprefix("bytes=").split("-")]
    )
    assert len(gets) == 2 and asked < weight_size / 100
    assert not hub.requests_for("/pytorch_model.bin")
    # the small files went to the normal Hub cache
    snapshot = tmp_path / "hf-cache" / "models--acme--tiny" / "snapshots" / COMMIT
    assert (snapshot / "config.json").read_bytes() == _repo().files["config.json"]
    assert (tmp_path / "hf-cache" / "models--acme--tiny" / "refs" / "main").read_text() == COMMIT


def test_revision_and_offline_rescan_from_the_filled_cache(
    hub: HubServer, cli, tmp_path: Path
) -> None:
    env = hub_env(tmp_path, hub.endpoint)
    online = scan_json(cli, tmp_path, "hf:acme/tiny@v1.0", env)
    assert online["revision"] == COMMIT
    hub.stop()
    for extra_args, extra_env in (((), {"HF_HUB_OFFLINE": "1"}), (("--offline",), {})):
        offline_env = {**env, **extra_env}
        doc = scan_json(cli, tmp_path, "hf:acme/tiny@v1.0", offline_env, *extra_args)
        assert_full_inventory(doc)
        assert doc["info"]["offline"] is True
    # with the server gone and no cache for it, the error is one line
    proc = cli("scan", "hf:acme/other", "--offline", env=env)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert "not in the local Hub cache" in proc.stderr and "Traceback" not in proc.stderr


def _lay_out_cache(cache: Path, outside: Path) -> dict[str, bytes]:
    """A Hub cache written by hand, as huggingface_hub lays it out."""
    folder = cache / "models--acme--hand"
    commit = "f" * 40
    files = {
        "README.md": b"---\nlicense: mit\nbase_model: acme/base\n---\n",
        "config.json": b'{"model_type": "bert"}',
        "model.safetensors": save(_tensors()),
    }
    for rel, data in files.items():
        blob = folder / "blobs" / hashlib.sha256(data).hexdigest()
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(data)
        link = folder / "snapshots" / commit / rel
        link.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(os.path.relpath(blob, link.parent), link)
    outside.write_text("secret")
    os.symlink(outside, folder / "snapshots" / commit / "leak.txt")
    (folder / "refs").mkdir()
    (folder / "refs" / "main").write_text(commit)  # no trailing newline, as the Hub writes
    return files


@pytest.mark.parametrize("how", ["--offline", "HF_HUB_OFFLINE=1"])
def test_offline_scan_of_a_hand_made_cache(cli, tmp_path: Path, how: str) -> None:
    files = _lay_out_cache(tmp_path / "hf-cache", tmp_path / "outside.txt")
    env = hub_env(tmp_path, closed_endpoint())
    args: tuple[str, ...] = ("--offline",) if how == "--offline" else ()
    if how != "--offline":
        env["HF_HUB_OFFLINE"] = "1"
    doc = scan_json(cli, tmp_path, "hf:acme/hand", env, *args)
    listed = {f["path"]: f["sha256"] for f in doc["files"]}
    assert listed == {p: hashlib.sha256(d).hexdigest() for p, d in files.items()}
    assert doc["card"]["license"] == "mit" and doc["card"]["base_model"] == ["acme/base"]
    [leak] = [f for f in doc["findings"] if f["location"].get("path") == "leak.txt"]
    assert leak["kind"] == "not-analysed" and "outside" in leak["message"]
    names = {t["name"] for t in doc["info"]["safetensors"]["model.safetensors"]}
    assert names == set(_tensors())


@pytest.mark.parametrize(
    "target, endpoint, words",
    [
        ("hf:acme/missing", "live", "repository not found"),
        ("hf:acme/tiny@no-such-branch", "live", "unknown revision 'no-such-branch'"),
        ("hf:acme/tiny", "closed", "cannot reach the Hub"),
        ("hf:not a/repo id", "live", "not a Hub repository id"),
        ("hf:acme/tiny@../../etc", "live", "not a usable revision"),
    ],
)
def test_bad_hub_input_is_one_line_and_exit_2(
    hub: HubServer, cli, tmp_path: Path, target: str, endpoint: str, words: str
) -> None:
    env = hub_env(tmp_path, hub.endpoint if endpoint == "live" else closed_endpoint())
    proc = cli("scan", target, env=env)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert words in proc.stderr and "Traceback" not in proc.stderr


def test_gated_files_become_findings_and_the_scan_goes_on(
    hub: HubServer, cli, tmp_path: Path
) -> None:
    doc = scan_json(cli, tmp_path, "hf:acme/gated", hub_env(tmp_path, hub.endpoint))
    assert {f["path"] for f in doc["files"]} == {"README.md", "model.safetensors"}
    reasons = {
        f["location"]["path"]: f["message"] for f in doc["findings"] if f["kind"] == "not-analysed"
    }
    assert "gated" in reasons["README.md"] and "gated" in reasons["model.safetensors"]


def test_a_server_ignoring_range_still_gives_headers(cli, tmp_path: Path) -> None:
    with HubServer({"acme/tiny": _repo()}, honour_range=False) as server:
        doc = scan_json(cli, tmp_path, "hf:acme/tiny", hub_env(tmp_path, server.endpoint))
    assert_full_inventory(doc)


_ON_DEMAND = """
import hashlib, sys
from scanner.sources import open_target
snap = open_target("hf:acme/tiny")
print(hashlib.sha256(snap.reader.local_path("model.safetensors").read_bytes()).hexdigest())
print(snap.reader.read_range("pytorch_model.bin", 0, 4).hex())
"""


def test_weights_are_downloaded_only_when_an_analyzer_asks(hub: HubServer, tmp_path: Path) -> None:
    env = {
        **os.environ,
        **hub_env(tmp_path, hub.endpoint),
        "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
    }
    proc = subprocess.run(
        [sys.executable, "-c", _ON_DEMAND], env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    digest, magic = proc.stdout.split()
    assert digest == hashlib.sha256(_repo().files["model.safetensors"]).hexdigest()
    assert magic == "504b0304"
    full = [r for r in hub.requests_for("/model.safetensors") if r[0] == "GET" and r[2] is None]
    assert len(full) == 1  # the one download local_path asked for
    assert not [r for r in hub.requests_for("/pytorch_model.bin") if r[2] != "bytes=0-3"]


def test_weights_outside_lfs_are_listed_without_a_guessed_hash(
    hub: HubServer, cli, tmp_path: Path
) -> None:
    """A small weight file stored in git (not LFS) has no sha256 in the Hub metadata and is
    not downloaded: it is listed, its header read by range, and the gap reported."""
    doc = scan_json(cli, tmp_path, "hf:acme/plain", hub_env(tmp_path, hub.endpoint))
    [adapter] = [f for f in doc["files"] if f["path"] == "adapter.safetensors"]
    assert adapter["sha256"] is None and adapter["kind"] == "weights" and "lfs" not in adapter
    assert doc["info"]["safetensors"]["adapter.safetensors"] == [
        {"name": "lora_A", "dtype": "F32", "shape": [4, 8]}
    ]
    assert any(
        f["kind"] == "not-analysed" and f["location"]["path"] == "adapter.safetensors"
        for f in doc["findings"]
    )
    assert doc["card"] == {
        "license": None,
        "license_name": None,
        "license_link": None,
        "base_model": [],
        "base_model_relation": None,
        "datasets": [],
        "pipeline_tag": None,
        "tags": [],
    }

"""The Hub source under hostile conditions (issue 13): weights stored in LFS are compared,
an offline cache cannot lead the scan out of the repository's folder, and every fault a
server can produce (tests/hubserver.py's hostile modes) ends in a bounded, clean result."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
import synth
from safetensors.numpy import save

from tests.hubserver import HubRepo, HubServer
from tests.test_hub_source import closed_endpoint, hub_env, scan_json


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("hub-models")
    vocab = {f"w{i}": i for i in range(400)}
    tok = json.dumps({"model": {"type": "WordLevel", "vocab": vocab, "unk_token": "w0"}})
    cfg = synth.llama_config(400, d=48, layers=3, heads=4, kv=4, ff=96)
    base = synth.random_llama(1, cfg)
    derived = synth.perturb(base, 2, 0.05)
    synth.save_model(root / "base", base, cfg, tok)
    synth.save_model(root / "derived", derived, cfg, tok)
    (root / "derived" / "README.md").write_text("---\nlicense: mit\n---\n# derived\n")
    return {"root": root, "base": base, "derived": derived, "cfg": cfg, "tok": tok}


def _hub_model(tensors: dict, cfg: dict, tok: str, card: str) -> HubRepo:
    """A model repository as the Hub serves one: its weights in LFS."""
    return HubRepo(
        files={
            "README.md": card.encode(),
            "config.json": json.dumps(cfg).encode(),
            "tokenizer.json": tok.encode(),
            "model.safetensors": save(tensors),
        },
        lfs={"model.safetensors"},
    )


# ---- item 4: weights stored in LFS are fetched and compared ---------------------------------


def test_a_hub_reference_in_lfs_is_compared(cli, tmp_path: Path, models: dict) -> None:
    base = _hub_model(models["base"], models["cfg"], models["tok"], "---\nlicense: mit\n---\n")
    with HubServer({"acme/base": base}) as hub:
        env = hub_env(tmp_path, hub.endpoint)
        out = tmp_path / "c.json"
        r = cli(
            "compare", "hf:acme/base", str(models["root"] / "derived"), "--json", str(out), env=env
        )
        assert r.returncode == 0, r.stderr
        assert json.loads(out.read_text())["verdict"] == "derived"
        downloads = [q for q in hub.requests_for("/model.safetensors") if q[0] == "GET"]
        assert downloads


def test_a_hub_release_in_lfs_is_found_derived_from_an_undeclared_base(
    cli, tmp_path: Path, models: dict
) -> None:
    card = "---\nlicense: mit\n---\n# derived, no base named\n"
    derived = _hub_model(models["derived"], models["cfg"], models["tok"], card)
    with HubServer({"acme/derived": derived}) as hub:
        doc = scan_json(
            cli,
            tmp_path,
            "hf:acme/derived",
            hub_env(tmp_path, hub.endpoint),
            "--against",
            str(models["root"] / "base"),
        )
    kinds = {f["kind"] for f in doc["findings"]}
    assert "undeclared-base-model" in kinds, doc["findings"]
    assert not [f for f in doc["findings"] if f["kind"] == "not-analysed"]


def test_code_stored_in_lfs_on_the_hub_is_license_scanned(cli, tmp_path: Path) -> None:
    gpl = (
        b"# SPDX-License-Identifier: GPL-3.0-or-later\n"
        b"# Copyright 2019 Outside Copyleft Corp\nx = 1\n"
    )
    repo = HubRepo(
        files={"README.md": b"---\nlicense: mit\n---\n# m\n", "src/gpl.py": gpl},
        lfs={"src/gpl.py"},
    )
    with HubServer({"acme/lfscode": repo}) as hub:
        r = cli("check", "hf:acme/lfscode", env=hub_env(tmp_path, hub.endpoint))
    assert r.returncode == 1, r.stdout + r.stderr
    assert "gpl-3.0" in r.stdout


# ---- item 8: an offline cache is confined to its repository's folder ------------------------


def _cache_with_snapshot_link(cache: Path, outside: Path) -> None:
    folder = cache / "models--acme--hand"
    commit = "e" * 40
    (folder / "snapshots").mkdir(parents=True)
    (folder / "refs").mkdir()
    (folder / "refs" / "main").write_text(commit)
    outside.mkdir()
    for i in range(50):
        (outside / f"f{i}.txt").write_text("outside the cache\n")
    os.symlink(outside, folder / "snapshots" / commit)


def test_an_offline_snapshot_linked_out_of_the_cache_is_refused(cli, tmp_path: Path) -> None:
    _cache_with_snapshot_link(tmp_path / "hf-cache", tmp_path / "elsewhere")
    env = hub_env(tmp_path, closed_endpoint(), HF_HUB_OFFLINE="1")
    r = cli("scan", "hf:acme/hand", "--json", str(tmp_path / "r.json"), env=env)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "outside" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "r.json").exists()


def test_an_offline_snapshot_folder_of_links_is_still_read(cli, tmp_path: Path) -> None:
    """Blobs are linked to ../../blobs inside the repository's folder: that is the layout."""
    folder = tmp_path / "hf-cache" / "models--acme--ok"
    commit = "d" * 40
    data = b"---\nlicense: mit\n---\n# ok\n"
    blob = folder / "blobs" / hashlib.sha256(data).hexdigest()
    blob.parent.mkdir(parents=True)
    blob.write_bytes(data)
    (folder / "snapshots" / commit).mkdir(parents=True)
    os.symlink(f"../../blobs/{blob.name}", folder / "snapshots" / commit / "README.md")
    (folder / "refs").mkdir()
    (folder / "refs" / "main").write_text(commit)
    env = hub_env(tmp_path, closed_endpoint(), HF_HUB_OFFLINE="1")
    doc = scan_json(cli, tmp_path, "hf:acme/ok", env)
    assert [f["path"] for f in doc["files"]] == ["README.md"]
    assert doc["card"]["license"] == "mit"

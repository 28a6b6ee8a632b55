"""The Hub source under hostile conditions (issue 13): weights stored in LFS are compared,
an offline cache cannot lead the scan out of the repository's folder, and every fault a
server can produce (tests/hubserver.py's hostile modes) ends in a bounded, clean result."""

from __future__ import annotations

import hashlib
import json
import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest
import synth
from safetensors.numpy import save

from tests.hubserver import Fault, HubRepo, HubServer, gzip_bomb
from tests.test_hub_source import closed_endpoint, hub_env, scan_json

REPO = Path(__file__).resolve().parent.parent


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
    assert "outside" in r.stderr and len(_said(r.stderr)) == 1
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


# ---- item 17: every fault a Hub server can produce ends in a bounded, clean result ----------

CARD = b"---\nlicense: mit\n---\n# card\n"


def _small_repo() -> HubRepo:
    return HubRepo(files={"README.md": CARD, "LICENSE": b"MIT License\n", "notes.txt": b"short\n"})


_PROGRESS_LINE = re.compile(r"^provscan: \[[^\]]*\] ")


def _said(stderr: str) -> list[str]:
    """What a scan said on stderr, without the progress lines a log gets every few seconds."""
    return [line for line in stderr.strip().splitlines() if not _PROGRESS_LINE.match(line)]


def _run(cli, tmp_path: Path, faults: dict, timeout: float = 120, **env: str):  # noqa: ANN001, ANN202
    """`provscan scan hf:acme/m --json` against a server with `faults`: (process, report,
    seconds, server log)."""
    out = tmp_path / "r.json"
    out.unlink(missing_ok=True)
    with HubServer({"acme/m": _small_repo()}, faults=faults) as hub:
        started = time.monotonic()
        r = cli(
            "scan",
            "hf:acme/m",
            "--json",
            str(out),
            env=hub_env(tmp_path, hub.endpoint, **env),
            timeout=timeout,
        )
        took = time.monotonic() - started
        log = list(hub.log)
    doc = json.loads(out.read_text()) if out.exists() else None
    return r, doc, took, log


def _refused(doc: dict, path: str) -> str:
    found = [
        f["message"]
        for f in doc["findings"]
        if f["kind"] == "not-analysed" and f["location"].get("path") == path
    ]
    assert found, doc["findings"]
    return found[0]


@pytest.mark.parametrize("key", ["info", "README.md"])
def test_retry_after_an_hour_waits_at_most_the_cap(cli, tmp_path: Path, key: str) -> None:
    faults = {key: Fault(status=429, headers={"Retry-After": "3600"}, times=2)}
    r, doc, took, _ = _run(cli, tmp_path, faults, PROVSCAN_HUB_RETRY_AFTER_MAX="1")
    assert r.returncode == 0, r.stderr
    assert doc["card"]["license"] == "mit"
    assert not [f for f in doc["findings"] if f["kind"] == "not-analysed"]
    assert _said(r.stderr) == []  # the retries are not 13 warning lines
    assert took < 90  # a hang guard: an uncapped Retry-After sleeps an hour


@pytest.mark.parametrize("status", [429, 500, 503])
def test_model_info_errors_are_retried(cli, tmp_path: Path, status: int) -> None:
    r, doc, _, log = _run(cli, tmp_path, {"info": Fault(status=status, times=2)})
    assert r.returncode == 0, r.stderr
    assert _said(r.stderr) == [], r.stderr
    assert len([q for q in log if q[1].startswith("/api/models/")]) == 3


def test_retries_are_bounded(cli, tmp_path: Path) -> None:
    r, doc, took, log = _run(cli, tmp_path, {"info": Fault(status=503, times=1000)})
    assert r.returncode == 2 and doc is None
    assert len(_said(r.stderr)) == 1 and "503" in r.stderr, r.stderr
    assert 1 < len([q for q in log if q[1].startswith("/api/models/")]) <= 6


def test_a_trickling_server_meets_the_request_deadline(cli, tmp_path: Path) -> None:
    faults = {"info": Fault(trickle=0.2)}
    r, doc, took, _ = _run(cli, tmp_path, faults, timeout=90, PROVSCAN_HUB_REQUEST_TIMEOUT="3")
    assert r.returncode == 2 and doc is None, r.stderr
    assert "3 s" in r.stderr and len(_said(r.stderr)) == 1, r.stderr
    assert took < 60


def test_a_trickling_download_meets_the_total_deadline(cli, tmp_path: Path) -> None:
    faults = {"notes.txt": Fault(trickle=2.0)}  # 6 bytes: 12 s
    r, doc, took, _ = _run(cli, tmp_path, faults, timeout=90, PROVSCAN_SOURCE_TIMEOUT="4")
    assert r.returncode == 2, r.stderr
    assert "4 s" in r.stderr and len(_said(r.stderr)) == 1, r.stderr
    assert took < 60


def _limit_memory(nbytes: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (nbytes, nbytes))


def test_a_gzip_bomb_is_cut_at_decoded_bytes(tmp_path: Path, provscan_home: Path) -> None:
    gzip_bomb(2 << 30)  # made before the clock starts
    with HubServer({"acme/m": _small_repo()}, faults={"info": Fault(gzip_bomb=2 << 30)}) as hub:
        env = {
            **os.environ,
            **hub_env(tmp_path, hub.endpoint),
            "PYTHONPATH": str(REPO),
            "PROVSCAN_HOME": str(provscan_home),
        }
        r = subprocess.run(
            [sys.executable, "-m", "scanner", "scan", "hf:acme/m"],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
            preexec_fn=lambda: _limit_memory(3 << 30),
        )
    assert r.returncode == 2, r.stderr
    assert "more than" in r.stderr and "internal error" not in r.stderr, r.stderr
    assert len(_said(r.stderr)) == 1


def test_a_file_oversent_within_the_slack_is_one_finding(cli, tmp_path: Path) -> None:
    repo = _small_repo()
    repo.oversend = {"notes.txt": 1000}
    out = tmp_path / "r.json"
    with HubServer({"acme/m": repo}) as hub:
        r = cli("scan", "hf:acme/m", "--json", str(out), env=hub_env(tmp_path, hub.endpoint))
    assert r.returncode == 0, r.stderr
    doc = json.loads(out.read_text())
    assert "size" in _refused(doc, "notes.txt")
    assert doc["card"]["license"] == "mit"


def test_a_redirect_loop_on_a_file_is_one_finding(cli, tmp_path: Path) -> None:
    r, doc, _, _ = _run(cli, tmp_path, {"notes.txt": Fault(redirect_loop=True)})
    assert r.returncode == 0, r.stderr
    assert "redirect" in _refused(doc, "notes.txt")


def test_a_redirect_loop_on_model_info_is_one_line(cli, tmp_path: Path) -> None:
    r, doc, _, _ = _run(cli, tmp_path, {"info": Fault(redirect_loop=True)})
    assert r.returncode == 2 and doc is None
    assert "redirect" in r.stderr and len(_said(r.stderr)) == 1, r.stderr
    assert "internal error" not in r.stderr


def test_the_download_budget_bounds_what_a_scan_fetches(cli, tmp_path: Path) -> None:
    r, doc, _, _ = _run(cli, tmp_path, {}, PROVSCAN_MAX_DOWNLOAD="40")
    assert r.returncode == 0, r.stderr
    refused = [
        f for f in doc["findings"] if f["kind"] == "not-analysed" and "budget" in f["message"]
    ]
    assert refused, doc["findings"]


@pytest.mark.parametrize(
    "record",
    [
        "{not json",
        "[1, 2]",
        '{"files": 5}',
        '{"files": [{"path": "README.md", "size": "big"}]}',
        '{"files": [{"path": 7}], "card": [1]}',
        '{"safetensors": {"model.safetensors": "junk"}}',
        '{"files": [{"path": "x.txt", "size": 3, "lfs_sha256": 5, "nope": 1}]}',
    ],
)
def test_a_corrupted_offline_record_does_not_stop_the_offline_scan(
    cli, tmp_path: Path, provscan_home: Path, record: str
) -> None:
    r, doc, _, _ = _run(cli, tmp_path, {})
    assert r.returncode == 0, r.stderr
    [saved] = list((provscan_home / "hub").rglob("*.json"))
    saved.write_text(record)
    env = hub_env(tmp_path, closed_endpoint(), HF_HUB_OFFLINE="1")
    offline = scan_json(cli, tmp_path, "hf:acme/m", env)
    # the Hub cache's files, and what survived of the record (a file it lists, never
    # downloaded, is listed as an online scan lists it)
    assert {"README.md", "LICENSE", "notes.txt"} <= {f["path"] for f in offline["files"]}
    assert offline["card"]["license"] == "mit"


_SWAP = """
import os, sys
from scanner.errors import SourceError
from scanner.sources import open_target
snap = open_target("hf:acme/m")
real = snap.reader.local_path("LICENSE")
os.unlink(real)
os.symlink(sys.argv[1], real)
try:
    snap.reader.read_text("LICENSE")
except SourceError as exc:
    print(exc)
"""


def test_a_hub_cache_file_swapped_after_hashing_is_never_read(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("GNU GENERAL PUBLIC LICENSE, outside the cache\n")
    with HubServer({"acme/m": _small_repo()}) as hub:
        env = {**os.environ, **hub_env(tmp_path, hub.endpoint), "PYTHONPATH": str(REPO)}
        r = subprocess.run(
            [sys.executable, "-c", _SWAP, str(outside)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert r.returncode == 0, r.stderr
    assert "changed since it was hashed" in r.stdout

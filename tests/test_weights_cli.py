"""provscan compare / fingerprint / scan --against, run as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import synth


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli-models")
    vocab = {f"w{i}": i for i in range(400)}
    tok = json.dumps({"model": {"type": "WordLevel", "vocab": vocab, "unk_token": "w0"}})
    cfg = synth.llama_config(400, d=48, layers=3, heads=4, kv=4, ff=96)
    base = synth.random_llama(1, cfg)
    synth.save_model(root / "base", base, cfg, tok)
    synth.save_model(
        root / "derived", synth.rotate_residual(synth.perturb(base, 2, 0.1), 3), cfg, tok
    )
    card = "---\nlicense: mit\nbase_model: acme/upstream\n---\n"
    (root / "derived" / "README.md").write_text(card)
    synth.save_model(root / "other", synth.random_llama(7, cfg), cfg, tok)
    return root


def test_compare_prints_verdict_and_writes_json(cli, models: Path, tmp_path: Path) -> None:
    out = tmp_path / "c.json"
    r = cli("compare", str(models / "base"), str(models / "derived"), "--json", str(out))
    assert r.returncode == 0, r.stderr
    assert "verdict: derived (rotated)" in r.stdout
    data = json.loads(out.read_text())
    assert data["schema_version"] and data["verdict"] == "derived"
    assert data["relation"] == "rotated"
    sig = {s["name"]: s for s in data["signals"]}
    for key in ("score", "null_mean", "null_std", "z", "p_value", "robust_to"):
        assert key in sig["aligned_forms"]


def test_fingerprint_then_scan_against_it(cli, models: Path, tmp_path: Path) -> None:
    fp = tmp_path / "base.npz"
    r = cli("fingerprint", str(models / "base"), "-o", str(fp))
    assert r.returncode == 0, r.stderr and fp.is_file()
    report = tmp_path / "scan.json"
    r = cli("scan", str(models / "derived"), "--against", str(fp), "--json", str(report))
    assert r.returncode == 0, r.stderr
    findings = json.loads(report.read_text())["findings"]
    kinds = [f["kind"] for f in findings]
    assert "weights-derived" in kinds
    derived = next(f for f in findings if f["kind"] == "weights-derived")
    assert derived["evidence"]["z"] > 5 and "null_std" in derived["evidence"]
    # the card names acme/upstream, not this reference: the base is undeclared
    assert "undeclared-base-model" in kinds
    r = cli("scan", str(models / "other"), "--against", str(fp), "--json", str(report))
    kinds = [f["kind"] for f in json.loads(report.read_text())["findings"]]
    assert "weights-derived" not in kinds


def test_declared_base_is_not_reported_as_undeclared(cli, models: Path, tmp_path: Path) -> None:
    base_named = tmp_path / "acme" / "upstream"
    base_named.parent.mkdir()
    base_named.symlink_to(models / "base")
    report = tmp_path / "scan.json"
    r = cli("scan", str(models / "derived"), "--against", str(base_named), "--json", str(report))
    assert r.returncode == 0, r.stderr
    kinds = [f["kind"] for f in json.loads(report.read_text())["findings"]]
    assert "weights-derived" in kinds and "undeclared-base-model" not in kinds


def test_bad_reference_is_one_clear_line(cli, tmp_path: Path) -> None:
    bad = tmp_path / "m"
    bad.mkdir()
    (bad / "model.safetensors").write_bytes(b"\x05")
    r = cli("compare", str(bad), str(bad))
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "truncated" in r.stderr


def test_pickle_checkpoint_in_a_release_is_reported_not_loaded(
    cli, models: Path, tmp_path: Path
) -> None:
    import pickle
    import shutil

    rel = tmp_path / "rel"
    shutil.copytree(models / "other", rel)
    marker = tmp_path / "PWNED"

    class Boom:
        def __reduce__(self):
            return (Path.touch, (marker,))

    (rel / "pytorch_model.bin").write_bytes(pickle.dumps(Boom()))
    report = tmp_path / "r.json"
    r = cli("scan", str(rel), "--against", str(models / "base"), "--json", str(report))
    assert r.returncode == 0, r.stderr
    findings = json.loads(report.read_text())["findings"]
    assert any(
        f["kind"] == "not-analysed"
        and f["location"].get("path") == "pytorch_model.bin"
        and "pickle" in f["message"]
        for f in findings
    )
    assert not marker.exists()

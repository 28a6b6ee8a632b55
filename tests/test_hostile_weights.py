"""Nesting bombs in a model's JSON files (config, tokenizer) must not end the audit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import synth

BOMB = "[" * 100_000 + "]" * 100_000


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Path, Path]:
    vocab = {f"w{i}": i for i in range(200)}
    tok = json.dumps({"model": {"type": "WordLevel", "vocab": vocab, "unk_token": "w0"}})
    cfg = synth.llama_config(200, d=32, layers=2, heads=4, kv=4, ff=64)
    base = synth.random_llama(1, cfg)
    synth.save_model(tmp_path / "base", base, cfg, tok)
    synth.save_model(tmp_path / "release", synth.perturb(base, 2, 0.05), cfg, tok)
    return tmp_path / "base", tmp_path / "release"


@pytest.mark.parametrize("victim", ["config.json", "tokenizer.json"])
def test_nested_json_in_a_release_is_reported_and_the_scan_goes_on(
    cli, pair: tuple[Path, Path], tmp_path: Path, victim: str
) -> None:
    base, release = pair
    (release / victim).write_text(BOMB)
    (release / "LICENSE").write_text("MIT License\n")
    out = tmp_path / "out.json"
    r = cli("scan", str(release), "--against", str(base), "--json", str(out))
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr
    assert r.returncode == 0, r.stderr
    doc = json.loads(out.read_text())
    assert {f["path"] for f in doc["files"]} >= {"LICENSE", victim}


def test_nested_config_in_compare_is_one_line(cli, pair: tuple[Path, Path]) -> None:
    base, release = pair
    (release / "config.json").write_text(BOMB)
    r = cli("compare", str(base), str(release))
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr
    if r.returncode != 0:
        assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1

"""The fingerprint library names a release's base without --against.

The models are made with the tools people use: transformers builds and saves them
(safetensors), torch fine-tunes one with a few optimizer steps, gguf (llama.cpp's Python
package) quantizes one to Q8_0, a tokenizers BPE gives them their vocabulary. The library
holds two bases; a fine-tune and a quantization of one are found derived from it, an
independently initialised model of the same architecture matches nothing.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from ggufexport import write_gguf

torch = pytest.importorskip("torch", reason="the artefacts need the eval extra (torch)")
transformers = pytest.importorskip("transformers")
gguf = pytest.importorskip("gguf")
tokenizers = pytest.importorskip("tokenizers")

from scanner.analyzers import AuditOptions  # noqa: E402
from scanner.audit import analyze_target  # noqa: E402
from scanner.evidence import LibrarySearch, WeightsLineage  # noqa: E402
from scanner.weights.analyzer import WeightsAnalyzer  # noqa: E402
from scanner.weights.library import (  # noqa: E402
    LibraryError,
    LibraryStore,
    add_model,
    export_library,
    import_library,
)

VOCAB = 600
SHAPE = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2)


def _tokenizer_json() -> str:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    text = "".join(p.read_text() for p in sorted(Path("scanner").rglob("*.py"))[:60])
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator([text[i : i + 4096] for i in range(0, len(text), 4096)], trainer)
    return tok.to_str()


def _llama(seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    cfg = transformers.LlamaConfig(vocab_size=VOCAB, intermediate_size=128, **SHAPE)
    return transformers.LlamaForCausalLM(cfg)


def _save(model: torch.nn.Module, folder: Path, tok: str, card: str | None = None) -> Path:
    model.save_pretrained(folder, safe_serialization=True)
    (folder / "tokenizer.json").write_text(tok)
    if card is not None:
        (folder / "README.md").write_text(card)
    return folder


def _fine_tune(model: torch.nn.Module, steps: int = 30) -> torch.nn.Module:
    torch.manual_seed(11)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    for _ in range(steps):
        ids = torch.randint(0, VOCAB, (4, 32))
        loss = model(input_ids=ids, labels=ids).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("library-models")
    tok = _tokenizer_json()
    base = _llama(1)
    _save(base, root / "acme-base", tok)
    _save(_llama(2), root / "other-base", tok)
    _save(_llama(3), root / "unrelated", tok, "---\nlicense: mit\n---\n")
    card = "---\nlicense: apache-2.0\n---\n# Our own model\n"
    state = {k: v.detach().numpy().copy() for k, v in base.state_dict().items()}
    _save(_fine_tune(base), root / "fine-tune", tok, card)
    quant = root / "quantized"
    quant.mkdir()
    write_gguf(
        quant / "model-q8_0.gguf",
        {k: v for k, v in state.items() if "rotary" not in k},
        tok,
        heads=4,
        kv=2,
        quant=gguf.GGMLQuantizationType.Q8_0,
    )
    (quant / "README.md").write_text(card)
    return root


@pytest.fixture
def library(models: Path) -> LibraryStore:
    lib = LibraryStore()
    add_model(str(models / "acme-base"), "acme/base", lib=lib)
    add_model(str(models / "other-base"), "someone/other", lib=lib)
    return lib


def _weights_findings(target: Path) -> list:
    result = analyze_target(str(target), AuditOptions(), analyzers=[WeightsAnalyzer()])
    return list(result.findings)


def _search_record(findings: list) -> LibrarySearch:
    (search,) = [f for f in findings if f.kind == "library-search"]
    assert isinstance(search.evidence.details, LibrarySearch)
    return search.evidence.details


@pytest.mark.parametrize("release", ["fine-tune", "quantized"])
def test_a_fine_tune_and_a_quantization_name_their_base(
    models: Path, library: LibraryStore, release: str
) -> None:
    findings = _weights_findings(models / release)
    derived = [f for f in findings if f.kind == "weights-derived"]
    assert [f.evidence.matched for f in derived] == ["acme/base"]
    lineage = derived[0].evidence.details
    assert isinstance(lineage, WeightsLineage) and lineage.verdict == "derived"
    assert lineage.library_source == str((models / "acme-base").resolve())
    assert derived[0].evidence.z is not None and derived[0].evidence.z > 5
    undeclared = [f for f in findings if f.kind == "undeclared-base-model"]
    assert [f.evidence.matched for f in undeclared] == ["acme/base"]
    record = _search_record(findings)
    assert record.entries == 2 and record.candidates[0].name == "acme/base"
    assert all(c.name != "someone/other" or c.verdict != "derived" for c in record.candidates)


def test_the_base_is_named_before_a_shallower_sibling_derived_from_it(
    models: Path, library: LibraryStore, tmp_path: Path
) -> None:
    # Another fine-tune of the same base, held as an entry of one block only (a partial
    # fingerprint): related to the release too, but farther from it than their base is.
    from scanner.weights.fingerprint import fingerprint_of

    torch.manual_seed(5)
    sibling = _llama(1)
    with torch.no_grad():
        for p in sibling.parameters():
            p.add_(0.02 * p.std() * torch.randn_like(p))
    folder = _save(sibling, tmp_path / "sibling", _tokenizer_json())
    fp = fingerprint_of(str(folder))
    fp.forms = {k: v for k, v in fp.forms.items() if k.layer <= 0}
    fp.spectra = {k: v for k, v in fp.spectra.items() if k.layer <= 0}
    fp.tensors = {k: v for k, v in fp.tensors.items() if k.layer <= 0}
    fp.sketches = {k: v for k, v in fp.sketches.items() if k.layer <= 0}
    library.add("someone/sibling", str(folder), fp)
    record = _search_record(_weights_findings(models / "fine-tune"))
    matching = [c.name for c in record.candidates if c.verdict in ("identical", "derived")]
    assert matching[0] == "acme/base" and "someone/sibling" in matching


def test_an_unrelated_model_matches_nothing(models: Path, library: LibraryStore) -> None:
    findings = _weights_findings(models / "unrelated")
    kinds = {f.kind for f in findings}
    assert not kinds & {"weights-derived", "undeclared-base-model", "weights-lineage"}
    record = _search_record(findings)
    assert all(c.verdict not in ("identical", "derived") for c in record.candidates)


def test_a_declared_base_is_found_but_not_undeclared(
    models: Path, library: LibraryStore, tmp_path: Path
) -> None:
    release = tmp_path / "declared"
    release.mkdir()
    for f in (models / "fine-tune").iterdir():
        (release / f.name).write_bytes(f.read_bytes())
    (release / "README.md").write_text("---\nlicense: mit\nbase_model: acme/base\n---\n")
    kinds = [f.kind for f in _weights_findings(release)]
    assert "weights-derived" in kinds and "undeclared-base-model" not in kinds


def test_no_library_option_and_empty_library_search_nothing(models: Path) -> None:
    empty = _weights_findings(models / "fine-tune")
    assert not [f for f in empty if f.kind == "library-search"]
    lib = LibraryStore()
    add_model(str(models / "acme-base"), lib=lib)
    skipped = analyze_target(
        str(models / "fine-tune"), AuditOptions(library=False), analyzers=[WeightsAnalyzer()]
    )
    assert not [f for f in skipped.findings if f.kind.startswith(("library", "weights"))]


def test_scan_names_the_base_with_no_against(cli, models: Path, tmp_path: Path) -> None:
    r = cli("library", "add", str(models / "acme-base"), "--name", "acme/base")
    assert r.returncode == 0, r.stderr
    assert "added acme/base: llama, 2 layers, width 64" in r.stdout
    report = tmp_path / "scan.json"
    r = cli("scan", str(models / "quantized"), "--json", str(report))
    assert r.returncode == 0, r.stderr
    findings = json.loads(report.read_text())["findings"]
    undeclared = [f for f in findings if f["kind"] == "undeclared-base-model"]
    assert [f["evidence"]["matched"] for f in undeclared] == ["acme/base"]
    assert "weights derive from acme/base" in r.stdout
    search = next(f for f in findings if f["kind"] == "library-search")
    assert search["evidence"]["details"]["candidates"][0]["verdict"] == "derived"
    r = cli("scan", str(models / "quantized"), "--no-library", "--json", str(report))
    kinds = {f["kind"] for f in json.loads(report.read_text())["findings"]}
    assert not kinds & {"library-search", "weights-derived", "undeclared-base-model"}


def test_library_commands_add_list_export_import_remove(
    cli, models: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cli("library", "add", str(models / "acme-base")).returncode == 0
    r = cli("library", "add", str(models / "acme-base"))
    assert r.returncode == 2 and "already in the library" in r.stderr
    assert r.stderr.count("\n") == 1
    fp = tmp_path / "other.npz"
    assert cli("fingerprint", str(models / "other-base"), "-o", str(fp)).returncode == 0
    assert cli("library", "add", str(fp), "--name", "someone/other").returncode == 0
    listed = cli("library", "list").stdout
    assert listed.startswith("acme-base ") and "\nsomeone/other " in listed
    shared = tmp_path / "bases.provscan-library"
    r = cli("library", "export", str(shared))
    assert r.returncode == 0 and "exported 2 entries" in r.stdout
    # another user imports it: same entries, same search
    monkeypatch.setenv("PROVSCAN_HOME", str(tmp_path / "colleague"))
    r = cli("library", "import", str(shared))
    assert r.returncode == 0 and "imported 2 new" in r.stdout, r.stdout + r.stderr
    r = cli("library", "import", str(shared))
    assert "0 new, 0 replaced, 2 kept" in r.stdout
    assert cli("library", "list").stdout.startswith("acme-base ")
    assert cli("library", "remove", "acme-base").returncode == 0
    assert "acme-base" not in cli("library", "list").stdout
    r = cli("library", "remove", "acme-base")
    assert r.returncode == 2 and "no library entry named 'acme-base'" in r.stderr


def test_a_library_file_from_elsewhere_is_checked_entry_by_entry(
    models: Path, library: LibraryStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = tmp_path / "good.zip"
    export_library(library, good)
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(bad, "w") as dst:
        manifest = json.loads(src.read("manifest.json"))
        for i, e in enumerate(manifest["entries"]):
            blob = src.read(e["file"])
            if i == 0:  # content changed after export: the sha256 no longer holds
                blob = blob[:-10] + b"\0" * 10
            dst.writestr(e["file"], blob)
        manifest["entries"].append({"name": "\x1b[31mred", "file": "x", "sha256": "0"})
        manifest["entries"].append(
            {
                "name": "pickled",
                "file": "p.npz",
                "bytes": 3,
                "sha256": "0",
                "fingerprint_version": 4,
            }
        )
        dst.writestr("manifest.json", json.dumps(manifest))
    monkeypatch.setenv("PROVSCAN_HOME", str(tmp_path / "elsewhere"))
    fresh = LibraryStore()
    got = import_library(fresh, bad)
    assert got.added == ("someone/other",)
    assert len(got.refused) == 3
    assert "sha256" in got.refused[0] and "printable" in got.refused[1]
    assert [e.name for e in fresh.entries()] == ["someone/other"]
    not_zip = tmp_path / "x.zip"
    not_zip.write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(LibraryError, match="not a provscan library file"):
        import_library(fresh, not_zip)


def test_an_entry_of_an_older_fingerprint_format_is_listed_and_not_searched(
    models: Path, library: LibraryStore
) -> None:
    library.conn.execute("UPDATE library_entries SET fp_version = 3 WHERE name = 'acme/base'")
    library.conn.commit()
    assert library.stale() == ["acme/base"]
    findings = _weights_findings(models / "fine-tune")
    record = _search_record(findings)
    assert record.stale == ("acme/base",) and record.searched == 1
    assert "add them again" in next(f for f in findings if f.kind == "library-search").message
    assert not [f for f in findings if f.kind == "weights-derived"]


def test_fingerprints_are_stored_whole_and_read_back_the_same(
    models: Path, library: LibraryStore
) -> None:
    from scanner.weights.fingerprint import fingerprint_of

    again = fingerprint_of(str(models / "acme-base"))
    stored = library.fingerprint("acme/base")
    assert set(stored.tensors) == set(again.tensors)
    for key, sk in again.sketches.items():
        np.testing.assert_allclose(stored.sketches[key], sk, rtol=1e-2, atol=1e-3)


def test_a_missing_or_stale_index_key_is_remade_from_the_stored_fingerprint(
    models: Path, library: LibraryStore
) -> None:
    from scanner.weights.library.keys import KEY_VERSION

    with library.conn:
        library.conn.execute("DELETE FROM library_keys WHERE name = 'acme/base'")
        library.conn.execute(
            "UPDATE library_keys SET key_version = ? WHERE name = 'someone/other'",
            (KEY_VERSION + 1,),
        )
    keys = dict(library.index_keys())
    assert set(keys) == {"acme/base", "someone/other"}
    rows = library.conn.execute("SELECT name, key_version FROM library_keys ORDER BY name")
    assert rows.fetchall() == [("acme/base", KEY_VERSION), ("someone/other", KEY_VERSION)]
    library.remove("acme/base")
    names = library.conn.execute("SELECT name FROM library_keys").fetchall()
    assert names == [("someone/other",)]

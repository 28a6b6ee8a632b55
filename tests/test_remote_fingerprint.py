"""Remote fingerprints: `provscan fingerprint hf:...` against a real loopback Hub server
reads only byte ranges of the checkpoint (the server counts what it sent), and the
fingerprint it writes gives the verdicts a fingerprint of the whole local file gives."""

from __future__ import annotations

import json
from pathlib import Path

import gguf
import numpy as np
import pytest
import synth
from ggufexport import write_gguf

from scanner.weights.compare import compare_models
from scanner.weights.fingerprint import Fingerprint
from scanner.weights.units import Sampling
from tests.hubserver import HubRepo, HubServer
from tests.test_hub_source import hub_env

VOCAB = 8192
# 8 blocks of width 384 stored in float16: 24 M parameters, a 47 MB file (a Q8_0 GGUF of
# 25 MB), far above the fingerprint's TINY_BYTES, so the 2% share is the one real
# checkpoints get.
CFG = synth.llama_config(VOCAB, d=384, layers=8, heads=6, kv=2, ff=1536)
TOKENIZER = json.dumps(
    {"model": {"type": "WordLevel", "vocab": {f"w{i}": i for i in range(VOCAB)}, "unk_token": "w0"}}
)
MAX_SHARE = 0.02


def _f16(tensors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k: v.astype(np.float16) for k, v in tensors.items()}


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("remote")
    base = synth.random_llama(0, CFG)
    out = {
        "base": synth.save_model(root / "base", _f16(base), CFG, TOKENIZER),
        "derived": synth.save_model(
            root / "derived", _f16(synth.perturb(base, 1, 0.1)), CFG, TOKENIZER
        ),
        "unrelated": synth.save_model(
            root / "unrelated", _f16(synth.random_llama(7, CFG)), CFG, TOKENIZER
        ),
    }
    gguf_file = root / "base-gguf" / "model.gguf"
    gguf_file.parent.mkdir()
    write_gguf(gguf_file, base, TOKENIZER, 6, 2, gguf.GGMLQuantizationType.Q8_0)
    out["base-gguf"] = gguf_file.parent
    return out


def _repo(folder: Path) -> HubRepo:
    files = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    return HubRepo(files=files, lfs={n for n in files if n.endswith((".safetensors", ".gguf"))})


@pytest.mark.parametrize(
    ("repo", "weights"),
    [("base", "model.safetensors"), ("base-gguf", "model.gguf")],
)
def test_a_remote_fingerprint_reads_a_small_share_and_keeps_the_local_verdicts(
    models: dict[str, Path], cli, tmp_path: Path, repo: str, weights: str
) -> None:
    size = (models[repo] / weights).stat().st_size
    with HubServer({f"acme/{repo}": _repo(models[repo])}) as hub:
        proc = cli(
            "fingerprint",
            f"hf:acme/{repo}",
            "-o",
            str(tmp_path / "remote.npz"),
            env=hub_env(tmp_path, hub.endpoint),
        )
        served = hub.served.get(weights, 0)
    assert proc.returncode == 0, proc.stderr
    # every byte of the weight file the server sent: headers (the snapshot's too) and rows
    assert 0 < served <= MAX_SHARE * size, f"{served} of {size} bytes served"
    assert "read remotely:" in proc.stdout, proc.stdout
    remote_fp = Fingerprint.load(tmp_path / "remote.npz")
    assert remote_fp.meta["sampling_name"] == "remote"
    assert remote_fp.meta["remote_read"]["bytes"] <= served

    local = models[repo] / weights if weights.endswith(".gguf") else models[repo]
    for other, verdict in (("derived", "derived"), ("unrelated", "unrelated")):
        whole = compare_models(str(local), str(models[other]))  # both local, DEFAULT
        remote = compare_models(str(tmp_path / "remote.npz"), str(models[other]))
        assert whole.verdict == verdict, whole.reasons
        assert remote.verdict == whole.verdict, remote.reasons
        # fair: the side fingerprinted here read what the saved remote side read
        assert not any("different samplings" in r for r in remote.reasons)


def test_remote_reads_are_the_bytes_of_the_file(models: dict[str, Path], tmp_path: Path) -> None:
    """A remote read that the server answers short is an error, never zeros."""
    from scanner.weights.formats.interface import WeightFormatError
    from scanner.weights.formats.ranged import RangeMeter, RemoteFile

    data = (models["base"] / "model.safetensors").read_bytes()
    meter = RangeMeter(budget_bytes=1 << 20)
    full = RemoteFile("m", len(data), lambda s, n: data[s : s + n], meter)
    assert bytes(full.region(1000, 5000)) == data[1000:6000]
    full.want([(10_000, 100), (10_200, 100), (5_000_000, 100)])
    assert meter.requests == 3  # the first two ranges coalesced, the cached one not re-read
    assert bytes(full.region(10_050, 200)) == data[10_050:10_250]
    assert meter.requests == 3
    with pytest.raises(WeightFormatError, match="outside the file"):
        full.region(len(data) - 10, 20)
    short = RemoteFile("m", len(data), lambda s, n: data[s : s + n // 2], meter)
    with pytest.raises(WeightFormatError, match="sent"):
        short.region(0, 1000)
    with pytest.raises(WeightFormatError, match="budget"):
        full.region(20_000_000, 2 << 20)
    assert np.frombuffer(full.region(0, 8), dtype="<u8")[0] + 8 < len(data)


def test_a_byte_is_fetched_once_and_a_range_of_any_size_is_read_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A tensor's rows, then the whole tensor: only the bytes between the rows are fetched
    (the tiny suite's remote reads took 114% of a file in some runs); a range above the
    largest single request is put together from its requests (it raised AssertionError,
    e.g. `fingerprint hf:... --all-units` of a tensor over 16 MB)."""
    from scanner.weights.formats import ranged

    data = np.random.default_rng(0).integers(0, 256, 50_000, dtype=np.uint8).tobytes()
    monkeypatch.setattr(ranged, "MAX_REQUEST_BYTES", 4096)
    meter = ranged.RangeMeter(budget_bytes=1 << 20)
    f = ranged.RemoteFile("m", len(data), lambda s, n: data[s : s + n], meter)
    f.want([(1000, 500), (20_000, 500)])
    assert meter.bytes_read == 1000
    assert bytes(f.region(0, 30_000)) == data[:30_000]
    assert meter.bytes_read == 30_000  # every byte once
    assert bytes(f.region(900, 25_000)) == data[900:25_900]
    assert meter.bytes_read == 30_000
    assert bytes(f.region(0, 50_000)) == data
    assert meter.bytes_read == 50_000

    # readers on threads asking for overlapping ranges at once: each byte still once
    import threading
    import time

    def slow(s: int, n: int) -> bytes:
        time.sleep(0.05)
        return data[s : s + n]

    meter = ranged.RangeMeter(budget_bytes=1 << 20)
    f = ranged.RemoteFile("m", len(data), slow, meter)
    got: list[bool] = []
    spans = [(0, 20_000), (5_000, 20_000), (0, 50_000), (10_000, 100), (30_000, 20_000)]
    threads = [
        threading.Thread(
            target=lambda s=s, n=n: got.append(bytes(f.region(s, n)) == data[s : s + n])
        )
        for s, n in spans
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got == [True] * len(spans)
    assert meter.bytes_read == 50_000


def _opened_remotely(folder: Path):  # noqa: ANN202
    """A local model folder opened the way a Hub target is: its weight files by ranges."""
    from scanner.weights.loader import RemoteAccess, load_from_files

    files = sorted(p.name for p in folder.iterdir())

    def read(name: str, start: int, length: int) -> bytes:
        with open(folder / name, "rb") as fh:
            fh.seek(start)
            return fh.read(length)

    def size(name: str) -> int | None:
        return (folder / name).stat().st_size if name.endswith(".safetensors") else None

    return load_from_files(
        str(folder), files, lambda f: folder / f, RemoteAccess(size, read, 1 << 40)
    )


def test_a_tiny_checkpoint_read_remotely_takes_the_default_sampling(tmp_path: Path) -> None:
    from scanner.weights.fingerprint.extraction import extract, sampling_for

    cfg = synth.llama_config(200, d=32, layers=2, heads=4, kv=4, ff=64)
    folder = synth.save_model(tmp_path / "tiny", synth.random_llama(3, cfg), cfg, None)
    model = _opened_remotely(folder)
    try:
        assert model.remote is not None
        fp = extract(model, sampling=sampling_for(model))
    finally:
        model.close()
    assert fp.meta["sampling_name"] == "default"
    assert fp.meta["remote_read"]["bytes"] > 0


def test_fingerprints_of_different_samplings_compare_with_a_line_saying_so(
    models: dict[str, Path],
) -> None:
    from scanner.weights.compare import compare_fingerprints
    from scanner.weights.fingerprint import fingerprint_of
    from scanner.weights.units import DEFAULT, REMOTE

    remote = fingerprint_of(str(models["base"]), sampling=REMOTE)
    whole = fingerprint_of(str(models["derived"]), sampling=DEFAULT)
    cmp = compare_fingerprints(remote, whole)
    assert any("different samplings (remote and default)" in r for r in cmp.reasons)


def test_a_server_that_ignores_ranges_is_one_clear_error(
    models: dict[str, Path], cli, tmp_path: Path
) -> None:
    """Each of a remote fingerprint's reads would stream the file from its start."""
    repo = {"acme/base": _repo(models["base"])}
    with HubServer(repo, honour_range=False) as hub:
        proc = cli(
            "fingerprint",
            "hf:acme/base",
            "-o",
            str(tmp_path / "fp.npz"),
            env=hub_env(tmp_path, hub.endpoint),
        )
        weight_reads = [r for r in hub.log if r[1].endswith("model.safetensors") and r[2]]
    assert proc.returncode == 2, proc.stdout
    assert "ignores byte ranges" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(weight_reads) <= 4  # the snapshot's header reads, then the first refused


def test_a_relation_seen_only_in_remote_forms_is_not_claimed(
    models: dict[str, Path], tmp_path: Path
) -> None:
    """A rotated copy whose fingerprints keep only their forms (no sketches, no embedding
    rows: nothing else can decide): read with REMOTE on both sides those are the QK forms
    alone, which the null backgrounds do not calibrate, so no relation is claimed; the same
    forms of whole (DEFAULT) fingerprints decide `derived`."""
    from scanner.weights.compare import compare_fingerprints
    from scanner.weights.fingerprint import fingerprint_of
    from scanner.weights.units import DEFAULT, REMOTE

    rotated = synth.save_model(
        tmp_path / "rotated",
        _f16(synth.rotate_residual(synth.random_llama(0, CFG), 3)),
        CFG,
        TOKENIZER,
    )

    def forms_only(folder: Path, sampling: Sampling) -> Fingerprint:
        fp = fingerprint_of(str(folder), sampling=sampling)
        fp.sketches, fp.anchor_embed = {}, None
        return fp

    remote = compare_fingerprints(forms_only(models["base"], REMOTE), forms_only(rotated, REMOTE))
    assert remote.verdict == "inconclusive" and remote.relation is None
    assert any("REMOTE sampling" in r and "whole files" in r for r in remote.reasons)
    whole = compare_fingerprints(forms_only(models["base"], DEFAULT), forms_only(rotated, DEFAULT))
    assert whole.verdict == "derived"


def test_a_remote_gguf_measures_its_rounding_from_the_blocks_it_read(
    models: dict[str, Path],
) -> None:
    """The quantization step of a Q8_0 tensor comes from the heads of the blocks in the rows
    a remote reading fetched (no further request), the same as a local reading of those
    rows: every quantized block tensor of a REMOTE fingerprint carries its measured noise,
    remote and local alike."""
    from scanner.weights.fingerprint.extraction import extract
    from scanner.weights.formats.gguf import GGUFTensorReader
    from scanner.weights.formats.ranged import RangeFiles, RangeMeter, RemoteFile
    from scanner.weights.loader import RemoteAccess, load_from_files
    from scanner.weights.units import REMOTE

    path = models["base-gguf"] / "model.gguf"
    data = path.read_bytes()
    meter = RangeMeter(budget_bytes=1 << 30)
    rf = RemoteFile(path.name, len(data), lambda s, n: data[s : s + n], meter)
    remote = GGUFTensorReader(Path(path.name), RangeFiles({Path(path.name): rf}, meter))
    local = GGUFTensorReader(path)
    name = "blk.3.ffn_up.weight"
    rows = [(0, 4), (100, 102)]
    remote.read_units(name, 0, np.r_[0:4, 100:102])
    fetched = meter.bytes_read
    step = remote.step(name, rows)
    assert step is not None and step == local.step(name, rows)
    assert meter.bytes_read == fetched  # the rows' own bytes, fetched once
    assert remote.step(name) is None  # spread over the tensor: not fetched remotely
    remote.close()
    local.close()

    def read(f: str, start: int, n: int) -> bytes:
        return data[start : start + n]

    access = RemoteAccess(lambda f: len(data) if f == path.name else None, read, 1 << 40)
    fps = []
    for how in (access, None):
        model = load_from_files(str(path), [path.name], lambda f: path.parent / f, how)
        try:
            fps.append(extract(model, sampling=REMOTE))
        finally:
            model.close()
    quantized = [k for k, t in fps[0].tensors.items() if t["quantized"] and k.layer >= 0]
    assert quantized and all("noise" in fps[0].tensors[k] for k in quantized)
    assert all(fps[0].tensors[k]["noise"] == fps[1].tensors[k]["noise"] for k in quantized)

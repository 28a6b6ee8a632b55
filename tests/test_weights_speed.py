"""The fingerprint's speed devices change no figure: read-ahead thread, buffer reuse, hash."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest
import synth

from scanner.weights import prefetch
from scanner.weights.compare import fingerprint_of
from scanner.weights.formats.safetensors import SafetensorsReader, _BufferPool
from scanner.weights.sketch import ContentHash

TOK = json.dumps(
    {"model": {"type": "WordLevel", "vocab": {f"t{i}": i for i in range(3000)}, "unk_token": "t0"}}
)


def _save_bf16(folder: Path, tensors: dict[str, np.ndarray], cfg: dict) -> None:
    """A bf16 safetensors file written by hand (safetensors.numpy has no bfloat16)."""
    folder.mkdir(parents=True)
    header, blobs, pos = {}, [], 0
    for name in sorted(tensors):
        bits = np.ascontiguousarray(tensors[name], np.float32).view(np.uint32) >> 16
        blob = bits.astype("<u2").tobytes()
        header[name] = {
            "dtype": "BF16",
            "shape": list(tensors[name].shape),
            "data_offsets": [pos, pos + len(blob)],
        }
        blobs.append(blob)
        pos += len(blob)
    head = json.dumps(header).encode()
    with open(folder / "model.safetensors", "wb") as fh:
        fh.write(struct.pack("<Q", len(head)) + head + b"".join(blobs))
    (folder / "config.json").write_text(json.dumps(cfg))
    (folder / "tokenizer.json").write_text(TOK)


def test_content_hash_is_the_same_fed_whole_or_in_chunks_and_sees_one_value() -> None:
    x = np.random.default_rng(0).standard_normal(64 * 4096 * 3 + 5).astype(np.float32)
    whole = ContentHash(x.size)
    whole.feed(x)
    for step in (77, 4096, 100_003):
        parts = ContentHash(x.size)
        for i in range(0, x.size, step):
            parts.feed(x[i : i + step])
        assert parts.digest() == whole.digest()
    for i in (1, 4097, x.size // 2 + 1, x.size - 1):  # sampled and unsampled places
        y = x.copy()
        y[i] = np.nextafter(y[i], np.float32(np.inf))
        other = ContentHash(y.size)
        other.feed(y)
        assert other.digest() != whole.digest(), i


def test_read_ahead_thread_gives_the_same_fingerprint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # ff * d >= 1M elements: the MLP reads go through the reused output buffers
    cfg = synth.llama_config(3000, d=256, layers=3, heads=4, kv=2, ff=4096)
    _save_bf16(tmp_path / "m", synth.random_llama(5, cfg), cfg)
    ahead = fingerprint_of(str(tmp_path / "m"))
    monkeypatch.setattr(prefetch.Prefetcher, "_fill", lambda self: None)  # all inline
    inline = fingerprint_of(str(tmp_path / "m"))
    assert ahead.tensors == inline.tensors
    assert ahead.forms.keys() == inline.forms.keys() and ahead.forms
    for k in inline.forms:
        np.testing.assert_array_equal(ahead.forms[k], inline.forms[k])
    for k in inline.sketches:
        np.testing.assert_array_equal(ahead.sketches[k], inline.sketches[k])


def test_reused_buffer_is_never_handed_out_while_held(tmp_path: Path) -> None:
    cfg = synth.llama_config(3000, d=256, layers=2, heads=4, kv=2, ff=4096)
    t = synth.random_llama(6, cfg)
    _save_bf16(tmp_path / "m", t, cfg)
    reader = SafetensorsReader([tmp_path / "m" / "model.safetensors"])
    names = [n for n in sorted(t) if t[n].size >= 1 << 20]
    assert len(names) >= 4
    held, copies = [], []
    for n in names:
        held.append(reader.read(n))
        copies.append(held[-1].copy())  # before the next read could overwrite it
    for n in reversed(names * 2):
        reader.read(n)
    for a, c in zip(held, copies, strict=True):
        np.testing.assert_array_equal(a, c)


def test_full_buffer_pool_evicts_idle_buffers_of_other_sizes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_BufferPool, "MAX_BYTES", 8 << 20)
    pool = _BufferPool()
    held = [pool.take(500_000) for _ in range(4)]  # 2 MB each: the pool is full
    assert all(b is not None for b in held) and len({id(b) for b in held}) == 4
    assert pool.take(400_000) is None  # nothing idle to evict
    del held
    other = pool.take(400_000)  # evicts one idle buffer
    assert other is not None and other.size == 400_000
    assert sum(b.nbytes for b in pool._bufs) <= 8 << 20
    again = pool.take(400_000)
    assert again is not None and again is not other


def test_tensors_read_before_the_probe_get_the_same_responses(tmp_path: Path) -> None:
    from scanner.weights.fingerprint.reading import TensorPass
    from scanner.weights.loader import load_model
    from scanner.weights.roles import RoleKey

    cfg = synth.llama_config(3000, d=256, layers=2, heads=4, kv=2, ff=4096)
    _save_bf16(tmp_path / "m", synth.random_llama(8, cfg), cfg)
    model = load_model(str(tmp_path / "m"))
    tp = TensorPass(model)
    probes = tp.probes
    probes.matrix = np.random.default_rng(2).standard_normal((32, 256)).astype(np.float32)
    probes.gains = {(n, 0): np.full(256, 1.5, np.float32) for n in ("attn_norm", "mlp_norm")}
    for role in ("attn_q", "attn_k", "attn_o", "mlp_up", "mlp_down"):
        ct = tp.geometry.by_key[RoleKey(role, 0)]
        probes.ready.clear()
        early = tp.job(ct, tp.loader)
        assert early.late and early.resp is None and early.arr is not None
        early.probe_now(probes.probe_for(ct, early.arr.shape), keep_arr=False)
        probes.ready.set()
        ontime = tp.job(ct, tp.loader)
        assert not early.late and early.arr is None and ontime.resp is not None
        np.testing.assert_allclose(early.resp, ontime.resp, rtol=1e-5, atol=1e-6)
        assert early.entry == ontime.entry  # statistics do not depend on when
        if role == "mlp_up":
            np.testing.assert_allclose(early.norms, ontime.norms, rtol=1e-6)
    model.close()


def test_a_failure_while_workers_wait_for_the_probe_ends_the_extraction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from scanner.weights.fingerprint import extraction, reading
    from scanner.weights.loader import load_model

    cfg = synth.llama_config(3000, d=64, layers=2, heads=4, kv=2, ff=128)
    _save_bf16(tmp_path / "m", synth.random_llama(9, cfg), cfg)
    monkeypatch.setattr(reading, "EARLY_MAX_BYTES", 0)  # every early job waits for the probe

    def broken(vocab: object) -> np.ndarray:
        raise ValueError("no anchors today")

    monkeypatch.setattr(extraction, "token_hashes", broken)
    model = load_model(str(tmp_path / "m"))
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            extraction.extract(model)
        except ValueError as exc:
            outcome.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(timeout=60)
    assert not worker.is_alive(), "the workers waiting for the probe were never released"
    assert outcome and "no anchors today" in str(outcome[0])
    model.close()


def test_dropping_mapped_pages_between_reads_changes_no_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scanner.weights.formats import mapped

    cfg = synth.llama_config(3000, d=256, layers=2, heads=4, kv=2, ff=4096)
    _save_bf16(tmp_path / "m", synth.random_llama(12, cfg), cfg)
    kept = fingerprint_of(str(tmp_path / "m"))
    monkeypatch.setattr(mapped, "RELEASE_BYTES", 1)  # drop the pages after every tensor
    dropped = fingerprint_of(str(tmp_path / "m"))
    assert kept.tensors == dropped.tensors
    for k in kept.forms:
        np.testing.assert_array_equal(kept.forms[k], dropped.forms[k])
    reader = SafetensorsReader([tmp_path / "m" / "model.safetensors"])
    name = reader.tensors()[0].name
    first = reader.read_units(name, 0, None)
    reader.close()  # and a read after close() maps the file again
    assert first is not None and reader.read_units(name, 0, None) is not None

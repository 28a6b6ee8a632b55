"""Fingerprinting speed and memory on a checkpoint of 4 GB or more, against this machine's limit.

    python bench/fingerprint_bench.py [--size-gb 4.4] [--dir /tmp] [--out FILE] [--keep]

Writes a synthetic Llama-shaped checkpoint (bf16, sharded safetensors with its index, config
and a BPE tokenizer) into a temporary folder, then measures in the same run:
  - the limit: a numpy memmap pass that reads every byte of the same shards (sum per chunk);
  - `provscan fingerprint MODEL -o FILE` in a child process: wall time and peak RSS
    (ru_maxrss of exactly that child, plus anonymous / file-backed peaks sampled from /proc).
Both run cold (page cache dropped, where the kernel lets us) and warm (the best of RUNS runs
each, after a pass that puts every page in the cache); warm also times `sha256sum` over the
shards, what one would otherwise run to recognise a checkpoint. The fingerprint reads the
first eighth of the units of wide matrices (scanner/weights/units.py); the figure of the
share of values it reads is printed. The checkpoint is deleted afterwards unless --keep.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.machine import describe  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARD_BYTES = 1 << 30
RUNS = 3  # warm: the best of this many runs, for the limit and for the fingerprint alike


def llama_shapes() -> tuple[dict, list[tuple[str, tuple[int, ...]]]]:
    """A Llama-2-like geometry (2560 wide); the depth is chosen to reach the size asked."""
    cfg = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": 2560,
        "intermediate_size": 6912,
        "num_attention_heads": 20,
        "num_key_value_heads": 20,
        "head_dim": 128,
        "hidden_act": "silu",
        "max_position_embeddings": 4096,
        "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0,
        "tie_word_embeddings": False,
        "torch_dtype": "bfloat16",
        "bos_token_id": 0,
        "eos_token_id": 1,
    }
    d, inter = cfg["hidden_size"], cfg["intermediate_size"]
    layer = [
        ("input_layernorm.weight", (d,)),
        ("self_attn.q_proj.weight", (d, d)),
        ("self_attn.k_proj.weight", (d, d)),
        ("self_attn.v_proj.weight", (d, d)),
        ("self_attn.o_proj.weight", (d, d)),
        ("post_attention_layernorm.weight", (d,)),
        ("mlp.gate_proj.weight", (inter, d)),
        ("mlp.up_proj.weight", (inter, d)),
        ("mlp.down_proj.weight", (d, inter)),
    ]
    return cfg, layer


def write_checkpoint(folder: Path, size_bytes: int, seed: int = 0) -> int:
    """Sharded bf16 safetensors written tensor by tensor (bounded memory); returns bytes."""
    from bench.lineage.corpus import corpus, tokenizer_json, train_tokenizer

    tok = train_tokenizer(corpus("code") + corpus("prose"), 32000)
    vocab = tok.get_vocab_size()
    cfg, layer = llama_shapes()
    d = cfg["hidden_size"]
    per_layer = 2 * sum(int(np.prod(s)) for _, s in layer)
    layers = max(1, -(-(size_bytes - 4 * vocab * d) // per_layer))
    cfg.update(num_hidden_layers=layers, vocab_size=vocab)
    tensors: list[tuple[str, tuple[int, ...]]] = [("model.embed_tokens.weight", (vocab, d))]
    for i in range(layers):
        tensors += [(f"model.layers.{i}.{n}", s) for n, s in layer]
    tensors += [("model.norm.weight", (d,)), ("lm_head.weight", (vocab, d))]

    rng = np.random.default_rng(seed)
    pool = rng.standard_normal(1 << 24, dtype=np.float32)  # 64 MB of N(0,1) to slice from
    shards: list[list[tuple[str, tuple[int, ...]]]] = [[]]
    size = 0
    for name, shape in tensors:
        nbytes = 2 * int(np.prod(shape))
        if size and size + nbytes > SHARD_BYTES:
            shards.append([])
            size = 0
        shards[-1].append((name, shape))
        size += nbytes
    weight_map, total = {}, 0
    for k, shard in enumerate(shards):
        fname = f"model-{k + 1:05d}-of-{len(shards):05d}.safetensors"
        total += _write_shard(folder / fname, shard, pool, rng)
        weight_map.update({name: fname for name, _ in shard})
    (folder / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}, indent=1)
    )
    (folder / "config.json").write_text(json.dumps(cfg, indent=2))
    (folder / "tokenizer.json").write_text(tokenizer_json(tok))
    return total


def large_vocabulary(model: Path, folder: Path, n: int = 128_000) -> Path | None:
    """The same checkpoint with an n-token tokenizer.json (Llama 3 size, merges included):
    parsing a large vocabulary is part of every fingerprint of such a model. Hard links to
    the shards; None where the folders are on different file systems."""
    import re

    from bench.lineage.corpus import corpus
    from scanner.weights.tokens import _byte_decoder

    folder.mkdir()
    try:
        for f in model.iterdir():
            if f.name != "tokenizer.json":
                os.link(f, folder / f.name)
    except OSError:
        shutil.rmtree(folder, ignore_errors=True)
        return None
    to_char = {b: c for c, b in _byte_decoder().items()}
    words = sorted(set(re.findall(r" ?\w+| ?[^\w\s]+", corpus("code") + corpus("prose"))))
    words += [f" w{i}" for i in range(max(0, n - len(words)))]
    tokens = ["".join(to_char[b] for b in w.encode()) for w in words[:n]]
    doc = {
        "version": "1.0",
        "added_tokens": [
            {"id": n + i, "content": f"<|reserved_{i}|>", "special": True} for i in range(256)
        ],
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False},
        "decoder": {"type": "ByteLevel"},
        "model": {
            "type": "BPE",
            "vocab": {t: i for i, t in enumerate(tokens)},
            "merges": [[t[: len(t) // 2], t[len(t) // 2 :]] for t in tokens if len(t) > 1],
        },
    }
    (folder / "tokenizer.json").write_text(json.dumps(doc, indent=1, ensure_ascii=False))
    return folder


def _bf16(x: np.ndarray) -> np.ndarray:
    return (x.astype(np.float32).view(np.uint32) >> 16).astype(np.uint16)


def _write_shard(path: Path, shard: list, pool: np.ndarray, rng: np.random.Generator) -> int:
    header, offset = {}, 0
    for name, shape in shard:
        nbytes = 2 * int(np.prod(shape))
        header[name] = {
            "dtype": "BF16",
            "shape": list(shape),
            "data_offsets": [offset, offset + nbytes],
        }
        offset += nbytes
    header["__metadata__"] = {"format": "pt"}
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    with path.open("wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for name, shape in shard:
            n = int(np.prod(shape))
            if "norm" in name:
                values = 1.0 + 0.1 * rng.standard_normal(n, dtype=np.float32)
            else:
                start = int(rng.integers(0, pool.size))
                values = np.resize(np.roll(pool, -start), n) * (0.02 + 0.01 * rng.random())
            for i in range(0, n, 1 << 24):  # 32 MB pieces keep the writer's memory small
                f.write(_bf16(values[i : i + (1 << 24)]).tobytes())
    return offset


def drop_page_cache() -> bool:
    """Cold-cache runs need root; say so rather than pretend when we cannot."""
    try:
        subprocess.run(["sync"], check=True)
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return True
    except OSError:
        return False


def mmap_pass(files: list[Path]) -> float:
    """Seconds to read every byte through numpy memmap (sum per 64 MB chunk)."""
    started = time.perf_counter()
    acc = 0
    for path in files:
        mm = np.memmap(path, dtype=np.uint8, mode="r")
        words = mm[: mm.size // 8 * 8].view(np.uint64)
        for i in range(0, words.size, 1 << 23):
            acc ^= int(np.bitwise_xor.reduce(words[i : i + (1 << 23)]))
        del words, mm
    return time.perf_counter() - started


def _sample_memory(pid: int, peaks: dict[str, int], stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                key, _, rest = line.partition(":")
                if key in ("RssAnon", "RssFile"):
                    peaks[key] = max(peaks.get(key, 0), int(rest.split()[0]) * 1024)
        except (OSError, ValueError, IndexError):
            pass
        stop.wait(0.05)


# The child reports its own VmHWM: ru_maxrss from wait4 also counts the parent's pages the
# child held between fork and exec, which would charge the benchmark's memory to provscan.
_CHILD = """
import sys
from scanner.cli import main
argv = ["fingerprint", sys.argv[1], "-o", sys.argv[2]]
if sys.argv[3] == "profile":
    import cProfile, pstats  # only here: not part of the command being measured
    prof = cProfile.Profile()
    rc = prof.runcall(main, argv)
    pstats.Stats(prof, stream=sys.stdout).sort_stats("tottime").print_stats(12)
else:
    rc = main(argv)
status = open("/proc/self/status").read().splitlines()
print("PEAK", [l.split()[1] for l in status if l.startswith("VmHWM")][0])
sys.exit(rc)
"""


def run_fingerprint(model: Path, out: Path, profile: bool = False) -> dict:
    """`provscan fingerprint` in a child: wall seconds, peak RSS, anon/file peaks, output."""
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(model), str(out), "profile" if profile else "plain"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    peaks: dict[str, int] = {}
    stop = threading.Event()
    sampler = threading.Thread(target=_sample_memory, args=(proc.pid, peaks, stop), daemon=True)
    sampler.start()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    stop.set()
    sampler.join()
    output = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
    peak = [line.split()[1] for line in output.splitlines() if line.startswith("PEAK ")]
    return {
        "seconds": seconds,
        "exit": os.waitstatus_to_exitcode(status),
        "max_rss": int(peak[0]) * 1024 if peak else usage.ru_maxrss * 1024,
        "cpu": usage.ru_utime + usage.ru_stime,
        "anon_peak": peaks.get("RssAnon", 0),
        "file_peak": peaks.get("RssFile", 0),
        "output": output.strip(),
    }


def values_read(fingerprint: Path) -> float:
    """Share of the checkpoint's values the fingerprint read, from its own tensor table."""
    sys.path.insert(0, str(REPO))
    from scanner.weights.fingerprint import Fingerprint

    fp = Fingerprint.load(fingerprint)
    total = sum(int(np.prod(t["shape"])) for t in fp.tensors.values())
    read = sum(int(np.prod(t.get("read", t["shape"]))) for t in fp.tensors.values())
    return read / max(total, 1)


def python_startup() -> float:
    """Seconds to start Python and import the CLI: a fixed cost inside every run."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", "import scanner.cli, scanner.weights.compare"], env=env, check=True
    )
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-gb", type=float, default=4.4)
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("--out", type=Path, default=REPO / "bench/results/fingerprint.txt")
    parser.add_argument("--keep", action="store_true", help="keep the generated checkpoint")
    parser.add_argument("--model", type=Path, help="reuse a checkpoint written by --keep")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also profile a third (warm) run and print where its time goes",
    )
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="provscan-fpbench-", dir=args.dir))
    lines = ["# provscan fingerprint benchmark", f"# machine: {describe(REPO)}"]

    def log(text: str) -> None:
        print(text, flush=True)
        lines.append(text)

    try:
        t0 = time.perf_counter()
        if args.model is not None:
            model = args.model
        else:
            model = work / "model"
            model.mkdir()
            write_checkpoint(model, int(args.size_gb * 1e9))
        files = sorted(model.glob("*.safetensors"))
        total = sum(f.stat().st_size for f in files)
        log(
            f"checkpoint: {total / 1e9:.2f} GB bf16 in {len(files)} shards ({model}), "
            f"ready in {time.perf_counter() - t0:.0f}s"
        )
        log(f"python start + import of the CLI: {python_startup():.2f}s (inside each run)")
        figures = {}
        read_share: dict[str, float] = {}
        for mode in ("cold", "warm"):
            if mode == "cold" and not drop_page_cache():
                log("cold: cannot drop the page cache (not root); warm figures only")
                continue
            if mode == "warm":
                mmap_pass(files)  # every page in the cache (the cold run read only some)
                limit = min(mmap_pass(files) for _ in range(RUNS))
                runs = [run_fingerprint(model, work / f"fp-{mode}.npz") for _ in range(RUNS)]
                fp = min(runs, key=lambda r: r["seconds"])
                times = ", ".join(f"{r['seconds']:.2f}s" for r in runs)
                log(f"warm: best of {RUNS} runs each; fingerprint runs {times}")
            else:
                limit = mmap_pass(files)
                drop_page_cache()
                fp = run_fingerprint(model, work / f"fp-{mode}.npz")
            if fp["exit"] != 0:
                log(f"{mode}: provscan fingerprint failed (exit {fp['exit']}): {fp['output']}")
                continue
            figures[mode] = (limit, fp)
            fp_size = (work / f"fp-{mode}.npz").stat().st_size
            if mode not in read_share:
                read_share[mode] = values_read(work / f"fp-{mode}.npz")
            log(
                f"{mode}: memmap read limit {total / limit / 1e9:6.2f} GB/s ({limit:.1f}s); "
                f"fingerprint {total / fp['seconds'] / 1e9:6.2f} GB/s ({fp['seconds']:.1f}s, "
                f"cpu {fp['cpu']:.1f}s) = {100 * limit / fp['seconds']:.0f}% of the limit"
            )
            log(
                f"{mode}: peak RSS (VmHWM) {fp['max_rss'] / 2**20:.0f} MiB (sampled: anonymous "
                f"{fp['anon_peak'] / 2**20:.0f} MiB, file-backed mapped pages "
                f"{fp['file_peak'] / 2**20:.0f} MiB); fingerprint file {fp_size / 1e6:.2f} MB "
                f"= {100 * fp_size / total:.3f}% of the checkpoint"
            )
        if "warm" in figures:
            large = large_vocabulary(model, work / "model-128k")
            if large is None:
                log(
                    "warm, 128k-token tokenizer: skipped (the checkpoint is on another file "
                    "system than --dir)"
                )
            else:
                seconds = [
                    run_fingerprint(large, work / "fp-128k.npz")["seconds"] for _ in range(RUNS)
                ]
                size = (large / "tokenizer.json").stat().st_size
                own = json.loads((model / "config.json").read_text())["vocab_size"]
                log(
                    f"warm, the same weights with a 128k-token tokenizer.json ({size / 1e6:.1f} "
                    f"MB, Llama 3 size; the bench's own has {own} tokens): fingerprint runs "
                    f"{', '.join(f'{t:.2f}s' for t in seconds)} = "
                    f"{100 * figures['warm'][0] / min(seconds):.0f}% of the limit"
                )
        if args.profile:
            fp = run_fingerprint(model, work / "fp-profile.npz", profile=True)
            log("profile of a warm run (cProfile adds overhead):")
            log(
                "\n".join(
                    line
                    for line in fp["output"].splitlines()
                    if line.strip() and not line.startswith("PEAK")
                )
            )
        if "warm" in figures:
            # what a user would otherwise run to recognise a checkpoint: a checksum of its bytes
            started = time.perf_counter()
            subprocess.run(["sha256sum", *map(str, files)], check=True, capture_output=True)
            sha = time.perf_counter() - started
            fp_warm = figures["warm"][1]["seconds"]
            log(
                f"warm: sha256sum of the same shards {total / sha / 1e9:6.2f} GB/s ({sha:.1f}s): "
                f"the fingerprint takes {fp_warm / sha:.2f}x its time"
            )
        if read_share:
            share = next(iter(read_share.values()))
            log(
                f"the fingerprint reads {100 * share:.0f}% of the weights' values (the units "
                "of wide matrices it samples, see scanner/weights/units.py); the limit reads "
                "every byte"
            )
        for mode, (limit, fp) in figures.items():
            ratio = limit / fp["seconds"]
            met = "met" if ratio >= 0.5 else "NOT met"
            log(
                f"target {mode}: throughput >= 50% of the limit: {met} ({100 * ratio:.0f}%); "
                f"peak RSS <= 1 GiB: {'met' if fp['max_rss'] <= 2**30 else 'NOT met'} "
                f"({fp['max_rss'] / 2**30:.2f} GiB)"
            )
    finally:
        if args.keep:
            print(f"checkpoint kept in {work / 'model'}")
            for f in work.glob("fp-*.npz"):
                f.unlink()
        else:
            shutil.rmtree(work, ignore_errors=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

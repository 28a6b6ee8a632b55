"""Opening a GGUF file with a Llama 3 sized vocabulary: provscan's parser against gguf-py's.

    python bench/gguf_bench.py [--tokens 128000] [--out FILE]

Writes a GGUF whose metadata is what llama.cpp's converter stores for a Llama 3 model (128k
token strings, as many merges, token types and scores) and a few small tensors, then times,
in the same run, the best of 3 of:
  - provscan: GGUFTensorReader(path) and its metadata (the token list included);
  - gguf-py, what one would otherwise use: gguf.GGUFReader(path) and the token list.
Both must list the same tensors and tokens; the figures and the machine are printed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import gguf
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.machine import describe  # noqa: E402
from scanner.weights.formats.gguf import GGUFTensorReader  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
RUNS = 3


def write(path: Path, n_tokens: int) -> None:
    tokens = [f"Ġtok{i}" if i % 3 else f"piece{i}" for i in range(n_tokens)]
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_block_count(1)
    w.add_embedding_length(64)
    w.add_tokenizer_model("gpt2")
    w.add_token_list(tokens)
    w.add_token_merges([f"Ġ tok{i}" for i in range(n_tokens)])
    w.add_token_types([1] * n_tokens)
    w.add_token_scores([0.0] * n_tokens)
    rng = np.random.default_rng(0)
    for i in range(4):
        w.add_tensor(
            f"blk.0.w{i}.weight",
            gguf.quants.quantize(
                rng.standard_normal((256, 256)).astype(np.float32), gguf.GGMLQuantizationType.Q8_0
            ),
            raw_dtype=gguf.GGMLQuantizationType.Q8_0,
        )
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def ours(path: Path) -> tuple[list[str], list[str]]:
    r = GGUFTensorReader(path)
    tokens = list(r.metadata()["tokenizer.ggml.tokens"])
    names = [m.name for m in r.tensors()]
    r.close()
    return names, tokens


def theirs(path: Path) -> tuple[list[str], list[str]]:
    r = gguf.GGUFReader(str(path))
    return [t.name for t in r.tensors], r.fields["tokenizer.ggml.tokens"].contents()


def best(
    fn: Callable[[Path], tuple[list[str], list[str]]], path: Path
) -> tuple[float, tuple[list[str], list[str]]]:
    times, out = [], None
    for _ in range(RUNS):
        started = time.perf_counter()
        out = fn(path)
        times.append(time.perf_counter() - started)
    assert out is not None
    return min(times), out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=128_000)
    parser.add_argument("--out", type=Path, default=REPO / "bench/results/gguf_open.txt")
    args = parser.parse_args(argv)
    lines = ["# provscan GGUF open benchmark", f"# machine: {describe(REPO)}"]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "vocab.gguf"
        write(path, args.tokens)
        size = path.stat().st_size
        t_ours, got = best(ours, path)
        t_theirs, ref = best(theirs, path)
    assert got == ref, "provscan and gguf-py disagree on the tensors or the tokens"
    lines += [
        f"file: {size / 1e6:.1f} MB of metadata for {args.tokens} tokens (token list, "
        "merges, types, scores) and 4 Q8_0 tensors",
        f"provscan GGUFTensorReader + metadata: {t_ours * 1000:.0f} ms (best of {RUNS})",
        f"gguf-py GGUFReader + token list:      {t_theirs * 1000:.0f} ms (best of {RUNS})",
        f"provscan opens it {t_theirs / t_ours:.0f}x faster; both list the same tensors and tokens",
    ]
    print("\n".join(lines))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

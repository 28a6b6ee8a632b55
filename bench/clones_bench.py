"""Index build and query time of the clones analyzer on transformers' models/ tree.

Builds a corpus of the installed transformers package's models/ tree (every .py file,
__pycache__ skipped) with forked workers on every core, then times the query of each file
of the tree (tokenise, fingerprint, look up, rank; what a scan does per code file).
For scale, in the same run: reading the files (the I/O floor) and lexing a sample with
pygments, the lexer a user would reach for. Writes the figures to bench/results/clones.txt.

Usage: python bench/clones_bench.py [--queries N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repo, for bench.*
from bench.machine import describe as machine  # noqa: E402
from scanner.code import clones  # noqa: E402
from scanner.code.corpus import add_corpus, load_corpora, workers  # noqa: E402
from scanner.code.tokens import tokenize  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "clones.txt"


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} cores"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--queries", type=int, default=0, help="query only every n-th file (0: all files)"
    )
    args = parser.parse_args()
    models = Path(__import__("transformers").__file__).resolve().parent / "models"
    files = sorted(p for p in models.rglob("*.py") if "__pycache__" not in p.parts)
    lines = [f"machine: {machine()}", f"before: {load()}"]

    started = time.perf_counter()
    texts = [p.read_bytes() for p in files]
    read_s = time.perf_counter() - started
    size = sum(len(t) for t in texts)
    lines.append(f"tree: {len(files)} .py files, {size / 1e6:.1f} MB; reading them: {read_s:.2f} s")

    with tempfile.TemporaryDirectory() as home:
        os.environ["PROVSCAN_HOME"] = home
        started = time.perf_counter()
        info = add_corpus("transformers-models", "pkg:transformers/models")
        build_s = time.perf_counter() - started
        started = time.perf_counter()
        corpora = load_corpora()
        load_s = time.perf_counter() - started
        db_mb = (Path(home) / "store.sqlite3").stat().st_size / 1e6
        lines.append(
            f"index build: {build_s:.1f} s with {workers()} forked workers "
            f"({info.files} files, {info.fingerprints} fingerprints, store "
            f"{db_mb:.0f} MB); target: 60 s"
        )
        lines.append(f"index load per scan: {load_s * 1e3:.0f} ms")

        step = max(1, args.queries)
        times = []
        for raw in texts[::step]:
            text = raw.decode("utf-8", errors="replace")
            t0 = time.perf_counter()
            clones.scan_text(text, "python", corpora)
            times.append(time.perf_counter() - t0)
        times.sort()
        p95 = times[min(len(times) - 1, int(0.95 * len(times)))]
        lines.append(
            f"query per file ({len(times)} files): median "
            f"{statistics.median(times) * 1e3:.1f} ms, p95 {p95 * 1e3:.1f} ms, max "
            f"{times[-1] * 1e3:.0f} ms; target: median 50 ms"
        )

    # The same lexing with pygments, on a sample, for scale (single process both).
    from pygments.lexers import PythonLexer

    sample = [t.decode("utf-8", errors="replace") for t in texts[::20]]
    sample_mb = sum(len(t) for t in sample) / 1e6
    t0 = time.perf_counter()
    for t in sample:
        tokenize(t, "python")
    ours = time.perf_counter() - t0
    lexer = PythonLexer()
    t0 = time.perf_counter()
    for t in sample:
        for _ in lexer.get_tokens_unprocessed(t):
            pass
    theirs = time.perf_counter() - t0
    lines.append(
        f"lexing {sample_mb:.1f} MB, one process: ours {sample_mb / ours:.1f} MB/s, "
        f"pygments {sample_mb / theirs:.1f} MB/s (x{theirs / ours:.1f})"
    )
    lines.append(f"after: {load()}")
    text = "\n".join(lines) + "\n"
    print(text, end="")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text)
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()

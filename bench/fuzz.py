"""The long fuzz run (`make fuzz`): N inputs a parser, --lanes parsers at a time.

Each target of tests/fuzzing/targets.py runs in worker processes (a fresh one every
--per-worker inputs), input k being the same on every machine (a seed mutated by
Random(k)). Each input's outcome is its run returning, provscan's own error (a clean one
line, a not-analysed finding in a scan), or anything else (a crash). Figures: counts of
each outcome, the slowest input, the peak RSS of any worker (wait4), the wall time; inputs
over --slow seconds and inputs that hang (no answer in --hang seconds: the worker is
killed and the run goes on after it) are counted and saved with the crashes.

    python bench/fuzz.py --inputs 100000 --out bench/results/fuzz.txt
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import resource
import selectors
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the repo, for bench.*, scanner and tests.*
from bench.machine import describe as machine  # noqa: E402

CRASHES = ROOT / "bench" / "results" / "fuzz-crashes"
ADDRESS_SPACE = 6 << 30
"""A worker's address-space cap: a runaway input fails there (MemoryError, a crash)
instead of taking the machine. The figure that counts is the peak RSS, reported."""


def input_rng(target: str, k: int) -> random.Random:
    return random.Random(f"{target}:{k}")


# ---- the worker -------------------------------------------------------------------------------


def work(target_name: str, start: int, count: int) -> None:
    """Run inputs start .. start+count-1 of a target; one JSON line per input on stdout."""
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))
    home = tempfile.mkdtemp(prefix="provscan-fuzz-home-")
    os.environ["PROVSCAN_HOME"] = home
    import warnings

    warnings.simplefilter("ignore")  # numpy's RuntimeWarnings on hostile numbers
    from tests.fuzzing.targets import CLEAN_ERRORS, TARGETS, input_for, seeds_of

    target = TARGETS[target_name]
    seeds = seeds_of(target_name)
    out = sys.stdout
    with tempfile.TemporaryDirectory(prefix="provscan-fuzz-") as tmp:
        scratch = Path(tmp)
        context = target.context(scratch) if target.context else contextlib.nullcontext()
        with context:
            # Untimed: what a process loads once (the license index, about 6 s, at the
            # first license value) is not the cost of the input that happens to ask first.
            if target.warm is not None:
                target.warm()
            for k in range(start, start + count):
                data = input_for(target, seeds, input_rng(target_name, k))
                t0 = time.perf_counter()
                try:
                    target.run(data, scratch)
                    outcome = "ok"
                except CLEAN_ERRORS:
                    outcome = "clean"
                except BaseException as exc:  # noqa: BLE001 - every other outcome is a bug
                    outcome = f"crash:{type(exc).__name__}:{str(exc)[:200]}"
                out.write(
                    json.dumps({"k": k, "outcome": outcome, "s": time.perf_counter() - t0}) + "\n"
                )
                out.flush()


# ---- the parent -------------------------------------------------------------------------------


@dataclass
class Figures:
    target: str
    what: str
    inputs: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    crashes: Counter[str] = field(default_factory=Counter)
    slow: list[int] = field(default_factory=list)
    hangs: list[int] = field(default_factory=list)
    slowest: float = 0.0
    total_s: float = 0.0
    peak_rss_mb: float = 0.0
    wall_s: float = 0.0


def _save(target: str, k: int, why: str) -> None:
    from tests.fuzzing.targets import TARGETS, input_for, seeds_of

    CRASHES.mkdir(parents=True, exist_ok=True)
    data = input_for(TARGETS[target], seeds_of(target), input_rng(target, k))
    (CRASHES / f"{target}-{k}.bin").write_bytes(data)
    (CRASHES / f"{target}-{k}.txt").write_text(why + "\n")


def _worker(target: str, start: int, count: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--worker",
            target,
            "--start",
            str(start),
            "--count",
            str(count),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), "OPENBLAS_NUM_THREADS": "1"},
    )


def _reap(proc: subprocess.Popen[str], fig: Figures) -> None:
    _, _, usage = os.wait4(proc.pid, 0)
    proc.returncode = 0
    fig.peak_rss_mb = max(fig.peak_rss_mb, usage.ru_maxrss / 1024)


def run_target(
    name: str,
    what: str,
    n: int,
    per_worker: int,
    slow_s: float,
    hang_s: float,
    max_s: float = 0.0,
) -> Figures:
    """Inputs 0 .. n-1 of a target; with max_s, no new worker past max_s seconds (the count
    reached is then what the figures say)."""
    fig = Figures(name, what)
    t0 = time.perf_counter()
    k = 0
    while k < n and not (max_s and time.perf_counter() - t0 > max_s):
        count = min(per_worker, n - k)
        proc = _worker(name, k, count)
        assert proc.stdout is not None
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ)
        expected = k
        while expected < k + count:
            if not sel.select(timeout=hang_s):
                proc.kill()
                fig.hangs.append(expected)
                fig.inputs += 1
                _save(name, expected, f"no answer in {hang_s} s")
                expected += 1
                break
            line = proc.stdout.readline()
            if not line:  # the worker died (killed by the kernel, or a crash it could not report)
                fig.outcomes["crash:worker died"] += 1
                fig.crashes["worker died"] += 1
                fig.inputs += 1
                _save(name, expected, "the worker died on this input")
                expected += 1
                break
            rec = json.loads(line)
            fig.inputs += 1
            kind = rec["outcome"].split(":", 1)[0]
            fig.outcomes[kind] += 1
            fig.total_s += rec["s"]
            fig.slowest = max(fig.slowest, rec["s"])
            if kind == "crash":
                why = rec["outcome"].split(":", 2)
                fig.crashes[why[1]] += 1
                if fig.crashes[why[1]] <= 3:
                    _save(name, rec["k"], rec["outcome"])
            if rec["s"] > slow_s:
                fig.slow.append(rec["k"])
                _save(name, rec["k"], f"took {rec['s']:.1f} s")
            expected = rec["k"] + 1
        sel.close()
        _reap(proc, fig)
        k = expected
        print(
            f"  {name}: {fig.inputs}/{n} inputs, {dict(fig.outcomes)}, "
            f"peak RSS {fig.peak_rss_mb:.0f} MB",
            file=sys.stderr,
            flush=True,
        )
    fig.wall_s = time.perf_counter() - t0
    return fig


def _unmet(f: Figures, args: argparse.Namespace) -> list[str]:
    """What a target's figures fall short of; the failing inputs are in fuzz-crashes/."""
    why = []
    if f.outcomes["crash"] or f.hangs or f.slow:
        why.append("crashes, hangs or slow inputs: saved in bench/results/fuzz-crashes/")
    if f.peak_rss_mb > args.memory_mb:
        why.append(f"a worker over {args.memory_mb:.0f} MB")
    if f.inputs < args.inputs:
        why.append(f"{f.inputs} of {args.inputs} inputs in the time given")
    return why


def report(figs: list[Figures], args: argparse.Namespace, started: str, where: str) -> str:
    lines = [
        "# provscan fuzz run (bench/fuzz.py; targets in tests/fuzzing/targets.py)",
        f"# {where}",
        f"# started {started}; {args.inputs} inputs a parser, {args.lanes} parser(s) at a time, "
        f"one worker a parser, a fresh worker every {args.per_worker} inputs, address space "
        f"capped at {ADDRESS_SPACE >> 30} GiB"
        + (f", at most {args.max_seconds:.0f} s a parser" if args.max_seconds else ""),
        "# outcome: ok (parsed) | clean (provscan's own one-line error / not-analysed) | crash",
        "",
        f"{'parser':<14} {'inputs':>8} {'ok':>8} {'clean':>8} {'crash':>6} {'hang':>5} "
        f"{'>' + str(int(args.slow)) + ' s':>6} {'slowest s':>10} {'mean ms':>8} "
        f"{'peak RSS MB':>12} {'wall s':>8}",
    ]
    for f in figs:
        lines.append(
            f"{f.target:<14} {f.inputs:>8} {f.outcomes['ok']:>8} {f.outcomes['clean']:>8} "
            f"{f.outcomes['crash']:>6} {len(f.hangs):>5} {len(f.slow):>6} {f.slowest:>10.2f} "
            f"{1000 * f.total_s / max(1, f.inputs):>8.2f} {f.peak_rss_mb:>12.0f} {f.wall_s:>8.0f}"
        )
    lines.append("")
    for f in figs:
        lines.append(f"{f.target}: {f.what}")
        for why, n in f.crashes.most_common():
            lines.append(f"  crash {why}: {n}")
        if f.hangs:
            lines.append(f"  hangs at inputs {f.hangs[:10]}")
        if f.slow:
            lines.append(f"  over {args.slow} s: inputs {f.slow[:10]}")
    bad = [f"{f.target} ({', '.join(_unmet(f, args))})" for f in figs if _unmet(f, args)]
    lines.append("")
    lines.append(
        "every input ended in a parse or provscan's own error, none over "
        f"{args.slow} s, no worker over {args.memory_mb} MB"
        if not bad
        else f"NOT MET for: {'; '.join(bad)}"
    )
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--inputs", type=int, default=100_000, help="inputs a parser")
    ap.add_argument("--targets", default="", help="comma-separated targets (default: all)")
    ap.add_argument("--per-worker", type=int, default=5000)
    ap.add_argument("--slow", type=float, default=10.0, help="an input over this is a failure")
    ap.add_argument("--hang", type=float, default=60.0, help="kill a worker silent this long")
    ap.add_argument("--memory-mb", type=float, default=2048.0)
    ap.add_argument(
        "--lanes", type=int, default=1, help="targets fuzzed side by side (one worker a lane)"
    )
    ap.add_argument(
        "--max-seconds",
        type=float,
        default=0.0,
        help="stop a parser after this long, at the count reached (default: no limit)",
    )
    ap.add_argument("--out", type=Path)
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--start", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--count", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        work(args.worker, args.start, args.count)
        return 0
    from tests.fuzzing.targets import TARGETS

    names = [t for t in args.targets.split(",") if t] or list(TARGETS)
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    where = machine(ROOT)  # before this run writes its figures into the tree
    done: dict[str, Figures] = {}
    lock = threading.Lock()

    def one(name: str) -> None:
        print(f"fuzzing {name} ...", file=sys.stderr, flush=True)
        fig = run_target(
            name,
            TARGETS[name].what,
            args.inputs,
            args.per_worker,
            args.slow,
            args.hang,
            args.max_seconds,
        )
        with lock:
            done[name] = fig
            text = report([done[n] for n in names if n in done], args, started, where)
            if args.out:
                args.out.write_text(text)

    with ThreadPoolExecutor(max_workers=max(1, args.lanes)) as pool:
        for _ in pool.map(one, names):
            pass
    print(report([done[n] for n in names], args, started, where), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())

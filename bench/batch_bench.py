"""Batch and library benchmark (issue 15): throughput and scaling of `provscan batch`, the
fingerprint library's query over 10,000 entries with its recall on the real panel, and the
bytes a remote fingerprint reads.

    python bench/batch_bench.py [--part library|batch|remote]... [--releases 200]
                                [--entries 10000] [--engine ENGINE]...
                                [--out bench/results/batch.txt]

Each part rewrites its own section of the results file (the others are kept).

library  The real panel (bench/real; `make bench-real` fills ${PROVSCAN_BENCH_CACHE:-
         ~/.cache/provscan-bench}, reused here): every checkpoint is fingerprinted once
         (cached by fingerprint format and the weights code). Two libraries: the panel's
         base models alone, and those bases plus generated entries up to --entries
         (bench/library_decoys.py says how they are made). The mpnet family is held out of
         both: its checkpoints must match nothing. Every other panel checkpoint is searched
         as a release would be in `scan` (weights/library/search.py): the first stage's
         candidates, the rank of the true base among them, the calibrated verdicts, the
         nearest base named, and the time of the first stage and of the whole query.
batch    --releases generated releases (bench/batch_releases.py; a third fine-tune one base,
         which the library holds, so every unit fingerprints and searches) audited with
         every report format, by a local process pool and by a Dask LocalCluster, with 1
         and 2 workers. A warm-up batch first fills the license scan's cache (workers then
         load no license index), so the runs measure the same work.
remote   see its section.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import statistics
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.machine import describe  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "bench" / "results" / "batch.txt"
CACHE = Path(os.environ.get("PROVSCAN_BENCH_CACHE", Path.home() / ".cache" / "provscan-bench"))
BASES = (
    "minilm-l6",
    "minilm-l3-onnx",
    "gemma3-270m",
    "smollm2-135m",
    "qwen25-coder-0.5b",
    "qwen25-coder-1.5b",
    "use-multilingual-int8-onnx",
)
HELD_OUT = "mpnet"
# Real checkpoints published by others that derive from a base of the panel (panel.toml).
REAL_DERIVED = {
    "minilm-l6-copy-a": "minilm-l6",
    "minilm-l6-copy-b": "minilm-l6",
    "minilm-l6-sre": "minilm-l6",
    "minilm-l6-int8-onnx": "minilm-l6",
}
ENGINES = ("local process pool", "Dask LocalCluster")
DECOY_SHARES = (0.45, 0.45, 0.10)  # other-model, derivative, sub-vocab
SHARED_NOTE = (
    "The machine is shared with several other agents' jobs: the load average beside each "
    "timing says how busy it was; timings on an idle machine would be lower."
)


def load() -> str:
    return f"load {os.getloadavg()[0]:.1f}"


# ---- the panel -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    id: str
    path: Path
    family: str
    base: str | None
    """The panel base it derives from (None: a base, or the held-out family)."""


def panel_checkpoints() -> list[Checkpoint]:
    panel = tomllib.loads((REPO / "bench" / "real" / "panel.toml").read_text())
    variants = {v["id"]: v for v in panel["variant"]}

    def root(vid: str) -> str:
        v = variants[vid]
        parent = v.get("from") or v.get("sources", {}).get("base")
        return root(parent) if parent in variants else REAL_DERIVED.get(parent, parent)

    out = []
    for m in panel["model"]:
        base = REAL_DERIVED.get(m["id"])
        out.append(Checkpoint(m["id"], CACHE / "models" / m["id"], m["family"], base))
    for v in panel["variant"]:
        out.append(Checkpoint(v["id"], CACHE / "variants" / v["id"], v["family"], root(v["id"])))
    for i, c in enumerate(out):
        if c.family == HELD_OUT:
            out[i] = Checkpoint(c.id, c.path, c.family, None)
    return out


def code_stamp() -> str:
    """The fingerprint format and the weights code: cached fingerprints follow both."""
    from scanner.weights.fingerprint import FORMAT_VERSION
    from scanner.weights.library.keys import KEY_VERSION

    h = hashlib.sha256(f"{FORMAT_VERSION}/{KEY_VERSION}".encode())
    for p in sorted((REPO / "scanner" / "weights").rglob("*.py")):
        h.update(p.read_bytes())
    h.update((REPO / "bench" / "library_decoys.py").read_bytes())
    return h.hexdigest()[:12]


# Checkpoints provscan refuses to fingerprint (id -> its one-line error), this run.
unreadable: dict[str, str] = {}


def fingerprints(checkpoints: list[Checkpoint], folder: Path, log) -> dict:  # noqa: ANN001
    from scanner.weights.coverage import NothingRecognised
    from scanner.weights.fingerprint import Fingerprint, fingerprint_of
    from scanner.weights.formats.interface import WeightFormatError

    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for c in checkpoints:
        path = folder / f"{c.id}.npz"
        if not path.exists():
            if not c.path.exists():
                log(f"  {c.id}: not in the bench cache (run `make bench-real`), left out")
                continue
            t = time.perf_counter()
            try:
                fingerprint_of(str(c.path)).save(path)
            except (NothingRecognised, WeightFormatError) as exc:
                # provscan refuses it (no tensor with a role): so would `library add`
                log(f"  {c.id}: left out, provscan refuses it: {exc}")
                unreadable[c.id] = str(exc)
                continue
            log(f"  fingerprinted {c.id} in {time.perf_counter() - t:.1f} s")
        out[c.id] = Fingerprint.load(path)
    return out


# ---- part: library -------------------------------------------------------------------------


def build_library(store_path: Path, fps: dict, entries: int, log) -> float:  # noqa: ANN001
    """The bases, then generated entries up to `entries`; the seconds it took (0: reused)."""
    import numpy as np

    from bench.library_decoys import KINDS, _subsampled, decoy
    from scanner.store import Store
    from scanner.weights.library import LibraryStore

    lib = LibraryStore(Store(store_path))
    if lib.count() == entries:
        return 0.0
    started = time.perf_counter()
    for b in BASES:
        if b in fps:
            lib.add(b, str(CACHE / "models" / b), fps[b], replace=True)
    start = lib.count()
    # Seeded by where it starts: a build resumed after an interruption draws new seeds.
    rng = np.random.default_rng([20251201, start])
    bases = [b for b in BASES if b in fps and fps[b].tensors]
    others = [k for k, fp in fps.items() if fp.tensors and not k.startswith(HELD_OUT)]
    # Sub-sampling is idempotent (same layers, anchors, vocabulary): done once per template,
    # each decoy then copies the small one (5 times faster, the same decoys).
    small = {k: _subsampled(fps[k]) for k in {*bases, *others}}
    for i in range(start, entries):
        kind = KINDS[int(rng.choice(3, p=DECOY_SHARES))]
        template = str(rng.choice(others if kind == "other-model" else bases))
        name = f"generated/{kind}/{template}/{i:05d}"
        made = decoy(small[template], kind, int(rng.integers(1 << 31)), name)
        lib.add(name, f"generated: {kind} of {template}", made, replace=True)
        if (i + 1) % 1000 == 0:
            log(f"  {i + 1} entries ({time.perf_counter() - started:.0f} s)")
    return time.perf_counter() - started


def search_all(lib, queries: list[Checkpoint], fps: dict) -> list[dict]:  # noqa: ANN001
    from scanner.weights.library import search
    from scanner.weights.library.keys import key_of
    from scanner.weights.library.search import library_index

    rows = []
    for q in queries:
        fp = fps[q.id]
        t = time.perf_counter()
        cands = library_index(lib).candidates(key_of(fp))
        first = time.perf_counter() - t
        t = time.perf_counter()
        outcome = search(fp, lib)
        full = time.perf_counter() - t
        names = [c.name for c in cands]
        base_cmp = next((r for r in outcome.results if r.entry.name == q.base), None)
        rows.append(
            {
                "query": q.id,
                "base": q.base,
                "rank": names.index(q.base) + 1 if q.base in names else None,
                "candidates": names,
                "channels": [c.channel for c in cands],
                "base_verdict": None
                if base_cmp is None
                else base_cmp.comparison.verdict
                + (f" ({base_cmp.comparison.relation})" if base_cmp.comparison.relation else ""),
                "named": outcome.matches[0].entry.name if outcome.matches else None,
                "matches": [m.entry.name for m in outcome.matches],
                "verdicts": [r.comparison.verdict for r in outcome.results],
                "first_ms": 1000 * first,
                "full_s": full,
                "load": os.getloadavg()[0],
            }
        )
    return rows


def library_part(entries: int, log) -> list[str]:  # noqa: ANN001
    import importlib

    from scanner.store import Store
    from scanner.weights.library import LibraryStore

    # The module (the package's `search` is the function of the same name).
    search_mod = importlib.import_module("scanner.weights.library.search")
    stamp = code_stamp()
    work = CACHE / "library-bench"
    checkpoints = panel_checkpoints()
    log(f"fingerprints of the panel ({len(checkpoints)} checkpoints; cached by code {stamp})")
    t = time.perf_counter()
    fps = fingerprints(checkpoints, work / f"fps-{stamp}", log)
    fp_seconds = time.perf_counter() - t
    queries = [c for c in checkpoints if c.id not in BASES and c.id in fps]
    lines = [
        f"fingerprints: {len(fps)} of the panel's {len(checkpoints)} checkpoints "
        f"({fp_seconds:.0f} s this run, cached between runs)",
        f"library bases: {', '.join(b for b in BASES if b in fps)}; held out of every "
        f"library: the {HELD_OUT} family (its checkpoints must match nothing)",
        *(f"refused by provscan (left out): {k}: {why}" for k, why in unreadable.items()),
    ]
    for label, size in (("bases only", len(BASES)), (f"{entries} entries", entries)):
        store_path = work / f"store-{stamp}-{size}" / "store.sqlite3"
        store_path.parent.mkdir(parents=True, exist_ok=True)
        log(f"library {label}: {store_path}")
        built = build_library(store_path, fps, size, log)
        lib = LibraryStore(Store(store_path))
        search_mod._cached.clear()
        t = time.perf_counter()
        index = search_mod.library_index(lib)
        cold = time.perf_counter() - t
        rows = search_all(lib, queries, fps)
        lines += ["", *library_section(label, lib, index.size, built, cold, rows, store_path)]
        if size == len(BASES):
            lines += ["", *scan_section(lib, queries, log)]
    return lines


def scan_section(lib, queries: list[Checkpoint], log) -> list[str]:  # noqa: ANN001
    """`provscan scan` of each query, as a user runs it: a fresh home holding the bases'
    library (exported, then imported with the CLI), no --against."""
    import json
    import subprocess

    from scanner.weights.library import export_library

    tmp = Path(tempfile.mkdtemp(prefix="provscan-library-scan-"))
    env = {**os.environ, "PROVSCAN_HOME": str(tmp / "home"), "PYTHONPATH": str(REPO)}
    cli = [sys.executable, "-m", "scanner"]
    export_library(lib, tmp / "bases.zip")
    subprocess.run([*cli, "library", "import", str(tmp / "bases.zip")], env=env, check=True)
    rows, right = [], 0
    for q in queries:
        out = tmp / f"{q.id}.json"
        t = time.perf_counter()
        done = subprocess.run(
            [*cli, "scan", str(q.path), "--json", str(out)], env=env, capture_output=True
        )
        wall = time.perf_counter() - t
        findings = json.loads(out.read_text())["findings"] if out.exists() else []
        derived = [f["evidence"]["matched"] for f in findings if f["kind"] == "weights-derived"]
        undeclared = [
            f["evidence"]["matched"] for f in findings if f["kind"] == "undeclared-base-model"
        ]
        named = derived[0] if derived else None
        ok = named == q.base
        right += ok
        rows.append(
            f"  {q.id} | {q.base or '-'} | {named or 'none'} | "
            f"{', '.join(undeclared) or 'none'} | exit {done.returncode} | {wall:.1f} | "
            f"{'right' if ok else 'WRONG'}"
        )
        log(rows[-1])
    return [
        f"== provscan scan with the bases' library (no --against): the base it names is right "
        f"for {right}/{len(queries)} checkpoints (the held-out {HELD_OUT} family must name none)",
        "checkpoint | true base | named (weights-derived) | undeclared-base-model | exit | "
        "scan s | right",
        *rows,
    ]


def library_section(label, lib, searched, built, cold, rows, store_path) -> list[str]:  # noqa: ANN001
    with_base = [r for r in rows if r["base"]]
    held = [r for r in rows if not r["base"]]
    recall = sum(r["rank"] is not None for r in with_base)
    named = sum(r["named"] == r["base"] for r in with_base)
    matched = sum(r["base"] in r["matches"] for r in with_base)
    clean = sum(not r["matches"] for r in held)
    firsts = [r["first_ms"] for r in rows]
    fulls = [r["full_s"] for r in rows]
    size_mb = store_path.stat().st_size / 2**20
    decoys_compared = sum(
        sum(1 for n in r["candidates"] if n.startswith("generated/")) for r in rows
    )
    out = [
        f"== library: {label} ({lib.count()} entries, {searched} searchable; store "
        f"{size_mb:.0f} MiB; {f'built in {built:.0f} s' if built else 'reused'})",
        f"index build (cold: keys read from the store, arrays built): {cold:.2f} s ({load()})",
        f"first stage per query: median {statistics.median(firsts):.1f} ms, max "
        f"{max(firsts):.1f} ms",
        f"whole query (first stage + fingerprints read + calibrated comparisons): median "
        f"{statistics.median(fulls):.2f} s, max {max(fulls):.2f} s; "
        f"{sum(len(r['candidates']) for r in rows)} comparisons for {len(rows)} queries "
        f"({decoys_compared} with generated entries)",
        f"first-stage recall of the true base: {recall}/{len(with_base)}",
        f"true base judged related (identical or derived): {matched}/{len(with_base)}; "
        f"named as the nearest base: {named}/{len(with_base)}",
        f"held-out {HELD_OUT} checkpoints matching nothing: {clean}/{len(held)}",
        "query | true base | its rank in the first stage | its verdict | nearest base named | "
        "candidates (channel) | first stage ms | whole s | load",
    ]
    for r in rows:
        cands = ", ".join(f"{n} ({c})" for n, c in zip(r["candidates"], r["channels"], strict=True))
        out.append(
            f"  {r['query']} | {r['base'] or '-'} | {r['rank'] or 'absent'} | "
            f"{r['base_verdict'] or '-'} | {r['named'] or 'none'} | {cands or 'none'} | "
            f"{r['first_ms']:.1f} | {r['full_s']:.2f} | {r['load']:.1f}"
        )
    return out


# ---- part: batch ---------------------------------------------------------------------------


def batch_part(count: int, engines: tuple[str, ...], log) -> list[str]:  # noqa: ANN001
    tmp = Path(tempfile.mkdtemp(prefix="provscan-batch-bench-"))
    os.environ["PROVSCAN_HOME"] = str(tmp / "home")  # before anything opens the store
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from bench.batch_releases import make_releases
    from scanner.batch import DaskCluster, LocalPool, UnitOptions, run_batch
    from scanner.report.registry import FORMATS
    from scanner.weights.library import add_model

    log(f"generating {count} releases under {tmp}")
    releases = make_releases(tmp / "releases", count)
    add_model(str(tmp / "releases" / "base"), "example/base")
    targets = tmp / "targets.txt"
    targets.write_text("".join(f"{p}\n" for p in releases))
    warm = tmp / "warm.txt"
    warm.write_text("".join(f"{p}\n" for p in releases[:6]))
    options = UnitOptions(formats=tuple(f.name for f in FORMATS))
    log("warm-up batch (fills the license scan's cache)")
    with LocalPool(2) as engine:
        run_batch(warm, tmp / "out-warm", engine, options)
    lines = [
        f"== batch: {count} generated releases (bench/batch_releases.py), every report "
        f"format ({len(FORMATS)}), library of 1 base searched by every unit",
        "engine | workers | wall s | releases/s | speed-up vs 1 worker | mean unit s | "
        "failed | load before -> after",
    ]
    base_wall: dict[str, float] = {}
    for engine_name in engines:
        for workers in (1, 2):
            log(f"{engine_name}, {workers} worker(s)")
            out = tmp / f"out-{engine_name.split()[0].lower()}-{workers}"
            before = load()
            cluster = None
            if engine_name.startswith("Dask"):
                import logging

                from distributed import LocalCluster

                cluster = LocalCluster(
                    n_workers=workers,
                    threads_per_worker=1,
                    processes=True,
                    host="127.0.0.1",
                    dashboard_address=None,
                    silence_logs=logging.ERROR,
                )
                engine = DaskCluster(cluster.scheduler_address)
            else:
                engine = LocalPool(workers)
            units: list[float] = []
            t = time.perf_counter()
            with engine:
                outcome = run_batch(targets, out, engine, options, on_result=units_of(units))
            wall = time.perf_counter() - t
            if cluster is not None:
                cluster.close()
            base_wall.setdefault(engine_name, wall)
            lines.append(
                f"  {engine_name} | {workers} | {wall:.1f} | {count / wall:.2f} | "
                f"{base_wall[engine_name] / wall:.2f}x | {statistics.mean(units):.2f} | "
                f"{outcome.failed} | {before} -> {load()}"
            )
    return lines


def units_of(units: list[float]):  # noqa: ANN201
    return lambda r: units.append(r.seconds)


# ---- part: remote --------------------------------------------------------------------------


def remote_part(log) -> list[str]:  # noqa: ANN001
    """The remote fingerprints' figures have their own bench (it serves every panel
    checkpoint from the loopback Hub server): this section points there."""
    out = REPO / "bench" / "results" / "remote_fingerprints.txt"
    lines = [f"== remote fingerprints: bench/remote_bench.py writes {out.relative_to(REPO)}"]
    if out.exists():
        lines += [
            x for x in out.read_text().splitlines() if x.startswith(("checkpoints:", "pairs:"))
        ]
    return lines


# ---- the results file ----------------------------------------------------------------------


def write_sections(out: Path, head: list[str], sections: dict[str, list[str]]) -> None:
    """Rewrite the parts run now; keep the others' sections as the file had them."""
    old: dict[str, list[str]] = {}
    if out.exists():
        current = None
        for line in out.read_text().splitlines():
            m = re.match(r"^#### (\w+)", line)
            if m:
                current = m.group(1)
                old[current] = []
            elif current:
                old[current].append(line)
    merged = {**old, **{k: [""] + v for k, v in sections.items()}}
    body = []
    for name in ("library", "batch", "remote"):
        if name in merged:
            body += [f"#### {name}", *merged[name]]
    out.write_text("\n".join(head + body) + "\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--part", action="append", choices=("library", "batch", "remote"))
    ap.add_argument("--releases", type=int, default=200)
    ap.add_argument("--entries", type=int, default=10_000)
    ap.add_argument(
        "--engine",
        action="append",
        choices=ENGINES,
        help="batch part: the engines to time (default: both)",
    )
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args(argv)
    parts = args.part or ["library", "batch", "remote"]

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    sections: dict[str, list[str]] = {}
    stamps: list[str] = []
    for part in parts:
        started = describe(REPO)
        if part == "library":
            sections[part] = library_part(args.entries, log)
        elif part == "batch":
            sections[part] = batch_part(args.releases, tuple(args.engine or ENGINES), log)
        else:
            sections[part] = remote_part(log)
        sections[part].insert(0, f"machine (at the start of this part): {started}")
        stamps.append(part)
    head = [
        "Batch audits, the fingerprint library and remote fingerprints (issue 15).",
        "Command: python bench/batch_bench.py"
        + "".join(f" --part {p}" for p in parts)
        + "".join(f" --engine '{e}'" for e in args.engine or ())
        + (f" --releases {args.releases}" if "batch" in parts else "")
        + (f" --entries {args.entries}" if "library" in parts else ""),
        SHARED_NOTE,
        "",
    ]
    write_sections(args.out, head, sections)
    print(args.out.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark: provscan's license scan vs the scancode CLI on the same files, same run.

Files: the `models/` tree of the installed transformers package (skipping __pycache__),
or a fixed-seed sample of it (--limit N), copied into one temporary folder that both tools
scan. Both use two processes (provscan: index loaded once, two forked workers; scancode:
`scancode -clp -n 2`). Reported: files/s of both, the ratio, the per-file agreement of
license expressions (provscan's vs scancode's `detected_license_expression`), and the
re-scan time with a warm cache (as a fresh process, and the audit call alone).

    python bench/licenses_bench.py --limit 200 [--out bench/results/licenses.txt]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repo, for bench.*
from bench.machine import describe as machine  # noqa: E402

REPO = Path(__file__).resolve().parent.parent

# Runs in a fresh process: only the licenses analyzer, timed around analyze_target() (the
# source and the analyzers, no assessment).
CHILD = r"""
import json, sys, time
from scanner.audit import analyze_target
from scanner.code.analyzer import LicenseAnalyzer
t = time.perf_counter()
result = analyze_target(sys.argv[1], analyzers=[LicenseAnalyzer(workers=2)])
elapsed = time.perf_counter() - t
per_file = {}
for f in result.findings:
    d = f.evidence.details
    if f.kind == "license" and d.get("source") == "file":
        per_file[f.location.path] = d["license_expression"]
    if f.kind == "not-analysed":
        per_file.setdefault(f.location.path, "not-analysed")
json.dump({"audit_s": elapsed, "files": len(result.snapshot.files), "per_file": per_file},
          open(sys.argv[2], "w"))
"""


def transformers_models() -> Path:
    import transformers

    return Path(transformers.__file__).parent / "models"


def pick_files(root: Path, limit: int | None, seed: int) -> tuple[list[Path], int]:
    """The files to scan (a fixed-seed sample when limit is set), and the tree's total."""
    files = sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    total = len(files)
    if limit and limit < total:
        files = sorted(random.Random(seed).sample(files, limit))
    return files, total


def run_provscan(folder: Path, home: Path, out: Path) -> tuple[float, dict]:
    env = dict(os.environ, PROVSCAN_HOME=str(home), PYTHONPATH=str(REPO))
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", CHILD, str(folder), str(out)], env=env, check=True)
    wall = time.perf_counter() - t
    return wall, json.loads(out.read_text())


def scancode_json(folder: Path, out: Path) -> tuple[float, dict]:
    """`scancode -clp -n 2` on a folder: wall time and its JSON (also used by code_real.py)."""
    exe = shutil.which("scancode") or str(Path(sys.executable).parent / "scancode")
    t = time.perf_counter()
    subprocess.run(
        [exe, "-clp", "-n", "2", "--quiet", "--json-pp", str(out), str(folder)], check=True
    )
    wall = time.perf_counter() - t
    return wall, json.loads(out.read_text())


def run_scancode(folder: Path, out: Path) -> tuple[float, dict[str, str | None]]:
    wall, data = scancode_json(folder, out)
    per_file = {}
    for entry in data["files"]:
        if entry["type"] != "file":
            continue
        rel = entry["path"].split("/", 1)[1] if "/" in entry["path"] else entry["path"]
        per_file[rel] = entry.get("detected_license_expression")
    return wall, per_file


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=None, help="fixed-seed sample of N files")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None, help="also write the figures here")
    args = ap.parse_args()

    lines: list[str] = []

    def say(text: str) -> None:
        print(text, flush=True)
        lines.append(text)

    say(f"machine: {machine()}")
    root = transformers_models()
    files, total = pick_files(root, args.limit, args.seed)
    with tempfile.TemporaryDirectory(prefix="licbench-") as tmp:
        tmpdir = Path(tmp)
        folder = tmpdir / "models"
        for f in files:
            dest = folder / f.relative_to(root)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(f, dest)
        n = len(files)
        scope = "all" if n == total else f"a fixed-seed ({args.seed}) sample of the {total}"
        say(f"files: {n} ({scope} files of {root}; {sum(f.stat().st_size for f in files)} bytes)")

        home = tmpdir / "home"
        load_p = os.getloadavg()[0]
        first, ours = run_provscan(folder, home, tmpdir / "p1.json")
        again, ours2 = run_provscan(folder, home, tmpdir / "p2.json")
        load_s = os.getloadavg()[0]
        sc_wall, theirs = run_scancode(folder, tmpdir / "sc.json")
        say(
            f"load average (1 min) before provscan {load_p:.2f}, before scancode "
            f"{load_s:.2f}, after {os.getloadavg()[0]:.2f} (the machine is shared)"
        )

    p_rate, s_rate = n / first, n / sc_wall
    say(
        f"provscan first scan: {first:.1f} s wall ({p_rate:.1f} files/s; audit call "
        f"{ours['audit_s']:.1f} s), 2 forked workers, index loaded once"
    )
    say(f"scancode -clp -n 2:  {sc_wall:.1f} s wall ({s_rate:.2f} files/s)")
    say(f"throughput ratio provscan / scancode CLI: {p_rate / s_rate:.1f}x")
    say(
        f"re-scan, warm cache: {again:.2f} s wall as a new process "
        f"({first / again:.0f}x faster), audit call {ours2['audit_s']:.2f} s "
        f"({ours['audit_s'] / max(ours2['audit_s'], 1e-9):.0f}x faster)"
    )
    same = [p for p in theirs if ours["per_file"].get(p) == theirs[p]]
    differ = sorted(set(theirs) - set(same))
    say(
        f"license expression agreement: {len(same)}/{len(theirs)} files "
        f"({100 * len(same) / max(len(theirs), 1):.2f}%)"
    )
    for p in differ[:20]:
        say(f"  differs: {p}: provscan {ours['per_file'].get(p)!r} vs scancode {theirs[p]!r}")
    rescan_same = ours2["per_file"] == ours["per_file"]
    say(f"re-scan gives the same per-file expressions: {rescan_same}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

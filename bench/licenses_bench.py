"""Benchmark: provscan's license scan vs the scancode CLI on the same files, same run.

Files: the `models/` tree of the installed transformers package (skipping __pycache__),
or a fixed-seed sample of it (--limit N), copied into one temporary folder that both tools
scan. Both use two processes (provscan: index loaded once, two forked workers; scancode:
`scancode -clp -n 2`). Reported: files/s of both, the ratio, the per-file agreement of
license expressions (provscan's vs scancode's `detected_license_expression`), and the
re-scan time with a warm cache (as a fresh process, and the audit call alone).

    python bench/licenses_bench.py --limit 200 [--out bench/results/licenses.txt]

--real adds trees of code no one here wrote, other than transformers (the pinned wheels of
bench/code_real_material.py, as the real-code benchmark takes them): vllm's model files
(license headers), mlx-lm's models/ (a copyright line, no license text) and keras-hub's
models/ (no header at all). On each, `provscan scan --json` in a fresh process with a fresh
PROVSCAN_HOME (cold cache) and `scancode -clp -n 2`, timed; per file, the license
expression and the copyright holders as cluecode reads them compared; and what provscan
reads beyond the CLI (SPDX-FileCopyrightText statements, every holder of a statement that
names several) counted apart.
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
from scanner.evidence import LicenseInFile
t = time.perf_counter()
result = analyze_target(sys.argv[1], analyzers=[LicenseAnalyzer(workers=2)])
elapsed = time.perf_counter() - t
per_file = {}
for f in result.findings:
    d = f.evidence.details
    if f.kind == "license" and isinstance(d, LicenseInFile):
        per_file[f.location.path] = d.license_expression
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


REAL_TREES = (
    ("vllm", "vllm/model_executor/models", "vllm model files (license headers)"),
    ("mlx-lm", "mlx_lm/models", "mlx-lm models/ (a copyright line, no license text)"),
    ("keras-hub", "keras_hub/src/models", "keras-hub models/ (no header at all)"),
)


def scan_cli(folder: Path, home: Path, out: Path) -> tuple[float, dict]:
    """`provscan scan DIR --json F` in a fresh process: wall time and the report."""
    env = dict(os.environ, PROVSCAN_HOME=str(home), PYTHONPATH=str(REPO))
    t = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "scanner", "scan", str(folder), "--json", str(out)],
        env=env,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - t
    if done.returncode != 0:
        raise SystemExit(f"provscan scan {folder} failed: {done.stderr.strip()[-800:]}")
    return wall, json.loads(out.read_text())


def beyond_the_cli(report: dict) -> tuple[int, int, int]:
    """(SPDX-FileCopyrightText statements, files with one, statements naming several
    holders) in a provscan report."""
    spdx_files: set[str] = set()
    spdx = several = 0
    for f in report.get("findings", []):
        if f["kind"] not in ("copyright-notice", "foreign-notice"):
            continue
        details = f["evidence"]["details"]
        if details.get("read_by") == "spdx":
            spdx += 1
            spdx_files.add(f["location"]["path"])
        if len(details.get("holders") or ()) > 1:
            several += 1
    return spdx, len(spdx_files), several


def real_trees(say, work: Path, wanted: set[str]) -> None:
    from bench.code_real_material import PACKAGES, materialise
    from bench.code_real_report import provscan_licenses, scancode_licenses

    trees = {
        p.name: t for p, t in materialise(tuple(p for p in PACKAGES if p.name in wanted)).items()
    }
    ratios = {}
    for name, sub, label in REAL_TREES:
        if name not in wanted:
            continue
        folder = trees[name] / sub
        n = sum(1 for p in folder.rglob("*") if p.is_file())
        say(f"\n{label}: {n} files ({folder})")
        p_wall, report = scan_cli(folder, work / f"{name}-home", work / f"{name}-provscan.json")
        s_wall, data = scancode_json(folder, work / f"{name}-scancode.json")
        ratios[name] = s_wall / p_wall
        say(
            f"  provscan scan (fresh process, cold cache): {p_wall:.1f} s ({n / p_wall:.2f} "
            f"files/s); scancode -clp -n 2: {s_wall:.1f} s ({n / s_wall:.2f} files/s); "
            f"speed ratio {ratios[name]:.2f}x ({'faster' if ratios[name] >= 1 else 'SLOWER'})"
        )
        p_expr, p_hold = provscan_licenses(report)
        s_expr, s_hold = scancode_licenses(data)
        same_l = [p for p in s_expr if p_expr.get(p) == s_expr[p]]
        same_h = [p for p in s_hold if p_hold.get(p, frozenset()) == s_hold[p]]
        say(
            f"  license expression agreement: {len(same_l)}/{len(s_expr)} files "
            f"({100 * len(same_l) / max(1, len(s_expr)):.1f}%); files where scancode finds "
            f"a license: {sum(1 for v in s_expr.values() if v)}"
        )
        for p in sorted(set(s_expr) - set(same_l))[:20]:
            say(f"    differs: {p}: provscan {p_expr.get(p)!r} vs scancode {s_expr[p]!r}")
        say(
            f"  copyright holder agreement (holders as cluecode reads them, case and "
            f"punctuation aside): {len(same_h)}/{len(s_hold)} files "
            f"({100 * len(same_h) / max(1, len(s_hold)):.1f}%)"
        )
        for p in sorted(set(s_hold) - set(same_h))[:20]:
            say(
                f"    differs: {p}: provscan {sorted(p_hold.get(p, ()))} vs scancode "
                f"{sorted(s_hold[p])}"
            )
        spdx, spdx_files, several = beyond_the_cli(report)
        say(
            f"  beyond the CLI: {spdx} SPDX-FileCopyrightText statement(s) in {spdx_files} "
            f"file(s) that cluecode does not read; {several} statement(s) naming several "
            "holders, each holder kept"
        )
    no_text = ", ".join(f"{n} {ratios[n]:.2f}x" for n in ("mlx-lm", "keras-hub") if n in ratios)
    if no_text:
        say(
            "\nlicense scan without license texts, provscan / scancode CLI speed: "
            f"{no_text} (acceptance: >= 1)"
        )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=None, help="fixed-seed sample of N files")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None, help="also write the figures here")
    ap.add_argument("--real", action="store_true", help="also the trees other than transformers")
    ap.add_argument(
        "--trees",
        default=",".join(name for name, _, _ in REAL_TREES),
        help="with --real: which of them (comma-separated; default all)",
    )
    args = ap.parse_args()

    lines: list[str] = []

    def say(text: str) -> None:
        print(text, flush=True)
        lines.append(text)

    say(f"command: python bench/licenses_bench.py {' '.join(sys.argv[1:])}".rstrip())
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
    if args.real:
        say("\n== trees other than transformers, vs the scancode CLI (same files, same run) ==")
        with tempfile.TemporaryDirectory(prefix="licbench-real-") as tmp:
            real_trees(say, Path(tmp), set(args.trees.split(",")))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

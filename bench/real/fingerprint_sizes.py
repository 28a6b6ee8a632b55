"""Fingerprint size and cost on the real-checkpoint panel, default mode and --all-units.

    python bench/real/fingerprint_sizes.py [--cache DIR] [--out FILE] [--only ID]...

Reads the checkpoints the panel runner left in its cache (run `bench/real/run_panel.py`
first: it fetches the models and makes the variants) and, for every one, runs
`python -m scanner fingerprint M -o F` and the same with `--all-units`, each in a child
process (run_panel.run_child: wall time, peak RSS from os.wait4, load average). Written:
the machine and date, every checkpoint's format, size, fingerprint bytes and share of the
checkpoint in both modes, time and peak RSS in both modes, and the two targets of issue 12:
every fingerprint at most 1% of its checkpoint, --all-units within 1 GB of the default
mode's peak RSS.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import tomllib
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.machine import describe  # noqa: E402
from bench.real.run_panel import DEFAULT_CACHE, HERE, REPO, checkpoint_bytes, run_child  # noqa: E402

DEFAULT_OUT = REPO / "bench" / "results" / "real_fingerprints.txt"
TIMEOUT_S = 1800
MODES = {"default": [], "all-units": ["--all-units"]}


def checkpoints(panel: dict[str, Any], cache: Path) -> list[tuple[str, Path]]:
    """Every model and variant of the panel the cache holds, in panel order."""
    found = []
    for m in panel.get("model", []):
        path = cache / "models" / m["id"]
        if path.is_dir():
            found.append((m["id"], path))
    for v in panel.get("variant", []):
        path = cache / "variants" / v["id"]
        if (path / "VARIANT.json").exists():
            found.append((v["id"], path))
    return found


def weight_format(folder: Path) -> str:
    suffixes = {p.suffix for p in folder.rglob("*") if p.is_file()}
    for ext in (".gguf", ".onnx", ".safetensors", ".bin"):
        if ext in suffixes:
            return ext[1:]
    return "?"


def measure(python: str, folder: Path) -> dict[str, Any]:
    out: dict[str, Any] = {"bytes": checkpoint_bytes(folder), "format": weight_format(folder)}
    for mode, extra in MODES.items():
        with tempfile.TemporaryDirectory() as tmp:
            fp = Path(tmp) / "fp.npz"
            cmd = [python, "-m", "scanner", "fingerprint", str(folder), "-o", str(fp), *extra]
            run = run_child(cmd, TIMEOUT_S)
            run["fingerprint_bytes"] = fp.stat().st_size if fp.exists() else None
        out[mode] = run
    return out


def _pct(fp: int | None, ckpt: int) -> str:
    return f"{100 * fp / ckpt:.2f}%" if fp and ckpt else "-"


def lines(results: dict[str, dict[str, Any]]) -> list[str]:
    rows = [
        "checkpoint                      format       size MB | default: fp %     s   RSS MiB"
        " | all-units: fp %     s   RSS MiB | RSS +MiB  load"
    ]
    worst_share, worst_extra, failures = 0.0, 0.0, []
    for ref, r in results.items():
        d, a = r["default"], r["all-units"]
        for mode in MODES:
            if r[mode]["exit"] != 0 or not r[mode]["fingerprint_bytes"]:
                failures.append(f"{ref} ({mode}): exit {r[mode]['exit']} {r[mode]['stderr_tail']}")
        shares = [m["fingerprint_bytes"] / r["bytes"] for m in (d, a) if m["fingerprint_bytes"]]
        worst_share = max([worst_share, *shares])
        extra = a["peak_rss_mib"] - d["peak_rss_mib"]
        worst_extra = max(worst_extra, extra)
        rows.append(
            f"{ref:<31} {r['format']:<11} {r['bytes'] / 1e6:8.1f} | "
            f"{_pct(d['fingerprint_bytes'], r['bytes']):>10} {d['seconds']:6.1f} "
            f"{d['peak_rss_mib']:8.0f}"
            f" | {_pct(a['fingerprint_bytes'], r['bytes']):>12} {a['seconds']:6.1f} "
            f"{a['peak_rss_mib']:8.0f} | {extra:8.0f} {max(d['load'], a['load']):5.1f}"
        )
    rows += [
        "",
        f"largest fingerprint share: {100 * worst_share:.2f}% of its checkpoint "
        f"(target <= 1%: {'met' if worst_share <= 0.01 else 'NOT met'})",
        f"largest --all-units peak RSS above the default mode's: {worst_extra:.0f} MiB "
        f"(target <= 1 GB = 954 MiB: {'met' if worst_extra <= 954 else 'NOT met'})",
        f"failed runs: {len(failures)}",
        *(f"  {f}" for f in failures),
    ]
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--panel", type=Path, default=HERE / "panel.toml")
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--only", action="append", default=[], help="this checkpoint (repeatable)")
    ap.add_argument("--python", default=sys.executable)
    args = ap.parse_args(argv)
    started = time.time()
    panel = tomllib.loads(args.panel.read_text())
    found = [
        c for c in checkpoints(panel, args.cache.expanduser()) if c[0] in args.only or not args.only
    ]
    if not found:
        print("no checkpoint in the cache: run bench/real/run_panel.py first", file=sys.stderr)
        return 2
    results = {}
    for ref, folder in found:
        results[ref] = measure(args.python, folder)
        d, a = results[ref]["default"], results[ref]["all-units"]
        print(f"{ref}: {d['seconds']} s / {a['seconds']} s", file=sys.stderr, flush=True)
    head = [
        "Fingerprint size and cost on the real-checkpoint panel (bench/real/panel.toml; issue 12).",
        f"Machine: {describe(REPO)}",
        f"Command: python bench/real/fingerprint_sizes.py {' '.join(argv or sys.argv[1:])}",
        "Each run: python -m scanner fingerprint M -o F [--all-units] as a child process "
        "(PYTHONPATH = the repository root); peak RSS from os.wait4; fp % = the .npz against "
        "the checkpoint's weight files; time is under the load average shown (a shared machine).",
        f"Whole run: {time.time() - started:.0f} s",
        "",
    ]
    args.out.write_text("\n".join(head + lines(results)) + "\n")
    print(args.out.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())

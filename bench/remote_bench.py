"""Remote fingerprints (issue 15): the bytes `provscan fingerprint hf:...` reads of each real
panel checkpoint and of the lineage suite's models, and whether its verdicts are those of
fingerprints of the whole local files.

    python bench/remote_bench.py [--suite DIR] [--only ID]... [--no-panel] [--no-suite]
                                 [--out bench/results/remote_fingerprints.txt]

Every safetensors and GGUF checkpoint of the real panel (bench/real; `make bench-real` fills
${PROVSCAN_BENCH_CACHE:-~/.cache/provscan-bench}, reused as it is) and of the lineage suite
(bench/lineage/make_suite.py DIR; FULL: 14 derived, 36 unrelated pairs) is served by the
loopback Hub server of the tests (tests/hubserver.py, files memory-mapped), and fingerprinted
by `python -m scanner fingerprint hf:bench/ID` in a child process: the server counts the
bytes of the weight files it sent (the Hub source's header reads included) and the range
requests; the time is the child's wall time. ONNX checkpoints are left out: they are still
downloaded whole.

Verdicts, for every labelled pair whose two sides are safetensors or GGUF:
  local   both sides fingerprinted from the local files with the DEFAULT sampling;
  A / B   that side's remote fingerprint (REMOTE sampling) against the other side
          fingerprinted locally on the spot with the same sampling (compare's fair rule).
Each remote fingerprint is also checked against a local fingerprint with the REMOTE
sampling: the same bytes must give an identical fingerprint.
"""

from __future__ import annotations

import argparse
import json
import mmap
import os
import re
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.machine import describe  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "bench" / "results" / "remote_fingerprints.txt"
CACHE = Path(os.environ.get("PROVSCAN_BENCH_CACHE", Path.home() / ".cache" / "provscan-bench"))
WEIGHT_SUFFIXES = (".safetensors", ".gguf")
TARGET_SHARE = 0.02
CHILD_TIMEOUT_S = 1800


@dataclass(frozen=True)
class Model:
    id: str
    folder: Path
    weights: tuple[str, ...]
    """The release paths of its weight files (safetensors or GGUF)."""


def weight_files(folder: Path) -> tuple[str, ...]:
    return tuple(
        sorted(
            p.relative_to(folder).as_posix()
            for p in folder.rglob("*")
            if p.is_file() and p.name.endswith(WEIGHT_SUFFIXES)
        )
    )


def readable(folder: Path) -> Model | None:
    """A safetensors or GGUF checkpoint (an ONNX one, or a missing folder: None); a weight
    file stands for its folder."""
    if folder.is_file():
        folder = folder.parent
    if not folder.is_dir():
        return None
    found = weight_files(folder)
    return Model(folder.name, folder, found) if found else None


def panel() -> tuple[list[Model], list[dict[str, Any]]]:
    spec = tomllib.loads((REPO / "bench" / "real" / "panel.toml").read_text())
    ids = [m["id"] for m in spec["model"]]
    folders = {i: CACHE / "models" / i for i in ids}
    folders |= {v["id"]: CACHE / "variants" / v["id"] for v in spec["variant"]}
    models = [m for i in folders if (m := readable(folders[i])) is not None]
    return models, [p for p in spec["pair"]]


def suite(root: Path) -> tuple[list[Model], list[dict[str, Any]]]:
    manifest = json.loads((root / "pairs.json").read_text())
    paths = {p["a_name"]: p["a"] for p in manifest["pairs"]}
    paths |= {p["b_name"]: p["b"] for p in manifest["pairs"]}
    paths |= {name: info["path"] for name, info in manifest["models"].items()}
    models = []
    for name, path in sorted(paths.items()):
        m = readable(root / path)
        if m is not None:
            models.append(Model(f"suite-{name}", m.folder, m.weights))
    pairs = [
        {
            "name": f"{p['a_name']}~{p['b_name']}",
            "a": f"suite-{p['a_name']}",
            "b": f"suite-{p['b_name']}",
            "label": p["label"],
            "relation": p.get("relation"),
        }
        for p in manifest["pairs"]
    ]
    return models, pairs


# ---- serving and fingerprinting --------------------------------------------------------------


def mapped_repo(folder: Path):  # noqa: ANN201
    """The folder as a HubRepo whose files are memory-mapped, with hashes computed once (the
    test server hashes a file for every answer; a 2 GB checkpoint cannot afford that)."""
    from tests.hubserver import HubRepo

    class MappedRepo(HubRepo):
        def sibling(self, path: str) -> dict[str, Any]:
            cache = self.__dict__.setdefault("_siblings", {})
            if path not in cache:
                cache[path] = super().sibling(path)
            return cache[path]

        def etag(self, path: str) -> str:
            cache = self.__dict__.setdefault("_etags", {})
            if path not in cache:
                cache[path] = super().etag(path)
            return cache[path]

    files: dict[str, Any] = {}
    for p in sorted(folder.rglob("*")):
        if not p.is_file():
            continue
        name = p.relative_to(folder).as_posix()
        if name.endswith(WEIGHT_SUFFIXES) and p.stat().st_size:
            with open(p, "rb") as fh:  # weights mapped, never held in memory
                files[name] = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        else:
            files[name] = p.read_bytes()
    return MappedRepo(files=files, lfs={f for f in files if f.endswith(WEIGHT_SUFFIXES)})


def remote_fingerprint(model: Model, work: Path, log) -> dict[str, Any]:  # noqa: ANN001
    """`provscan fingerprint hf:bench/ID` against the loopback server; what it cost."""
    from tests.hubserver import HubServer

    out = work / f"{model.id}.remote.npz"
    repo = mapped_repo(model.folder)
    size = sum((model.folder / w).stat().st_size for w in model.weights)
    with HubServer({f"bench/{model.id}": repo}) as hub:
        repo.sibling(model.weights[0])  # hash before the clock starts
        env = dict(os.environ)
        env.update(
            {
                "HF_ENDPOINT": hub.endpoint,
                "HF_HUB_CACHE": str(work / "hf-cache" / model.id),
                "HF_HOME": str(work / "hf-home"),
                "HF_HUB_DISABLE_TELEMETRY": "1",
                "HF_HUB_OFFLINE": "0",
                "HF_TOKEN": "",
                "PYTHONPATH": str(REPO),
            }
        )
        cmd = [sys.executable, "-m", "scanner", "fingerprint", f"hf:bench/{model.id}"]
        started = time.perf_counter()
        proc = subprocess.run(
            [*cmd, "-o", str(out)], env=env, capture_output=True, text=True, timeout=CHILD_TIMEOUT_S
        )
        wall = time.perf_counter() - started
        served = sum(hub.served.get(w, 0) for w in model.weights)
        requests = sum(
            1 for method, path, _r in hub.log if method == "GET" and path.endswith(model.weights)
        )
        other = sum(n for f, n in hub.served.items() if f not in model.weights)
    for mm in repo.files.values():
        if isinstance(mm, mmap.mmap):
            mm.close()
    row = {
        "id": model.id,
        "size": size,
        "served": served,
        "requests": requests,
        "other_files": other,
        "wall": wall,
        "ok": proc.returncode == 0,
        "error": proc.stderr.strip().splitlines()[-1:] if proc.returncode else [],
        "line": next((x for x in proc.stdout.splitlines() if x.startswith("read remotely")), ""),
        "path": out,
    }
    log(
        f"{model.id}: {served} of {size} bytes ({100 * served / max(size, 1):.2f}%), "
        f"{requests} requests, {wall:.1f} s" + ("" if row["ok"] else f" FAILED: {row['error']}")
    )
    return row


def fingerprints_of(models: list[Model], work: Path, log) -> dict[str, dict[str, Any]]:  # noqa: ANN001
    from scanner.weights.fingerprint import Fingerprint, fingerprint_of
    from scanner.weights.units import DEFAULT, REMOTE

    out: dict[str, dict[str, Any]] = {}
    for m in models:
        row = remote_fingerprint(m, work, log)
        row["remote_fp"] = Fingerprint.load(row["path"]) if row["ok"] else None
        started = time.perf_counter()
        row["default_fp"] = fingerprint_of(str(m.folder), sampling=DEFAULT)
        row["default_s"] = time.perf_counter() - started
        row["local_remote_fp"] = fingerprint_of(str(m.folder), sampling=REMOTE)
        out[m.id] = row
        log(f"  local: DEFAULT {row['default_s']:.1f} s")
    return out


# ---- verdicts ----------------------------------------------------------------------------------


def local_like(row: dict[str, Any], remote: Any) -> Any:
    """The local fingerprint of this model with the sampling `remote` was made with (a tiny
    checkpoint is read remotely with DEFAULT: sampling_for)."""
    from scanner.weights.compare import sampling_of

    banded = remote is not None and (s := sampling_of(remote)) is not None and s.banded
    return row["local_remote_fp"] if banded else row["default_fp"]


def same_fingerprint(row: dict[str, Any]) -> bool:
    """A remote fingerprint and a local one of the same sampling hold the same numbers."""
    from scanner.weights.compare import compare_fingerprints

    fp = row["remote_fp"]
    return fp is not None and compare_fingerprints(fp, local_like(row, fp)).verdict == "identical"


def verdict(cmp: Any) -> str:
    return cmp.verdict + (f"/{cmp.relation}" if cmp.relation else "")


def pair_rows(pairs: list[dict[str, Any]], fps: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    from scanner.weights.compare import compare_fingerprints

    rows = []
    for p in pairs:
        a, b = fps.get(p["a"]), fps.get(p["b"])
        if a is None or b is None or a["remote_fp"] is None or b["remote_fp"] is None:
            continue
        local = compare_fingerprints(a["default_fp"], b["default_fp"])
        # the side fingerprinted on the spot takes the remote side's sampling (fair rule)
        ra = compare_fingerprints(a["remote_fp"], local_like(b, a["remote_fp"]))
        rb = compare_fingerprints(local_like(a, b["remote_fp"]), b["remote_fp"])
        forced = compare_fingerprints(a["local_remote_fp"], b["local_remote_fp"])
        rows.append(
            {
                "name": p["name"],
                "label": p["label"],
                "truth": p.get("relation") or "",
                "local": verdict(local),
                "a_remote": verdict(ra),
                "b_remote": verdict(rb),
                "forced": verdict(forced),
                "forced_agrees": forced.verdict == local.verdict,
                "agree": ra.verdict == local.verdict and rb.verdict == local.verdict,
                "relation_agrees": ra.relation == local.relation and rb.relation == local.relation,
            }
        )
    return rows


# ---- the results file --------------------------------------------------------------------------


def checkpoint_lines(title: str, fps: dict[str, dict[str, Any]]) -> list[str]:
    from scanner.weights.fingerprint.extraction import TINY_BYTES

    lines = [
        f"== {title}: bytes of the weight files the server sent for a remote fingerprint",
        "checkpoint | format | size | bytes read | share | requests | time (remote) | "
        "time (local DEFAULT) | sampling | same numbers as a local fingerprint of that sampling | "
        "note",
    ]
    over = []
    for r in fps.values():
        fp = r["remote_fp"]
        fmt = fp.meta.get("format") if fp is not None else "-"
        sampling = fp.meta.get("sampling_name", "-") if fp is not None else "-"
        share = r["served"] / max(r["size"], 1)
        params = fp.meta.get("coverage", {}).get("parameters", 0) if fp is not None else 0
        note = (
            "tiny (under TINY_BYTES in bf16)" if fp is not None and 2 * params < TINY_BYTES else ""
        )
        if not r["ok"]:
            note = f"FAILED: {r['error']}"
        elif share > TARGET_SHARE:
            over.append(r["id"])
        lines.append(
            f"{r['id']} | {fmt} | {r['size'] / 1e6:.1f} MB | {r['served'] / 1e6:.3f} MB | "
            f"{100 * share:.3f}% | {r['requests']} | {r['wall']:.1f} s | {r['default_s']:.1f} s | "
            f"{sampling} | "
            f"{'yes' if same_fingerprint(r) else 'NO'} | {note}"
        )
    done = sorted((r["served"] / max(r["size"], 1), r["id"]) for r in fps.values() if r["ok"])
    if done:
        top = fps[done[-1][1]]
        lines.append(
            f"checkpoints: {len(fps)}; share median {100 * done[len(done) // 2][0]:.2f}%, "
            f"max {100 * done[-1][0]:.4f}% ({top['id']}: {top['served']:,} of {top['size']:,} "
            f"bytes); above {100 * TARGET_SHARE:.0f}%: " + (", ".join(over) or "none")
        )
    return lines


def pair_lines(title: str, rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        f"== {title}: verdicts with one side remote (as `fingerprint hf:` reads it, the other "
        "fingerprinted on the spot with the same sampling) against both sides local (DEFAULT "
        "sampling); and, as a stress test, both sides forced to the REMOTE sampling (tiny "
        "checkpoints are read remotely with DEFAULT)",
        "pair | label | truth | both local | A remote | B remote | same verdict | "
        "both REMOTE (forced) | same",
    ]
    for r in rows:
        lines.append(
            f"{r['name']} | {r['label']} | {r['truth']} | {r['local']} | {r['a_remote']} | "
            f"{r['b_remote']} | {'yes' if r['agree'] else 'NO'} | {r['forced']} | "
            f"{'yes' if r['forced_agrees'] else 'NO'}"
        )
    bad = [r["name"] for r in rows if not r["agree"]]
    rel = [r["name"] for r in rows if r["agree"] and not r["relation_agrees"]]
    lines.append(
        f"pairs: {len(rows)}; same verdict: {len(rows) - len(bad)}; "
        f"disagreements: {', '.join(bad) or 'none'}; "
        f"same verdict, another relation: {', '.join(rel) or 'none'}"
    )
    forced = [r["name"] for r in rows if not r["forced_agrees"]]
    lines.append(
        f"both sides forced to REMOTE: {len(rows) - len(forced)} of {len(rows)} keep the "
        f"verdict; others: {', '.join(forced) or 'none'}"
    )
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--suite", type=Path, help="a lineage suite (make_suite.py OUTDIR)")
    ap.add_argument("--only", action="append", help="panel checkpoint ids (default: all)")
    ap.add_argument("--no-panel", action="store_true")
    ap.add_argument("--no-suite", action="store_true")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args(argv)

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    started = describe(REPO)
    sections: list[str] = []
    with tempfile.TemporaryDirectory(prefix="remote-bench-") as tmp:
        work = Path(tmp)
        if not args.no_panel:
            models, pairs = panel()
            if args.only:
                models = [m for m in models if m.id in args.only]
            fps = fingerprints_of(models, work, log)
            sections += checkpoint_lines("real panel", fps) + [""]
            sections += pair_lines("real panel", pair_rows(pairs, fps)) + [""]
        if args.suite is not None and not args.no_suite:
            models, pairs = suite(args.suite)
            fps = fingerprints_of(models, work, log)
            sections += checkpoint_lines("lineage suite", fps) + [""]
            sections += pair_lines("lineage suite", pair_rows(pairs, fps)) + [""]
    head = [
        "Remote fingerprints (issue 15): bytes read of each checkpoint, and verdicts kept.",
        "Command: python bench/remote_bench.py"
        + (f" --suite {args.suite}" if args.suite else "")
        + "".join(f" --only {o}" for o in args.only or ())
        + (" --no-panel" if args.no_panel else "")
        + (" --no-suite" if args.no_suite else ""),
        f"machine (at the start): {started}",
        f"machine (at the end): {describe(REPO)}",
        "The machine is shared with other agents' jobs: times are wall times under that load.",
        "",
    ]
    text = "\n".join(head + sections) + "\n"
    args.out.write_text(re.sub(r"\n{3,}", "\n\n", text))
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

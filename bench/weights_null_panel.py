"""Measure the weight signals' null backgrounds on REAL independently trained checkpoints.

The real panel's base checkpoints (bench/real/panel.toml, assembled by `make bench-real` in
the bench cache) that are independent of each other: one per lineage, copies and fine-tunes
left out. Every pair of them that the panel holds as unrelated (different families, or an
unrelated pair named in panel.toml) is compared with no panel at all, and each signal's raw
score and computed null (theory or shuffles) are written to rules/null_backgrounds.toml with
the pair's families, so that calibrate.Nulls fits the empirical part (and the bench can refit
it leaving a family out). Derived and sibling pairs never enter.

    python bench/weights_null_panel.py [--cache DIR] [--write]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import sys
import time
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from scanner.errors import ProvscanError  # noqa: E402
from scanner.rules import rules_dir  # noqa: E402
from scanner.weights.calibrate import Nulls  # noqa: E402
from scanner.weights.compare import compare_fingerprints, fingerprint_of  # noqa: E402

PANEL_TOML = REPO / "bench" / "real" / "panel.toml"
# The layer-level signals a pair must have for its scores to enter the null panel.
DECIDING = ("aligned_forms", "direct_cosine", "experts_vs_dense")
# One checkpoint per independently trained lineage (the panel's copies, fine-tunes and
# exports of these are the same lineage and would count one pair several times).
INDEPENDENT = (
    "minilm-l6",
    "mpnet-base",
    "smollm2-135m",
    "gemma3-270m",
    "qwen25-coder-0.5b",
    "qwen25-coder-1.5b",
    "minilm-l3-onnx",
    "use-multilingual-int8-onnx",
)
DEFAULT_CACHE = Path(
    os.environ.get("PROVSCAN_BENCH_CACHE", Path.home() / ".cache" / "provscan-bench")
)


def unrelated_pairs(panel: dict) -> list[tuple[str, str]]:
    """Pairs of INDEPENDENT models in different families, or labelled unrelated."""
    family = {m["id"]: m["family"] for m in panel["model"]}
    labelled = {frozenset((p["a"], p["b"])): p["label"] for p in panel["pair"]}
    out = []
    for a, b in itertools.combinations(INDEPENDENT, 2):
        label = labelled.get(frozenset((a, b)))
        if label == "unrelated" or (label is None and family[a] != family[b]):
            out.append((a, b))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    ap.add_argument("--write", action="store_true", help="write rules/null_backgrounds.toml")
    args = ap.parse_args()
    panel = tomllib.loads(PANEL_TOML.read_text())
    family = {m["id"]: m["family"] for m in panel["model"]}
    fps = {}
    for m in INDEPENDENT:
        t = time.perf_counter()
        try:
            fps[m] = fingerprint_of(str(args.cache / "models" / m))
        except ProvscanError as exc:  # unreadable here: its pairs are left out, and said so
            print(f"fingerprint {m}: {exc}", flush=True)
            continue
        print(f"fingerprint {m}: {time.perf_counter() - t:.1f} s", flush=True)
    bare = Nulls([])  # raw scores and computed nulls only
    rows = []
    for a, b in unrelated_pairs(panel):
        if a not in fps or b not in fps:
            continue
        cmp = compare_fingerprints(fps[a], fps[b], bare)
        scores = {
            s.name: [round(s.score, 6), *s.details["computed_null"]]
            for s in cmp.signals
            if "computed_null" in s.details
        }
        rows.append((f"{a}~{b}", sorted({family[a], family[b]}), scores))
        shown = ", ".join(f"{k} {v[0]:.4g}" for k, v in sorted(scores.items()))
        print(f"{a}~{b}: {cmp.verdict}; {shown or 'nothing comparable'}", flush=True)
    made = time.strftime("%Y-%m-%d") + f" on {platform.machine()}"
    lines = [
        "# Null backgrounds: what pairs of UNRELATED real checkpoints score on each signal.",
        "# Written by bench/weights_null_panel.py; do not edit by hand. Schema: [panel] how, made;",
        "# [[pair]] name, families, scores = { signal = [score, computed null mean, computed",
        "# null std] } (scanner/weights/calibrate.py fits the empirical part from them).",
        "[panel]",
        f"how = {json.dumps(HOW)}",
        f'made = "{made}"',
        f"models = {json.dumps(list(INDEPENDENT))}",
        "",
    ]
    # A pair no layer-level signal could compare (a side with no tokenizer and another width)
    # calibrates nothing that decides; calibrate.Nulls takes a pair for its deciding scores.
    n_pairs = len(rows)
    rows = [r for r in rows if any(k in r[2] for k in DECIDING)]
    for name, fams, scores in rows:
        body = ", ".join(f"{k} = {json.dumps(v)}" for k, v in sorted(scores.items()))
        lines += [
            "[[pair]]",
            f'name = "{name}"',
            f"families = {json.dumps(fams)}",
            f"scores = {{ {body} }}",
            "",
        ]
    text = "\n".join(lines)
    print(f"{len(rows)} pairs with a layer-level signal ({', '.join(DECIDING)}) of {n_pairs}")
    if args.write:
        (rules_dir() / "null_backgrounds.toml").write_text(text, encoding="utf-8")
        print("wrote rules/null_backgrounds.toml")


HOW = (
    "independently trained real checkpoints published in packages on the package index "
    "(bench/real/panel.toml): all-MiniLM-L6-v2, all-mpnet-base-v2, SmolLM2-135M-Instruct "
    "(GGUF Q4_1), Gemma-3-270M (GGUF Q4_K_M), Qwen2.5-Coder-0.5B and 1.5B-Instruct (GGUF), "
    "paraphrase-MiniLM-L3-v2 (ONNX) and Universal Sentence Encoder multilingual (ONNX); every "
    "pair of different families, and Qwen2.5-Coder 0.5B vs 1.5B (independently trained sizes)"
)


if __name__ == "__main__":
    main()

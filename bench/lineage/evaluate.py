"""Run provscan's lineage comparison on every pair of a generated suite and score it.

    python bench/lineage/evaluate.py SUITEDIR [--out bench/results/lineage.txt]

Prints, per pair, the verdict, the relation and every signal (score, z, p), then the AUROC of
each signal's score and z against the label (the 2025 std-curve statistic included), the AUROC
of the verdict (derived = 1), and the share of positives given an acceptable relation.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections import defaultdict
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.machine import describe  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO / "bench" / "results" / "lineage.txt"


def auroc(scores: list[float], labels: list[int]) -> float:
    """Probability that a random positive outscores a random negative (ties count half)."""
    pos = [s for s, y in zip(scores, labels, strict=True) if y == 1]
    neg = [s for s, y in zip(scores, labels, strict=True) if y == 0]
    if not pos or not neg:
        return float("nan")
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def _num(x: object) -> float:
    try:
        v = float(x)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return float("nan")
    return v


def run_pairs(
    suite: Path,
    log,
    sampling=None,
    anchors: int | None = None,  # noqa: ANN001
) -> list[dict]:
    """compare_models on every pair of pairs.json; one result dict per pair."""
    from scanner.weights.compare import compare_models
    from scanner.weights.units import DEFAULT

    sampling = sampling or DEFAULT

    manifest = json.loads((suite / "pairs.json").read_text())
    results = []
    for pair in manifest["pairs"]:
        started = time.time()
        row = dict(pair)
        try:
            cmp = compare_models(
                str(suite / pair["a"]),
                str(suite / pair["b"]),
                sampling=sampling,
                anchors_form=anchors,
            )
            row["verdict"], row["got_relation"] = cmp.verdict, cmp.relation
            row["signals"] = [
                {
                    "name": s.name,
                    "score": _num(s.score),
                    "z": _num(s.z),
                    "p": _num(s.p_value),
                    "null_mean": _num(s.null_mean),
                    "null_std": _num(s.null_std),
                }
                for s in cmp.signals
            ]
            row["reasons"] = list(cmp.reasons)
        except Exception as exc:  # noqa: BLE001 - an evaluation reports failures, it does not stop
            row["verdict"], row["got_relation"], row["signals"] = "error", None, []
            row["reasons"] = [f"{type(exc).__name__}: {exc}"]
        row["seconds"] = time.time() - started
        log(format_pair(row))
        results.append(row)
    return results


def correct(row: dict) -> bool:
    expected = "derived" if row["label"] == "derived" else "unrelated"
    return row["verdict"] == expected


def format_pair(row: dict) -> str:
    mark = "ok " if correct(row) else "BAD"
    rel = ""
    if row["label"] == "derived":
        rel_ok = row["got_relation"] in row["accept"]
        rel = f" relation={row['got_relation']} (want {row['relation']}{'' if rel_ok else ' X'})"
    lines = [
        f"{mark} {row['a_name']} vs {row['b_name']}: label={row['label']} "
        f"verdict={row['verdict']}{rel} [{row['seconds']:.1f}s]"
    ]
    for s in row["signals"]:
        lines.append(
            f"      {s['name']:<28} score={s['score']:9.4f} null={s['null_mean']:8.4f}"
            f"±{s['null_std']:<8.4f} z={s['z']:8.2f} p={s['p']:.2e}"
        )
    if row["verdict"] == "error" or not correct(row):
        lines += [f"      reason: {r}" for r in row["reasons"]]
    return "\n".join(lines)


def summarize(results: list[dict]) -> list[str]:
    labels = [1 if r["label"] == "derived" else 0 for r in results]
    by_signal: dict[str, list[tuple[float, float, int]]] = defaultdict(list)
    for r, y in zip(results, labels, strict=True):
        for s in r["signals"]:
            by_signal[s["name"]].append((s["score"], s["z"], y))
    out = [f"{'signal':<28} {'n+':>3} {'n-':>3} {'AUROC(score)':>12} {'AUROC(z)':>9}"]
    for name in sorted(by_signal):
        rows = [t for t in by_signal[name] if not math.isnan(t[0])]
        ys = [t[2] for t in rows]
        zs = [(t[1] if not math.isnan(t[1]) else -math.inf) for t in rows]
        tag = "   <- the 2025 statistic" if "std" in name else ""
        out.append(
            f"{name:<28} {sum(ys):>3} {len(ys) - sum(ys):>3} "
            f"{auroc([t[0] for t in rows], ys):>12.3f} {auroc(zs, ys):>9.3f}{tag}"
        )
    verdict = [1 if r["verdict"] == "derived" else 0 for r in results]
    positives = [r for r in results if r["label"] == "derived"]
    negatives = [r for r in results if r["label"] != "derived"]
    right_rel = [r for r in positives if r["got_relation"] in r["accept"]]
    out += [
        "",
        f"AUROC of the verdict (derived=1): {auroc(verdict, labels):.3f}",
        f"positives judged derived: {sum(r['verdict'] == 'derived' for r in positives)}"
        f"/{len(positives)}",
        f"negatives judged unrelated: {sum(r['verdict'] == 'unrelated' for r in negatives)}"
        f"/{len(negatives)}",
        f"positives with an acceptable relation: {len(right_rel)}/{len(positives)} "
        f"({100 * len(right_rel) / max(len(positives), 1):.0f}%)",
    ]
    for r in results:
        if {r["a_name"], r["b_name"]} == {"random_a", "random_b"}:
            ps = ", ".join(f"{s['name']}={s['p']:.2g}" for s in r["signals"])
            out.append(f"random_a vs random_b: verdict={r['verdict']}; p-values: {ps}")
    wrong = [r for r in results if not correct(r)]
    wrong_rel = [r for r in positives if r not in right_rel]
    out.append(
        "wrong verdicts: "
        + (", ".join(f"{r['a_name']}~{r['b_name']}={r['verdict']}" for r in wrong) or "none")
    )
    out.append(
        "wrong relations: "
        + (", ".join(f"{r['b_name']}={r['got_relation']}" for r in wrong_rel) or "none")
    )
    out.append(
        f"total compare time: {sum(r['seconds'] for r in results):.1f}s for {len(results)} pairs"
    )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("suite", type=Path)
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help="where the figures are written (default bench/results/lineage.txt)",
    )
    parser.add_argument("--json", type=Path, help="also write every result as JSON")
    parser.add_argument(
        "--sample-every",
        type=int,
        metavar="N",
        help="read one block of units in N even in these small models (the "
        "suite's models are below the width where sampling starts)",
    )
    parser.add_argument(
        "--sample-block",
        type=int,
        default=16,
        metavar="B",
        help="hidden units per block with --sample-every (default 16)",
    )
    parser.add_argument(
        "--anchors",
        type=int,
        metavar="K",
        help="anchors per form (default: the size budget's choice)",
    )
    args = parser.parse_args(argv)
    from scanner.weights.units import DEFAULT, Sampling

    sampling = DEFAULT
    if args.sample_every:
        sampling = Sampling(
            every=args.sample_every, above=0, block=args.sample_block, embed_above=0
        )
    manifest = json.loads((args.suite / "pairs.json").read_text())
    lines = [
        "# provscan lineage evaluation",
        f"# machine: {describe(REPO)}",
        f"# suite: {args.suite} ({'quick' if manifest.get('quick') else 'full'}, "
        f"{len(manifest['models'])} models, {len(manifest['pairs'])} pairs, generated in "
        f"{manifest.get('seconds', '?')}s wall, {manifest.get('cpu_seconds', '?')}s cpu)",
        f"# units read: {sampling.describe()}; anchors per form: {args.anchors or 'budget'}",
        "",
    ]
    for line in lines:
        print(line)

    def log(text: str) -> None:
        print(text, flush=True)
        lines.append(text)

    results = run_pairs(args.suite, log, sampling, args.anchors)
    summary = summarize(results)
    for line in ["", *summary]:
        log(line)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

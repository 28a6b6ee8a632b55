"""Measure what independently written ML code scores against transformers: the null of the
copied-code evidence, and the thresholds in rules/clone_background.toml.

Material: the precision set of the real-code benchmark (bench/code_real_material.py:
model implementations in MLX, Keras, JAX/Flax and PyTorch written independently of
transformers; files whose comments name a transformers upstream are left out), fetched
from PyPI into the bench cache. Reference: the installed transformers package, indexed as
users index it (`pkg:transformers`).

The material is split by package: the null and the thresholds are measured on the
CALIBRATION packages only, and the HELD-OUT packages (a whole framework among them, MLX,
that calibration never saw) are scanned with those thresholds to check them. Nothing is
tuned on the held-out files; the precision figures of bench/code_real.py count every file
of both parts, so its calibration part is not an independent check (the held-out part is).

Each file is scanned as the analyzer scans it (clones.scan_text): the strongest region it
shares with its best reference file (its evidence) and the share of its fingerprints found
there. Thresholds: the region threshold is the calibration files' 99.5th percentile of
region evidence, at least REGION_MIN; the whole-file share threshold is SHARE_MARGIN times
the calibration maximum (of files with enough fingerprints), at least SHARE_MIN.

    python bench/clones_null.py [--write] [--json F] [--home DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repo, for bench.*
from bench.code_real import SetFile, compose  # noqa: E402
from bench.code_real_material import PACKAGES, materialise  # noqa: E402
from bench.machine import describe as machine  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
RULES = REPO / "rules" / "clone_background.toml"
CALIBRATION = ("keras-hub", "torchtune", "maxtext")
"""Keras, PyTorch and JAX code; held out: mlx-lm (MLX), gemma (JAX), litgpt, x-transformers."""
QUANTILE = 0.995
REGION_MIN = 12.0
SHARE_MARGIN = 1.5
SHARE_MIN = 0.5
TOP = 50


@dataclass(frozen=True)
class Scored:
    path: str
    package: str
    fingerprints: int
    share: float
    region: float
    upstream: str | None
    basis: str | None


def score(files: list[SetFile], corpora: list) -> list[Scored]:  # type: ignore[type-arg]
    from scanner.code import clones

    out = []
    for f in files:
        data = f.source.read_bytes()
        text = data.decode("utf-8", errors="replace")
        m = clones.scan_text(
            text, "python", corpora, path=f.rel, sha256=hashlib.sha256(data).hexdigest()
        )
        out.append(
            Scored(
                path=f.rel,
                package=f.package.name,
                fingerprints=m.target_fingerprints if m else 0,
                share=round(m.best.share, 4) if m else 0.0,
                region=round(m.region_evidence, 3) if m else 0.0,
                upstream=m.best.path if m else None,
                basis=m.basis if m else None,
            )
        )
    return out


def quantile(values: list[float], q: float) -> float:
    v = sorted(values)
    return v[min(len(v) - 1, int(q * (len(v) - 1) + 0.5))] if v else 0.0


def summary(values: list[float]) -> dict[str, object]:
    return {
        "n": len(values),
        "mean": round(statistics.fmean(values), 5) if values else 0.0,
        "std": round(statistics.pstdev(values), 5) if values else 0.0,
        "q99": round(quantile(values, 0.99), 4),
        "max": round(max(values, default=0.0), 4),
        "top": [round(x, 4) for x in sorted(values, reverse=True)[:TOP]],
    }


def toml_text(
    region: dict[str, object],
    share: dict[str, object],
    region_th: float,
    share_th: float,
    min_fps: int,
    on: str,
    validation: str,
) -> str:
    def table(d: dict[str, object]) -> str:
        top = ", ".join(f"{x}" for x in d["top"])  # type: ignore[attr-defined]
        return (
            f"n = {d['n']}\nmean = {d['mean']}\nstd = {d['std']}\nq99 = {d['q99']}\n"
            f"max = {d['max']}\n# the largest values observed (for the empirical p-value)\n"
            f"top = [{top}]\n"
        )

    return (
        "# What independently written ML code scores against an index of transformers, and\n"
        "# when a match is a copy. Written by bench/clones_null.py --write; do not edit by hand.\n"
        f"# {machine(REPO)}\n"
        "#\n"
        "# region evidence: the strongest region a file shares with its best reference file\n"
        "#   (fingerprints weighed by their rarity in the corpus: scanner/code/matching.py).\n"
        "# share: the share of a file's fingerprints found in its best reference file (files\n"
        f"#   with at least {min_fps} fingerprints).\n"
        f"# Thresholds: region = the calibration files' {QUANTILE:.1%} quantile, at least "
        f"{REGION_MIN};\n#   whole-file share = {SHARE_MARGIN} x the calibration maximum, at "
        f"least {SHARE_MIN}.\n"
        f"# Held-out check: {validation}\n\n"
        f'[measured]\non = "{on}"\n\n'
        "[threshold]\n"
        f"region_evidence = {region_th}\nwhole_file_share = {share_th}\n"
        f"whole_file_min_fingerprints = {min_fps}\n\n"
        f"[null.region]\n{table(region)}\n[null.share]\n{table(share)}"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true", help=f"write {RULES.relative_to(REPO)}")
    ap.add_argument("--json", type=Path, default=None, help="every file's scores")
    ap.add_argument("--home", type=Path, default=None, help="provscan home with tf indexed")
    args = ap.parse_args()
    import transformers

    tf_root = Path(transformers.__file__).resolve().parent
    trees = materialise(PACKAGES)
    sets = compose(trees, tf_root)
    calib = [f for f in sets.precision if f.package.name in CALIBRATION]
    held = [f for f in sets.precision if f.package.name not in CALIBRATION]
    home = args.home or Path(tempfile.mkdtemp(prefix="provscan-null-"))
    os.environ["PROVSCAN_HOME"] = str(home)
    from scanner.code import calibration
    from scanner.code.corpus import add_corpus, list_corpora, load_corpora

    started = time.perf_counter()
    if not any(c.name == "tf" for c in list_corpora()):
        add_corpus("tf", "pkg:transformers")
    corpora = load_corpora()
    print(f"machine: {machine(REPO)}")
    print(f"index: transformers {transformers.__version__}, {corpora[0].info.files} files")
    min_fps = calibration.background().min_fingerprints
    cal = score(calib, corpora)
    region = summary([s.region for s in cal])
    share = summary([s.share for s in cal if s.fingerprints >= min_fps])
    region_th = round(max(REGION_MIN, quantile([s.region for s in cal], QUANTILE)), 2)
    share_th = round(max(SHARE_MIN, SHARE_MARGIN * float(share["max"])), 3)  # type: ignore[arg-type]
    by_pkg = ", ".join(f"{p} {sum(1 for f in calib if f.package.name == p)}" for p in CALIBRATION)
    print(f"calibration: {len(cal)} files ({by_pkg})")
    print(f"  region evidence: {json.dumps({k: v for k, v in region.items() if k != 'top'})}")
    print(
        f"  share (>= {min_fps} fingerprints): "
        f"{json.dumps({k: v for k, v in share.items() if k != 'top'})}"
    )
    print(f"  thresholds: region {region_th}, whole-file share {share_th}")
    over = sorted((s for s in cal if s.region >= region_th), key=lambda s: -s.region)
    print(f"  calibration files at or over the region threshold: {len(over)}")
    for s in over:
        print(f"    {s.path}: {s.region} vs {s.upstream}")
    hel = score(held, corpora)
    over_h = sorted(
        (
            s
            for s in hel
            if s.region >= region_th or (s.fingerprints >= min_fps and s.share >= share_th)
        ),
        key=lambda s: -s.region,
    )
    hp = sorted({f.package.name for f in held})
    validation = (
        f"{len(over_h)} of {len(hel)} held-out files ({', '.join(hp)}) over a threshold; "
        f"their region evidence max {max((s.region for s in hel), default=0):.2f}, share max "
        f"{max((s.share for s in hel if s.fingerprints >= min_fps), default=0):.3f}"
    )
    print(f"held out: {validation}")
    for s in over_h:
        print(f"    {s.path}: region {s.region}, share {s.share} vs {s.upstream}")
    print(f"time: {time.perf_counter() - started:.0f} s")
    on = (
        f"{len(cal)} model files of {', '.join(CALIBRATION)} (Keras, PyTorch, JAX) scanned "
        f"against transformers {transformers.__version__} ({corpora[0].info.files} files)"
    )
    if args.write:
        RULES.write_text(toml_text(region, share, region_th, share_th, min_fps, on, validation))
        print(f"wrote {RULES}")
    if args.json:
        args.json.write_text(
            json.dumps(
                {"calibration": [asdict(s) for s in cal], "held_out": [asdict(s) for s in hel]},
                indent=1,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

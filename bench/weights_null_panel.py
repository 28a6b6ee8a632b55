"""Measure the weight signals' null backgrounds on a panel of UNRELATED tiny models.

Trains independently initialised models (own seeds, own batches; code, prose and a
second tokenizer) with the lineage suite's tiny Llama trainer, adds untrained random
initialisations, compares every pair and writes the mean and spread of each signal to
rules/null_backgrounds.toml with a record of how the panel was made. Seeds differ from
the evaluation suite's, so the suite's labels never feed the null.

    python bench/weights_null_panel.py OUTDIR [--steps 500] [--write]
"""

from __future__ import annotations

import argparse
import itertools
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scanner.rules import rules_dir  # noqa: E402
from scanner.weights.compare import compare_fingerprints, fingerprint_of  # noqa: E402

PANEL = (
    ("trained_code_a", 301, "code"),
    ("trained_code_b", 302, "code"),
    ("trained_prose", 304, "prose"),
    ("trained_hf_tok", 305, "hf"),
    ("random_a", 306, None),
    ("random_b", 307, None),
)


def make_models(out: Path, steps: int) -> list[Path]:
    import torch

    from bench.lineage.corpus import corpus, encode, tokenizer_json, train_tokenizer
    from bench.lineage.tinyllama import BASE_CONFIG, init_params, save_model, train

    # one thread: OpenMP threads spin-wait and crawl when the cores are shared
    torch.set_num_threads(1)
    text = {n: corpus(n) for n in ("code", "prose", "hf")}
    tok = train_tokenizer(text["code"], 1024)
    tok_hf = train_tokenizer(text["hf"], 768)
    folders = []
    for name, seed, source in PANEL:
        folder = out / name
        folders.append(folder)
        if (folder / "model.safetensors").is_file():
            continue
        t = tok_hf if source == "hf" else tok
        vocab = 768 if source == "hf" else 1024
        cfg = dict(BASE_CONFIG, num_hidden_layers=6, vocab_size=vocab)
        p = init_params(cfg, vocab, seed)
        if source is not None:
            train(p, cfg, encode(t, text[source]), steps, 3e-3, seed)
        save_model(folder, p, cfg, tokenizer_json(t))
        how = f"trained {steps} steps on {source}" if source else "random init"
        print(f"{name}: seed {seed}, {how}", flush=True)
    return folders


def measure(folders: list[Path]) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    fps = {f.name: fingerprint_of(str(f)) for f in folders}
    scores: dict[str, list[float]] = {}
    trained: dict[str, list[float]] = {}
    for a, b in itertools.combinations(sorted(fps), 2):
        cmp = compare_fingerprints(fps[a], fps[b])
        print(
            f"{a:16s} {b:16s} {cmp.verdict:14s} "
            + " ".join(f"{s.name}={s.score:.4f}(p={s.p_value:.2g})" for s in cmp.signals),
            flush=True,
        )
        for s in cmp.signals:
            scores.setdefault(s.name, []).append(s.score)
            if a.startswith("trained") and b.startswith("trained"):
                trained.setdefault(s.name, []).append(s.score)
    return scores, trained


def write(
    scores: dict[str, list[float]], trained: dict[str, list[float]], steps: int, n_models: int
) -> None:
    lines = [
        "# Null backgrounds: what pairs of UNRELATED models score on each signal (mean, std",
        "# over the panel's pairs). Written by bench/weights_null_panel.py; do not edit by hand.",
        "[panel]",
        f'how = "{n_models} tiny Llama-style models (d=64, 6 layers, 4 heads, the lineage '
        f"suite trainer): 4 independently initialised and independently trained ({steps} AdamW "
        f"steps; 2 on stdlib code with different seeds, 1 on Python docs prose, 1 on "
        f"transformers sources with its own 768-token tokenizer) and 2 untrained random "
        f"initialisations; every pair compared. Each signal: over all pairs, and (trained) "
        f'over pairs of two trained models only"',
        f"seeds = {[s for _, s, _ in PANEL]}",
        f"pairs = {len(next(iter(scores.values())))}",
        f'made = "{time.strftime("%Y-%m-%d")} on {platform.processor() or platform.machine()}"',
        "",
        "[signal]",
    ]
    for name, vals in sorted(scores.items()):
        if name in ("layer_alignment",):
            continue
        arr = np.array(vals)
        tr = np.array(trained.get(name, [np.nan, np.nan]))
        lines.append(
            f"{name} = {{ mean = {arr.mean():.6f}, std = {arr.std(ddof=1):.6f}, "
            f"max = {arr.max():.6f}, n = {len(arr)}, trained = {{ "
            f"mean = {tr.mean():.6f}, std = {tr.std(ddof=1):.6f}, n = {len(tr)} }} }}"
        )
    (rules_dir() / "null_backgrounds.toml").write_text("\n".join(lines) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("outdir", type=Path)
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--write", action="store_true", help="update rules/null_backgrounds.toml")
    args = parser.parse_args()
    args.outdir.mkdir(parents=True, exist_ok=True)
    folders = make_models(args.outdir, args.steps)
    scores, trained = measure(folders)
    print(
        json.dumps(
            {
                k: [round(float(np.mean(v)), 4), round(float(np.std(v, ddof=1)), 4)]
                for k, v in scores.items()
            }
        )
    )
    if args.write:
        write(scores, trained, args.steps, len(folders))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Recall and precision of the clones analyzer on copies generated from real upstream files.

Upstream: the installed transformers package's models/ tree, indexed as a corpus. Copies:
real files put through the tricks used to hide copying (exact, header stripped, identifiers
renamed, top-level definitions reordered, comments and docstrings removed, reformatted by
ast.unparse, and a 30% partial copy buried in unrelated code). Unrelated files: Python
files of other installed packages, which are not in the index. Everything is deterministic
(seeded), and tests/test_clones_eval.py runs a small version of the same evaluation.

The null background and the thresholds come from rules/clone_background.toml, measured on
real, independently written ML code by bench/clones_null.py; this evaluation only checks
that the transformations copiers use do not hide a copy from them.

Usage: python bench/clones_eval.py [--copies N] [--unrelated N]
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import io
import keyword
import os
import random
import sys
import tempfile
import time
import tokenize
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repo, for bench.*
from bench.machine import describe as machine  # noqa: E402
from scanner.code import clones  # noqa: E402
from scanner.code.calibration import background  # noqa: E402
from scanner.code.corpus import LoadedCorpus, add_corpus, load_corpora  # noqa: E402
from scanner.code.matching import NEAR_TIE  # noqa: E402

SITE = Path(__import__("transformers").__file__).resolve().parent.parent
MODELS = SITE / "transformers" / "models"
UNRELATED_PACKAGES = (
    "torch",
    "numpy",
    "pygments",
    "rich",
    "jinja2",
    "typer",
    "git",
    "scancode",
    "licensedcode",
    "dask",
    "distributed",
    "yaml",
    "click",
    "onnx",
    "gguf",
    "safetensors",
    "huggingface_hub",
    "httpx",
    "_pytest",
)
_BUILTINS = set(dir(__import__("builtins")))


# ---- transformations -----------------------------------------------------------------------


def strip_header(src: str) -> str:
    """Drop the leading comment block (the notice and license text)."""
    lines = src.splitlines(True)
    i = 0
    while i < len(lines) and (lines[i].lstrip().startswith("#") or not lines[i].strip()):
        i += 1
    return "".join(lines[i:])


def _defined_names(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
    return {
        n
        for n in names
        if not keyword.iskeyword(n)
        and n not in _BUILTINS
        and n not in ("self", "cls")
        and not n.startswith("__")
    }


def rename_identifiers(src: str, seed: int) -> str:
    """Consistently rename every name the file defines (classes, functions, arguments,
    variables, attributes it assigns), as a renaming tool would; comments stay."""
    tree = ast.parse(src)
    rng = random.Random(seed)
    mapping = {
        n: f"{rng.choice(['v', 'x', 'q', 'z'])}{hashlib.sha1(n.encode()).hexdigest()[:6]}"
        for n in sorted(_defined_names(tree))
    }
    out = []
    for tok in tokenize.generate_tokens(io.StringIO(src).readline):
        if tok.type == tokenize.NAME and tok.string in mapping:
            tok = tok._replace(string=mapping[tok.string])
        out.append(tok)
    return tokenize.untokenize(out)


def _top_level_segments(src: str) -> tuple[list[str], list[str]]:
    """(head: imports and module docstring, defs: each top-level statement's source)."""
    tree = ast.parse(src)
    lines = src.splitlines(True)
    head: list[str] = []
    defs: list[str] = []
    for node in tree.body:
        start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])]) - 1
        text = "".join(lines[start : node.end_lineno])
        is_head = isinstance(node, ast.Import | ast.ImportFrom) or (
            isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
        )
        (head if is_head and not defs else defs).append(text)
    return head, defs


def reorder_definitions(src: str, seed: int) -> str:
    """Shuffle the top-level statements after the imports."""
    head, defs = _top_level_segments(src)
    random.Random(seed).shuffle(defs)
    return "".join(head) + "\n\n" + "\n\n".join(defs)


def remove_comments(src: str) -> str:
    """Drop every comment and docstring (a docstring that is a whole body becomes `pass`)."""
    tree = ast.parse(src)
    lines = src.splitlines(True)
    drop: set[int] = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if not (
            isinstance(body, list)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            continue
        doc = body[0]
        assert doc.end_lineno is not None
        if getattr(node, "lineno", 0) == doc.lineno:
            continue  # a one-line `def f(): "doc"`: leave it
        first = doc.lineno
        if len(body) == 1:
            indent = lines[first - 1][: len(lines[first - 1]) - len(lines[first - 1].lstrip())]
            lines[first - 1] = indent + "pass\n"
            first += 1
        drop.update(range(first, doc.end_lineno + 1))
    for tok in tokenize.generate_tokens(io.StringIO(src).readline):
        if tok.type == tokenize.COMMENT and tok.start[0] not in drop:
            row, col = tok.start
            lines[row - 1] = lines[row - 1][:col].rstrip() + "\n"
    kept = [line for i, line in enumerate(lines, 1) if i not in drop]
    return "".join(line for line in kept if line.strip())


def _parses(text: str) -> bool:
    try:
        ast.parse(text)
    except (SyntaxError, ValueError):
        return False
    return True


def reformat(src: str) -> str:
    """Re-emit the code from its AST: another layout, quotes, parentheses; no comments."""
    return ast.unparse(ast.parse(src)) + "\n"


def partial_copy(src: str, filler: str, seed: int, fraction: float = 0.3) -> str:
    """A run of top-level definitions making `fraction` of the upstream, put between the
    top-level statements of unrelated code so that it is also about `fraction` of the
    result."""
    _, defs = _top_level_segments(src)
    total = sum(d.count("\n") for d in defs)
    rng = random.Random(seed)
    start = rng.randrange(max(1, len(defs)))
    chosen: list[str] = []
    size = 0
    i = start
    while size < fraction * total and len(chosen) < len(defs):
        chosen.append(defs[i % len(defs)])
        size += defs[i % len(defs)].count("\n")
        i += 1
    head, stmts = _top_level_segments(filler)
    want = int(size * (1 - fraction) / fraction)
    body: list[str] = []
    for stmt in head + stmts:
        if sum(b.count("\n") for b in body) >= want:
            break
        body.append(stmt)
    cut = (len(body) + 1) // 2
    return "\n".join(body[:cut] + chosen + body[cut:]) + "\n"


# ---- the evaluation ------------------------------------------------------------------------


@dataclass
class Outcome:
    label: str
    source: str | None
    flagged: bool
    attributed: bool
    share: float


@dataclass
class Report:
    outcomes: list[Outcome] = field(default_factory=list)
    null_shares: list[float] = field(default_factory=list)
    build_seconds: float = 0.0

    def recall(self, label: str | None = None) -> float:
        copies = [o for o in self.outcomes if o.source and (label is None or o.label == label)]
        return sum(o.flagged for o in copies) / max(1, len(copies))

    def attribution(self) -> float:
        flagged = [o for o in self.outcomes if o.source and o.flagged]
        return sum(o.attributed for o in flagged) / max(1, len(flagged))

    def specificity(self) -> float:
        unrelated = [o for o in self.outcomes if not o.source]
        return 1 - sum(o.flagged for o in unrelated) / max(1, len(unrelated))

    def precision(self) -> float:
        flagged = [o for o in self.outcomes if o.flagged]
        return sum(1 for o in flagged if o.source) / max(1, len(flagged))

    def lines(self) -> list[str]:
        labels = sorted({o.label for o in self.outcomes if o.source})
        copies = [o for o in self.outcomes if o.source]
        unrelated = [o for o in self.outcomes if not o.source]
        out = [f"copies: {len(copies)}, unrelated files: {len(unrelated)}"]
        for label in labels:
            n = sum(1 for o in copies if o.label == label)
            out.append(f"  recall {label:<18} {self.recall(label):7.2%}  (n={n})")
        out += [
            f"recall (all copies, >= 30% copied)  {self.recall():7.2%}",
            f"precision on unrelated files (not flagged)  {self.specificity():7.2%}",
            f"precision (flagged that are copies)  {self.precision():7.2%}",
            f"attribution (flagged copies whose best match is the true upstream or "
            f"ties with it)  {self.attribution():7.2%}",
        ]
        return out


def upstream_files(n: int, seed: int) -> list[Path]:
    """Real model code files of some size (tiny __init__ files are all alike)."""
    files = sorted(
        p
        for p in MODELS.rglob("*.py")
        if "__pycache__" not in p.parts and p.name != "__init__.py" and p.stat().st_size > 4000
    )
    return random.Random(seed).sample(files, min(n, len(files)))


def unrelated_files(n: int, seed: int) -> list[Path]:
    files: list[Path] = []
    for pkg in UNRELATED_PACKAGES:
        root = SITE / pkg
        if root.is_dir():
            files.extend(
                p
                for p in root.rglob("*.py")
                if "__pycache__" not in p.parts and 2000 < p.stat().st_size < 400_000
            )
    picked = random.Random(seed).sample(sorted(files), min(2 * n, len(files)))
    return [p for p in picked if _parses(p.read_text(encoding="utf-8", errors="replace"))][:n]


def transforms(filler: str, seed: int) -> dict[str, Callable[[str], str]]:
    return {
        "exact": lambda s: s,
        "header-stripped": strip_header,
        "renamed": lambda s: strip_header(rename_identifiers(s, seed)),
        "reordered": lambda s: reorder_definitions(strip_header(s), seed),
        "comments-removed": remove_comments,
        "reformatted": reformat,
        "partial-30%": lambda s: partial_copy(strip_header(s), filler, seed),
    }


def _attributed(match: clones.CloneMatch | None, source: str) -> bool:
    """The true upstream is the match, or tied with it (a renamed copy of a derivative
    matches its original as well: the original wins the tie, matching.choose)."""
    if match is None:
        return False
    if match.best.path == source:
        return True
    floor = (1 - NEAR_TIE) * match.best.evidence
    return any(c.path == source and c.evidence >= floor for c in match.others)


def evaluate(
    n_copies: int, n_unrelated: int, seed: int = 0, corpora: list[LoadedCorpus] | None = None
) -> Report:
    """Index models/ (unless corpora are given), then score copies and unrelated files."""
    report = Report()
    if corpora is None:
        started = time.perf_counter()
        add_corpus("transformers-models", "pkg:transformers/models", replace=True)
        report.build_seconds = time.perf_counter() - started
        corpora = load_corpora()
    unrelated = unrelated_files(n_unrelated + n_copies, seed)
    fillers, negatives = unrelated[:n_copies], unrelated[n_copies:]
    for i, path in enumerate(upstream_files(n_copies, seed)):
        src = path.read_text(encoding="utf-8")
        source = "transformers/" + path.relative_to(MODELS.parent).as_posix()
        filler = fillers[i % max(1, len(fillers))].read_text(encoding="utf-8", errors="replace")
        for label, fn in transforms(filler, seed + i).items():
            text = fn(src)
            match = clones.scan_text(text, "python", corpora)
            report.outcomes.append(
                Outcome(
                    label=label,
                    source=source,
                    flagged=match is not None and clones.is_copy(match),
                    attributed=_attributed(match, source),
                    share=match.best.share if match else 0.0,
                )
            )
    for path in negatives:
        text = path.read_text(encoding="utf-8", errors="replace")
        match = clones.scan_text(text, "python", corpora)
        share = match.best.share if match else 0.0
        report.null_shares.append(share)
        report.outcomes.append(
            Outcome(
                label="unrelated",
                source=None,
                flagged=match is not None and clones.is_copy(match),
                attributed=False,
                share=share,
            )
        )
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=120, help="upstream files to copy")
    parser.add_argument("--unrelated", type=int, default=600, help="unrelated files")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        os.environ["PROVSCAN_HOME"] = home
        report = evaluate(args.copies, args.unrelated, args.seed)
    bg = background()
    th = {
        "region_evidence": bg.region_threshold,
        "whole_file_share": bg.share_threshold,
        "whole_file_min_fingerprints": bg.min_fingerprints,
    }
    shares = sorted(report.null_shares)
    out = [
        f"machine: {machine()}",
        f"index build (models/): {report.build_seconds:.1f} s",
        f"thresholds (rules/clone_background.toml): {th}",
        *report.lines(),
        f"unrelated shares: median {shares[len(shares) // 2]:.4f}, p99 "
        f"{shares[int(0.99 * (len(shares) - 1))]:.4f}, max {shares[-1]:.4f}",
    ]
    print("\n".join(out))
    results = Path(__file__).resolve().parent / "results" / "clones_eval.txt"
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(
        f"python bench/clones_eval.py --copies {args.copies} --unrelated "
        f"{args.unrelated} --seed {args.seed}\n" + "\n".join(out) + "\n"
    )


if __name__ == "__main__":
    main()

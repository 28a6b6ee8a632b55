"""A small run of bench/clones_eval.py: copies of real transformers files, transformed the
ways copiers hide them, must be found; unrelated files must not be."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench" / "clones_eval.py"


@pytest.fixture(scope="module")
def clones_eval():
    spec = importlib.util.spec_from_file_location("clones_eval", BENCH)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["clones_eval"] = module
    spec.loader.exec_module(module)
    return module


def test_transformations_keep_valid_python(clones_eval):
    import ast

    src = (clones_eval.MODELS / "llama" / "modeling_llama.py").read_text()
    for label, fn in clones_eval.transforms("x = 1\n" * 20, seed=3).items():
        out = fn(src)
        ast.parse(out)
        assert (out == src) == (label == "exact"), label
    assert "Copyright" not in clones_eval.strip_header(src)
    assert "LlamaAttention" not in clones_eval.rename_identifiers(src, 3)


def test_recall_and_precision_bars(clones_eval):
    report = clones_eval.evaluate(n_copies=24, n_unrelated=150, seed=7)
    print("\n".join(report.lines()))
    labels = {o.label for o in report.outcomes}
    assert {
        "exact",
        "header-stripped",
        "renamed",
        "reordered",
        "comments-removed",
        "reformatted",
        "partial-30%",
        "unrelated",
    } <= labels
    assert report.recall() >= 0.95
    assert report.specificity() >= 0.99
    assert report.attribution() >= 0.95

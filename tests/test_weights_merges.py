"""A sparsifying merge is told from a fine-tune; a linear merge cannot be, and says so.

A linear merge of a model with its fine-tune moves it along the fine-tune's delta, so from
the two checkpoints it is a fine-tune (the relation's reason names both). TIES keeps, of
each task's delta, the largest values only, and leaves the rest of the weights exactly as
they were: in float32 a fine-tune moves every value, so the exactly-unchanged share of the
values the fingerprint keeps (reduce.KEPT_VALUES) tells it apart.

mergekit is not among the test dependencies: the merges here follow its methods (linear:
weighted sum; TIES: trim each delta to its top `density` by magnitude, elect each value's
sign by the summed delta, average the deltas that agree with it) on synth models. The real
panel (bench/real) has the mergekit-made ones.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import synth

from scanner.weights.compare import compare_models
from scanner.weights.fingerprint import Fingerprint, fingerprint_of

VOCAB = {f"w{i}": i for i in range(256)}
TOKENIZER = json.dumps({"model": {"type": "WordLevel", "vocab": VOCAB, "unk_token": "w0"}})
CFG = synth.llama_config(256, d=64, layers=2, heads=4, kv=4, ff=128)


def _ties(
    base: dict[str, np.ndarray], tuned: list[dict[str, np.ndarray]], density: float
) -> dict[str, np.ndarray]:
    out = {}
    for name, w in base.items():
        deltas = []
        for t in tuned:
            d = t[name] - w
            cut = np.quantile(np.abs(d), 1.0 - density)
            deltas.append(np.where(np.abs(d) >= cut, d, 0.0))
        stacked = np.stack(deltas)
        sign = np.sign(stacked.sum(0))
        agree = (np.sign(stacked) == sign) & (stacked != 0)
        count = agree.sum(0)
        merged = np.where(agree, stacked, 0.0).sum(0) / np.maximum(count, 1)
        out[name] = (w + merged).astype(np.float32)
    return out


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("merges")
    base = synth.random_llama(21, CFG)
    ft1, ft2 = synth.perturb(base, 22, 0.05), synth.perturb(base, 23, 0.05)
    linear = {k: (0.5 * base[k] + 0.5 * ft1[k]).astype(np.float32) for k in base}
    return {
        "base": synth.save_model(root / "base", base, CFG, TOKENIZER),
        "fine-tune": synth.save_model(root / "ft1", ft1, CFG, TOKENIZER),
        "linear": synth.save_model(root / "linear", linear, CFG, TOKENIZER),
        "ties": synth.save_model(root / "ties", _ties(base, [ft1, ft2], 0.5), CFG, TOKENIZER),
    }


def test_a_ties_merge_is_judged_merged(made: dict[str, Path]) -> None:
    cmp = compare_models(str(made["base"]), str(made["ties"]))
    assert (cmp.verdict, cmp.relation) == ("derived", "merged"), cmp.reasons
    assert "exactly unchanged" in cmp.reasons[-1]


@pytest.mark.parametrize("other", ["fine-tune", "linear"])
def test_a_fine_tune_and_a_linear_merge_are_a_fine_tune_that_names_merges(
    made: dict[str, Path], other: str
) -> None:
    cmp = compare_models(str(made["base"]), str(made[other]))
    assert (cmp.verdict, cmp.relation) == ("derived", "fine-tune"), cmp.reasons
    assert "merge with a fine-tune" in cmp.reasons[-1]


def test_the_kept_values_survive_a_fingerprint_file(made: dict[str, Path], tmp_path: Path) -> None:
    for name in ("base", "ties"):
        fingerprint_of(str(made[name])).save(tmp_path / f"{name}.npz")
    loaded = Fingerprint.load(tmp_path / "ties.npz")
    assert any("values" in t for t in loaded.tensors.values())
    cmp = compare_models(str(tmp_path / "base.npz"), str(tmp_path / "ties.npz"))
    assert (cmp.verdict, cmp.relation) == ("derived", "merged"), cmp.reasons

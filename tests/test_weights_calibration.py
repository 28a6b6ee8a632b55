"""Calibration: p-values no smaller than the null's evidence supports, nulls that a family
can be left out of, and unrelated models of different widths and vocabularies judged
unrelated."""

from __future__ import annotations

import json
import sysconfig
from pathlib import Path

import pytest
import synth

from scanner.weights.calibrate import P_FLOOR, Nulls, PanelPair, in_words, measured
from scanner.weights.compare import compare_fingerprints, compare_models, fingerprint_of


def _panel(scores: list[float], computed: tuple[float, float] = (0.0, 0.01)) -> Nulls:
    return Nulls(
        [
            PanelPair(f"p{i}", (f"f{i}", f"g{i}"), {"sig": (s, *computed)})
            for i, s in enumerate(scores)
        ]
    )


def test_a_panel_only_signal_never_claims_more_than_its_panel_size() -> None:
    panel = _panel([0.1, 0.2, 0.15, 0.12, 0.18, 0.11, 0.16])
    raw = measured("sig", 0.99, 0.5, 0.5, (), kind="none")
    cal = panel.calibrate(raw)
    assert cal.z > 10  # far beyond the panel, and still
    assert cal.p_value == pytest.approx(1 / 8)
    assert "fewer than 1 time in 8" in cal.in_words


def test_a_computed_null_carries_the_tail_down_to_the_floor_and_no_further() -> None:
    panel = _panel([0.001, 0.003, -0.002, 0.004, 0.0, 0.002])
    cal = panel.calibrate(measured("sig", 0.9, 0.0, 0.01, (), kind="shuffles"))
    assert cal.p_value == P_FLOOR and cal.at_floor
    assert "fewer than 1 time in a trillion" in cal.in_words
    assert "highest of 6 real unrelated pairs" in cal.in_words


def test_the_panel_moves_and_widens_the_computed_null() -> None:
    # unrelated real pairs sit 0.02 above their shuffles' mean, with more spread
    panel = _panel([0.02, 0.03, 0.01, 0.025, 0.015, 0.02, 0.03, 0.01])
    alone = measured("sig", 0.05, 0.0, 0.01, (), kind="shuffles")
    cal = panel.calibrate(alone)
    assert cal.null_mean > 0.02 and cal.null_std > 0.01
    assert cal.p_value > alone.p_value
    assert cal.null_n == 8


def test_leaving_a_family_out_drops_every_pair_that_involves_it() -> None:
    nulls = Nulls(
        [
            PanelPair("a~b", ("a", "b"), {}),
            PanelPair("a~c", ("a", "c"), {}),
            PanelPair("b~c", ("b", "c"), {}),
        ]
    )
    assert [p.name for p in nulls.without({"a"}).pairs] == ["b~c"]
    assert nulls.without({"a", "b"}).pairs == []


def test_the_rules_panel_is_real_unrelated_pairs_with_their_families() -> None:
    nulls = Nulls.from_rules()
    assert len(nulls.pairs) >= 10
    for p in nulls.pairs:
        assert len(p.families) >= 1 and "aligned_forms" in p.scores, p.name


def test_in_words_says_how_often_unrelated_models_get_there() -> None:
    s = measured("aligned_forms", 0.03, 0.0, 0.01, (), kind="shuffles")
    assert s.in_words == in_words(s)
    assert s.in_words.startswith("unrelated models of this size reach this similarity")
    assert "about 1 time in 7" in s.in_words  # p = 0.00135 at z = 3


def _tokenizer(folder: str, size: int) -> str:
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    lib = Path(sysconfig.get_paths()["stdlib"])
    text = [p.read_text(errors="replace") for p in sorted(lib.glob(f"{folder}/*.py"))]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.train_from_iterator(text, trainers.BpeTrainer(vocab_size=size, show_progress=False))
    return tok.to_str()


def test_unrelated_models_of_different_widths_and_vocabularies_are_unrelated(
    tmp_path: Path,
) -> None:
    """Different widths (64, 96), depths and tokenizers trained on different text: what
    survives (forms on the tokens both vocabularies hold) is checked, and finds nothing."""
    tok_a, tok_b = _tokenizer("json", 700), _tokenizer("email", 1000)
    va = len(json.loads(tok_a)["model"]["vocab"])
    vb = len(json.loads(tok_b)["model"]["vocab"])
    ca = synth.llama_config(va, d=64, layers=4, heads=4, kv=2, ff=128)
    cb = synth.llama_config(vb, d=96, layers=5, heads=6, kv=3, ff=192)
    synth.save_model(tmp_path / "a", synth.random_llama(31, ca), ca, tok_a)
    synth.save_model(tmp_path / "b", synth.random_llama(32, cb), cb, tok_b)
    cmp = compare_models(str(tmp_path / "a"), str(tmp_path / "b"))
    assert cmp.verdict == "unrelated", cmp.reasons
    forms = cmp.signal("aligned_forms")
    assert forms is not None and forms.details["anchors"] >= 24
    assert forms.p_value > 1e-3
    assert cmp.signal("direct_cosine") is None  # no tensor has the same shape on both sides
    # and the same from saved fingerprints
    fa, fb = fingerprint_of(str(tmp_path / "a")), fingerprint_of(str(tmp_path / "b"))
    fa.save(tmp_path / "a.npz")
    again = compare_fingerprints(fingerprint_of(str(tmp_path / "a.npz")), fb)
    assert again.verdict == "unrelated", again.reasons

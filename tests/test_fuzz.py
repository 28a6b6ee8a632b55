"""Fuzzing every parser that reads untrusted bytes, a few seconds each (the long run is
`make fuzz`, bench/fuzz.py): hypothesis draws the mutations of committed seeds, and every
input must end in a parse or provscan's own error (issue 13, deliver 7)."""

from __future__ import annotations

import contextlib
import os
import random
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzzing.mutate import mutate_text
from tests.fuzzing.targets import CLEAN_ERRORS, SEEDS, TARGETS, input_for, seeds_of

# Inputs a parser in CI: two to four seconds each on a 2-core machine (bench/fuzz.py's
# figures give the cost of one input).
EXAMPLES = {
    "safetensors": 500,
    "gguf": 500,
    "onnx": 700,
    "card": 800,
    "config": 300,
    "tokenizer": 300,
    "lfs-pointer": 800,
    "hub-metadata": 200,
}


@pytest.mark.parametrize("name", list(TARGETS))
def test_fuzzed_inputs_end_in_a_parse_or_a_clean_error(name: str, tmp_path: Path) -> None:
    target = TARGETS[name]
    seeds = seeds_of(name)

    @settings(
        max_examples=EXAMPLES[name],
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.randoms(use_true_random=False))
    def one_input(rng: random.Random) -> None:
        data = input_for(target, seeds, rng)
        with contextlib.suppress(*CLEAN_ERRORS):
            target.run(data, tmp_path)

    context = target.context(tmp_path) if target.context else contextlib.nullcontext()
    with context:
        one_input()


@pytest.mark.parametrize("name", list(TARGETS))
def test_the_committed_seeds_are_what_the_builders_make(name: str) -> None:
    """Seeds are made by the suite's own models; PROVSCAN_WRITE_SEEDS=1 writes them anew
    (after a builder or a library that serialises them changes)."""
    with tempfile.TemporaryDirectory() as tmp:
        made = TARGETS[name].seeds(Path(tmp))
    folder = SEEDS / name
    if os.environ.get("PROVSCAN_WRITE_SEEDS") == "1":
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.iterdir():
            old.unlink()
        for file, data in made.items():
            (folder / file).write_bytes(data)
    committed = {p.name: p.read_bytes() for p in folder.iterdir()}
    assert committed == made, f"seeds of {name} are stale: PROVSCAN_WRITE_SEEDS=1 pytest {__file__}"


@pytest.mark.parametrize("name", list(TARGETS))
def test_every_seed_parses_without_any_error(name: str, tmp_path: Path) -> None:
    target = TARGETS[name]
    context = target.context(tmp_path) if target.context else contextlib.nullcontext()
    with context:
        for seed in seeds_of(name):
            target.run(seed, tmp_path)


def test_mutations_are_reproducible_and_hostile() -> None:
    seed = seeds_of("config")[0]
    a = [mutate_text(seed, random.Random(k)) for k in range(200)]
    assert a == [mutate_text(seed, random.Random(k)) for k in range(200)]
    assert sum(x != seed for x in a) > 190
    assert any(b"1e999" in x or b"NaN" in x or b"Infinity" in x for x in a)

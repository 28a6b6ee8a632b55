"""Issue 13's acceptance: a release made to fail (GPL code carrying Meta's notice under an
Apache-2.0 card, and weights derived from an undeclared base) keeps failing `provscan
check` under every bypass the red team found (items 1-5), for the reason the bypass hid."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import synth
from failing_release import CODE_RULES, make_failing_release
from ggufexport import write_gguf

from tests.hubserver import HubRepo, HubServer

NESTED = "[" * 100_000 + "]" * 100_000
VOCAB = {f"w{i}": i for i in range(200)}
TOKENIZER = json.dumps({"model": {"type": "WordLevel", "vocab": VOCAB, "unk_token": "w0"}})
CFG = synth.llama_config(200, d=32, layers=2, heads=4, kv=4, ff=64)
UNDECLARED = "lineage.fail_on_undeclared_base"


@dataclass
class Case:
    """One bypass: the release as the CLI gets it, and what check must still say."""

    target: str
    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    must_name: tuple[str, ...] = ()
    """Rules (or paths) that check's violations must name: what the bypass hid."""


def _weights(root: Path) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    base = synth.random_llama(1, CFG)
    synth.save_model(root / "base", base, CFG, TOKENIZER)
    return base, synth.perturb(base, 2, 0.05)


def nested_configs(tmp: Path) -> Iterator[Case]:
    """Item 1: config files nested past the recursion limit, at the top and deeper."""
    rel = make_failing_release(tmp / "rel")
    for path in ("config.json", "sub/params.json", "generation_config.json"):
        (rel / path).parent.mkdir(parents=True, exist_ok=True)
        (rel / path).write_text(NESTED)
    yield Case(str(rel), must_name=tuple(CODE_RULES))


def unwritable_home(tmp: Path) -> Iterator[Case]:
    """Item 2: PROVSCAN_HOME is a file."""
    rel = make_failing_release(tmp / "rel")
    home = tmp / "home"
    home.write_text("a file, not a folder\n")
    yield Case(str(rel), env={"PROVSCAN_HOME": str(home)}, must_name=tuple(CODE_RULES))


def skipped_folders(tmp: Path) -> Iterator[Case]:
    """Item 3: the GPL code in a folder a folder scan used to skip without a word."""
    rel = make_failing_release(tmp / "rel", code_path=".cache/modeling_acme.py")
    yield Case(str(rel), must_name=(".cache",))


def hub_base(tmp: Path) -> Iterator[Case]:
    """Item 4: --against hf:org/base, whose weights are LFS files on the Hub."""
    from safetensors.numpy import save

    base, tuned = _weights(tmp)
    rel = make_failing_release(tmp / "rel")
    synth.save_model(rel, tuned, CFG, TOKENIZER)
    repo = HubRepo(
        files={
            "README.md": b"---\nlicense: apache-2.0\n---\n# base\n",
            "config.json": json.dumps(CFG).encode(),
            "tokenizer.json": TOKENIZER.encode(),
            "model.safetensors": save({k: np.ascontiguousarray(v) for k, v in base.items()}),
        },
        lfs={"model.safetensors"},
    )
    with HubServer({"acme/base": repo}) as hub:
        env = {
            "HF_ENDPOINT": hub.endpoint,
            "HF_HUB_CACHE": str(tmp / "hf-cache"),
            "HF_HOME": str(tmp / "hf-home"),
            "HF_HUB_OFFLINE": "0",
            "HF_TOKEN": "",
        }
        yield Case(str(rel), ["--against", "hf:acme/base"], env, (UNDECLARED,))


def _save_onnx(path: Path, tensors: dict[str, np.ndarray]) -> None:
    """The tensors as initializers of an ONNX model, their bytes in external data beside it
    (as exporters write models over protobuf's 2 GB)."""
    import onnx
    from onnx import helper, numpy_helper

    inits = [numpy_helper.from_array(np.ascontiguousarray(v), k) for k, v in tensors.items()]
    model = helper.make_model(helper.make_graph([], "release", [], [], initializer=inits))
    onnx.save_model(
        model,
        str(path),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location=path.name + "_data",
        size_threshold=0,
    )


def weights_through_git(tmp: Path) -> Iterator[Case]:
    """Item 5: GGUF / ONNX weights read through git (ONNX with external data), compared."""
    base, tuned = _weights(tmp)
    for name in ("gguf", "onnx"):
        repo = make_failing_release(tmp / f"repo-{name}")
        if name == "gguf":
            write_gguf(repo / "model.gguf", tuned, TOKENIZER, 4, 4)
        else:
            _save_onnx(repo / "model.onnx", tuned)
            (repo / "tokenizer.json").write_text(TOKENIZER)
            (repo / "config.json").write_text(json.dumps(CFG))
        env = {**os.environ, "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1"}
        for args in (
            ["init", "-q", "-b", "main"],
            ["add", "."],
            ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "release"],
        ):
            subprocess.run(
                ["git", "-C", str(repo), *args], check=True, env=env, capture_output=True
            )
        yield Case(repo.as_uri(), ["--against", str(tmp / "base")], must_name=(UNDECLARED,))


BYPASSES: list[tuple[str, Callable[[Path], Iterator[Case]]]] = [
    ("1 nested config.json", nested_configs),
    ("2 unwritable PROVSCAN_HOME", unwritable_home),
    ("3 GPL code in .cache/", skipped_folders),
    ("4 --against hf:org/base", hub_base),
    ("5 GGUF and ONNX through git", weights_through_git),
]


@pytest.mark.parametrize("bypass", [pytest.param(make, id=name) for name, make in BYPASSES])
def test_a_failing_release_keeps_failing_check_under_every_bypass(
    cli, tmp_path: Path, bypass: Callable[[Path], Iterator[Case]]
) -> None:
    for case in bypass(tmp_path):
        r = cli("check", case.target, *case.args, env=case.env)
        assert r.returncode == 1, r.stdout + r.stderr
        assert "FAIL" in r.stdout
        missing = [name for name in case.must_name if name not in r.stdout]
        assert not missing, f"check no longer names {missing}:\n{r.stdout}{r.stderr}"

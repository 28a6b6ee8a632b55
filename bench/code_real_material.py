"""The material of the real-code benchmark: code that others published, fetched from PyPI.

Each package is pinned to one wheel (name, version, file name and sha256); `pip download`
fetches it into a cache outside the repository (${PROVSCAN_BENCH_CACHE:-~/.cache/provscan-
bench}), the sha256 is checked, and only the chosen folders are read out of the archive (a
wheel is a zip: nothing of it is installed or run). Nothing fetched is ever committed.

Precision candidates: model implementations written in other frameworks and projects (MLX,
Keras, JAX/Flax, PyTorch code bases that are not transformers). Recall candidates: the model
files of inference engines, many of which say in their own comments which transformers file
they were adapted from. Which candidate goes where is decided by bench/code_real_truth.py
from the files' own comments, never by hand.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

# Where pip looks for a wheel: one platform, so that every machine fetches the same files.
PLATFORM = (
    "--platform",
    "manylinux_2_34_x86_64",
    "--platform",
    "manylinux_2_28_x86_64",
    "--python-version",
    "3.11",
    "--implementation",
    "cp",
)


@dataclass(frozen=True)
class Package:
    """One pinned wheel and the folders of it that the benchmark reads."""

    name: str
    version: str
    wheel: str
    sha256: str
    framework: str
    role: str
    """'precision' (candidates for independently written code) or 'recall' (inference
    engines' model files, whose comments may name their upstream)."""
    include: tuple[str, ...]
    """Glob patterns of the files taken, relative to the wheel's root ('**' for subfolders)."""
    exclude: tuple[str, ...] = ()
    """Glob patterns of file names left out (tests, preset tables, empty __init__ files)."""

    @property
    def label(self) -> str:
        return f"{self.name}=={self.version}"


_TESTS_AND_PRESETS = ("*_test.py", "test_*.py", "*_presets.py", "__init__.py")

PACKAGES: tuple[Package, ...] = (
    Package(
        "mlx-lm",
        "0.32.2",
        "mlx_lm-0.32.2-py3-none-any.whl",
        "5c0991248cfff5872503d74f466d2532dd8cb7fb3670cb9be7a06d7305dadc04",
        "MLX",
        "precision",
        ("mlx_lm/models/*.py",),
    ),
    Package(
        "keras-hub",
        "0.32.0",
        "keras_hub-0.32.0-py3-none-any.whl",
        "c0a07ed19b894f5588188afd841659263eb6d3732e21188c82e3e7d3b6de4268",
        "Keras",
        "precision",
        ("keras_hub/src/models/**.py",),
        _TESTS_AND_PRESETS,
    ),
    Package(
        "gemma",
        "4.0.1",
        "gemma-4.0.1-py3-none-any.whl",
        "a3ac8836f63fbf7e8d0934c851fc44c1422638596d157937ba8179db6bfb3e76",
        "JAX/Flax",
        "precision",
        ("gemma/**.py",),
        _TESTS_AND_PRESETS,
    ),
    Package(
        "maxtext",
        "0.2.5",
        "maxtext-0.2.5-py3-none-any.whl",
        "2fe8e4ffc3a06bd06f94daeaaf5fe3ecee748bb6f661c0f426e07e2ca10c9406",
        "JAX/Flax",
        "precision",
        ("maxtext/models/*.py", "maxtext/layers/*.py"),
        _TESTS_AND_PRESETS,
    ),
    Package(
        "torchtune",
        "0.6.1",
        "torchtune-0.6.1-py3-none-any.whl",
        "bcbc4ee9774b5c5829a5ff13df851e0b0e32416c018af8db53faa3472ac256e7",
        "PyTorch",
        "precision",
        ("torchtune/models/**.py",),
        _TESTS_AND_PRESETS,
    ),
    Package(
        "litgpt",
        "0.5.13",
        "litgpt-0.5.13-py3-none-any.whl",
        "da044b76c52cd44fc0564f6177ed6cf186dde24f711ce8e71e1fd9e9da5f02b2",
        "PyTorch",
        "precision",
        ("litgpt/*.py",),
        _TESTS_AND_PRESETS,
    ),
    Package(
        "x-transformers",
        "2.31.10",
        "x_transformers-2.31.10-py3-none-any.whl",
        "40099be7b1f3043ffba67381288a35bdd932decf338dc69a01eb8024bea34d24",
        "PyTorch",
        "precision",
        ("x_transformers/*.py",),
        _TESTS_AND_PRESETS,
    ),
    Package(
        "vllm",
        "0.33.0",
        "vllm-0.33.0-cp38-abi3-manylinux_2_28_x86_64.whl",
        "4b6bdec4ab269990bf70d45a3c1e94c3760a27064513760193b26d6f0da883aa",
        "PyTorch",
        "recall",
        ("vllm/model_executor/models/**.py",),
    ),
    Package(
        "sglang",
        "0.5.23",
        "sglang-0.5.23-cp311-cp311-manylinux_2_34_x86_64.whl",
        "00b3cd5b265ac76c64185fbb6b95424f324ddd9f428d0306b77bc9db9d859937",
        "PyTorch",
        "recall",
        ("sglang/srt/models/**.py",),
    ),
    Package(
        "lmdeploy",
        "0.18.0",
        "lmdeploy-0.18.0-cp311-cp311-manylinux_2_28_x86_64.whl",
        "e6790a25dcdb0345c160567fdf2ac604fec319389523a8b806834c9d92c8ffe1",
        "PyTorch",
        "recall",
        ("lmdeploy/pytorch/models/**.py",),
    ),
)


class MaterialError(RuntimeError):
    """A wheel could not be fetched, or is not the pinned one."""


def cache_dir() -> Path:
    default = Path.home() / ".cache" / "provscan-bench"
    return Path(os.environ.get("PROVSCAN_BENCH_CACHE") or default)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fetch(pkg: Package, wheels: Path) -> Path:
    """The pinned wheel in the cache, downloaded by pip when absent; its sha256 checked."""
    path = wheels / pkg.wheel
    if not path.exists():
        wheels.mkdir(parents=True, exist_ok=True)
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--only-binary=:all:",
            *PLATFORM,
            "-d",
            str(wheels),
            pkg.label,
        ]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0 or not path.exists():
            raise MaterialError(
                f"{pkg.label}: pip download did not bring {pkg.wheel}: {done.stderr.strip()[-500:]}"
            )
    found = sha256_of(path)
    if found != pkg.sha256:
        raise MaterialError(f"{pkg.wheel}: sha256 {found}, pinned {pkg.sha256}")
    return path


def _taken(pkg: Package, member: str) -> bool:
    name = member.rsplit("/", 1)[-1]
    if "__pycache__" in member or any(fnmatch.fnmatch(name, x) for x in pkg.exclude):
        return False
    for pattern in pkg.include:
        folder, _, glob = pattern.partition("/**")
        if glob:  # a folder and everything under it
            if member.startswith(folder + "/") and fnmatch.fnmatch(name, "*" + glob):
                return True
        elif fnmatch.fnmatch(member, pattern) and member.count("/") == pattern.count("/"):
            return True
    return False


def extract(pkg: Package, wheel: Path, root: Path) -> Path:
    """The taken files of the wheel under root/<name>-<version>/ (read out once)."""
    dest = root / f"{pkg.name}-{pkg.version}"
    stamp = dest / ".complete"
    wanted = "\n".join((pkg.sha256, *pkg.include, *pkg.exclude)) + "\n"
    if stamp.exists() and stamp.read_text() == wanted:
        return dest
    if dest.exists():
        shutil.rmtree(dest)
    with zipfile.ZipFile(wheel) as zf:
        for member in zf.namelist():
            if member.endswith("/") or not _taken(pkg, member):
                continue
            target = dest / member
            if not target.resolve().is_relative_to(dest.resolve()):
                raise MaterialError(f"{pkg.wheel}: member {member!r} leaves the folder")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(zf.read(member))
    stamp.write_text(wanted)
    return dest


def files_of(pkg: Package, tree: Path) -> list[Path]:
    return sorted(p for p in tree.rglob("*.py") if p.is_file())


def materialise(packages: tuple[Package, ...] = PACKAGES) -> dict[Package, Path]:
    """Every package fetched, checked and read out: its extracted tree."""
    base = cache_dir()
    return {pkg: extract(pkg, fetch(pkg, base / "wheels"), base / "src") for pkg in packages}

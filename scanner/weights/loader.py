"""A model to compare: its tensors, config and vocabulary, from a folder, a file or a target.

The formats registry (formats/registry.py) finds the checkpoint among the release's files
and opens it; config.json and tokenizer.json beside the checkpoint come first, what the
format itself carries (GGUF metadata) fills in what they lack. A target that is not a local
path (hf:..., git URL, path@rev) is opened through scanner.sources and its files are
fetched one by one through the snapshot's reader. Pickle checkpoints are listed for a
not-analysed finding and never opened.

Nothing a release claims is trusted for size: config values of the wrong type are dropped,
the geometry (widths, head counts, layers) is checked against the real tensor shapes
before anything is allocated by it (configs.py), and the tensors are handed on finite
(finite.py: NaN and infinities are data: read as 0, the tensors named).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import SourceError
from ..model import FileKind
from ..sources.layout import Layout, release_layout
from ..sources.limits import current_limits
from .configs import fit_to_tensors, typed_config
from .finite import FiniteReader
from .formats.checks import read_json
from .formats.interface import Checkpoint, TensorReader, WeightFormatError
from .formats.ranged import RangeFiles, RangeMeter, RemoteFile
from .formats.registry import PICKLE_SUFFIXES as PICKLE_SUFFIXES  # analyzer.py reads it here
from .formats.registry import find_checkpoint, is_pickle, is_weight_file
from .tokens import MAX_TOKENIZER_BYTES, vocab_from_tokenizer_json

_MAX_CONFIG_BYTES = 4 * 1024 * 1024


@dataclass
class LoadedModel:
    """Everything the fingerprint needs from one model, opened lazily."""

    name: str
    reader: TensorReader | None
    config: dict[str, Any] = field(default_factory=dict)
    vocab: list[str] | None = None
    architecture: str | None = None
    """The architecture the weight file names itself (GGUF), where it does."""
    pickles: list[str] = field(default_factory=list)
    """Pickle checkpoints present: reported, never loaded."""
    weight_files: list[str] = field(default_factory=list)
    total_bytes: int = 0
    problems: list[str] = field(default_factory=list)
    layout: Layout | None = None
    """Where the checkpoint's files are read, at their release paths."""
    remote: RangeMeter | None = None
    """Bytes and requests read so far, when the weight files are read by remote ranges."""

    def close(self) -> None:
        if self.reader is not None:
            self.reader.close()
        if self.layout is not None:
            self.layout.close()

    def non_finite(self) -> list[str]:
        """Tensors read so far that held NaN, infinite or absurd values (read as 0)."""
        return self.reader.non_finite if isinstance(self.reader, FiniteReader) else []


def _list_local(root: Path) -> list[str]:
    """Files under a folder, never following symlinks (in or out of the tree)."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for f in filenames:
            p = Path(dirpath) / f
            if not p.is_symlink():
                out.append(p.relative_to(root).as_posix())
    return sorted(out)


@dataclass(frozen=True)
class RemoteAccess:
    """A source's weight files read by byte ranges instead of downloaded (a Hub target)."""

    size: Callable[[str], int | None]
    """The declared size of a file read by ranges; None: that file is read locally."""
    read: Callable[[str, int, int], bytes]
    """read(path, start, length): one range request."""
    budget: int
    """Bytes all range reads of the pass may take (--max-download; twice the checkpoint at most)."""


def load_from_files(
    name: str,
    files: list[str],
    local: Callable[[str], Path],
    remote: RemoteAccess | None = None,
) -> LoadedModel:
    """Open a model given its file list and a way to get each file locally (or `remote`:
    by byte ranges, for the formats that can)."""
    model = LoadedModel(name=name, reader=None)
    model.pickles = [f for f in files if is_pickle(f)]
    found = find_checkpoint(files, local)
    folder = found.folder if found is not None else ""
    cfg = _beside(folder, "config.json", files)
    if cfg is not None:
        try:
            data = read_json(local(cfg), _MAX_CONFIG_BYTES)
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
            model.config = typed_config(data, cfg, model.problems)
        except (ValueError, OSError, WeightFormatError) as exc:
            model.problems.append(f"{cfg}: unreadable config ({exc})")
    if found is not None and not (remote is not None and _open_ranged(model, found, remote)):
        _open(model, found, local)
    tj = _beside(folder, "tokenizer.json", files)
    if tj is not None:
        try:
            p = local(tj)
            if p.stat().st_size > MAX_TOKENIZER_BYTES:
                raise ValueError("larger than the tokenizer size limit")
            model.vocab = vocab_from_tokenizer_json(p.read_bytes())
        except (ValueError, OSError) as exc:
            model.problems.append(f"{tj}: unreadable tokenizer ({exc})")
    if found is not None and isinstance(model.reader, FiniteReader):
        fmt, raw = found.format, model.reader.inner
        if model.vocab is None:
            model.vocab = fmt.vocab(raw)
        if not model.config:
            model.config = typed_config(fmt.config(raw), fmt.name, model.problems)
        model.architecture = fmt.architecture(raw)
        model.config = fit_to_tensors(model.config, raw.tensors(), model.problems)
    return model


def _beside(folder: str, name: str, files: list[str]) -> str | None:
    """A companion file in the checkpoint's folder, else at the top of the release."""
    return next((f for f in (folder + name, name) if f in files), None)


def _open(model: LoadedModel, found: Checkpoint, local: Callable[[str], Path]) -> None:
    # at their release paths, whatever the source's cache calls them: a reader finds a
    # file's companions (ONNX external data) by name, inside the release only
    model.layout = release_layout([*found.files, *found.data_files], local)
    paths = [model.layout.paths[f] for f in found.files]
    model.reader = FiniteReader(found.format.open(paths, model.config))
    model.weight_files = list(found.files)
    model.total_bytes = sum(model.layout.paths[f].stat().st_size for f in model.layout.paths)


def _open_ranged(model: LoadedModel, found: Checkpoint, remote: RemoteAccess) -> bool:
    """Open the checkpoint on remote ranges where its format can and every one of its files
    is remote with a declared size; False: it is read from local files."""
    sizes = {f: remote.size(f) for f in found.files}
    if found.data_files or any(n is None for n in sizes.values()):
        return False
    total = sum(n for n in sizes.values() if n is not None)
    # a pass reads each range once, but overlapping reads (a tensor's rows, then all of it;
    # the headers) are fetched again: twice the checkpoint is the most it may take
    meter = RangeMeter(min(remote.budget, 2 * total + (1 << 20)))
    files = {
        Path(f): RemoteFile(f, n, functools.partial(remote.read, f), meter)
        for f, n in sizes.items()
        if n is not None
    }
    paths = [Path(f) for f in found.files]
    reader = found.format.open_ranged(paths, RangeFiles(files, meter), model.config)
    if reader is None:
        return False
    model.reader = FiniteReader(reader)
    model.weight_files = list(found.files)
    model.total_bytes = total
    model.remote = meter
    return True


def load_model(target: str, offline: bool = False) -> LoadedModel:
    """A model from a local folder or weight file, or any scanner.sources target."""
    path = Path(target).expanduser()
    if path.is_file():
        if is_pickle(path.name):
            return LoadedModel(name=target, reader=None, pickles=[path.name])
        # the file given, and the companions beside it (not the other weight files)
        others = [f for f in _list_local(path.parent) if not is_weight_file(f) or f == path.name]
        return load_from_files(target, others, lambda f: path.parent / f)
    if path.is_dir():
        return load_from_files(target, _list_local(path), lambda f: path / f)
    from ..sources import open_target

    try:
        snap = open_target(target, offline=offline)
    except SourceError:
        raise
    # an LFS pointer's content is not at hand; a Hub file stored in LFS is (it is fetched)
    files = [f.path for f in snap.files if f.kind is not FileKind.LFS_POINTER]
    remote = RemoteAccess(
        snap.reader.remote_size, snap.reader.remote_range, current_limits().max_download
    )
    return load_from_files(target, files, snap.reader.local_path, remote)

"""A model to compare: its tensors, config and vocabulary, from a folder, a file or a target.

Folders may hold safetensors (single or sharded), GGUF or ONNX next to config.json and
tokenizer.json. A target that is not a local path (hf:..., git URL, path@rev) is opened
through scanner.sources and its files are fetched one by one through the snapshot's reader.
Pickle checkpoints are listed for a not-analysed finding and never opened.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import SourceError
from .formats.interface import TensorMeta, TensorReader, WeightFormatError
from .tokens import MAX_TOKENIZER_BYTES, vocab_from_tokenizer_json

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")
_MAX_CONFIG_BYTES = 4 * 1024 * 1024


@dataclass
class LoadedModel:
    """Everything the fingerprint needs from one model, opened lazily."""

    name: str
    reader: TensorReader | None
    config: dict[str, Any] = field(default_factory=dict)
    vocab: list[str] | None = None
    pickles: list[str] = field(default_factory=list)
    """Pickle checkpoints present: reported, never loaded."""
    weight_files: list[str] = field(default_factory=list)
    total_bytes: int = 0
    problems: list[str] = field(default_factory=list)

    def close(self) -> None:
        if self.reader is not None:
            self.reader.close()


class MultiReader(TensorReader):
    """Several single-file readers seen as one checkpoint."""

    def __init__(self, readers: list[TensorReader]):
        self.fmt = readers[0].fmt
        self._readers = readers
        self._owner: dict[str, TensorReader] = {}
        for r in readers:
            for m in r.tensors():
                self._owner.setdefault(m.name, r)

    def tensors(self) -> list[TensorMeta]:
        return [m for r in self._readers for m in r.tensors()]

    def read(self, name: str):  # type: ignore[no-untyped-def]
        return self._owner[name].read(name)

    def metadata(self) -> dict[str, object]:
        out: dict[str, object] = {}
        for r in self._readers:
            out.update(r.metadata())
        return out


def open_weight_file(path: Path) -> TensorReader:
    """One reader for one weight file, by its extension."""
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        from .formats.safetensors import SafetensorsReader

        return SafetensorsReader([path])
    if suffix == ".gguf":
        from .formats.gguf import GGUFTensorReader

        return GGUFTensorReader(path)
    if suffix == ".onnx":
        from .formats.onnx import OnnxReader

        return OnnxReader(path)
    if suffix in PICKLE_SUFFIXES:
        raise WeightFormatError(f"{path.name}: pickle-based checkpoint; provscan never "
                                f"unpickles untrusted files")
    raise WeightFormatError(f"{path.name}: not a weight format provscan reads")


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


def _choose_weights(files: list[str], local: Callable[[str], Path]) -> tuple[str, list[str]]:
    """The weight format of a release and the files that make up its checkpoint."""
    index = [f for f in files if f.endswith(".safetensors.index.json") and "/" not in f]
    if index:
        shards = _index_shards(local(index[0]), files)
        if shards:
            return "safetensors", shards
    st = [f for f in files if f.endswith(".safetensors")]
    # Adapters and sub-models are not the model's own checkpoint.
    top = [f for f in st if "/" not in f] or st
    if top:
        return "safetensors", top
    gg = [f for f in files if f.lower().endswith(".gguf")]
    if gg:
        return "gguf", [sorted(gg, key=lambda f: ("/" in f, f))[0]]
    ox = [f for f in files if f.lower().endswith(".onnx")]
    if ox:
        pref = [f for f in ox if Path(f).name == "model.onnx"]
        return "onnx", [(pref or sorted(ox))[0]]
    return "", []


def _index_shards(index: Path, files: list[str]) -> list[str]:
    """The shards a *.safetensors.index.json names; each must be a file of the release."""
    try:
        data = _read_json(index, _MAX_CONFIG_BYTES * 8)
        names = sorted({str(v) for v in data["weight_map"].values()})
    except (ValueError, KeyError, TypeError, AttributeError, OSError) as exc:
        raise WeightFormatError(f"{index.name}: not a safetensors index") from exc
    missing = [n for n in names if n not in files]
    if missing:
        raise WeightFormatError(f"{index.name}: shard {missing[0]!r} is missing from the "
                                f"release (or points outside it)")
    return names


def _read_json(path: Path, limit: int) -> Any:
    if path.stat().st_size > limit:
        raise WeightFormatError(f"{path.name}: larger than {limit} bytes")
    try:
        return json.loads(path.read_bytes())
    except (ValueError, RecursionError) as exc:  # nesting bombs recurse in json
        raise WeightFormatError(f"{path.name}: not valid JSON") from exc


def load_from_files(name: str, files: list[str], local: Callable[[str], Path]) -> LoadedModel:
    """Open a model given its file list and a way to get each file locally."""
    model = LoadedModel(name=name, reader=None)
    model.pickles = [f for f in files if f.lower().endswith(PICKLE_SUFFIXES)
                     and not f.endswith(".index.json")]
    fmt, chosen = _choose_weights(files, local)
    prefix = (chosen[0].rsplit("/", 1)[0] + "/") if chosen and "/" in chosen[0] else ""
    for cfg in (prefix + "config.json", "config.json"):
        if cfg in files:
            try:
                data = _read_json(local(cfg), _MAX_CONFIG_BYTES)
                model.config = data if isinstance(data, dict) else {}
            except (ValueError, OSError, WeightFormatError) as exc:
                model.problems.append(f"{cfg}: unreadable config ({exc})")
            break
    if chosen:
        paths = [local(f) for f in chosen]
        if fmt == "safetensors":
            from .formats.safetensors import SafetensorsReader

            quant = model.config.get("quantization_config")
            model.reader = SafetensorsReader(paths, quant if isinstance(quant, dict) else None)
        else:
            model.reader = open_weight_file(paths[0])
        model.weight_files = chosen
        model.total_bytes = sum(p.stat().st_size for p in paths)
        if fmt == "onnx":
            model.total_bytes += sum(local(f).stat().st_size for f in files
                                     if f.endswith((".onnx_data", ".onnx.data")))
    for tj in (prefix + "tokenizer.json", "tokenizer.json"):
        if tj in files:
            try:
                p = local(tj)
                if p.stat().st_size > MAX_TOKENIZER_BYTES:
                    raise ValueError("larger than the tokenizer size limit")
                model.vocab = vocab_from_tokenizer_json(p.read_bytes())
            except (ValueError, OSError) as exc:
                model.problems.append(f"{tj}: unreadable tokenizer ({exc})")
            break
    if model.reader is not None and model.reader.fmt == "gguf":
        meta = model.reader.metadata()
        tokens = meta.get("tokenizer.ggml.tokens")
        if model.vocab is None and isinstance(tokens, list):
            from .tokens import decode_vocab

            # llama.cpp's "gpt2" tokenizer model is byte-level BPE: decode as tokenizer.json
            model.vocab = decode_vocab([str(t) for t in tokens],
                                       meta.get("tokenizer.ggml.model") == "gpt2")
        if not model.config:
            model.config = gguf_config(meta)
    return model


def gguf_config(meta: dict[str, Any]) -> dict[str, Any]:
    """The HF config keys the signals use, from GGUF's {arch}.* metadata."""
    arch = str(meta.get("general.architecture", ""))
    keys = {"embedding_length": "hidden_size", "block_count": "num_hidden_layers",
            "attention.head_count": "num_attention_heads",
            "attention.head_count_kv": "num_key_value_heads",
            "feed_forward_length": "intermediate_size", "context_length":
            "max_position_embeddings", "rope.freq_base": "rope_theta",
            "attention.layer_norm_rms_epsilon": "rms_norm_eps", "expert_count":
            "num_local_experts", "attention.key_length": "head_dim"}
    out: dict[str, Any] = {"model_type": arch}
    for k, v in keys.items():
        if f"{arch}.{k}" in meta:
            out[v] = meta[f"{arch}.{k}"]
    return out


def load_model(target: str, offline: bool = False) -> LoadedModel:
    """A model from a local folder or weight file, or any scanner.sources target."""
    path = Path(target).expanduser()
    if path.is_file():
        if path.suffix.lower() in PICKLE_SUFFIXES:
            m = LoadedModel(name=target, reader=None, pickles=[path.name])
            return m
        siblings = _list_local(path.parent)
        others = [f for f in siblings if not f.endswith((".safetensors", ".gguf", ".onnx"))
                  or f == path.name]
        return load_from_files(target, others, lambda f: path.parent / f)
    if path.is_dir():
        return load_from_files(target, _list_local(path), lambda f: path / f)
    from ..sources import open_target

    try:
        snap = open_target(target, offline=offline)
    except SourceError:
        raise
    files = [f.path for f in snap.files if f.lfs is None]
    return load_from_snapshot(target, files, snap.reader.local_path)


def load_from_snapshot(name: str, files: list[str], local: Callable[[str], Path]
                       ) -> LoadedModel:
    return load_from_files(name, files, local)

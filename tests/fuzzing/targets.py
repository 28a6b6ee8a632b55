"""One fuzz target per parser provscan owns or calls on untrusted bytes, each run the way the
CLI runs it: safetensors, GGUF and ONNX weight files (opened and fingerprinted), model
card YAML, config.json and tokenizer.json beside a checkpoint (and the config license
reader), Git LFS pointers (classified, then scanned as a folder), and Hub model metadata
(a loopback Hub answering with the bytes).

A run may return or raise provscan's own error (ProvscanError: one clear line, or a
not-analysed finding where an analyzer meets it); anything else is a bug. Seeds are valid
inputs made by the builders below from the test suite's own models (tests/fuzzing/seeds/,
kept in the repository; test_fuzz.py checks they are what the builders make).
"""

from __future__ import annotations

import contextlib
import json
import random
import shutil
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np

from scanner.errors import ProvscanError

from .formats import mutate_gguf, mutate_onnx
from .mutate import mutate_safetensors, mutate_text, mutate_yaml

SEEDS = Path(__file__).resolve().parent / "seeds"
CLEAN_ERRORS: tuple[type[BaseException], ...] = (ProvscanError,)
"""What a run may raise: provscan's own error, which the CLI prints as one line and an
analyzer turns into a not-analysed finding."""

# The tiny model every weight seed and the config / tokenizer targets use.
_VOCAB = [f"w{i}" for i in range(32)] + ["Ġthe", "▁a", "<s>", "\u00e9t\u00e9"]
_CFG = {
    "model_type": "llama",
    "hidden_size": 8,
    "num_hidden_layers": 1,
    "num_attention_heads": 2,
    "num_key_value_heads": 2,
    "intermediate_size": 16,
    "vocab_size": len(_VOCAB),
    "head_dim": 4,
    "rms_norm_eps": 1e-5,
    "rope_theta": 10000.0,
    "tie_word_embeddings": False,
    "license": "apache-2.0",
}


def _tensors() -> dict[str, np.ndarray]:
    from tests import synth

    return synth.random_llama(7, _CFG)


def _tokenizer_json(kind: str = "wordlevel") -> bytes:
    vocab = {t: i for i, t in enumerate(_VOCAB)}
    if kind == "bpe":
        model: dict[str, Any] = {"type": "BPE", "vocab": vocab, "merges": ["w 1", "Ġ t"]}
        extra = {"pre_tokenizer": {"type": "ByteLevel"}, "decoder": {"type": "ByteLevel"}}
    else:
        model, extra = {"type": "WordLevel", "vocab": vocab, "unk_token": "w0"}, {}
    added = [{"id": len(_VOCAB), "content": "<pad>", "special": True}]
    return json.dumps({"version": "1.0", "added_tokens": added, "model": model, **extra}).encode()


# ---- seed builders --------------------------------------------------------------------------


def _safetensors_seeds() -> dict[str, bytes]:
    from safetensors.numpy import save

    t = _tensors()
    half = {k: v.astype(np.float16) for k, v in t.items()}
    return {
        "llama-f32.safetensors": save(dict(sorted(t.items())), metadata={"format": "pt"}),
        "llama-f16.safetensors": save(dict(sorted(half.items()))),
    }


def _gguf_seeds(tmp: Path) -> dict[str, bytes]:
    import gguf

    from tests.ggufexport import write_gguf

    t = {k: np.ascontiguousarray(v) for k, v in _tensors().items()}
    tok = _tokenizer_json().decode()
    out = {}
    write_gguf(tmp / "f32.gguf", t, tok, 2, 2)
    out["llama-f32.gguf"] = (tmp / "f32.gguf").read_bytes()
    wide = {k: np.tile(v, (1, 4)) if v.ndim == 2 else v for k, v in t.items()}  # 32 columns
    write_gguf(tmp / "q8.gguf", wide, tok, 2, 2, quant=gguf.GGMLQuantizationType.Q8_0)
    out["llama-q8_0.gguf"] = (tmp / "q8.gguf").read_bytes()
    return out


def _onnx_seeds() -> dict[str, bytes]:
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(3)
    w = rng.standard_normal((8, 16)).astype(np.float32)
    q = (rng.standard_normal((16, 8)) * 40).astype(np.int8)
    inits = [
        numpy_helper.from_array(
            rng.standard_normal((36, 8)).astype(np.float32), "model.embed_tokens.weight"
        ),
        numpy_helper.from_array(w, "model.layers.0.mlp.up_proj.weight"),
        numpy_helper.from_array(q, "model.layers.0.mlp.down_proj.weight_quantized"),
        numpy_helper.from_array(np.full(8, 0.01, np.float32), "down.scale"),
        numpy_helper.from_array(np.zeros(8, np.int8), "down.zp"),
    ]
    external = TensorProto()
    external.name, external.data_type = "model.layers.0.ext.weight", TensorProto.FLOAT
    external.dims.extend([4, 8])
    external.data_location = TensorProto.EXTERNAL
    for key, value in (("location", "x.bin"), ("offset", "0"), ("length", "128")):
        e = external.external_data.add()
        e.key, e.value = key, value
    inits.append(external)
    nodes = [
        helper.make_node("MatMul", ["x", "model.layers.0.mlp.up_proj.weight"], ["h"]),
        helper.make_node(
            "DequantizeLinear",
            ["model.layers.0.mlp.down_proj.weight_quantized", "down.scale", "down.zp"],
            ["dq"],
            axis=1,
        ),
        helper.make_node("MatMul", ["h", "dq"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8])],
        initializer=inits,
    )
    model = helper.make_model(graph, producer_name="provscan-fuzz")
    return {"mlp.onnx": model.SerializeToString()}


def _card_seeds() -> dict[str, bytes]:
    hub = (
        "---\nlicense: other\nlicense_name: acme-model-license\n"
        "license_link: https://example.org/LICENSE\nbase_model:\n- acme/base-7b\n"
        "base_model_relation: finetune\ndatasets:\n- acme/corpus\ntags: [a, b]\n"
        "pipeline_tag: text-generation\n---\n# tiny model\n"
    )
    aliases = "---\nlicense: &l apache-2.0\nlicense_name: *l\ntags: [*l, 2024-01-01]\n---\n"
    return {"hub.md": hub.encode(), "aliases.md": aliases.encode()}


def _config_seeds() -> dict[str, bytes]:
    quant = {**_CFG, "quantization_config": {"bits": 4, "group_size": 128, "quant_method": "gptq"}}
    return {
        "llama.json": json.dumps(_CFG).encode(),
        "quantized.json": json.dumps(quant).encode(),
    }


def _tokenizer_seeds() -> dict[str, bytes]:
    return {"wordlevel.json": _tokenizer_json(), "bpe.json": _tokenizer_json("bpe")}


def _lfs_seeds() -> dict[str, bytes]:
    oid = "4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393"
    return {
        "pointer.txt": (
            f"version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize 12345\n"
        ).encode()
    }


def _hub_seeds() -> dict[str, bytes]:
    info = {
        "id": "acme/fuzz",
        "sha": "0123456789abcdef0123456789abcdef01234567",
        "private": False,
        "gated": False,
        "tags": ["text-generation"],
        "cardData": {"license": "apache-2.0", "base_model": ["acme/base"], "tags": ["x"]},
        "siblings": [
            {"rfilename": "README.md", "size": 120, "blobId": "a" * 40},
            {"rfilename": "config.json", "size": 64, "blobId": "b" * 40},
            {
                "rfilename": "model.safetensors",
                "size": 5824,
                "blobId": "c" * 40,
                "lfs": {"size": 5824, "sha256": "d" * 64, "pointerSize": 134},
            },
        ],
    }
    return {"model-info.json": json.dumps(info).encode()}


# ---- runs -----------------------------------------------------------------------------------


def _weights(path: Path) -> None:
    """What compare and scan --against do with a model: load it, fingerprint it."""
    from scanner.weights.loader import load_model

    _fingerprint(load_model(str(path)))


def _fingerprint(model: Any) -> None:
    """Fingerprint a loaded model, then close it."""
    from scanner.weights.fingerprint import extract

    try:
        if model.reader is not None:
            extract(model)
    finally:
        model.close()


def _fresh(work: Path) -> Path:
    folder = work / "release"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


def _run_safetensors(data: bytes, work: Path) -> None:
    from scanner.sources.interface import parse_safetensors_header

    with contextlib.suppress(*CLEAN_ERRORS):  # the Hub source's range reads, then the reader
        parse_safetensors_header(lambda start, n: data[start : start + n], "model.safetensors")
    folder = _fresh(work)
    (folder / "model.safetensors").write_bytes(data)
    _weights(folder)


def _run_gguf(data: bytes, work: Path) -> None:
    folder = _fresh(work)
    (folder / "model.gguf").write_bytes(data)
    with contextlib.suppress(*CLEAN_ERRORS):  # the mapped reading; then every input remotely
        _weights(folder / "model.gguf")
    _remote_weights(data, "model.gguf")


def _remote_weights(data: bytes, name: str) -> None:
    """What `fingerprint hf:` does with a checkpoint it reads by byte ranges."""
    from scanner.weights.loader import RemoteAccess, load_from_files

    def read(f: str, start: int, n: int) -> bytes:
        return data[start : start + n]

    access = RemoteAccess(lambda f: len(data) if f == name else None, read, 1 << 30)
    _fingerprint(load_from_files(name, [name], lambda f: Path("/nonexistent") / f, access))


def _run_onnx(data: bytes, work: Path) -> None:
    folder = _fresh(work)
    (folder / "model.onnx").write_bytes(data)
    (folder / "x.bin").write_bytes(np.arange(64, dtype=np.float32).tobytes())
    _weights(folder)


def _run_card(data: bytes, work: Path) -> None:
    from scanner.card import parse_card

    parse_card(data.decode("utf-8", errors="replace"))


def _checkpoint(folder: Path) -> None:
    (folder / "model.safetensors").write_bytes(_read_seed("safetensors", "llama-f32.safetensors"))


def _run_config(data: bytes, work: Path) -> None:
    from scanner.code.declared import config_licenses

    with contextlib.suppress(*CLEAN_ERRORS):  # the license analyzer's reader, then the loader
        config_licenses(data.decode("utf-8", errors="replace"), "config.json")
    folder = _fresh(work)
    _checkpoint(folder)
    (folder / "config.json").write_bytes(data)
    _weights(folder)


def _run_tokenizer(data: bytes, work: Path) -> None:
    folder = _fresh(work)
    _checkpoint(folder)
    (folder / "config.json").write_text(json.dumps(_CFG))
    (folder / "tokenizer.json").write_bytes(data)
    _weights(folder)


def _run_lfs(data: bytes, work: Path) -> None:
    from scanner.classify import HEAD_BYTES, classify, parse_lfs_pointer
    from scanner.sources import open_target

    parse_lfs_pointer(data)
    classify("model.safetensors", data[:HEAD_BYTES], len(data))
    folder = _fresh(work)
    (folder / "model.safetensors").write_bytes(data)
    (folder / "README.md").write_bytes(data)
    open_target(str(folder))


class _Hub:
    """A loopback Hub whose model-info answer is the input; every file is missing."""

    def __init__(self) -> None:
        self.body = b"{}"
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers then body: 40 ms of delayed ACK each

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return None

            def do_GET(self) -> None:
                if self.path.startswith("/api/models/"):
                    self._send(200, hub.body, {"Content-Type": "application/json"})
                else:
                    self._send(404, b"Entry not found", {"X-Error-Code": "EntryNotFound"})

            do_HEAD = do_GET

            def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"


@contextlib.contextmanager
def _hub_context(work: Path) -> Iterator[_Hub]:
    """The loopback Hub, and huggingface_hub pointed at it (its constants are read at each
    call) with a cache of its own."""
    from huggingface_hub import constants

    hub = _Hub()
    hub.thread.start()
    saved = {
        k: getattr(constants, k)
        for k in ("ENDPOINT", "HUGGINGFACE_CO_URL_TEMPLATE", "HF_HUB_CACHE", "HF_HUB_OFFLINE")
    }
    try:
        constants.ENDPOINT = hub.endpoint
        constants.HUGGINGFACE_CO_URL_TEMPLATE = (
            hub.endpoint + "/{repo_id}/resolve/{revision}/{filename}"
        )
        constants.HF_HUB_CACHE = str(work / "hf-cache")
        constants.HF_HUB_OFFLINE = False
        yield hub
    finally:
        for k, v in saved.items():
            setattr(constants, k, v)
        hub.server.shutdown()
        hub.server.server_close()


_HUB: list[_Hub] = []


def _run_hub(data: bytes, work: Path) -> None:
    from scanner.sources import open_target

    _HUB[-1].body = data
    shutil.rmtree(work / "hf-cache", ignore_errors=True)
    open_target("hf:acme/fuzz")


# ---- the targets ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    name: str
    what: str
    seeds: Callable[[Path], dict[str, bytes]]
    """Valid inputs (file name -> bytes), made from the test suite's models."""
    mutate: Callable[[bytes, random.Random], bytes]
    run: Callable[[bytes, Path], None]
    """Runs one input in a scratch folder; may raise only CLEAN_ERRORS."""
    context: Callable[[Path], contextlib.AbstractContextManager[Any]] | None = None
    """Set up once around many runs (the loopback Hub)."""
    warm: Callable[[], None] | None = None
    """What a process loads once, before any input is timed (the license index)."""


def _license_index() -> None:
    from scanner.code.scancode import load_index

    load_index()


@contextlib.contextmanager
def _hub_session(work: Path) -> Iterator[None]:
    with _hub_context(work) as hub:
        _HUB.append(hub)
        try:
            yield
        finally:
            _HUB.pop()


TARGETS = {
    t.name: t
    for t in (
        Target(
            "safetensors",
            "header (file and range reads), reader, fingerprint",
            lambda tmp: _safetensors_seeds(),
            mutate_safetensors,
            _run_safetensors,
        ),
        Target(
            "gguf",
            "header, vocabulary, reader, fingerprint (mapped and by remote ranges)",
            _gguf_seeds,
            mutate_gguf,
            _run_gguf,
        ),
        Target(
            "onnx",
            "protobuf, initializers, external data, fingerprint",
            lambda tmp: _onnx_seeds(),
            mutate_onnx,
            _run_onnx,
        ),
        Target(
            "card",
            "model card YAML front matter",
            lambda tmp: _card_seeds(),
            mutate_yaml,
            _run_card,
            warm=_license_index,
        ),
        Target(
            "config",
            "config.json: license fields, geometry, fingerprint",
            lambda tmp: _config_seeds(),
            mutate_text,
            _run_config,
            warm=_license_index,
        ),
        Target(
            "tokenizer",
            "tokenizer.json beside a checkpoint, fingerprint",
            lambda tmp: _tokenizer_seeds(),
            mutate_text,
            _run_tokenizer,
        ),
        Target(
            "lfs-pointer",
            "Git LFS pointer: classification, folder source",
            lambda tmp: _lfs_seeds(),
            mutate_text,
            _run_lfs,
        ),
        Target(
            "hub-metadata",
            "Hub model info answer: Hub source (loopback server)",
            lambda tmp: _hub_seeds(),
            mutate_text,
            _run_hub,
            _hub_session,
        ),
    )
}


def _read_seed(target: str, name: str) -> bytes:
    return (SEEDS / target / name).read_bytes()


def seeds_of(target: str) -> list[bytes]:
    """The committed seeds of a target, in name order."""
    return [p.read_bytes() for p in sorted((SEEDS / target).iterdir())]


def input_for(target: Target, seeds: list[bytes], rng: random.Random) -> bytes:
    """One fuzz input: a seed, mutated (now and then a seed as it is)."""
    seed = rng.choice(seeds)
    return seed if rng.random() < 0.02 else target.mutate(seed, rng)

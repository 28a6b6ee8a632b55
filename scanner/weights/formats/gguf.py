"""GGUF: a bounded header parser of our own, quantized blocks dequantized by the `gguf` package.

The `gguf` package's GGUFReader builds a numpy view for every item of every metadata array:
opening a file with a Llama 3 vocabulary and its merges took it 5.8 s. This parser walks the
key/values once, keeps the scalars and the token list (the only array the signals use), and
steps over the rest; tensors are memory-mapped views, dequantized per tensor (or per rows
and leading columns, the units the fingerprint reads) with `gguf.quants.dequantize`. Every
count, length, dimension and offset is checked against the file before it is used.

Over 400 lines on purpose: the header parser and the reader share those bounds checks; a
format owns itself in one module (formats/registry.py), as every other format does.
"""

from __future__ import annotations

import math
import mmap
import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..tokens import MAX_VOCAB
from .gguf_remote import RemoteHeader, strings_end, tiles_the_file
from .interface import (
    MAX_TENSORS,
    Checkpoint,
    Fetch,
    FileDeclaration,
    Read,
    RowSink,
    TensorMeta,
    TensorReader,
    WeightFormat,
    WeightFormatError,
    check_shape,
    runs_of,
)
from .mapped import MappedFiles
from .ranged import RangeFiles, RemoteFile

_MAX_KV = 100_000
# Items of one metadata array: a merges list of the largest vocabularies has ~10^6; each
# item costs a step of the parser even when skipped, so a file cannot claim more.
_MAX_ARRAY_ITEMS = 1 << 24
_MAX_TENSOR_DIMS = 4  # GGML_MAX_DIMS
_FLOAT_TYPES = {"F32", "F16", "F64", "BF16"}
# Metadata we keep: the scalars and strings, and of the arrays the vocabulary alone.
_KEEP_ARRAYS = {"tokenizer.ggml.tokens"}
_DEFAULT_ALIGNMENT = 32
_STRING, _ARRAY = 8, 9
_SCALARS = {
    0: "B",
    1: "b",
    2: "H",
    3: "h",
    4: "I",
    5: "i",
    6: "f",
    7: "?",
    10: "Q",
    11: "q",
    12: "d",
}
# Tensor types stored as plain numbers (the rest are blocks of bytes: dequantize)
_PLAIN = {
    "F32": "<f4",
    "F16": "<f2",
    "F64": "<f8",
    "I8": "i1",
    "I16": "<i2",
    "I32": "<i4",
    "I64": "<i8",
}
# Block types whose blocks start with their float16 step d (values d * q [+ m]): rounding to
# them adds noise of |d| / sqrt(12) a value. The k-quants nest scales: their type's noise
# (rules/rounding_noise.toml) applies.
_STEP_FIRST = ("Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1")
# Blocks whose step is read to know a tensor's (evenly spaced; the RMS of a sample).
_STEP_SAMPLE = 4096
# Rows dequantized at a time when only some columns are wanted (bounded scratch memory).
_CHUNK_VALUES = 1 << 20
# Candidate ends of a skipped list tried (gguf_remote.strings_end) before walking it.
_GUESSES = 3


@dataclass(frozen=True)
class _Tensor:
    name: str
    qtype: Any
    """gguf.GGMLQuantizationType"""
    dims: tuple[int, ...]
    """File order (ne0 first): ne0 is the contiguous, blocked dimension."""
    offset: int
    nbytes: int

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(reversed(self.dims))


class _Cursor:
    """Little-endian reads from a mapped file (or its first bytes), each checked against
    its end."""

    def __init__(self, buf: mmap.mmap | bytes | RemoteHeader, name: str, guess: int = -1):
        self.buf, self.pos, self.end, self.name = buf, 0, len(buf), name
        self.guess = guess
        """-1: walk every list; k >= 0: skip the long lists nothing keeps by the k-th
        candidate end of gguf_remote.strings_end (a remote header only)."""
        self.guessed = False

    def _need(self, n: int, what: str) -> None:
        if n < 0 or self.pos + n > self.end:
            self.truncated(what)

    def truncated(self, what: str) -> None:
        raise WeightFormatError(f"{self.name}: truncated GGUF file ({what} runs past the end)")

    def scalar(self, code: str) -> Any:
        size = struct.calcsize(code)
        self._need(size, "a value")
        if isinstance(self.buf, RemoteHeader):
            (value,) = struct.unpack("<" + code, self.buf[self.pos : self.pos + size])
        else:
            (value,) = struct.unpack_from("<" + code, self.buf, self.pos)
        self.pos += size
        return value

    def string(self) -> str:
        n = self.scalar("Q")
        self._need(n, "a string")
        start, self.pos = self.pos, self.pos + n
        try:
            return bytes(self.buf[start : self.pos]).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise WeightFormatError(f"{self.name}: a GGUF string is not UTF-8") from exc

    def skip(self, n: int, what: str) -> None:
        self._need(n, what)
        self.pos += n


def _value(cur: _Cursor, vtype: int, keep: bool) -> Any:
    if vtype in _SCALARS:
        return cur.scalar(_SCALARS[vtype])
    if vtype == _STRING:
        return cur.string()
    if vtype != _ARRAY:
        raise WeightFormatError(f"{cur.name}: unknown GGUF value type {vtype}")
    item, count = cur.scalar("I"), cur.scalar("Q")
    keep = keep and item == _STRING  # the one array kept is the vocabulary: strings
    if item in _SCALARS:
        size = struct.calcsize(_SCALARS[item])
        cur._need(count * size, "an array")
        if keep:
            raw = cur.buf[cur.pos : cur.pos + count * size]
            out = np.frombuffer(raw, dtype="<" + _SCALARS[item], count=count).tolist()
            cur.pos += count * size
            return out
        cur.skip(count * size, "an array")
        return None
    if item == _STRING:
        cur._need(count * 8, "an array")  # every string has at least its length
        if count > _MAX_ARRAY_ITEMS:
            raise WeightFormatError(f"{cur.name}: a GGUF list of {count} strings, beyond any model")
        if not keep and cur.guess >= 0 and isinstance(cur.buf, RemoteHeader):
            ends = strings_end(cur.buf, cur.pos, count)
            if ends is not None:
                cur.guessed = True  # a failure from here on is the guess's: walked instead
                if cur.guess >= len(ends):
                    raise WeightFormatError(f"{cur.name}: no further end of a skipped list")
                cur.pos = ends[cur.guess]
                return None
        if keep and count > MAX_VOCAB:
            raise WeightFormatError(
                f"{cur.name}: GGUF vocabulary of {count} tokens, beyond any real model "
                f"(at most {MAX_VOCAB})"
            )
        unpack, buf, pos, end = struct.Struct("<Q").unpack_from, cur.buf, cur.pos, cur.end
        remote = buf if isinstance(buf, RemoteHeader) else None  # slices only
        flat: mmap.mmap | bytes = b"" if isinstance(buf, RemoteHeader) else buf
        spans, first = [], pos
        for i in range(count):  # lengths only; the strings kept are cut out afterwards
            if pos + 8 > end:
                cur.truncated("an array")
            if remote is not None and not i % 1024:
                remote.expect(first, pos, i, count)
            (n,) = unpack(flat, pos) if remote is None else unpack(remote[pos : pos + 8])
            if keep:
                spans.append((pos + 8, pos + 8 + n))
            pos += 8 + n
        if pos > end:
            cur.truncated("an array")
        cur.pos = pos
        # tokens are kept byte for byte: bytes that are not UTF-8 become lone surrogates
        return [buf[a:b].decode("utf-8", "surrogateescape") for a, b in spans] if keep else None
    raise WeightFormatError(f"{cur.name}: GGUF arrays of type {item} are not supported")


class GGUFTensorReader(TensorReader):
    fmt = "gguf"

    def __init__(self, path: Path, source: RangeFiles | None = None):
        """source: the file's bytes by remote ranges (ranged.py) instead of mapped."""
        import gguf

        self._gguf = gguf
        self._path = path
        self._files: MappedFiles | RangeFiles = source if source is not None else MappedFiles()
        try:
            if isinstance(self._files, RangeFiles):
                self._meta, self._tensors = self._parse_remote(self._files.file(path))
            else:
                mm = self._files.get(path)
                self._meta, self._tensors = self._parse(_Cursor(mm, path.name), len(mm))
        except (OSError, ValueError) as exc:  # ValueError: an empty file cannot be mapped
            self._files.close()
            raise WeightFormatError(f"{path.name}: cannot map the file ({exc})") from exc
        except BaseException:
            self._files.close()
            raise
        self._by_name = {t.name: t for t in self._tensors}
        self._metas = [
            TensorMeta(
                t.name, t.qtype.name, t.shape, path.name, quantized=t.qtype.name not in _FLOAT_TYPES
            )
            for t in self._tensors
        ]

    def _parse_remote(self, remote: RemoteFile) -> tuple[dict[str, Any], list[_Tensor]]:
        """The header of a remote file, its bytes fetched as the parser reaches them; the
        long lists nothing keeps (merges) found by probes where the result checks out,
        else walked (gguf_remote.py)."""
        header = RemoteHeader(remote)
        for guess in range(_GUESSES):
            cur = _Cursor(header, self._path.name, guess)
            try:  # a parse that skipped nothing is the plain parse, its result or its error
                return self._parse(cur, remote.size)
            except WeightFormatError:
                if not cur.guessed:
                    raise
        return self._parse(_Cursor(header, self._path.name), remote.size)

    def _parse(self, cur: _Cursor, file_size: int) -> tuple[dict[str, Any], list[_Tensor]]:
        name, mm = self._path.name, cur.buf
        cur._need(24, "the header")
        if mm[:4] != b"GGUF":
            raise WeightFormatError(f"{name}: not a GGUF file (bad magic or truncated)")
        cur.pos = 4
        version, n_tensors, n_kv = cur.scalar("I"), cur.scalar("Q"), cur.scalar("Q")
        if version not in (2, 3):
            hint = " (a big-endian file?)" if version >= 1 << 16 else ""
            raise WeightFormatError(f"{name}: unsupported GGUF version {version}{hint}")
        if n_tensors > MAX_TENSORS or n_kv > _MAX_KV:
            raise WeightFormatError(
                f"{name}: GGUF header declares {n_tensors} tensors and "
                f"{n_kv} metadata keys, beyond any real model"
            )
        meta: dict[str, Any] = {}
        for _ in range(n_kv):
            key = cur.string()
            vtype = cur.scalar("I")
            value = _value(cur, vtype, keep=vtype != _ARRAY or key in _KEEP_ARRAYS)
            if value is not None:
                meta[key] = value
        alignment = meta.get("general.alignment", _DEFAULT_ALIGNMENT)
        if (
            not isinstance(alignment, int)
            or isinstance(alignment, bool)
            or alignment <= 0
            or alignment & (alignment - 1)
            or alignment > 1 << 20
        ):
            raise WeightFormatError(f"{name}: bad GGUF alignment {alignment!r}")
        infos, first = [], cur.pos
        remote = mm if isinstance(mm, RemoteHeader) else None
        for i in range(n_tensors):
            if remote is not None and not i % 8:
                remote.expect(first, cur.pos, i, n_tensors)
            tname = cur.string()
            n_dims = cur.scalar("I")
            if n_dims > _MAX_TENSOR_DIMS:
                raise WeightFormatError(f"{name}: tensor {tname!r} has {n_dims} dimensions")
            dims = tuple(cur.scalar("Q") for _ in range(n_dims))
            infos.append((tname, dims, cur.scalar("I"), cur.scalar("Q")))
        start = -(-cur.pos // alignment) * alignment
        tensors: list[_Tensor] = []
        seen: set[str] = set()
        for tname, dims, raw_type, offset in infos:
            if tname in seen:
                raise WeightFormatError(f"{name}: tensor {tname!r} is listed twice")
            seen.add(tname)
            check_shape(tuple(reversed(dims)), tname, name)
            try:
                qtype = self._gguf.GGMLQuantizationType(raw_type)
                block, type_size = self._gguf.GGML_QUANT_SIZES[qtype]
            except (ValueError, KeyError) as exc:
                raise WeightFormatError(
                    f"{name}: tensor {tname!r} has an unknown type {raw_type}"
                ) from exc
            ne0 = dims[0] if dims else 1
            if 0 in dims and qtype.name not in _PLAIN:  # blocks of nothing: no real tensor
                raise WeightFormatError(f"{name}: tensor {tname!r} of {qtype.name} has no values")
            if ne0 % block:
                raise WeightFormatError(
                    f"{name}: tensor {tname!r}: {ne0} values a row do "
                    f"not fill {qtype.name} blocks of {block}"
                )
            nbytes = int(np.prod(dims, dtype=np.int64)) // block * type_size
            if start + offset + nbytes > file_size:
                raise WeightFormatError(
                    f"{name}: tensor {tname!r} data runs past the end of the file"
                )
            tensors.append(_Tensor(tname, qtype, dims, start + offset, nbytes))
        spans = [(t.offset - start, t.nbytes) for t in tensors]
        if cur.guessed and not tiles_the_file(spans, start, alignment, file_size):
            raise WeightFormatError(f"{name}: a skipped list's end does not check out")
        return meta, tensors

    def tensors(self) -> list[TensorMeta]:
        return list(self._metas)

    def _data(self, t: _Tensor) -> np.ndarray:
        """The stored numbers (numpy order), or for blocked types each row's bytes."""
        shape, region = t.shape, self._files.region(self._path, t.offset, t.nbytes)
        plain = _PLAIN.get(t.qtype.name)
        if plain is not None:
            return np.frombuffer(region, dtype=plain, count=int(np.prod(shape))).reshape(shape)
        rows = shape[:-1] if shape else ()
        return np.frombuffer(region, dtype=np.uint8, count=t.nbytes).reshape(*rows, -1)

    def _row_bytes(self, t: _Tensor, runs: list[tuple[int, int]]) -> list[memoryview]:
        """The bytes of rows [lo, hi) of a 2-D tensor for each run, and only those (a remote
        file fetches the runs in few requests, once a pass)."""
        rows = t.shape[0]
        row = t.nbytes // max(1, rows)
        if runs and (runs[0][0] < 0 or runs[-1][1] > rows):
            raise ValueError(f"{t.name}: rows out of range")
        spans = [(t.offset + lo * row, (hi - lo) * row) for lo, hi in runs]
        self._files.want(self._path, spans)
        return [self._files.region(self._path, start, length) for start, length in spans]

    def _rows(self, t: _Tensor, runs: list[tuple[int, int]]) -> list[np.ndarray]:
        """Rows [lo, hi) of a 2-D tensor for each run, as _data gives them."""
        rows, cols = t.shape
        row = t.nbytes // max(1, rows)
        plain = _PLAIN.get(t.qtype.name)
        out = []
        for region in self._row_bytes(t, runs):
            if plain is not None:
                out.append(np.frombuffer(region, dtype=plain).reshape(-1, cols))
            else:
                out.append(np.frombuffer(region, dtype=np.uint8).reshape(-1, row))
        return out

    def _widen(self, t: _Tensor, data: np.ndarray) -> np.ndarray:
        """float32 values of stored numbers or blocks (a copy: the mapping stays clean)."""
        name = t.qtype.name
        try:
            if name in _PLAIN:
                return np.array(data, dtype=np.float32)
            if name == "BF16":
                from .numbers import bf16_to_f32

                return bf16_to_f32(np.ascontiguousarray(data).view(np.uint16))
            return np.asarray(self._gguf.quants.dequantize(data, t.qtype), dtype=np.float32)
        except (NotImplementedError, ValueError) as exc:
            raise WeightFormatError(
                f"{self._path.name}: cannot dequantize {t.name} ({name}): {exc}"
            ) from exc

    def step(self, name: str, rows: list[tuple[int, int]] | None = None) -> float | None:
        t = self._by_name.get(name)
        if t is None or t.qtype.name not in _STEP_FIRST:
            return None
        _, size = self._gguf.GGML_QUANT_SIZES[t.qtype]
        blocks = t.nbytes // size
        if rows and len(t.shape) == 2 and blocks:
            # the heads of the blocks in the rows read: the bytes _rows() fetched, cached
            parts = [
                np.frombuffer(part, dtype=np.uint8).reshape(-1, size)[:, :2].copy().view("<f2")
                for part in self._row_bytes(t, rows)
            ]
            return _rms_step(np.concatenate(parts).astype(np.float64))
        if blocks == 0 or not isinstance(self._files, MappedFiles):
            # remote: block heads spread over the tensor would cost a request each (or the
            # whole tensor, coalesced); the rounding check then takes the format's table
            return None
        mm = self._files.get(self._path)
        raw = np.frombuffer(mm, dtype=np.uint8, count=blocks * size, offset=t.offset)
        at = np.unique(np.linspace(0, blocks - 1, min(blocks, _STEP_SAMPLE)).astype(np.int64))
        heads: np.ndarray = raw.reshape(blocks, size)[at, :2].copy().view("<f2")
        # the sampled heads fault in pages all over the tensor: count them as read, so
        # that they are dropped with the others (mapped.py) instead of staying resident
        self._files.read_done(self._path, t.nbytes)
        return _rms_step(heads.astype(np.float64))

    def read(self, name: str) -> np.ndarray:
        t = self._by_name[name]
        out = self._widen(t, self._data(t)).reshape(t.shape)
        self._files.read_done(self._path, t.nbytes)
        return out

    def read_units(
        self,
        name: str,
        axis: int,
        idx: np.ndarray | None,
        on_rows: RowSink | None = None,
        keep: bool = True,
    ) -> np.ndarray | None:
        """Rows of a 2-D tensor are dequantized run by run; columns from the blocks that
        hold them, a few rows at a time. Never the whole tensor when only units are wanted."""
        t = self._by_name[name]
        shape = t.shape
        if len(shape) != 2 or axis not in (0, 1):
            return super().read_units(name, axis, idx, on_rows, keep)
        if idx is None:
            return self._every_row(t, self._data(t), on_rows, keep)
        idx = np.asarray(idx, dtype=np.int64)
        if axis == 0:
            runs = runs_of(idx)
            if runs and (runs[0][0] < 0 or runs[-1][1] > shape[0]):
                raise ValueError(f"{name}: unit indices out of range")
            parts = [
                self._widen(t, rows).reshape(hi - lo, shape[1])
                for (lo, hi), rows in zip(runs, self._rows(t, runs), strict=True)
            ]
            arr = np.concatenate(parts) if parts else np.zeros((0, shape[1]), np.float32)
            self._files.read_done(self._path, t.nbytes // max(1, shape[0]) * len(idx))
            if on_rows is not None:
                on_rows(arr)
            return arr if keep else None
        out: list[np.ndarray] = []
        data = self._data(t)
        if not idx.size and on_rows is not None:
            on_rows(np.zeros((shape[0], 0), np.float32))
        if idx.size:
            block, type_size = self._gguf.GGML_QUANT_SIZES[t.qtype]
            lo_block, hi_block = int(idx[0]) // block, int(idx[-1]) // block + 1
            cols = idx - lo_block * block
            if t.qtype.name in _PLAIN:
                window = slice(lo_block * block, hi_block * block)
            else:
                window = slice(lo_block * type_size, hi_block * type_size)
            step = max(1, _CHUNK_VALUES // max(1, int((hi_block - lo_block) * block)))
            for a in range(0, shape[0], step):
                b = min(shape[0], a + step)
                chunk = self._widen(t, data[a:b, window]).reshape(b - a, -1)[:, cols]
                if on_rows is not None:
                    on_rows(chunk)
                if keep:
                    out.append(chunk)
        self._files.read_done(self._path, t.nbytes)  # a window of every row: every page
        if not keep:
            return None
        return np.concatenate(out) if out else np.zeros((shape[0], 0), np.float32)

    def _every_row(
        self, t: _Tensor, data: np.ndarray, on_rows: RowSink | None, keep: bool
    ) -> np.ndarray | None:
        """The whole matrix, dequantized a chunk of rows at a time: the scratch memory of
        dequantization stays a chunk's, and without `keep` so does the result."""
        rows, cols = t.shape
        step = max(1, _CHUNK_VALUES // max(1, cols))
        out: list[np.ndarray] = []
        for a in range(0, rows, step):
            b = min(rows, a + step)
            chunk = self._widen(t, data[a:b]).reshape(b - a, cols)
            if on_rows is not None:
                on_rows(chunk)
            if keep:
                out.append(chunk)
        self._files.read_done(self._path, t.nbytes)
        if not keep:
            return None
        return np.concatenate(out) if out else np.zeros((0, cols), np.float32)

    def metadata(self) -> dict[str, Any]:
        return dict(self._meta)

    def close(self) -> None:
        self._files.close()


# What a file declares of itself: llama.cpp writes general.* first, so its head holds them.
DECLARATION_HEAD_BYTES = 1 << 20
MAX_DECLARED_CHARS = 2048
MAX_BASE_MODELS = 16
_HF_URL = re.compile(r"^https?://(?:www\.)?(?:huggingface\.co|hf\.co)/([\w.-]+(?:/[\w.-]+)?)/?$")


def _rms_step(heads: np.ndarray) -> float | None:
    step = float(np.sqrt(np.mean(np.square(heads)))) if heads.size else math.nan
    return step if math.isfinite(step) and step > 0 else None


def _general_keys(head: bytes, name: str, whole: bool) -> dict[str, Any]:
    """The scalar and string general.* key/values in a file's first bytes. `whole`: the
    head is the whole file, so running out of it is a truncated file, not a cut head."""
    cur = _Cursor(head, name)
    found: dict[str, Any] = {}
    try:
        cur._need(24, "the header")
        if head[:4] != b"GGUF":
            raise WeightFormatError(f"{name}: not a GGUF file (bad magic or truncated)")
        cur.pos = 4
        version, _, n_kv = cur.scalar("I"), cur.scalar("Q"), cur.scalar("Q")
        if version not in (2, 3):
            raise WeightFormatError(f"{name}: unsupported GGUF version {version}")
        for _ in range(min(n_kv, _MAX_KV)):
            key = cur.string()
            value = _value(cur, cur.scalar("I"), keep=False)
            if key.startswith("general.") and value is not None:
                found[key] = value
    except WeightFormatError:
        if whole or len(head) < 24:
            raise
    return found


def _declared_string(meta: dict[str, Any], key: str) -> str | None:
    value = meta.get(key)
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_DECLARED_CHARS:
        return None
    return value.strip()


def _base_models(meta: dict[str, Any]) -> tuple[str, ...]:
    """general.base_model.N.*: the Hub id of its repo_url, else its name."""
    out: list[str] = []
    for i in range(MAX_BASE_MODELS):
        url = _declared_string(meta, f"general.base_model.{i}.repo_url")
        hub = _HF_URL.match(url) if url else None
        named = hub.group(1) if hub else _declared_string(meta, f"general.base_model.{i}.name")
        if named and named not in out:
            out.append(named)
    return tuple(out)


# llama.cpp's {arch}.* metadata keys and the HF config keys the signals read.
_CONFIG_KEYS = {
    "embedding_length": "hidden_size",
    "block_count": "num_hidden_layers",
    "attention.head_count": "num_attention_heads",
    "attention.head_count_kv": "num_key_value_heads",
    "feed_forward_length": "intermediate_size",
    "context_length": "max_position_embeddings",
    "rope.freq_base": "rope_theta",
    "attention.layer_norm_rms_epsilon": "rms_norm_eps",
    "expert_count": "num_local_experts",
    "attention.key_length": "head_dim",
}


class GGUFFormat(WeightFormat):
    """One .gguf file (top-level first); it carries its config, vocabulary and architecture."""

    name = "gguf"
    suffixes = (".gguf",)

    def checkpoint(self, files: Sequence[str], fetch: Fetch) -> Checkpoint | None:
        found = [f for f in files if self.holds(f)]
        if not found:
            return None
        return Checkpoint(self, (sorted(found, key=lambda f: ("/" in f, f))[0],))

    def open(self, paths: list[Path], config: dict[str, Any]) -> TensorReader:
        return GGUFTensorReader(paths[0])

    def open_ranged(
        self, paths: list[Path], source: RangeFiles, config: dict[str, Any]
    ) -> TensorReader | None:
        return GGUFTensorReader(paths[0], source)

    def config(self, reader: TensorReader) -> dict[str, Any]:
        meta = reader.metadata()
        arch = str(meta.get("general.architecture", ""))
        out: dict[str, Any] = {"model_type": arch}
        for k, v in _CONFIG_KEYS.items():
            if f"{arch}.{k}" in meta:
                out[v] = meta[f"{arch}.{k}"]
        return out

    def vocab(self, reader: TensorReader) -> list[str] | None:
        meta = reader.metadata()
        tokens = meta.get("tokenizer.ggml.tokens")
        if not isinstance(tokens, list):
            return None
        from ..tokens import decode_vocab

        # llama.cpp's "gpt2" tokenizer model is byte-level BPE: decode as tokenizer.json
        return decode_vocab([str(t) for t in tokens], meta.get("tokenizer.ggml.model") == "gpt2")

    def architecture(self, reader: TensorReader) -> str | None:
        return str(reader.metadata().get("general.architecture", "")) or None

    def declaration(self, read: Read, path: str) -> FileDeclaration | None:
        """general.license (an SPDX id or Hub key), general.license.name / .link, and
        general.base_model.N.*, from the first megabyte of the file."""
        head = read(0, DECLARATION_HEAD_BYTES)
        meta = _general_keys(head, path.rsplit("/", 1)[-1], len(head) < DECLARATION_HEAD_BYTES)
        fields = {
            "license": "general.license",
            "license_name": "general.license.name",
            "license_link": "general.license.link",
        }
        values = {f: _declared_string(meta, k) for f, k in fields.items()}
        bases = _base_models(meta)
        if not any(values.values()) and not bases:
            return None
        keys = [k for f, k in fields.items() if values[f]]
        keys += ["general.base_model.*"] if bases else []
        return FileDeclaration(path, base_models=bases, keys=tuple(keys), **values)


FORMAT = GGUFFormat()

"""An ONNX file's structure without its weights: the initializers' raw bytes stay in the file.

`onnx.load` parses the whole protobuf, weights included, and reading a bytes field copies
it again: a 400 MB export held 1 GB. This walks the protobuf wire format of the mapped
file once (ModelProto.graph -> GraphProto.initializer -> TensorProto.raw_data), hands
`onnx` the model with every raw_data cut out, and says where each initializer's bytes lie
in the file, so the reader maps them in place. Every length is checked against the
message that holds it; anything that is not the wire format is a WeightFormatError.
"""

from __future__ import annotations

from collections.abc import Iterator

from .interface import WeightFormatError

_MODEL_GRAPH = 7
_GRAPH_INITIALIZER = 5
_TENSOR_NAME = 8
_TENSOR_RAW = 9
_LEN, _VARINT, _I64, _I32 = 2, 0, 1, 5
_MAX_VARINT_BYTES = 10


def _varint(buf: memoryview, pos: int, end: int) -> tuple[int, int]:
    value, shift = 0, 0
    for i in range(_MAX_VARINT_BYTES):
        if pos + i >= end:
            break
        byte = buf[pos + i]
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos + i + 1
        shift += 7
    raise WeightFormatError("a truncated or overlong number")


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _fields(buf: memoryview, start: int, end: int) -> Iterator[tuple[int, int, int, int, int]]:
    """(field, wire type, start of the field, start of its value, end) of each field."""
    pos = start
    while pos < end:
        tag, at = _varint(buf, pos, end)
        field, wire = tag >> 3, tag & 7
        if wire == _LEN:
            length, at = _varint(buf, at, end)
            stop = at + length
        elif wire == _VARINT:
            stop = _varint(buf, at, end)[1]
        elif wire == _I64:
            stop = at + 8
        elif wire == _I32:
            stop = at + 4
        else:
            raise WeightFormatError("an unknown wire type")
        if stop > end or field == 0:
            raise WeightFormatError("a field runs past its message")
        yield field, wire, pos, at, stop
        pos = stop


def _tensor(buf: memoryview, start: int, end: int) -> tuple[bytes, str | None, tuple[int, int]]:
    """A TensorProto without raw_data, its name, and where its raw_data was (offset, size)."""
    out = bytearray()
    name: str | None = None
    raw = (0, -1)
    for field, wire, pos, at, stop in _fields(buf, start, end):
        if field == _TENSOR_RAW and wire == _LEN:
            raw = (at, stop - at)
            continue
        if field == _TENSOR_NAME and wire == _LEN:
            try:
                name = bytes(buf[at:stop]).decode("utf-8")
            except UnicodeDecodeError as exc:
                raise WeightFormatError("an initializer name is not UTF-8") from exc
        out += buf[pos:stop]
    return bytes(out), name, raw


def _graph(buf: memoryview, start: int, end: int, raw: dict[str, tuple[int, int]]) -> bytes:
    out = bytearray()
    for field, wire, pos, at, stop in _fields(buf, start, end):
        if field == _GRAPH_INITIALIZER and wire == _LEN:
            tensor, name, where = _tensor(buf, at, stop)
            if name is not None and where[1] >= 0:
                raw[name] = where
            out += _encode_varint((field << 3) | wire) + _encode_varint(len(tensor)) + tensor
            continue
        out += buf[pos:stop]
    return bytes(out)


def strip_weights(buf: memoryview) -> tuple[bytes, dict[str, tuple[int, int]]]:
    """The model's protobuf with no initializer's raw_data, and where each initializer's
    raw_data lies in `buf` (offset, length), by initializer name."""
    raw: dict[str, tuple[int, int]] = {}
    out = bytearray()
    for field, wire, pos, at, stop in _fields(buf, 0, len(buf)):
        if field == _MODEL_GRAPH and wire == _LEN:
            graph = _graph(buf, at, stop, raw)
            out += _encode_varint((field << 3) | wire) + _encode_varint(len(graph)) + graph
            continue
        out += buf[pos:stop]
    return bytes(out), raw

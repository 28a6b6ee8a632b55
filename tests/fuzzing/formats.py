"""Mutations that know a binary format's fields: GGUF header integers, ONNX protobuf fields.

Byte mutations rarely reach past a binary header's first check; these change one field of
a valid file to a hostile value, so the parser's later checks (dimensions, offsets, types,
vocabularies, external data) meet them.
"""

from __future__ import annotations

import random
from typing import Any

from .mutate import INTERESTING, MAX_BYTES, mutate_binary

# ---- GGUF ---------------------------------------------------------------------------------

_SCALAR_SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}


def gguf_fields(data: bytes) -> list[tuple[int, int]]:
    """(offset, size) of the integer fields of a GGUF header: version, counts, lengths,
    value types, array counts, scalar values, tensor dims, types and offsets. Stops where
    the file stops making sense."""
    fields: list[tuple[int, int]] = []
    pos = 4

    def take(size: int) -> int:
        nonlocal pos
        if pos + size > len(data):
            raise IndexError
        fields.append((pos, size))
        value = int.from_bytes(data[pos : pos + size], "little")
        pos += size
        return value

    def string() -> None:
        nonlocal pos
        pos += take(8)

    try:
        take(4)
        n_tensors, n_kv = take(8), take(8)
        for _ in range(min(n_kv, 10_000)):
            string()
            vtype = take(4)
            if vtype in _SCALAR_SIZES:
                take(_SCALAR_SIZES[vtype])
            elif vtype == 8:
                string()
            elif vtype == 9:
                item, count = take(4), take(8)
                for _ in range(min(count, 64)):
                    if item == 8:
                        string()
                    else:
                        take(_SCALAR_SIZES.get(item, 1))
                return fields  # later items and fields: positions unknown without reading all
            else:
                return fields
        for _ in range(min(n_tensors, 10_000)):
            string()
            n_dims = take(4)
            for _ in range(min(n_dims, 8)):
                take(8)
            take(4)
            take(8)
    except IndexError:
        pass
    return fields


def mutate_gguf(data: bytes, rng: random.Random) -> bytes:
    fields = gguf_fields(data)
    if not fields or rng.random() < 0.25:
        return mutate_binary(data, rng)
    buf = bytearray(data)
    for _ in range(rng.choice((1, 1, 2, 3))):
        at, size = rng.choice(fields)
        value = (rng.choice(INTERESTING) + rng.choice((0, 0, -1, 1))) & ((1 << (8 * size)) - 1)
        buf[at : at + size] = value.to_bytes(size, "little")
    return bytes(buf)


# ---- ONNX ---------------------------------------------------------------------------------

_OFFSETS = ("0", "-4096", "abc", "1e999", str(2**64), "16", "4096", "", " 1")
_LOCATIONS = ("x.bin", "../x.bin", "/etc/hostname", "missing.bin", "x.bin/..", "")
# Same length as the placeholder name: the protobuf length prefix stays right.
_PLACEHOLDER = b"RENAME"
_INVALID_NAMES = (b"\xff\xfeBAD!", b"\xc3(ABCD", b"\xed\xa0\x80ABC", b"AB\x00\x80CD")


def _mutate_initializer(t: Any, rng: random.Random) -> None:
    from onnx import TensorProto

    op = rng.randrange(7)
    if op == 0 and len(t.dims):
        i = rng.randrange(len(t.dims))
        t.dims[i] = rng.choice((-1, 0, 1, 2**31, 2**62, -(2**63), 3))
    elif op == 1:
        t.data_type = rng.choice((0, 1, 2, 3, 6, 7, 8, 9, 10, 11, 14, 16, 17, 23, 99))
    elif op == 2:
        raw = t.raw_data
        t.raw_data = raw[: rng.randrange(len(raw) + 1)] if raw else b"\x00" * 3
    elif op == 3:
        del t.external_data[:]
        t.data_location = TensorProto.EXTERNAL
        t.ClearField("raw_data")
        for key, value in (
            ("location", rng.choice(_LOCATIONS)),
            ("offset", rng.choice(_OFFSETS)),
            ("length", rng.choice(_OFFSETS)),
        ):
            e = t.external_data.add()
            e.key, e.value = key, value
    elif op == 4:
        t.name = _PLACEHOLDER.decode()
    elif op == 5:
        t.ClearField("raw_data")
        t.float_data.extend([1.0] * rng.choice((0, 1, 3)))
    else:
        t.dims.append(rng.choice((0, 1, 2**40)))


def _mutate_node(node: Any, names: list[str], rng: random.Random) -> None:
    from onnx import helper

    op = rng.randrange(4)
    if op == 0:
        node.op_type = rng.choice(("MatMul", "Gemm", "DequantizeLinear", "Add"))
    elif op == 1 and names and len(node.input):
        node.input[rng.randrange(len(node.input))] = rng.choice(names + ["", "nowhere"])
    elif op == 2:
        del node.attribute[:]
        node.attribute.append(
            helper.make_attribute(rng.choice(("axis", "transB")), rng.choice((-9, -1, 0, 1, 7)))
        )
    else:
        node.input.append(rng.choice(names + [""]))


def mutate_onnx(data: bytes, rng: random.Random) -> bytes:
    import onnx

    if rng.random() < 0.2:
        return mutate_binary(data, rng)
    try:
        model = onnx.load_from_string(data)
    except Exception:
        return mutate_binary(data, rng)
    graph = model.graph
    names = [t.name for t in graph.initializer]
    for _ in range(rng.choice((1, 1, 2, 3))):
        if graph.node and rng.random() < 0.35:
            _mutate_node(rng.choice(graph.node), names, rng)
        elif graph.initializer:
            _mutate_initializer(rng.choice(graph.initializer), rng)
    out = model.SerializeToString()
    if _PLACEHOLDER in out and rng.random() < 0.7:
        out = out.replace(_PLACEHOLDER, rng.choice(_INVALID_NAMES))
    return out[:MAX_BYTES]

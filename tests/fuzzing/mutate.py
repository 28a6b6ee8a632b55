"""Mutations of valid inputs (seeds) into hostile ones, driven by a random.Random.

The same engine serves both drivers: hypothesis in the test suite (a Random it draws,
so failures shrink and replay) and bench/fuzz.py's long runs (Random(index): input k of a
run is the same on every machine). Mutations know little of the formats: bytes and
machine integers anywhere, JSON tokens where the input is JSON text; the targets add
what their format needs (a safetensors header length, GGUF fields, ONNX protobuf fields).
"""

from __future__ import annotations

import random
import re
import struct
from collections.abc import Callable, Sequence

MAX_BYTES = 1 << 20
"""Mutated inputs are cut to this size (the parsers' bounds are exercised by what the
inputs claim, not by their length)."""

INTERESTING = (
    0,
    1,
    2,
    7,
    8,
    0x7F,
    0x80,
    0xFF,
    0x100,
    0x7FFF,
    0x8000,
    0xFFFF,
    0x7FFFFFFF,
    0x80000000,
    0xFFFFFFFF,
    1 << 32,
    (1 << 62),
    (1 << 63) - 1,
    1 << 63,
    (1 << 64) - 1,
)
# JSON values that broke parsers somewhere: huge, negative, fractional, non-finite, the
# wrong type, deep.
JSON_VALUES = (
    "0",
    "-1",
    "-4096",
    "1.5",
    "1e999",
    "-1e999",
    "1e-400",
    "NaN",
    "Infinity",
    "-Infinity",
    "18446744073709551616",
    "250000000",
    "1000000000",
    "4294967296",
    "true",
    "false",
    "null",
    '""',
    '"x"',
    '"\\ud800"',
    '"2024-13-45"',
    "[]",
    "[1]",
    "[0, 18446744073709551616]",
    "{}",
    '{"a": 1}',
    "[" * 60 + "]" * 60,
)
_JSON_TOKEN = re.compile(rb'-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?|"(?:[^"\\]|\\.)*"|true|false|null')


def _pick_span(rng: random.Random, n: int) -> tuple[int, int]:
    a = rng.randrange(n + 1)
    return a, min(n, a + rng.choice((1, 2, 4, 8, 16, 64, 256)))


def flip_bit(buf: bytearray, rng: random.Random) -> None:
    if buf:
        i = rng.randrange(len(buf))
        buf[i] ^= 1 << rng.randrange(8)


def set_byte(buf: bytearray, rng: random.Random) -> None:
    if buf:
        buf[rng.randrange(len(buf))] = rng.choice((0, 1, 0x7F, 0x80, 0xFF, rng.randrange(256)))


def put_int(buf: bytearray, rng: random.Random) -> None:
    """A machine integer (little-endian, 1 to 8 bytes) over bytes anywhere: counts,
    lengths, dimensions, offsets and type codes of binary headers."""
    size = rng.choice((1, 2, 4, 8))
    if len(buf) < size:
        return
    value = rng.choice(INTERESTING) + rng.choice((0, 0, -1, 1))
    value &= (1 << (8 * size)) - 1
    at = rng.randrange(len(buf) - size + 1)
    buf[at : at + size] = value.to_bytes(size, "little")


def insert_bytes(buf: bytearray, rng: random.Random) -> None:
    at = rng.randrange(len(buf) + 1)
    buf[at:at] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 17)))


def delete_span(buf: bytearray, rng: random.Random) -> None:
    if buf:
        a, b = _pick_span(rng, len(buf))
        del buf[a:b]


def duplicate_span(buf: bytearray, rng: random.Random) -> None:
    if buf:
        a, b = _pick_span(rng, len(buf))
        at = rng.randrange(len(buf) + 1)
        buf[at:at] = buf[a:b] * rng.choice((1, 2, 16))


def truncate(buf: bytearray, rng: random.Random) -> None:
    if buf:
        del buf[rng.randrange(len(buf)) :]


def json_value(buf: bytearray, rng: random.Random) -> None:
    """A JSON number, string or literal replaced by a hostile value."""
    tokens = list(_JSON_TOKEN.finditer(bytes(buf)))
    if tokens:
        m = rng.choice(tokens)
        buf[m.start() : m.end()] = rng.choice(JSON_VALUES).encode()


def json_nest(buf: bytearray, rng: random.Random) -> None:
    """A JSON value wrapped deep (past the recursion limit, at times)."""
    tokens = list(_JSON_TOKEN.finditer(bytes(buf)))
    if tokens:
        m = rng.choice(tokens)
        depth = rng.choice((2, 50, 1000, 5000))
        buf[m.start() : m.end()] = b"[" * depth + m.group() + b"]" * depth


# YAML scalars and tags that made a card crash or blow up somewhere.
YAML_VALUES = (
    b"2024-13-45",
    b"2024-02-30 25:61:61",
    b"!!int x",
    b"!!float y",
    b"!!binary '###'",
    b"!!timestamp 2024-99-99",
    b"!!python/object:os.system 'x'",
    b"&a [*a]",
    b"*undefined",
    b"{? [a]: b}",
    b"0x_",
    b"1e99999",
    b".nan",
    b"|\n  text",
    b"[" * 80 + b"]" * 80,
)
_YAML_SCALAR = re.compile(rb"(?<=: )[^\n]*|(?<=- )[^\n]*")


def yaml_value(buf: bytearray, rng: random.Random) -> None:
    """A YAML scalar (after `key: ` or `- `) replaced by a hostile one."""
    spots = list(_YAML_SCALAR.finditer(bytes(buf)))
    if spots:
        m = rng.choice(spots)
        buf[m.start() : m.end()] = rng.choice(YAML_VALUES)


BYTE_OPS: tuple[Callable[[bytearray, random.Random], None], ...] = (
    flip_bit,
    set_byte,
    put_int,
    put_int,
    insert_bytes,
    delete_span,
    duplicate_span,
    truncate,
)
TEXT_OPS = (*BYTE_OPS, json_value, json_value, json_value, json_nest)
YAML_OPS = (*TEXT_OPS, yaml_value, yaml_value, yaml_value)


def mutate_bytes(
    data: bytes, rng: random.Random, ops: Sequence[Callable[[bytearray, random.Random], None]]
) -> bytes:
    """One to eight mutations of `data`."""
    buf = bytearray(data)
    for _ in range(rng.choice((1, 1, 1, 2, 2, 3, 4, 8))):
        rng.choice(ops)(buf, rng)
    return bytes(buf[:MAX_BYTES])


def mutate_text(data: bytes, rng: random.Random) -> bytes:
    return mutate_bytes(data, rng, TEXT_OPS)


def mutate_yaml(data: bytes, rng: random.Random) -> bytes:
    return mutate_bytes(data, rng, YAML_OPS)


def mutate_binary(data: bytes, rng: random.Random) -> bytes:
    return mutate_bytes(data, rng, BYTE_OPS)


def mutate_safetensors(data: bytes, rng: random.Random) -> bytes:
    """The JSON header mutated as text and its length prefix kept right (mostly), or the
    bytes anywhere."""
    if len(data) < 8 or rng.random() < 0.3:
        return mutate_binary(data, rng)
    (n,) = struct.unpack_from("<Q", data)
    header, rest = data[8 : 8 + n], data[8 + n :]
    header = mutate_text(header, rng)
    if rng.random() < 0.2:
        rest = mutate_binary(rest, rng)
    return (struct.pack("<Q", len(header)) + header + rest)[:MAX_BYTES]

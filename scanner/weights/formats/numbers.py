"""Stored numbers as float32: bfloat16 widened by a shift, OCP 8-bit floats by a table of
their 256 values, with the scales FP8 checkpoints store beside a weight."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

# 8-bit floats (OCP FP8): exponent bits, mantissa bits, "fn" (finite: no infinities).
FP8 = {"F8_E4M3": (4, 3, True), "F8_E5M2": (5, 2, False)}
# Names of the scale that goes with an FP8 weight, multiplied in: DeepSeek V3 / Qwen3-FP8
# store "<weight>_scale_inv" per 128 x 128 block, compressed-tensors "<weight>_scale" per
# tensor or per output row.
FP8_SCALES = ("_scale_inv", "_scale")


@lru_cache(maxsize=4)
def fp8_table(dtype: str) -> np.ndarray:
    """The float32 value of each of the 256 bytes of an 8-bit float type."""
    exp_bits, man_bits, finite = FP8[dtype]
    b = np.arange(256)
    e, m = (b >> man_bits) & ((1 << exp_bits) - 1), b & ((1 << man_bits) - 1)
    bias, frac = (1 << (exp_bits - 1)) - 1, m / (1 << man_bits)
    value = np.where(e == 0, 2.0 ** (1 - bias) * frac, 2.0 ** (e - bias) * (1 + frac))
    top = (1 << exp_bits) - 1
    if finite:  # E4M3 "fn": S.1111.111 is NaN, there is no infinity
        value = np.where((e == top) & (m == (1 << man_bits) - 1), np.nan, value)
    else:  # E5M2 is IEEE-like
        value = np.where(e == top, np.where(m == 0, np.inf, np.nan), value)
    return np.where(b >> 7, -value, value).astype(np.float32)


def scale_blocks(shape: tuple[int, ...], scale: tuple[int, ...]) -> tuple[int, int] | None:
    """Rows and columns each scale value covers: whole tensor, per row, or per block."""
    if len(shape) != 2:
        return (1, 1) if int(np.prod(scale)) == 1 and len(shape) < 2 else None
    rows, cols = shape
    if int(np.prod(scale)) == 1:
        return rows, cols
    if tuple(scale) in ((rows,), (rows, 1)):
        return 1, cols
    if len(scale) != 2:
        return None
    br, bc = _block(rows, scale[0]), _block(cols, scale[1])
    return None if br is None or bc is None else (br, bc)


def _block(n: int, blocks: int) -> int | None:
    """The block length that cuts n into `blocks` blocks (the last may be short). Several
    fit when the last is short: quantizers use powers of two (128 for DeepSeek V3 and
    Qwen3-FP8), so the largest power of two that fits, else the shortest length."""
    if blocks <= 0 or n <= 0:
        return None
    shortest = -(-n // blocks)
    longest = n if blocks == 1 else (n - 1) // (blocks - 1)
    if shortest > longest:
        return None
    power = 1 << (longest.bit_length() - 1)
    return power if power >= shortest else shortest


def bf16_to_f32(raw: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """bfloat16 is the top half of a float32: one widening shift, no zero-filled buffer."""
    flat = np.asarray(raw).reshape(-1).view(np.uint16)
    wide = np.left_shift(flat, 16, dtype=np.uint32, out=out)
    return wide.view(np.float32).reshape(np.shape(raw))

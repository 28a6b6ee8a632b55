"""Integer weights packed eight (or four, or sixteen) to an int32: GPTQ and AWQ checkpoints.

A quantized Linear `<prefix>` is stored as `<prefix>.qweight`, `.qzeros`, `.scales` (and for
GPTQ with act-order `.g_idx`) instead of `<prefix>.weight`. The layouts (as AutoAWQ 0.2.9's
packing_utils and auto-gptq 0.7.1's QuantLinear write and read them):

  GPTQ   qweight (in * bits / 32, out): input i of output j is bits (i % n) * bits of
         qweight[i // n, j] (n = 32 / bits); zeros packed the same way along the outputs in
         qzeros (groups, out * bits / 32), stored minus one ("gptq" format; "gptq_v2" stores
         them as they are); scales (groups, out); group of input i: g_idx[i], else i // size.
  AWQ    qweight (in, out * bits / 32): outputs packed along the row, eight to an int32 in
         the order 0, 2, 4, 6, 1, 3, 5, 7; qzeros likewise; scales (groups, out).

Both give W[j, i] = scale[g, j] * (q[i, j] - zero[g, j]). The layout and the bit width
follow from the shapes alone; only GPTQ's zero offset needs the model's quantization_config.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# slot of output o (0..7) within its int32, for AWQ's packing order 0, 2, 4, 6, 1, 3, 5, 7
_AWQ_SLOT = np.array([0, 4, 1, 5, 2, 6, 3, 7])
PARTS = ("qweight", "qzeros", "scales", "g_idx")


@dataclass(frozen=True)
class Layout:
    kind: str
    """"GPTQ" or "AWQ"."""
    bits: int
    out: int
    inp: int
    group: int
    """Inputs a group (when there is no g_idx)."""
    zero_offset: int

    @property
    def dtype(self) -> str:
        return f"{self.kind}-INT{self.bits}"


def layout_of(
    shapes: dict[str, tuple[int, ...]], dtypes: dict[str, str], quant_config: dict | None
) -> Layout | None:
    """The layout of one packed Linear from its parts' shapes, or None if they fit none."""
    qw, qz, sc = shapes.get("qweight"), shapes.get("qzeros"), shapes.get("scales")
    if qw is None or qz is None or sc is None or not (len(qw) == len(qz) == len(sc) == 2):
        return None
    if dtypes.get("qweight") != "I32" or dtypes.get("qzeros") != "I32":
        return None
    groups, out = sc
    if not groups or not out or qz[0] != groups or (32 * qz[1]) % out:
        return None
    bits = 32 * qz[1] // out
    if bits not in (2, 4, 8):
        return None  # 3-bit GPTQ straddles int32 words: not read
    cfg = quant_config or {}
    if qw[1] == out:
        kind, inp = "GPTQ", qw[0] * 32 // bits
        offset = 0 if str(cfg.get("checkpoint_format", "gptq")).lower() == "gptq_v2" else 1
    elif qw[1] * 32 // bits == out and bits == 4:
        kind, inp, offset = "AWQ", qw[0], 0
    else:
        return None
    g_idx = shapes.get("g_idx")
    if g_idx is not None and (g_idx != (inp,) or dtypes.get("g_idx") != "I32"):
        return None
    return Layout(kind, bits, out, inp, -(-inp // groups), offset)


def dequantize(
    lay: Layout,
    qweight: np.ndarray,
    qzeros: np.ndarray,
    scales: np.ndarray,
    g_idx: np.ndarray | None,
    rows: np.ndarray,
    cols: np.ndarray,
) -> np.ndarray:
    """W[rows][:, cols] as float32 (rows: outputs, cols: inputs), from the packed parts
    (views of the file; only the words that hold the wanted values are read)."""
    mask = (1 << lay.bits) - 1
    n = 32 // lay.bits
    groups = scales.shape[0]
    g = np.asarray(g_idx[cols], dtype=np.int64) if g_idx is not None else cols // lay.group
    if g.size and (g.min() < 0 or g.max() >= groups):
        raise ValueError("group index out of range")
    if lay.kind == "GPTQ":
        words = qweight[(cols // n)[:, None], rows[None, :]].astype(np.uint32)
        q = (words >> (lay.bits * (cols % n)).astype(np.uint32)[:, None]) & mask
        zshift = (lay.bits * (rows % n)).astype(np.uint32)
    else:
        slot = _AWQ_SLOT[rows % 8]
        words = qweight[cols[:, None], (rows // n)[None, :]].astype(np.uint32)
        q = (words >> (lay.bits * slot).astype(np.uint32)[None, :]) & mask
        zshift = (lay.bits * slot).astype(np.uint32)
    zwords = qzeros[g[:, None], (rows // n)[None, :]].astype(np.uint32)
    # GPTQ stores zero - 1; adding it back wraps within the bits, as auto-gptq reads them
    zeros = ((((zwords >> zshift[None, :]) & mask) + lay.zero_offset) & mask).astype(np.int32)
    scale = np.asarray(scales[g[:, None], rows[None, :]], dtype=np.float32)
    return (scale * (q.astype(np.int32) - zeros)).T.astype(np.float32, copy=False)

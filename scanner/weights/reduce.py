"""One weight tensor reduced, chunk by chunk as it is read, to what the fingerprint keeps.

A reader hands over a tensor's rows in cache-sized chunks (TensorReader.read_units); each
chunk feeds the statistics (mean, std, content hash, count sketch) and the anchor
responses of the tensor's output units (P @ W^T for the probe P of its role), then is
dropped. The float32 tensor is never held whole unless a caller asks to keep it (1-D
tensors, and the attention matrices of models small enough for per-head spectra).
"""

from __future__ import annotations

import base64
import math
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from .roles import CanonTensor
from .sketch import StreamingStats


@dataclass
class Probe:
    """What a tensor's units are multiplied by: probe (K x d) and the residual axis."""

    matrix: np.ndarray
    residual_axis: int
    """1: rows are output units (W is (units, d)); 0: columns are (W is (d, units))."""
    norms: bool = False
    """Also the squared norm of each unit's residual-side weights."""


@dataclass
class Reduced:
    entry: dict[str, Any]
    sketch: np.ndarray | None
    resp: np.ndarray | None = None
    """K x units: each unit's response to the probe."""
    norms: np.ndarray | None = None
    """Per unit: the norm of its residual-side weights."""
    arr: np.ndarray | None = None
    """The tensor itself, where it was kept."""
    late: bool = False
    """Read before the probe was known: arr is kept, resp is still to be computed."""

    def probe_now(self, probe: Probe | None, keep_arr: bool) -> None:
        """Anchor responses of a tensor read early (see `late`), from the kept array."""
        if not self.late or self.arr is None:
            return
        if probe is not None:
            red = Reduction(self.arr.shape, probe, stats=False)
            red.feed(self.arr)
            self.resp = None if red.resp is None else red.resp.T
            self.norms = None if red.norms is None else np.sqrt(red.norms)
        self.late = False
        if not keep_arr:
            self.arr = None


# Values kept of each float32 matrix, at positions its shape fixes (two checkpoints of one
# shape keep the same positions): the share left exactly equal tells a sparsifying merge
# (TIES, DARE keep a share of the values exactly as they were) from a fine-tune, which moves
# every float32 value (deltas.sparse_update).
KEPT_VALUES = 256
EXACT_TYPES = ("F32", "FLOAT32", "FLOAT")


def value_positions(shape: tuple[int, ...]) -> np.ndarray:
    """Flat positions (ascending, at most KEPT_VALUES) drawn by a generator the shape seeds."""
    n = int(np.prod(shape))
    if n <= KEPT_VALUES:
        return np.arange(n, dtype=np.int64)
    rng = np.random.default_rng(zlib.crc32(repr(tuple(int(x) for x in shape)).encode()))
    return np.unique(rng.integers(0, n, KEPT_VALUES, dtype=np.int64))


def encode_values(values: np.ndarray) -> str:
    return base64.b64encode(np.asarray(values, "<f4").tobytes()).decode("ascii")


def decode_values(text: object) -> np.ndarray | None:
    """The kept values of a fingerprint entry (None: absent or not what encode_values wrote)."""
    if not isinstance(text, str) or len(text) > 4 * (4 * KEPT_VALUES // 3 + 4):
        return None
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError):
        return None
    if len(raw) % 4:
        return None
    return np.frombuffer(raw, dtype="<f4")


def entry_of(
    ct: CanonTensor, read: tuple[int, ...], mean: float, std: float, digest: str
) -> dict[str, Any]:
    entry = {
        "role": ct.key.role,
        "layer": ct.key.layer,
        "expert": ct.key.expert,
        "shape": list(ct.shape),
        "dtype": ct.dtype,
        "quantized": ct.quantized,
        "source": ct.source,
        "mean": mean,
        "std": std,
        "hash": digest,
    }
    if tuple(read) != tuple(ct.shape):
        entry["read"] = list(read)  # the units read (see units.py); statistics are theirs
    return entry


def unit_norm(x: np.ndarray) -> np.ndarray:
    """Scale-free copy (signals use cosines); keeps float16 storage in range."""
    n = float(np.linalg.norm(x))
    return (x / n if n > 0 else x).astype(np.float32)


class Reduction:
    """Accumulates one tensor of `shape` (as read) fed in consecutive row chunks."""

    def __init__(
        self,
        shape: tuple[int, ...],
        probe: Probe | None,
        stat_blocks: list[tuple[int, int]] | None = None,
        stats: bool = True,
        keep_values: bool = False,
    ):
        self.shape = shape
        self.positions = value_positions(shape) if keep_values and len(shape) == 2 else None
        self.values = None if self.positions is None else np.zeros(len(self.positions), "<f4")
        self.blocks = stat_blocks
        """Row ranges the statistics come from (None: every row)."""
        cols = int(np.prod(shape[1:])) if len(shape) > 1 else 1
        self.n_stat = (
            int(np.prod(shape))
            if stat_blocks is None
            else sum(hi - lo for lo, hi in stat_blocks) * cols
        )
        self.stats = StreamingStats(self.n_stat) if stats else None
        self.row = 0
        self.probe_t: np.ndarray | None = None
        self.resp: np.ndarray | None = None
        self.norms: np.ndarray | None = None
        self.axis = 1
        if probe is not None and len(shape) == 2:
            self.axis = probe.residual_axis
            d = shape[self.axis]
            if probe.matrix.shape[1] == d:
                self.probe_t = np.ascontiguousarray(probe.matrix.T, dtype=np.float32)
                units = shape[1 - self.axis]
                self.resp = np.zeros((units, probe.matrix.shape[0]), dtype=np.float32)
                if probe.norms:
                    self.norms = np.zeros(units, dtype=np.float64)

    def feed(self, chunk: np.ndarray) -> None:
        r0 = self.row
        r1 = self.row = r0 + (len(chunk) if chunk.ndim else 1)
        if self.positions is not None and self.values is not None and chunk.ndim == 2:
            cols = self.shape[1]
            lo, hi = np.searchsorted(self.positions, (r0 * cols, r1 * cols))
            at = self.positions[lo:hi]
            self.values[lo:hi] = chunk[at // cols - r0, at % cols]
        if self.stats is None:
            pass
        elif self.blocks is None:
            self.stats.feed(chunk)
        else:
            for lo, hi in self.blocks:
                if lo < r1 and hi > r0:
                    self.stats.feed(chunk[max(lo, r0) - r0 : min(hi, r1) - r0])
        if self.probe_t is None or self.resp is None or chunk.ndim != 2:
            return
        if self.axis == 1:  # rows are units
            np.dot(chunk, self.probe_t, out=self.resp[r0:r1])
            if self.norms is not None:
                self.norms[r0:r1] = np.vecdot(chunk, chunk)
        else:  # rows are residual dimensions: every chunk adds to every unit
            self.resp += chunk.T @ self.probe_t[r0:r1]
            if self.norms is not None:
                self.norms += np.einsum("ij,ij->j", chunk, chunk)

    def finish(self, ct: CanonTensor, arr: np.ndarray | None, step: float | None = None) -> Reduced:
        """`step`: the quantization step the reader knows (TensorReader.step), if any."""
        assert self.stats is not None, "finish() is for a reduction with statistics"
        mean, std, digest, sketch = self.stats.finish()
        entry = entry_of(ct, self.shape, mean, std, digest)
        if self.values is not None:
            entry["values"] = encode_values(self.values)
        rms = math.hypot(mean, std)
        if step is not None and rms > 0:
            # the relative RMS error rounding to this step gives (deltas.rounding_of)
            entry["noise"] = step / math.sqrt(12.0) / rms
        if self.n_stat != int(np.prod(self.shape)):
            entry["stat_values"] = self.n_stat  # statistics of a row sample (units.py)
        return Reduced(
            entry,
            unit_norm(sketch) if len(self.shape) >= 2 else None,
            None if self.resp is None else self.resp.T,
            None if self.norms is None else np.sqrt(self.norms),
            arr,
        )

"""The index key: what the library's first stage compares, a few KB computed from a Fingerprint.

A library of thousands of bases cannot run the calibrated comparison against every entry
(0.1 to 1 s each). The key keeps, of each fingerprint, what picks the few entries worth
comparing, and nothing that decides:

- `content`: the first CONTENT_SLICE values of the count sketches of the embedding and of
  the first blocks' matrices, each a random projection of the tensor (sketch.py): a copy,
  a fine-tune or a quantization lies close, unrelated weights near 0. Keyed by role, layer
  and shape (a slot), so only tensors of one shape meet.
- `anchors` and `gram`: the cosines between the embedding rows of the first GRAM_ANCHORS
  anchor tokens, keyed by the tokens' public string hashes. Free of the residual basis
  (a rotation or permutation of the hidden units leaves them as they are) and of the
  width, so they meet across quantizations, pruning, rotations and vocabulary changes.
- `vocab`: the VOCAB_SKETCH smallest public token hashes (a bottom-k sketch): the share
  two vocabularies have in common.
- `stats`: the per-layer std curves of the block matrices, resampled over relative depth,
  and the width: the only thing left of a model with neither tokens nor shared shapes.

The stored form (`encode` / `decode`) is a small binary record: a JSON header naming the
arrays, then the arrays, read back with bounds checks (a key may come from an imported file).
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass

import numpy as np

from ..fingerprint import Fingerprint
from ..roles import RoleKey

KEY_VERSION = 2
"""Bump when what a key holds changes: keys of another version are recomputed from the
stored fingerprints (no re-adding needed). 2: the vocabulary sketch from the smallest
public hashes (fingerprint format 6 keeps a bottom-k sample of the vocabulary)."""

GRAM_ANCHORS = 32
VOCAB_SKETCH = 64
CONTENT_SLICE = 64
CONTENT_LAYERS = (0, 1)
CONTENT_ROLES = ("attn_q", "attn_k", "attn_v", "attn_o", "mlp_gate", "mlp_up", "mlp_down")
STATS_ROLES = CONTENT_ROLES
STATS_POINTS = 8
_MAGIC = b"PSLK"
_MAX_HEADER = 64 * 1024
_ARRAYS = ("vocab", "anchors", "gram", "content", "stats")
_DTYPES = {"vocab": "<u8", "anchors": "<i8", "gram": "<f2", "content": "<f2", "stats": "<f4"}


class KeyFormatError(ValueError):
    """A stored key that does not decode (truncated, wrong shapes)."""


@dataclass(frozen=True)
class IndexKey:
    """The first stage's view of one model (see the module docstring)."""

    vocab: np.ndarray
    """uint64, ascending, at most VOCAB_SKETCH; empty without a vocabulary."""
    anchors: np.ndarray
    """int64 token hashes of the first anchors (at most GRAM_ANCHORS)."""
    gram: np.ndarray
    """float16 (n, n): cosines between those anchors' embedding rows."""
    slots: tuple[str, ...]
    """role@layer:shape of each content row."""
    content: np.ndarray
    """float16 (len(slots), CONTENT_SLICE), unit rows."""
    stats: np.ndarray
    """float32 (len(STATS_ROLES) * STATS_POINTS,): log10 std over relative depth; NaN: absent."""
    d: int
    layers: int

    def encode(self) -> bytes:
        arrays = {
            name: np.ascontiguousarray(getattr(self, name), _DTYPES[name]) for name in _ARRAYS
        }
        head = {
            "version": KEY_VERSION,
            "slots": list(self.slots),
            "d": self.d,
            "layers": self.layers,
            "shapes": {name: list(a.shape) for name, a in arrays.items()},
        }
        raw = json.dumps(head).encode()
        return b"".join(
            [_MAGIC, struct.pack("<I", len(raw)), raw, *(a.tobytes() for a in arrays.values())]
        )


def decode(blob: bytes) -> IndexKey:
    """A key from its stored form; KeyFormatError when it is not one this version wrote."""
    if len(blob) < 8 or blob[:4] != _MAGIC:
        raise KeyFormatError("not an index key")
    (n,) = struct.unpack("<I", blob[4:8])
    if n > _MAX_HEADER or 8 + n > len(blob):
        raise KeyFormatError("index key header out of bounds")
    try:
        head = json.loads(blob[8 : 8 + n])
        if head["version"] != KEY_VERSION:
            raise KeyFormatError(f"index key version {head['version']!r}")
        pos = 8 + n
        arrays = {}
        for name in _ARRAYS:
            shape = tuple(int(x) for x in head["shapes"][name])
            dt = np.dtype(_DTYPES[name])
            count = int(np.prod(shape)) if shape else 1
            end = pos + count * dt.itemsize
            if end > len(blob) or any(x < 0 for x in shape):
                raise KeyFormatError("index key truncated")
            arrays[name] = np.frombuffer(blob, dt, count, pos).reshape(shape)
            pos = end
        slots = tuple(str(s) for s in head["slots"])
        key = IndexKey(
            arrays["vocab"],
            arrays["anchors"],
            arrays["gram"],
            slots,
            arrays["content"],
            arrays["stats"],
            int(head["d"]),
            int(head["layers"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise KeyFormatError(f"index key unreadable ({exc})") from exc
    _check_shapes(key)
    return key


def _check_shapes(key: IndexKey) -> None:
    n = len(key.anchors)
    ok = (
        key.vocab.ndim == 1
        and len(key.vocab) <= VOCAB_SKETCH
        and key.anchors.ndim == 1
        and n <= GRAM_ANCHORS
        and key.gram.shape == (n, n)
        and key.content.shape == (len(key.slots), CONTENT_SLICE)
        and key.stats.shape == (len(STATS_ROLES) * STATS_POINTS,)
    )
    if not ok:
        raise KeyFormatError("index key arrays of the wrong shape")


def key_of(fp: Fingerprint) -> IndexKey:
    """The index key of a fingerprint (pure: the same fingerprint, the same key)."""
    anchors, gram = _gram(fp)
    slots, content = _content(fp)
    return IndexKey(
        vocab=_vocab_sketch(fp),
        anchors=anchors,
        gram=gram,
        slots=slots,
        content=content,
        stats=_stats(fp),
        d=int(fp.meta.get("d") or 0),
        layers=fp.n_layers,
    )


def _vocab_sketch(fp: Fingerprint) -> np.ndarray:
    # The fingerprint keeps the vocabulary whole or as its smallest hashes (a bottom-k
    # sample, at least 1024): their VOCAB_SKETCH smallest are a bottom-k sketch of the whole
    # vocabulary either way, so every entry's sketch is drawn by the same rule.
    if fp.vocab is None or len(fp.vocab.hashes) == 0:
        return np.zeros(0, np.uint64)
    smallest = np.sort(fp.vocab.hashes.astype(np.int64))[:VOCAB_SKETCH]
    return np.sort(smallest.view(np.uint64))


def _gram(fp: Fingerprint) -> tuple[np.ndarray, np.ndarray]:
    if fp.anchor_embed is None or len(fp.anchor_embed) < 2:
        return np.zeros(0, np.int64), np.zeros((0, 0), np.float16)
    n = min(GRAM_ANCHORS, len(fp.anchor_embed), len(fp.anchor_hashes))
    rows = fp.anchor_embed[:n].astype(np.float64)
    # Uncentred cosines: centring would use the all-ones direction, which a rotation moves.
    rows /= np.linalg.norm(rows, axis=1, keepdims=True) + 1e-12
    return fp.anchor_hashes[:n].astype(np.int64), (rows @ rows.T).astype(np.float16)


def _content(fp: Fingerprint) -> tuple[tuple[str, ...], np.ndarray]:
    keys = [RoleKey("embed"), RoleKey("lm_head")] + [
        RoleKey(role, layer) for layer in CONTENT_LAYERS for role in CONTENT_ROLES
    ]
    slots, rows = [], []
    for key in keys:
        sk = fp.sketches.get(key)
        info = fp.tensors.get(key)
        if sk is None or info is None or sk.size < CONTENT_SLICE:
            continue
        v = sk.reshape(-1)[:CONTENT_SLICE].astype(np.float64)
        norm = float(np.linalg.norm(v))
        if not np.isfinite(norm) or norm == 0.0:
            continue
        shape = "x".join(str(int(x)) for x in info.get("shape", ()))
        slots.append(f"{key.label()}:{shape}")
        rows.append(v / norm)
    content = np.array(rows, np.float16).reshape(len(rows), CONTENT_SLICE)
    return tuple(slots), content


def _stats(fp: Fingerprint) -> np.ndarray:
    out = np.full((len(STATS_ROLES), STATS_POINTS), np.nan, np.float32)
    for i, role in enumerate(STATS_ROLES):
        per = sorted(
            (k.layer, float(t.get("std", 0.0)))
            for k, t in fp.tensors.items()
            if k.role == role and k.expert < 0 and k.layer >= 0
        )
        stds = np.array([s for _, s in per if np.isfinite(s) and s > 0], np.float64)
        if len(stds) < 2:
            continue
        depth = np.linspace(0.0, 1.0, len(stds))
        out[i] = np.log10(np.interp(np.linspace(0.0, 1.0, STATS_POINTS), depth, stds))
    return out.reshape(-1)

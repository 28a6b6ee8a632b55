"""The Fingerprint and its file: what the signals compare, saved as a pickle-free .npz.

Tensors are keyed by their role (roles.RoleKey) and forms by FormKey, as values; labels
such as "attn_q@3" or "du@3#e1" are only how the file and the reports name them. The file
holds every key as fields in its JSON header, so loading one parses no label.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..coverage import Coverage, coverage_of
from ..formats.interface import TensorMeta, WeightFormatError
from ..roles import RoleKey
from .vocab import VocabSample

FORMAT_VERSION = 6
"""6: values stored as int8 with a scale per row, a sampled vocabulary, compressed, and
anchors taken from a common token list first (5 had either the anchor order or the int8
values, the two branches that made it; 4 took the lowest hashes, float16 values and the
whole vocabulary; 3 had labels only)."""
_MAX_FP_BYTES = 512 * 1024 * 1024


@dataclass(frozen=True, order=True)
class FormKey:
    """Which form (or per-head spectrum): a product of one block's matrices, or the head."""

    product: str
    """qk, ov (attention), du, dg (MLP down x up, down x gate), head (lm_head on anchors)."""
    layer: int = -1
    expert: int = -1
    """The expert of a MoE block's MLP; -1 otherwise."""
    shared: bool = False
    """The shared experts' MLP of a MoE block."""

    def label(self) -> str:
        out = self.product if self.layer < 0 else f"{self.product}@{self.layer}"
        if self.expert >= 0:
            return f"{out}#e{self.expert}"
        return out + "#shared" if self.shared else out


@dataclass
class Fingerprint:
    """A comparable summary of one checkpoint (see the package docstring)."""

    name: str
    meta: dict[str, Any]
    """format, total_bytes, config subset, geometry, quantized dtypes, tensor table."""
    tensors: dict[RoleKey, dict[str, Any]]
    """role, layer, expert, shape, dtype, quantized, source, mean, std, hash; noise where the
    reader knows the quantization step, values (256 of a float32 matrix, base64) (reduce.py)."""
    sketches: dict[RoleKey, np.ndarray]
    vocab: VocabSample | None
    """The vocabulary's token hashes, whole or a bottom-k sample (vocab.py)."""
    anchor_hashes: np.ndarray
    """In the order they were taken (tokens.anchor_order); the first meta["anchors_form"]
    also index the forms."""
    anchor_embed: np.ndarray | None
    forms: dict[FormKey, np.ndarray] = field(default_factory=dict)
    """K x K each: qk, ov, du, dg of every block (and expert), and the head."""
    spectra: dict[FormKey, np.ndarray] = field(default_factory=dict)
    sketch_noise: dict[RoleKey, float] = field(default_factory=dict)
    """The relative RMS error the file's int8 storage put on each sketch (0 for a fresh
    fingerprint): the rounding check takes it out of the difference it measures."""

    @property
    def n_layers(self) -> int:
        return int(self.meta.get("n_layers", 0))

    @property
    def coverage(self) -> Coverage:
        """What the role rules recognised of the checkpoint (fingerprints made before it was
        recorded: their canonical tensors and unknown names)."""
        saved = Coverage.from_dict(self.meta.get("coverage"))
        if saved is not None:
            return saved
        sources = {str(t.get("source")) for t in self.tensors.values()}
        params = sum(int(np.prod(t.get("shape") or [0])) for t in self.tensors.values())
        names = [str(n) for n in self.meta.get("unknown_tensors") or []]
        unknown = int(self.meta.get("n_unknown_tensors") or 0)
        old = coverage_of([TensorMeta(n, "", (0,), "") for n in names], names)
        return Coverage(len(sources) + unknown, len(sources), params, params, old.unrecognised)

    @property
    def quantized(self) -> bool:
        return bool(self.meta.get("quantized_dtypes"))

    def save(self, path: Path) -> None:
        arrays: dict[str, np.ndarray] = {"anchor_hashes": self.anchor_hashes.astype(np.int64)}
        if self.vocab is not None:
            by_id = self.vocab.by_id()
            if by_id is not None:  # a whole vocabulary of distinct tokens: its id order says it
                arrays["vocab/by_id"] = by_id
            else:
                arrays["vocab/hashes"] = self.vocab.hashes.astype(np.int64)
                arrays["vocab/ids"] = self.vocab.ids.astype(np.int32)
        layout: dict[str, list[list[Any]]] = {}
        groups: dict[str, dict[str, np.ndarray]] = {
            "embed": {"anchor_embed": self.anchor_embed} if self.anchor_embed is not None else {},
            "sketch": {k.label(): v for k, v in self.sketches.items()},
            "form": {f.label(): v for f, v in self.forms.items()},
        }
        for group, items in groups.items():
            arrays[f"{group}/q"], arrays[f"{group}/scale"], layout[group] = _pack(items)
        spectra = {f.label(): v for f, v in self.spectra.items()}
        arrays["spectrum/values"] = np.concatenate(
            [v.ravel().astype(np.float16) for v in spectra.values()] or [np.zeros(0, np.float16)]
        )
        layout["spectrum"] = [[label, *v.shape] for label, v in spectra.items()]
        head = {
            "fingerprint_version": FORMAT_VERSION,
            "name": self.name,
            "meta": self.meta,
            "tensors": {k.label(): t for k, t in self.tensors.items()},
            "forms": _form_fields(self.forms),
            "spectra": _form_fields(self.spectra),
            "vocab_size": self.vocab.size if self.vocab is not None else None,
            "layout": layout,
        }
        arrays["header"] = np.frombuffer(json.dumps(head).encode(), dtype=np.uint8)
        with open(path, "wb") as fh:
            np.savez_compressed(fh, **arrays)  # type: ignore[arg-type]  # the header shrinks

    @classmethod
    def load(cls, path: Path) -> Fingerprint:
        if path.stat().st_size > _MAX_FP_BYTES:
            raise WeightFormatError(f"{path.name}: fingerprint larger than {_MAX_FP_BYTES}")
        try:
            with zipfile.ZipFile(path) as zf:
                total = sum(i.file_size for i in zf.infolist())
                if total > 4 * _MAX_FP_BYTES or len(zf.infolist()) > 200_000:
                    raise WeightFormatError(f"{path.name}: fingerprint expands too far")
            data = np.load(path, allow_pickle=False)
            head = json.loads(bytes(data["header"]).decode())
            version = head.get("fingerprint_version")
            if version != FORMAT_VERSION:
                raise WeightFormatError(
                    f"{path.name}: fingerprint format {version!r}, this provscan reads "
                    f"{FORMAT_VERSION}: run `provscan fingerprint` on the model again"
                )
            return cls._from_arrays(head, data)
        except (
            zipfile.BadZipFile,
            KeyError,
            ValueError,
            TypeError,
            AttributeError,
            OSError,
        ) as exc:
            raise WeightFormatError(f"{path.name}: not a provscan fingerprint ({exc})") from exc

    @classmethod
    def _from_arrays(cls, head: dict[str, Any], data: Any) -> Fingerprint:
        roles = {label: _role_key(t) for label, t in head["tensors"].items()}
        forms = {label: _form_key(f) for label, f in head["forms"].items()}
        spectra = {label: _form_key(f) for label, f in head["spectra"].items()}
        fp = cls(
            name=str(head["name"]),
            meta=head["meta"],
            tensors={roles[label]: t for label, t in head["tensors"].items()},
            sketches={},
            vocab=None,
            anchor_hashes=data["anchor_hashes"].astype(np.int64),
            anchor_embed=None,
        )
        if "vocab/by_id" in data.files:
            fp.vocab = VocabSample.of(data["vocab/by_id"])
        elif "vocab/hashes" in data.files:
            hashes, ids = data["vocab/hashes"].astype(np.int64), data["vocab/ids"].astype(np.int64)
            size = int(head["vocab_size"])
            if hashes.shape != ids.shape or hashes.ndim != 1 or not len(hashes) <= size:
                raise ValueError("a vocabulary sample that does not fit its vocabulary")
            fp.vocab = VocabSample(hashes, ids, size)
        layout = head["layout"]
        for label, arr in _unpack(data["embed/q"], data["embed/scale"], layout["embed"]).items():
            if label != "anchor_embed" or arr.ndim != 2:
                raise ValueError(f"an unknown embedding array {label!r}")
            fp.anchor_embed = arr
        sketches = _unpack(data["sketch/q"], data["sketch/scale"], layout["sketch"])
        fp.sketches = {roles[label]: v for label, v in sketches.items()}
        fp.sketch_noise = {roles[label]: storage_noise(v) for label, v in sketches.items()}
        packed = _unpack(data["form/q"], data["form/scale"], layout["form"])
        fp.forms = {forms[label]: v for label, v in packed.items()}
        values = data["spectrum/values"].astype(np.float32)
        for label, v in _split(values, layout["spectrum"]).items():
            fp.spectra[spectra[label]] = v
        return fp


def _pack(items: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, list[list[Any]]]:
    """Arrays of one kind as one int8 array with a float32 scale per row (a 1-D array is
    one row), and the layout (label and shape of each, in order). Rounding to 127 steps
    of a row's largest value moves the cosines the signals compute by about 1e-4."""
    values, scales = [np.zeros(0, np.int8)], [np.zeros(0, np.float32)]
    for v in items.values():
        rows = _rows(np.asarray(v, np.float32))
        top = np.abs(rows).max(axis=1) if rows.size else np.zeros(len(rows), np.float32)
        scale = np.where(top > 0, top / 127, 1).astype(np.float32)
        values.append(np.rint(rows / scale[:, None]).astype(np.int8).ravel())
        scales.append(scale)
    layout = [[label, *np.shape(v)] for label, v in items.items()]
    return np.concatenate(values), np.concatenate(scales), layout


def storage_noise(v: np.ndarray) -> float:
    """The relative RMS error `_pack` put on an array: rounding to steps of a row's largest
    value over 127 (that value is kept exactly, so the step is known) errs by step / sqrt(12)
    a value on average."""
    rows = _rows(np.asarray(v, np.float64))
    norm = float(np.sqrt(np.sum(rows * rows)))
    if not rows.size or norm == 0.0:
        return 0.0
    step = np.abs(rows).max(axis=1) / 127
    return float(np.sqrt(np.sum(step * step) * rows.shape[1] / 12)) / norm


def _rows(v: np.ndarray) -> np.ndarray:
    return v.reshape(-1, v.shape[-1]) if v.ndim and v.shape[-1] else v.reshape(-1, 1)


def _unpack(q: np.ndarray, scale: np.ndarray, layout: Any) -> dict[str, np.ndarray]:
    """The arrays `_pack` wrote, each checked against the layout."""
    values = _split(q, layout)
    out: dict[str, np.ndarray] = {}
    at = 0
    for label, v in values.items():
        rows = _rows(v)
        s = scale[at : at + len(rows)].astype(np.float32)
        if len(s) != len(rows):
            raise ValueError("int8 values whose scales do not fit them")
        out[label] = (rows.astype(np.float32) * s[:, None]).reshape(v.shape)
        at += len(rows)
    if at != len(scale):
        raise ValueError("more scales than rows")
    return out


def _split(values: np.ndarray, layout: Any) -> dict[str, np.ndarray]:
    """One flat array cut into the arrays the layout names (label, then shape)."""
    out: dict[str, np.ndarray] = {}
    at = 0
    for entry in layout:
        label, shape = entry[0], tuple(entry[1:])
        if not isinstance(label, str) or not all(type(n) is int and n >= 0 for n in shape):
            raise ValueError("a layout entry without a label and a shape")
        n = int(np.prod(shape, dtype=np.int64))
        if at + n > values.size:
            raise ValueError("a layout longer than its values")
        out[label] = values[at : at + n].reshape(shape)
        at += n
    if at != values.size:
        raise ValueError("values the layout does not name")
    return out


def _form_fields(forms: dict[FormKey, np.ndarray]) -> dict[str, list[Any]]:
    return {f.label(): [f.product, f.layer, f.expert, f.shared] for f in forms}


def _role_key(entry: Any) -> RoleKey:
    role, layer, expert = entry["role"], entry["layer"], entry["expert"]
    if not (isinstance(role, str) and type(layer) is int and type(expert) is int):
        raise ValueError("a tensor entry without a role, layer and expert")
    return RoleKey(role, layer, expert)


def _form_key(fields: Any) -> FormKey:
    product, layer, expert, shared = fields
    if not (
        isinstance(product, str)
        and type(layer) is int
        and type(expert) is int
        and type(shared) is bool
    ):
        raise ValueError("a form key without its product, layer, expert and group")
    return FormKey(product, layer, expert, shared)


def is_fingerprint_file(path: str) -> bool:
    p = Path(path)
    if not p.is_file() or p.suffix.lower() != ".npz":
        return False
    try:
        with zipfile.ZipFile(p) as zf:
            return "header.npy" in zf.namelist()
    except (zipfile.BadZipFile, OSError):
        return False

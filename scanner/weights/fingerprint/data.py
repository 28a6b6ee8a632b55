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

from ..formats.interface import WeightFormatError
from ..roles import RoleKey

FORMAT_VERSION = 5
"""5: anchors taken from a common token list first, WordPiece read as text, anchor ids kept
(4 took the lowest hashes; 3 had labels only)."""
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
    """role, layer, expert, shape, dtype, quantized, source, mean, std, hash (reduce.py)."""
    sketches: dict[RoleKey, np.ndarray]
    vocab_hashes: np.ndarray | None
    anchor_hashes: np.ndarray
    """In the order they were taken (tokens.anchor_order); the first meta["anchors_form"]
    also index the forms."""
    anchor_embed: np.ndarray | None
    forms: dict[FormKey, np.ndarray] = field(default_factory=dict)
    """K x K each: qk, ov, du, dg of every block (and expert), and the head."""
    spectra: dict[FormKey, np.ndarray] = field(default_factory=dict)

    @property
    def n_layers(self) -> int:
        return int(self.meta.get("n_layers", 0))

    @property
    def quantized(self) -> bool:
        return bool(self.meta.get("quantized_dtypes"))

    def save(self, path: Path) -> None:
        arrays: dict[str, np.ndarray] = {"anchor_hashes": self.anchor_hashes.astype(np.int64)}
        if self.vocab_hashes is not None:
            arrays["vocab_hashes"] = self.vocab_hashes.astype(np.int64)
        if self.anchor_embed is not None:
            arrays["anchor_embed"] = self.anchor_embed.astype(np.float16)
        for k, v in self.sketches.items():
            arrays[f"sketch/{k.label()}"] = v.astype(np.float16)
        for f, v in self.forms.items():
            arrays[f"form/{f.label()}"] = v.astype(np.float16)
        for f, v in self.spectra.items():
            arrays[f"spectrum/{f.label()}"] = v.astype(np.float32)
        head = {
            "fingerprint_version": FORMAT_VERSION,
            "name": self.name,
            "meta": self.meta,
            "tensors": {k.label(): t for k, t in self.tensors.items()},
            "forms": _form_fields(self.forms),
            "spectra": _form_fields(self.spectra),
        }
        arrays["header"] = np.frombuffer(json.dumps(head).encode(), dtype=np.uint8)
        with open(path, "wb") as fh:
            np.savez(fh, **arrays)  # type: ignore[arg-type]  # float16 barely compresses

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
            vocab_hashes=None,
            anchor_hashes=data["anchor_hashes"].astype(np.int64),
            anchor_embed=None,
        )
        for k in data.files:
            group, _, label = k.partition("/")
            arr = data[k]
            if k == "vocab_hashes":
                fp.vocab_hashes = arr.astype(np.int64)
            elif k == "anchor_embed":
                fp.anchor_embed = arr.astype(np.float32)
            elif group == "sketch":
                fp.sketches[roles[label]] = arr.astype(np.float32)
            elif group == "form":
                fp.forms[forms[label]] = arr.astype(np.float32)
            elif group == "spectrum":
                fp.spectra[spectra[label]] = arr.astype(np.float32)
        return fp


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

"""Weight lineage as the assessment sees it: detected bases against declared base_model.

Reads the weights analyzer's findings: `weights-derived`, `undeclared-base-model` and
`weights-lineage` (other verdicts); evidence.matched is the reference, the details a
WeightsLineage record (verdict, relation, signals with their null backgrounds).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..card import declares_base, parse_card
from ..evidence import SignalEvidence, WeightsLineage
from ..model import Finding
from .model import Curve, LineageClaim

LINEAGE_KINDS = ("weights-derived", "undeclared-base-model", "weights-lineage")
MAX_CARD = 256 * 1024
MAX_LAYERS = 2000


def short_name(ref: str) -> str:
    """org/name for a Hub reference, the last component of a path or URL otherwise."""
    norm = ref[3:] if ref.startswith("hf:") else ref
    norm = norm.split("@", 1)[0].rstrip("/")
    if ref.startswith("hf:") or (
        norm.count("/") == 1 and not norm.startswith((".", "/")) and not Path(norm).exists()
    ):
        return norm
    last = norm.rsplit("/", 1)[-1]
    return last.removesuffix(".git") or ref


def reference_license(ref: str) -> str | None:
    """The license a local reference model's card declares (its README front matter)."""
    readme = Path(ref) / "README.md"
    try:
        if not readme.is_file() or readme.is_symlink() or readme.stat().st_size > MAX_CARD:
            return None
        card = parse_card(readme.read_text(encoding="utf-8", errors="replace"))
    except Exception:  # a reference's card is a nicety; any trouble means "unknown"
        return None
    if card.license and card.license.lower() == "other" and card.license_name:
        return card.license_name
    return card.license


def curves_of(signals: tuple[SignalEvidence, ...]) -> dict[str, Curve]:
    """Per-layer curves: the per_layer values of each signal that has 2 to MAX_LAYERS of
    them, drawn against that signal's null background."""
    out: dict[str, Curve] = {}
    for s in signals:
        layers = s.per_layer
        if layers is None or not 2 <= len(layers) <= MAX_LAYERS:
            continue
        out.setdefault(
            s.name,
            Curve(
                label=f"{s.name} by layer",
                layers=tuple(k for k, _ in layers),
                values=tuple(v for _, v in layers),
                value_label=s.name,
                null_mean=s.null_mean,
                null_std=s.null_std,
                band_note="the band is the null of the signal's overall score",
            ),
        )
    return out


@dataclass
class _Claim:
    """A claim being gathered from the findings about one reference."""

    lineage: WeightsLineage | None = None
    score: float | None = None
    z: float | None = None
    p: float | None = None
    ids: list[str] = field(default_factory=list)
    undeclared: bool = False


def lineage_claims(
    findings: list[tuple[str, Finding]], declared_bases: tuple[str, ...]
) -> tuple[LineageClaim, ...]:
    """One claim per reference (evidence.matched); undeclared-base-model findings attach to
    their reference."""
    claims: dict[str, _Claim] = {}
    for fid, f in findings:
        d = f.evidence.details
        if f.kind not in LINEAGE_KINDS or not isinstance(d, WeightsLineage):
            continue
        c = claims.setdefault(f.evidence.matched or "unknown reference", _Claim())
        c.ids.append(fid)
        c.undeclared = c.undeclared or f.kind == "undeclared-base-model"
        if c.lineage is None or f.kind != "undeclared-base-model":
            c.lineage = d
            c.score, c.z, c.p = f.evidence.score, f.evidence.z, f.evidence.p_value
    out = []
    for ref, c in claims.items():
        assert c.lineage is not None
        declared = declares_base(declared_bases, ref) and not c.undeclared
        out.append(
            LineageClaim(
                reference=ref,
                # A fingerprint file names the model it was made from: that is the base.
                name=short_name(c.lineage.reference_name or ref),
                verdict=c.lineage.verdict,
                relation=c.lineage.relation,
                declared=declared,
                license=reference_license(ref),
                score=c.score,
                z=c.z,
                p_value=c.p,
                signals=c.lineage.signals,
                curves=curves_of(c.lineage.signals),
                finding_ids=tuple(c.ids),
            )
        )
    return tuple(out)

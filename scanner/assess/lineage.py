"""Weight lineage as the assessment sees it: detected bases against declared base_model.

Reads the weights analyzer's findings: `weights-derived` and `undeclared-base-model`
(evidence.matched is the reference; details: verdict, relation, signals with their null
backgrounds and per-layer values) and `weights-lineage` (other verdicts).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..card import parse_card
from ..model import Finding
from .model import LineageClaim

LINEAGE_KINDS = ("weights-derived", "undeclared-base-model", "weights-lineage")
MAX_CARD = 256 * 1024
MAX_LAYERS = 2000


def short_name(ref: str) -> str:
    """org/name for a Hub reference, the last component of a path or URL otherwise."""
    norm = ref[3:] if ref.startswith("hf:") else ref
    norm = norm.split("@", 1)[0].rstrip("/")
    if ref.startswith("hf:") or (norm.count("/") == 1 and not norm.startswith((".", "/"))
                                 and not Path(norm).exists()):
        return norm
    last = norm.rsplit("/", 1)[-1]
    return last.removesuffix(".git") or ref


def _norm(ref: str) -> str:
    ref = ref.strip().lower()
    if ref.startswith("hf:"):
        ref = ref[3:]
    return ref.split("@", 1)[0].rstrip("/")


def is_declared(reference: str, declared: tuple[str, ...]) -> bool:
    """A detected base counts as declared when the card names it (same repo or same name)."""
    ref = _norm(reference)
    ref_name = ref.rsplit("/", 1)[-1]
    for d in declared:
        dn = _norm(d)
        if dn == ref or dn.rsplit("/", 1)[-1] == ref_name:
            return True
    return False


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


def _reference(f: Finding) -> tuple[str, str | None]:
    details = f.evidence.details or {}
    base = details.get("base") or details.get("reference") or f.evidence.matched
    lic = details.get("base_license")
    if isinstance(base, dict):
        lic = lic or base.get("license")
        base = base.get("name") or base.get("reference") or base.get("path")
    return (str(base) if base else "unknown reference"), (str(lic) if lic else None)


def curves_of(details: dict[str, Any]) -> dict[str, Any]:
    """Per-layer curves: given as `curves`, or the per_layer values of each signal, drawn
    against that signal's null background."""
    given = details.get("curves") or details.get("layer_curves")
    out: dict[str, Any] = dict(given) if isinstance(given, dict) else {}
    for s in details.get("signals", ()):
        if not isinstance(s, dict) or not isinstance(s.get("details"), dict):
            continue
        per = s["details"].get("per_layer")
        if not isinstance(per, dict) or not 2 <= len(per) <= MAX_LAYERS:
            continue
        try:
            layers = sorted((int(k), float(v)) for k, v in per.items())
        except (TypeError, ValueError):
            continue
        out.setdefault(str(s.get("name")), {
            "label": f"{s.get('name')} by layer",
            "layers": [k for k, _ in layers], "values": [v for _, v in layers],
            "value_label": str(s.get("name")),
            "null_mean": s.get("null_mean"), "null_std": s.get("null_std"),
            "band_note": "the band is the null of the signal's overall score"})
    return out


def lineage_claims(findings: list[tuple[str, Finding]],
                   declared_bases: tuple[str, ...]) -> tuple[LineageClaim, ...]:
    """One claim per reference; undeclared-base-model findings attach to their base."""
    claims: dict[str, dict[str, Any]] = {}
    for fid, f in findings:
        if f.kind not in LINEAGE_KINDS:
            continue
        details = f.evidence.details or {}
        ref, lic = _reference(f)
        c = claims.setdefault(ref, {"verdict": None, "relation": None, "license": None,
                                    "score": None, "z": None, "p": None, "signals": (),
                                    "curves": {}, "ids": [], "undeclared": False})
        c["ids"].append(fid)
        c["license"] = c["license"] or lic
        c["undeclared"] = c["undeclared"] or f.kind == "undeclared-base-model"
        if c["verdict"] is None or f.kind != "undeclared-base-model":
            c["verdict"] = str(details.get("verdict") or "derived")
            c["relation"] = details.get("relation") or c["relation"]
            c["score"], c["z"], c["p"] = f.evidence.score, f.evidence.z, f.evidence.p_value
            c["signals"] = tuple(s for s in details.get("signals", ()) if isinstance(s, dict))
            c["curves"] = curves_of(details)
    out = []
    for ref, c in claims.items():
        declared = is_declared(ref, declared_bases) and not c["undeclared"]
        out.append(LineageClaim(
            reference=ref, name=short_name(ref), verdict=c["verdict"], relation=c["relation"],
            declared=declared, license=c["license"] or reference_license(ref),
            score=c["score"], z=c["z"], p_value=c["p"], signals=c["signals"],
            curves=c["curves"], finding_ids=tuple(c["ids"])))
    return tuple(out)

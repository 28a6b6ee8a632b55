"""Weight lineage as the assessment sees it: detected bases against declared base_model."""

from __future__ import annotations

from typing import Any

from ..model import Finding
from .model import LineageClaim

LINEAGE_VERDICTS = ("identical", "derived", "shared-components")


def _norm(ref: str) -> str:
    """hf:org/name@rev, org/name, /path/to/name/ -> name, lower-case, for a fair comparison."""
    ref = ref.strip().lower()
    if ref.startswith("hf:"):
        ref = ref[3:]
    ref = ref.split("@", 1)[0].rstrip("/")
    return ref


def short_name(ref: str) -> str:
    """org/name for a Hub reference, the last component of a path or URL otherwise."""
    norm = ref[3:] if ref.startswith("hf:") else ref
    norm = norm.split("@", 1)[0].rstrip("/")
    if ref.startswith("hf:") or (norm.count("/") == 1 and not norm.startswith((".", "/"))):
        return norm
    last = norm.rsplit("/", 1)[-1]
    return last.removesuffix(".git") or ref


def is_declared(reference: str, declared: tuple[str, ...]) -> bool:
    """A detected base counts as declared when the card names it (same repo or same name)."""
    ref = _norm(reference)
    ref_name = ref.rsplit("/", 1)[-1]
    for d in declared:
        dn = _norm(d)
        if dn == ref or dn.rsplit("/", 1)[-1] == ref_name:
            return True
    return False


def _base_of(details: dict[str, Any]) -> tuple[str, str | None]:
    """The reference and its license from a weights finding's details (str or mapping)."""
    base = details.get("base") or details.get("reference") or details.get("base_reference")
    lic = details.get("base_license") or details.get("license")
    if isinstance(base, dict):
        lic = lic or base.get("license")
        base = base.get("name") or base.get("reference") or base.get("path")
    return (str(base) if base else "unknown reference"), (str(lic) if lic else None)


def lineage_claims(findings: list[tuple[str, Finding]],
                   declared_bases: tuple[str, ...]) -> tuple[LineageClaim, ...]:
    """One claim per detected base; undeclared-base-model findings attach to their base."""
    claims: dict[str, dict[str, Any]] = {}
    for fid, f in findings:
        if f.kind not in ("weights-derived", "undeclared-base-model"):
            continue
        details = f.evidence.details or {}
        ref, lic = _base_of(details)
        verdict = str(details.get("verdict") or ("derived" if f.kind == "weights-derived"
                                                 else "derived"))
        c = claims.setdefault(ref, {"verdict": verdict, "relation": None, "license": None,
                                    "score": None, "z": None, "p": None, "signals": (),
                                    "curves": {}, "ids": [], "undeclared_finding": False})
        c["ids"].append(fid)
        c["license"] = c["license"] or lic
        if f.kind == "undeclared-base-model":
            c["undeclared_finding"] = True
        if f.kind == "weights-derived":
            c["verdict"] = verdict
            c["relation"] = details.get("relation")
            c["score"], c["z"], c["p"] = f.evidence.score, f.evidence.z, f.evidence.p_value
            c["signals"] = tuple(s for s in details.get("signals", ()) if isinstance(s, dict))
            curves = details.get("curves") or details.get("layer_curves") or {}
            c["curves"] = curves if isinstance(curves, dict) else {}
    out = []
    for ref, c in claims.items():
        declared = is_declared(ref, declared_bases) and not c["undeclared_finding"]
        out.append(LineageClaim(reference=ref, name=short_name(ref), verdict=c["verdict"],
                                relation=c["relation"],
                                declared=declared, license=c["license"], score=c["score"],
                                z=c["z"], p_value=c["p"], signals=c["signals"],
                                curves=c["curves"], finding_ids=tuple(c["ids"])))
    return tuple(out)

"""The weights analyzer of `scan`: lineage against --against references, pickles reported."""

from __future__ import annotations

from collections.abc import Iterable

from ..analyzers import Analyzer, AuditContext
from ..card import declares_base
from ..errors import ProvscanError
from ..evidence import WeightsLineage
from ..model import Evidence, FileKind, Finding, Location, Severity, not_analysed
from ..snapshot import Snapshot
from .compare import Comparison, compare_fingerprints, fingerprint_of
from .fingerprint import Fingerprint, extract
from .loader import PICKLE_SUFFIXES, load_from_snapshot


def lineage_record(cmp: Comparison) -> WeightsLineage:
    """The evidence record of a comparison (its signals as the JSON report writes them)."""
    return WeightsLineage.from_dict(
        {
            "verdict": cmp.verdict,
            "relation": cmp.relation,
            "signals": [s.to_dict() for s in cmp.signals],
            "reasons": list(cmp.reasons),
            "reference_name": cmp.a or None,
        }
    )


def non_finite_finding(tensors: list[str], analyzer: str) -> Finding:
    """NaN, infinite or absurd weights: read as 0, the comparison stands; a reader should
    know the checkpoint holds them (a broken export, or an attempt to break the analysis)."""
    shown = ", ".join(tensors[:5]) + (f" and {len(tensors) - 5} more" if len(tensors) > 5 else "")
    return Finding(
        "weights-non-finite",
        Severity.LOW,
        f"{len(tensors)} tensor(s) hold NaN, infinite or absurd values, read as 0: {shown}",
        Location(tensor=tensors[0]),
        analyzer=analyzer,
    )


def _strongest_location(cmp: Comparison) -> Location:
    direct = cmp.signal("direct_cosine")
    if direct is not None and direct.significant and direct.where is not None:
        key = direct.where
        return Location(tensor=key.label(), layer=key.layer if key.layer >= 0 else None)
    forms = cmp.signal("aligned_forms")
    if forms is not None:
        per = forms.details.get("per_layer", {})
        if per:
            best = max(per, key=lambda k: per[k])
            return Location(layer=int(best))
    return Location()


class WeightsAnalyzer(Analyzer):
    name = "weights"

    def analyze(self, snapshot: Snapshot, ctx: AuditContext) -> Iterable[Finding]:
        findings: list[Finding] = []
        for f in snapshot.files:
            if f.path.lower().endswith(PICKLE_SUFFIXES) and f.weight_format == "pickle":
                findings.append(
                    not_analysed(
                        f.path,
                        "pickle-based checkpoint: never unpickled (arbitrary code execution)",
                        self.name,
                    )
                )
        if not ctx.options.against:
            return findings
        # an LFS pointer's content is not at hand; a Hub file stored in LFS is (it is fetched)
        files = [f.path for f in snapshot.files if f.kind is not FileKind.LFS_POINTER]
        try:
            model = load_from_snapshot(snapshot.target, files, snapshot.reader.local_path)
            try:
                if model.reader is None:
                    findings.append(
                        not_analysed(
                            None, "no readable weight file to compare with --against", self.name
                        )
                    )
                    return findings
                mine = extract(model)
                odd = model.non_finite()
                if odd:
                    findings.append(non_finite_finding(odd, self.name))
            finally:
                model.close()
        except ProvscanError as exc:
            findings.append(not_analysed(None, f"weights: {exc}", self.name))
            return findings
        declared = snapshot.card.base_model if snapshot.card else ()
        for ref in ctx.options.against:
            try:
                ref_fp = fingerprint_of(ref, ctx.options.offline)
            except ProvscanError as exc:
                findings.append(not_analysed(ref, f"reference {ref}: {exc}", self.name))
                continue
            cmp = compare_fingerprints(ref_fp, mine)
            findings.extend(self._findings(ref, ref_fp, cmp, declared))
        return findings

    def _findings(
        self, ref: str, ref_fp: Fingerprint, cmp: Comparison, declared: tuple[str, ...]
    ) -> list[Finding]:
        if cmp.verdict not in ("derived", "identical"):
            return (
                [
                    Finding(
                        "weights-lineage",
                        Severity.INFO,
                        f"weights {cmp.verdict} to {ref}",
                        evidence=Evidence(matched=ref, details=lineage_record(cmp)),
                        analyzer=self.name,
                    )
                ]
                if cmp.verdict != "unrelated"
                else []
            )
        decisive = [
            s
            for s in cmp.signals
            if s.significant and s.name in ("direct_cosine", "aligned_forms", "experts_vs_dense")
        ]
        best = max(decisive, key=lambda s: s.z) if decisive else cmp.signals[0]
        rel = f" ({cmp.relation})" if cmp.relation else ""
        evidence = Evidence(
            matched=ref,
            score=best.score,
            null_mean=best.null_mean,
            null_std=best.null_std,
            z=best.z,
            p_value=best.p_value,
            details=lineage_record(cmp),
        )
        undeclared = not declares_base(declared, ref, ref_fp.name, ref_fp.meta.get("declared_name"))
        # Derived from a declared base is expected; the undeclared case is the headline.
        out = [
            Finding(
                "weights-derived",
                Severity.MEDIUM if undeclared else Severity.INFO,
                f"weights are {cmp.verdict}{rel} from {ref}: {best.name} "
                f"{best.score:.3f} vs {best.null_mean:.3f} ± {best.null_std:.3f} "
                f"for unrelated models",
                _strongest_location(cmp),
                evidence,
                self.name,
            )
        ]
        if undeclared:
            said = ", ".join(declared) or "no base model"
            out.append(
                Finding(
                    "undeclared-base-model",
                    Severity.HIGH,
                    f"the model card declares {said}, but the weights derive from {ref}",
                    _strongest_location(cmp),
                    evidence,
                    self.name,
                )
            )
        return out

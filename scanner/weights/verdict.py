"""From calibrated signals to a verdict, a relation and the reasons in words."""

from __future__ import annotations

import math
from dataclasses import dataclass

from .calibrate import P_DERIVED, P_HINT, Signal
from .fingerprint import Fingerprint

# Signals that decide; the others are reported beside them as weak evidence.
LAYER_SIGNALS = ("direct_cosine", "aligned_forms", "experts_vs_dense")
EMBED_SIGNALS = ("aligned_embed", "embed_rows")
# A fine-tune moves weights little: cosine with the base stays this close to 1.
FINE_TUNE_COSINE = 0.9
# Basis-free forms this close to 1 mean the function did not change (float rounding only).
EXACT_FORMS = 0.995


@dataclass(frozen=True)
class Decision:
    verdict: str
    relation: str | None
    reasons: tuple[str, ...]


def _fmt(s: Signal) -> str:
    return (
        f"{s.name} = {s.score:.3f} against {s.null_mean:.3f} ± {s.null_std:.3f} "
        f"for unrelated models (z = {s.z:.1f}, p = {s.p_value:.2g})"
    )


def identical(a: Fingerprint, b: Fingerprint) -> bool:
    if not a.tensors or set(a.tensors) != set(b.tensors):
        return False
    return all(a.tensors[k]["hash"] == b.tensors[k]["hash"] for k in a.tensors)


def decide(a: Fingerprint, b: Fingerprint, signals: list[Signal]) -> Decision:
    by = {s.name: s for s in signals}
    if identical(a, b):
        sampled = any("read" in t or "stat_values" in t for t in a.tensors.values())
        where = (
            (" where they were read (wide matrices are sampled; --all-units reads every value)")
            if sampled
            else ""
        )
        return Decision(
            "identical",
            None,
            (f"all {len(a.tensors)} tensors hold the same values{where} (same content hashes)",),
        )
    strong = [by[n] for n in LAYER_SIGNALS if n in by and by[n].p_value < P_DERIVED]
    hints = [by[n] for n in LAYER_SIGNALS if n in by and P_DERIVED <= by[n].p_value < P_HINT]
    embed = [by[n] for n in EMBED_SIGNALS if n in by and by[n].p_value < P_DERIVED]
    if strong:
        relation, why = relation_of(a, b, by)
        reasons = [f"{_fmt(s)}: far beyond what unrelated models reach" for s in strong]
        reasons.append(why)
        return Decision("derived", relation, tuple(reasons))
    if embed:
        return Decision(
            "shared-components",
            None,
            tuple(
                [f"{_fmt(s)}: the embeddings of shared tokens match" for s in embed]
                + ["no layer-level signal beats its null: the blocks are not shared"]
            ),
        )
    decisive = [by[n] for n in LAYER_SIGNALS if n in by]
    if not decisive:
        return Decision(
            "inconclusive",
            None,
            (
                "no comparable tensors: neither matching shapes nor enough shared tokens to "
                "compare the layers without a common basis",
            ),
        )
    # One signal a little above its null happens by chance among many comparisons;
    # two of them together do not, and then the evidence is undecided.
    if len(hints) >= 2:
        return Decision(
            "inconclusive",
            None,
            tuple(
                [
                    f"{_fmt(s)}: above the null but short of the 5-sigma evidence asked for derived"
                    for s in hints
                ]
            ),
        )
    reasons = [f"{_fmt(s)}: within what unrelated models give" for s in decisive if s not in hints]
    reasons += [f"{_fmt(s)}: a 3-sigma hint alone, expected now and then by chance" for s in hints]
    weak = by.get("std_curve")
    if weak is not None:
        reasons.append(
            f"the 2025 std-curve statistic is {weak.score:.3f}; it is weak "
            "evidence (unrelated models of one architecture score high)"
        )
    return Decision("unrelated", None, tuple(reasons))


def relation_of(a: Fingerprint, b: Fingerprint, by: dict[str, Signal]) -> tuple[str, str]:
    """Which kind of derivation the structure and the firing signals point to."""
    exp = by.get("experts_vs_dense")
    if exp is not None and exp.p_value < P_DERIVED:
        return "upcycled-moe", (
            f"each of the {exp.details['experts']} experts matches the "
            "dense MLP of the other model: upcycled to a mixture of experts"
        )
    lmap = by.get("layer_alignment")
    if a.n_layers != b.n_layers and lmap is not None:
        mapping = [
            int(v) for _, v in sorted(lmap.details["map_b_to_a"].items(), key=lambda kv: int(kv[0]))
        ]
        used = len(set(mapping))
        if b.n_layers > a.n_layers and used < len(mapping):
            return "depth-upscaled", (
                f"{b.n_layers} layers map onto {used} of the other's "
                f"{a.n_layers} (layers duplicated): {mapping}"
            )
        if b.n_layers < a.n_layers:
            return "pruned", (
                f"its {b.n_layers} layers map onto layers {mapping} of the "
                f"other's {a.n_layers}: the rest were dropped"
            )
        if a.n_layers < b.n_layers:
            return "pruned", (
                f"the other model's {a.n_layers} layers are a subset of this one's {b.n_layers}"
            )
    direct = by.get("direct_cosine")
    forms = by.get("aligned_forms")
    emb = by.get("aligned_embed")
    disguised = (
        direct is None
        or direct.p_value >= P_DERIVED
        or _roles_split(direct)
        or (forms is not None and direct.score < 0.25 * forms.score)
    )
    if disguised and forms is not None and forms.p_value < P_DERIVED:
        fit_rot = emb.details.get("fit_rotation", 0.0) if emb else 0.0
        fit_perm = emb.details.get("fit_permutation", 0.0) if emb else 0.0
        # a permutation explains the shared tokens' rows (nearly) as well as a rotation
        permuted = fit_rot > 0 and fit_perm >= 0.9 * fit_rot
        if _roles_split(direct) or permuted:
            return "permuted", (
                "matching tensors do not line up element by element, but "
                "they do once hidden units are matched (a permutation)"
            )
        return "rotated", (
            "tensors do not line up element by element, but the "
            "basis-free forms match: the residual stream was rotated"
        )
    if (a.quantized or b.quantized) and direct is not None and direct.score > 0.95:
        q = sorted(
            set(a.meta.get("quantized_dtypes", [])) | set(b.meta.get("quantized_dtypes", []))
        )
        return "quantized", (
            f"near-identical values (mean cosine {direct.score:.4f}) with "
            f"quantized storage ({', '.join(q)})"
        )
    dtypes_a = {t["dtype"] for k, t in a.tensors.items() if k.layer >= 0}
    dtypes_b = {t["dtype"] for k, t in b.tensors.items() if k.layer >= 0}
    if dtypes_a != dtypes_b and direct is not None and direct.score > 0.999:
        return "quantized", (
            f"the same values to rounding (mean cosine {direct.score:.5f}) "
            f"stored as {'/'.join(sorted(dtypes_b))} instead of "
            f"{'/'.join(sorted(dtypes_a))}: a dtype conversion"
        )
    if (
        forms is not None
        and direct is not None
        and forms.score > EXACT_FORMS
        and direct.score < EXACT_FORMS
    ):
        return "unknown", (
            f"the basis-free forms are unchanged ({forms.score:.4f}) while the "
            f"tensors moved (mean cosine {direct.score:.3f}): a "
            "function-preserving reparametrisation such as per-head / per-unit "
            "rescaling (Wq*a, Wk/a)"
        )
    scaled = _rescaled_tensors(a, b, direct)
    if scaled and direct is not None:
        return "unknown", (
            f"tensors line up (mean cosine {direct.score:.3f}) but "
            f"{len(scaled)} are rescaled against each other, e.g. {scaled[0]}: "
            "a function-preserving per-layer rescaling (Wq*a, Wk/a)"
        )
    if direct is not None and direct.score >= FINE_TUNE_COSINE:
        return "fine-tune", (
            f"tensors keep a mean cosine of {direct.score:.3f} with the "
            "other model: a light update (fine-tuning)"
        )
    if direct is not None:
        return "continued-pretraining", (
            f"tensors keep a significant but lower cosine "
            f"({direct.score:.3f}): long further training"
        )
    return "unknown", "derived, but the structure does not tell how"


def _roles_split(direct: Signal | None) -> bool:
    """Some roles line up, others are at noise level: hidden units were permuted."""
    if direct is None:
        return False
    roles = direct.details.get("per_role", {})
    # embed / lm_head rows follow the vocabulary: a re-ordered vocabulary is not a permutation
    vals = [v for k, v in roles.items() if "norm" not in k and k not in ("embed", "lm_head")]
    return bool(vals) and max(vals) > 0.5 and min(vals) < 0.1


def _rescaled_tensors(a: Fingerprint, b: Fingerprint, direct: Signal | None) -> list[str]:
    """Tensors whose scale changed by over 20% while their direction did not."""
    if direct is None or direct.score < 0.98:
        return []
    out = []
    for key, ta in a.tensors.items():
        tb = b.tensors.get(key)
        if tb is None or not ta["std"] or not tb["std"] or len(ta["shape"]) < 2:
            continue
        if abs(math.log(tb["std"] / ta["std"])) > math.log(1.2):
            out.append(key.label())
    return out

"""From calibrated signals to a verdict, a relation and the reasons in words."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .calibrate import P_DERIVED, P_HINT, Signal
from .deltas import BEYOND_ROUNDING, ROUNDED_SHARE, rounding_of, sparse_update
from .fingerprint import Fingerprint
from .signals import MIN_ANCHORS, SHARED_LAYER, shared_anchors

# Signals that decide; the others are reported beside them as weak evidence.
LAYER_SIGNALS = ("direct_cosine", "aligned_forms", "experts_vs_dense")
EMBED_SIGNALS = ("aligned_embed", "embed_rows", "embed_by_id")
# A fine-tune moves weights little: cosine with the base stays this close to 1.
FINE_TUNE_COSINE = 0.9
# Shared embeddings score near 1; independently trained ones on similar text stay near 0.
EMBED_MATCH = 0.5
# Basis-free forms this close to 1 mean the function did not change (float rounding only).
EXACT_FORMS = 0.995
# What "fine-tune" covers. A linear or SLERP merge of a model with its fine-tune moves it
# along the fine-tune's delta (bench/real: a mergekit linear merge's delta has cosine 1.000
# with the LoRA delta, rank 8 like it), so two checkpoints cannot tell the two apart.
OR_MERGED = "or a linear or SLERP merge with a fine-tune, which moves the weights the same way"


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


def same_values(a: Fingerprint, b: Fingerprint) -> tuple[int, list[str], list[str]] | None:
    """Every tensor both hold has the same content hash, every block tensor is in both, yet
    the sets differ: (tensors shared, labels of those only A holds, only B holds); else None."""
    shared = set(a.tensors) & set(b.tensors)
    blocks_a = {k for k in a.tensors if k.layer >= 0}
    if not blocks_a or blocks_a != {k for k in b.tensors if k.layer >= 0}:
        return None
    if any(
        a.tensors[k].get("hash") is None or a.tensors[k].get("hash") != b.tensors[k].get("hash")
        for k in shared
    ):
        return None
    only_a = sorted(k.label() for k in set(a.tensors) - shared)
    only_b = sorted(k.label() for k in set(b.tensors) - shared)
    return (len(shared), only_a, only_b) if only_a or only_b else None


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
    # Embeddings must match, not merely beat shuffles: models trained on similar text embed
    # shared tokens a little alike (no real same-width unrelated pair calibrates this yet).
    embed = [
        by[n]
        for n in EMBED_SIGNALS
        if n in by and by[n].p_value < P_DERIVED and by[n].score >= EMBED_MATCH
    ]
    decisive = [by[n] for n in LAYER_SIGNALS if n in by]
    if strong:
        relation, why = relation_of(a, b, by)
        reasons = [f"{_fmt(s)}: far beyond what unrelated models reach" for s in strong]
        reasons.append(why)
        return Decision("derived", relation, tuple(reasons))
    if embed:
        blocks = (
            "no layer-level signal beats its null: the blocks are not shared"
            if decisive
            else "no layer-level signal could be computed ("
            + "; ".join(nothing_comparable(a, b))
            + "): whether the blocks are shared is not known"
        )
        return Decision(
            "shared-components",
            None,
            tuple([f"{_fmt(s)}: the embeddings of shared tokens match" for s in embed] + [blocks]),
        )
    if not decisive:
        return Decision(
            "inconclusive", None, ("nothing comparable: " + "; ".join(nothing_comparable(a, b)),)
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
    if lmap is not None:
        structure = layer_structure(a, b, lmap)
        if structure is not None:
            return structure
    same = same_values(a, b)
    if same is not None:
        n, only_a, only_b = same
        held = "; ".join(
            f"only {side} holds {', '.join(labels)}"
            for side, labels in (("A", only_a), ("B", only_b))
            if labels
        )
        return "same-weights", (
            f"all {n} tensors both hold have the same values (same content hashes where read), "
            f"every block among them; {held}: the same weights saved with another set of "
            "tensors (an export that leaves out an unused head, say)"
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
    dtypes_a = {t["dtype"] for k, t in a.tensors.items() if k.layer >= 0}
    dtypes_b = {t["dtype"] for k, t in b.tensors.items() if k.layer >= 0}
    stored = a.quantized or b.quantized or dtypes_a != dtypes_b
    rounding = rounding_of(a, b) if stored and direct is not None and direct.score > 0.95 else None
    # (a rounding is only worked out for tensors at cosine > 0.95: a light update)
    if rounding is not None and rounding.excess is not None and rounding.excess > BEYOND_ROUNDING:
        update = math.sqrt(rounding.excess**2 - 1.0)
        return "quantized-fine-tune", (
            f"the tensors differ by {rounding.median:.2g} (relative RMS, median over "
            f"{rounding.tensors}): {rounding.excess:.2f} times the rounding noise measured "
            f"from the stored scales ({rounding.types}), where rounding alone gives 1: the "
            f"values moved by about {update:.2f} times that noise before they were "
            "quantized (fine-tuned, or merged with a fine-tune, then stored quantized)"
        )
    if rounding is not None and rounding.share >= ROUNDED_SHARE:
        return "quantized", (
            f"the tensors differ by {rounding.median:.2g} (relative RMS, median over "
            f"{rounding.tensors}), what rounding to {rounding.types} gives"
            + (
                f" ({rounding.unresolved} of them within what a saved fingerprint's int8 "
                "sketches tell apart from equal)"
                if rounding.unresolved
                else ""
            )
            + (
                f" ({rounding.excess:.2f} times the rounding noise measured from the stored "
                "scales, where rounding alone gives 1)"
                if rounding.excess is not None
                else ""
            )
            + ": a quantized or re-typed copy"
        )
    if rounding is not None and direct is not None and direct.score >= FINE_TUNE_COSINE:
        return "fine-tune", (
            f"the tensors differ by {rounding.median:.2g} (relative RMS, median over "
            f"{rounding.tensors}); rounding to {rounding.types} does not explain "
            f"{100 * (1 - rounding.share):.0f}% of them: the values were trained further "
            f"(mean cosine {direct.score:.4f}, a light update; {OR_MERGED})"
        )
    sparse = sparse_update(a, b)
    if sparse is not None:
        return "merged", (
            f"in {sparse.in_band} of the {sparse.moved} block tensors that moved, a share of "
            f"the sampled float32 values is exactly unchanged (median {100 * sparse.share:.0f}%)"
            " while the rest moved: a sparsifying merge (TIES, DARE) keeps part of each "
            "task's delta and leaves the other values as they were; fine-tuning moves every value"
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
            f"other model: a light update (fine-tuning; {OR_MERGED})"
        )
    if direct is not None:
        return "continued-pretraining", (
            f"tensors keep a significant but lower cosine "
            f"({direct.score:.3f}): long further training"
        )
    return "unknown", "derived, but the structure does not tell how"


def nothing_comparable(a: Fingerprint, b: Fingerprint) -> list[str]:
    """Why no layer-level signal could be computed for this pair, in words."""
    why = []
    for fp in (a, b):
        name = _short(fp.name)
        if not fp.tensors:
            why.append(f"{name}: no weight tensor was recognised")
        elif fp.n_layers == 0:
            why.append(
                f"{name}: none of its {len(fp.tensors)} recognised tensors belongs to a "
                "transformer block"
            )
        if fp.vocab is None:
            why.append(f"{name} ships no tokenizer (no tokenizer.json, none in its weight file)")
        if fp.tensors and fp.anchor_embed is None:
            why.append(f"{name}: no token embedding was read")
    if a.n_layers and b.n_layers:
        same = sum(
            1
            for k, t in a.tensors.items()
            if k.layer >= 0 and k in b.tensors and b.tensors[k]["shape"] == t["shape"]
        )
        if not same:
            why.append("no block tensor has the same role and shape on both sides")
        shared = len(shared_anchors(a, b)[0])
        if shared < MIN_ANCHORS:
            why.append(
                f"the two vocabularies share {shared} anchor tokens, fewer than the "
                f"{MIN_ANCHORS} needed to line up layers of different widths"
            )
        elif not a.forms or not b.forms:
            why.append("no attention or MLP form could be computed on one side")
    return why or ["no layer-level signal applies to this pair"]


def _short(name: str) -> str:
    return Path(name.rstrip("/")).name or name


def layer_structure(a: Fingerprint, b: Fingerprint, lmap: Signal) -> tuple[str, str] | None:
    """Pruned, depth-upscaled or siblings, from which layers of each side the other holds.

    A layer of B is shared when its mapped similarity is near the others' (SHARED_LAYER).
    B made from A by one operation holds only A's layers (pruned: some of A's unused;
    depth-upscaled: some used twice); A pruned from B leaves B layers A lacks and none of
    A's unused. When each holds layers the other lacks, neither was made from the other:
    siblings, cut or grown from a common ancestor.
    """
    mapping = [
        int(v) for _, v in sorted(lmap.details["map_b_to_a"].items(), key=lambda kv: int(kv[0]))
    ]
    sims = [float(x) for x in lmap.details.get("matched_sim", [])]
    if len(sims) != len(mapping) or not sims:
        return None
    cut = SHARED_LAYER * float(np.median(sims))
    shared = [s >= cut for s in sims]
    used = [i for i, ok in zip(mapping, shared, strict=True) if ok]
    b_only = shared.count(False)
    a_unused = sorted(set(range(a.n_layers)) - set(used))
    twice = len(used) - len(set(used))
    if b_only and (a_unused or twice):
        other = (
            f"{len(a_unused)} of {_short(a.name)}'s {a.n_layers} match none of its"
            if a_unused
            else f"it repeats {twice} of {_short(a.name)}'s layers"
        )
        return "sibling", (
            f"siblings: {b_only} of {_short(b.name)}'s {b.n_layers} layers match none of the "
            f"other's, and {other}: neither was made from the other by one operation; both "
            "come from a common ancestor"
        )
    if b_only:
        return "pruned", (
            f"{_short(a.name)}'s {a.n_layers} layers are a subset of the other's "
            f"{b.n_layers}: the rest were dropped"
        )
    if twice and b.n_layers > a.n_layers:
        return "depth-upscaled", (
            f"{b.n_layers} layers map onto {len(set(used))} of the other's "
            f"{a.n_layers} (layers duplicated): {mapping}"
        )
    if a_unused:
        return "pruned", (
            f"its {b.n_layers} layers map onto layers {mapping} of the "
            f"other's {a.n_layers}: the rest were dropped"
        )
    return None


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

"""The card metadata a release should declare: base models the weights establish, the
license that honours them, and the Hub's base_model_relation for the detected relation.

Only established lineage becomes a base_model line (an identical verdict, or derived at the
verdict's own z); everything else the audit hints at goes under "to review". What the card
already declares is kept unless the evidence says it must change: the publisher may know
more than the audit saw.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..assess.lineage import short_name
from ..assess.model import Assessment, LineageClaim
from ..card import declares_base, find_card
from ..evidence import LicenseDeclared, LicenseInFile
from ..licenses import declared_ids, family_of, is_permissive, license_ids, reflected
from ..model import CardData, FileKind
from ..rules import load_rules
from ..snapshot import Snapshot
from . import wording
from .model import METADATA_KEYS, CardMetadata, Metadata, MetadataChange, ReviewItem


def established(claim: LineageClaim) -> bool:
    """Whether a lineage claim may be stated as a base model: identical, or derived with its
    deciding signal at or above the disclosure's z (never a weak or inconclusive one)."""
    if claim.verdict == "identical":
        return True
    return claim.verdict == "derived" and claim.z is not None and claim.z >= wording.min_z()


def base_id(claim: LineageClaim) -> str:
    """The name base_model gets: the Hub id of an hf: reference, else the reference's name
    (a fingerprint file without its .npz)."""
    return short_name(claim.reference).removesuffix(".npz")


def current_metadata(card: CardData | None) -> CardMetadata:
    if card is None:
        return CardMetadata()
    return CardMetadata(
        license=card.license,
        license_name=card.license_name,
        license_link=card.license_link,
        base_model=tuple(card.base_model),
        base_model_relation=card.base_model_relation,
    )


def card_readable(snapshot: Snapshot) -> bool:
    """False when the release has a card whose front matter the source could not parse."""
    return snapshot.card is not None or find_card(snapshot.files) is None


@dataclass
class _Plan:
    """The metadata being decided, with the reasons and the review items."""

    current: CardMetadata
    values: dict[str, Any]
    reasons: dict[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict)
    review: list[ReviewItem] = field(default_factory=list)

    def set(self, key: str, value: Any, reason: str, ids: tuple[str, ...]) -> None:
        self.values[key] = value
        self.reasons[key] = (reason, ids)


# ---- base models ------------------------------------------------------------------------------


def _bases(plan: _Plan, lineage: tuple[LineageClaim, ...]) -> None:
    bases = list(plan.values["base_model"])
    added: list[str] = []
    ids: list[str] = []
    for c in lineage:
        if not established(c):
            continue
        if not declares_base(bases, c.reference, c.name):
            bases.append(base_id(c))
            added.append(base_id(c))
            ids.extend(c.finding_ids)
    if added:
        plan.set(
            "base_model",
            tuple(bases),
            "the weights derive from " + ", ".join(added),
            tuple(dict.fromkeys(ids)),
        )
    _relation(plan, [c for c in lineage if established(c)])


def _relation(plan: _Plan, claims: list[LineageClaim]) -> None:
    if not claims:
        return
    ids = tuple(i for c in claims for i in c.finding_ids)
    wanted = {wording.hub_relation(c.relation) for c in claims if c.verdict == "derived"}
    unmapped = [
        c for c in claims if c.verdict == "derived" and wording.hub_relation(c.relation) is None
    ]
    declared = plan.values["base_model_relation"]
    for c in unmapped:
        plan.review.append(
            ReviewItem(
                f"The weights are {c.relation or 'derived'} from {base_id(c)}; the Hub has no "
                "base_model_relation for that, so none is written (the Hub infers one).",
                c.finding_ids,
            )
        )
    wanted.discard(None)
    if declared:
        if wanted and declared not in wanted:
            plan.review.append(
                ReviewItem(
                    f"The card declares base_model_relation: {declared}; the weights point to "
                    f"{', '.join(sorted(str(w) for w in wanted))}. Kept as declared.",
                    ids,
                )
            )
        return
    if "merge" in wanted:
        plan.set("base_model_relation", "merge", "the weights merge their bases", ids)
    elif len(wanted) == 1 and not unmapped:
        value = next(iter(wanted))
        plan.set("base_model_relation", value, f"the detected relation is {value}", ids)
    elif len(wanted) > 1:
        plan.review.append(
            ReviewItem(
                "The bases stand in different relations ("
                + ", ".join(sorted(str(w) for w in wanted))
                + "): no single base_model_relation is written.",
                ids,
            )
        )


# ---- license ----------------------------------------------------------------------------------


def _hub_license(lic: str) -> tuple[str, str | None, str | None]:
    """(license, license_name, license_link) declaring `lic` the Hub's way: a Hub key as is,
    anything else as `other` with its name and the license's URL (rules/obligations.toml)."""
    key = lic.strip().lower()
    if key in load_rules("hub_licenses")["keys"] and key != "other":
        return key, None, None
    fam = next((f for f in map(family_of, license_ids(lic)) if f is not None), None)
    return "other", lic.strip(), (fam.url or None) if fam else None


def restrictive(lic: str | None) -> bool:
    """Whether a license is more than notices to keep (not every id of it permissive)."""
    ids = license_ids(lic)
    return bool(ids) and not all(is_permissive(i) for i in ids)


def _family_key(lic: str) -> str:
    fam = next((f for f in map(family_of, license_ids(lic)) if f is not None), None)
    return fam.id if fam else lic.strip().lower()


def _set_license(plan: _Plan, lic: str, reason: str, ids: tuple[str, ...]) -> None:
    key, name, link = _hub_license(lic)
    plan.set("license", key, reason, ids)
    plan.set("license_name", name, reason, ids)
    current_link = plan.current.license_link
    same = (plan.current.license, plan.current.license_name) == (key, name)
    plan.set("license_link", current_link if same and current_link else link, reason, ids)
    if key == "other" and not link and not (same and current_link):
        plan.review.append(
            ReviewItem(
                f"license_link: provscan knows no URL for {lic}; link the license text "
                "(a LICENSE file of the release, or the licensor's page).",
                ids,
            )
        )


def _license(plan: _Plan, a: Assessment, snapshot: Snapshot) -> None:
    declared = a.declared.license_ids
    claims = [c for c in a.lineage if established(c)]
    for c in claims:
        if not c.license:
            plan.review.append(
                ReviewItem(
                    f"The license of the base model {base_id(c)} is unknown to provscan (its "
                    "card was not readable here): declare what its terms require.",
                    c.finding_ids,
                )
            )
    groups: dict[str, list[LineageClaim]] = {}
    for c in claims:
        if c.license and restrictive(c.license):
            groups.setdefault(_family_key(c.license), []).append(c)
    if len(groups) > 1:
        plan.review.append(
            ReviewItem(
                "The base models are under different licenses ("
                + ", ".join(str(g[0].license) for g in groups.values())
                + "); one license key cannot honour them all: choose with a lawyer.",
                tuple(i for g in groups.values() for c in g for i in c.finding_ids),
            )
        )
    elif groups:
        group = next(iter(groups.values()))
        lic = str(group[0].license)
        ids = tuple(dict.fromkeys(i for c in group for i in c.finding_ids))
        names = ", ".join(base_id(c) for c in group)
        if all(reflected(i, declared) for i in license_ids(lic)):
            return
        if not declared or all(is_permissive(i) for i in declared):
            _set_license(plan, lic, f"the license of the base model {names}", ids)
        else:
            plan.review.append(
                ReviewItem(
                    f"The card declares {a.declared.license}; the base model {names} is under "
                    f"{lic}. provscan does not choose between two restrictive licenses.",
                    ids,
                )
            )
        return
    if not a.declared.license:
        _license_of_file(plan, a, snapshot)


def _license_of_file(plan: _Plan, a: Assessment, snapshot: Snapshot) -> None:
    """No license declared, no base license to honour: the LICENSE file's, if it is one
    Hub key."""
    licence_files = {f.path for f in snapshot.files if f.kind is FileKind.LICENSE}
    by_key = {str(e["key"]).lower(): k for k, e in load_rules("hub_licenses")["keys"].items()}
    found: dict[str, list[str]] = {}
    for fid, f in a.findings:
        d = f.evidence.details
        if isinstance(d, LicenseInFile) and f.location.path in licence_files:
            found.setdefault(d.license_expression.lower(), []).append(fid)
    keys = {by_key.get(expr) for expr in found}
    if len(found) == 1 and None not in keys:
        expr, ids = next(iter(found.items()))
        _set_license(plan, by_key[expr], "the license of the release's license file", tuple(ids))
    else:
        missing = [fid for fid, f in a.findings if f.kind == "missing-license"]
        plan.review.append(
            ReviewItem(
                "The card declares no license and provscan cannot tell which one applies.",
                tuple(missing) + tuple(i for ids in found.values() for i in ids),
            )
        )


def _unreflected(plan: _Plan, a: Assessment) -> None:
    """Licenses detected in the release that the proposed declaration still does not
    cover: listed, never silently declared."""
    proposed = declared_ids(plan.values["license"], plan.values["license_name"])
    for d in a.detected_licenses:
        if d.via == "base-model" or all(reflected(i, proposed) for i in d.ids):
            continue
        where = ", ".join(d.where[:3]) + (" ..." if len(d.where) > 3 else "")
        plan.review.append(
            ReviewItem(
                f"{d.expression} ({d.via.replace('-', ' ')}: {where}) is not covered by the "
                "declared license.",
                d.finding_ids,
            )
        )


# ---- the whole ---------------------------------------------------------------------------------


def plan_metadata(a: Assessment, snapshot: Snapshot) -> tuple[Metadata, tuple[ReviewItem, ...]]:
    """The metadata the release should declare, and what the audit leaves to review."""
    current = current_metadata(snapshot.card)
    values: dict[str, Any] = {k: getattr(current, k) for k in METADATA_KEYS}
    plan = _Plan(current=current, values=values)
    _bases(plan, a.lineage)
    _license(plan, a, snapshot)
    _unreflected(plan, a)
    proposed = CardMetadata(**{k: plan.values[k] for k in METADATA_KEYS})
    changes = []
    for key in METADATA_KEYS:
        before, after = current.value(key), proposed.value(key)
        if before != after:
            reason, ids = plan.reasons.get(key, ("", ()))
            changes.append(MetadataChange(key, before, after, reason, ids))
    metadata = Metadata(
        current=current,
        proposed=proposed,
        changes=tuple(changes),
        card_readable=card_readable(snapshot),
    )
    return metadata, tuple(plan.review)


def declared_license_finding_ids(a: Assessment) -> tuple[str, ...]:
    """The `license` findings of the card's own declaration."""
    return tuple(
        fid
        for fid, f in a.findings
        if f.kind == "license" and isinstance(f.evidence.details, LicenseDeclared)
    )

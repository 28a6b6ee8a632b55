"""The policy gate of `provscan check`: rules (a TOML file) against an assessment.

A policy is data: allowed / denied licenses, required attributions, and whether undeclared
lineage, removed or changed notices, or files that could not be analysed fail the release.
rules/policy_default.toml is the default and documents every key. An analyzer that did not
run fails every policy: what it would have found is unknown.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..licenses import family_of, matches_any
from ..rules import rules_dir
from ..snapshot import Snapshot
from .model import Assessment
from .release import texts_matching


@dataclass(frozen=True)
class RequiredAttribution:
    family: str
    text: str
    within: tuple[str, ...]


@dataclass(frozen=True)
class Policy:
    allowed: tuple[str, ...] = ()
    denied: tuple[str, ...] = ()
    fail_on_unreflected: bool = True
    fail_on_undeclared_base: bool = True
    fail_on_removed_notice: bool = True
    fail_on_changed_notice: bool = True
    foreign_notices_in_notice_file: bool = True
    fail_on_not_analysed: bool = True
    required: tuple[RequiredAttribution, ...] = ()
    source: str = "default"


@dataclass(frozen=True)
class Violation:
    rule: str
    """The policy key that was broken, e.g. licenses.denied."""
    message: str
    finding_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class PolicyResult:
    policy: Policy
    violations: tuple[Violation, ...]

    @property
    def passed(self) -> bool:
        return not self.violations


def _strings(value: Any, key: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise UsageError(f"policy: {key} must be a list of strings")
    return tuple(value)


def _bool(table: dict[str, Any], key: str, default: bool, where: str) -> bool:
    value = table.get(key, default)
    if not isinstance(value, bool):
        raise UsageError(f"policy: {where}.{key} must be true or false")
    return value


KNOWN_KEYS: dict[str, frozenset[str]] = {
    "licenses": frozenset({"allowed", "denied", "fail_on_unreflected"}),
    "lineage": frozenset({"fail_on_undeclared_base"}),
    "notices": frozenset({"fail_on_removed", "fail_on_changed"}),
    "attributions": frozenset({"foreign_notices_in_notice_file", "required"}),
    "attributions.required": frozenset({"family", "text", "in"}),
    "coverage": frozenset({"fail_on_not_analysed"}),
}
"""The keys of each section (docs/policy.md): any other is an error, so a misspelled key
never passes silently."""


def _refuse_unknown_keys(data: dict[str, Any], source: str) -> None:
    tables: list[tuple[str, object]] = [(name, data.get(name)) for name in data]
    required = data.get("attributions", {})
    if isinstance(required, dict) and isinstance(required.get("required"), list):
        tables += [("attributions.required", item) for item in required["required"]]
    for name, table in tables:
        if name not in KNOWN_KEYS:
            continue
        if not isinstance(table, dict):
            raise UsageError(f"policy {source}: [{name}] must be a table")
        unknown = sorted(set(table) - KNOWN_KEYS[name])
        if unknown:
            raise UsageError(
                f"policy {source}: unknown key(s) {', '.join(unknown)} in [{name}]; "
                f"known: {', '.join(sorted(KNOWN_KEYS[name]))}"
            )


def parse_policy(data: dict[str, Any], source: str) -> Policy:
    """A Policy from parsed TOML; unknown sections and keys are an error (a typo must not
    pass)."""
    known = {"licenses", "lineage", "notices", "attributions", "coverage"}
    unknown = set(data) - known
    if unknown:
        raise UsageError(
            f"policy {source}: unknown section(s) {', '.join(sorted(unknown))}; "
            f"known: {', '.join(sorted(known))}"
        )
    _refuse_unknown_keys(data, source)
    lic, lin = data.get("licenses", {}), data.get("lineage", {})
    notices, attr = data.get("notices", {}), data.get("attributions", {})
    coverage = data.get("coverage", {})
    required = []
    for i, item in enumerate(attr.get("required", [])):
        if (
            not isinstance(item, dict)
            or not isinstance(item.get("family"), str)
            or not isinstance(item.get("text"), str)
        ):
            raise UsageError(f"policy: attributions.required[{i}] needs family and text")
        required.append(
            RequiredAttribution(
                family=item["family"],
                text=item["text"],
                within=_strings(
                    item.get("in", ["README*", "NOTICE*"]), f"attributions.required[{i}].in"
                ),
            )
        )
    return Policy(
        allowed=_strings(lic.get("allowed"), "licenses.allowed"),
        denied=_strings(lic.get("denied"), "licenses.denied"),
        fail_on_unreflected=_bool(lic, "fail_on_unreflected", True, "licenses"),
        fail_on_undeclared_base=_bool(lin, "fail_on_undeclared_base", True, "lineage"),
        fail_on_removed_notice=_bool(notices, "fail_on_removed", True, "notices"),
        fail_on_changed_notice=_bool(notices, "fail_on_changed", True, "notices"),
        foreign_notices_in_notice_file=_bool(
            attr, "foreign_notices_in_notice_file", True, "attributions"
        ),
        fail_on_not_analysed=_bool(coverage, "fail_on_not_analysed", True, "coverage"),
        required=tuple(required),
        source=source,
    )


def load_policy(path: Path | None) -> Policy:
    """The policy in path, or the default policy; a bad file is a UsageError (exit 2)."""
    target = path if path is not None else rules_dir() / "policy_default.toml"
    try:
        with open(target, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError as exc:
        raise UsageError(f"policy file not found: {target}") from exc
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"policy {target}: {exc}") from exc
    return parse_policy(data, "default" if path is None else str(path))


def _license_violations(policy: Policy, a: Assessment) -> list[Violation]:
    out = []
    everything: list[tuple[str, str, tuple[str, ...]]] = [
        (i, "declared on the model card", ()) for i in a.declared.license_ids
    ]
    everything += [
        (i, f"{d.via.replace('-', ' ')}: {', '.join(d.where[:3])}", d.finding_ids)
        for d in a.detected_licenses
        for i in d.ids
    ]
    for lid, where, ids in everything:
        if policy.denied and matches_any(lid, policy.denied):
            out.append(Violation("licenses.denied", f"license {lid} is denied ({where})", ids))
        elif policy.allowed and not matches_any(lid, policy.allowed):
            out.append(
                Violation(
                    "licenses.allowed", f"license {lid} is not in the allowed list ({where})", ids
                )
            )
    if policy.fail_on_unreflected:
        for d in a.detected_licenses:
            if not d.reflected:
                out.append(
                    Violation(
                        "licenses.fail_on_unreflected",
                        f"{d.expression} ({d.via.replace('-', ' ')}: "
                        f"{', '.join(d.where[:3])}) is not reflected in the "
                        "declared license",
                        d.finding_ids,
                    )
                )
    return out


def _families_present(a: Assessment) -> set[str]:
    ids = list(a.declared.license_ids) + [i for d in a.detected_licenses for i in d.ids]
    fams = {f.id for f in (family_of(i) for i in ids) if f is not None}
    fams |= {o.family.lower() for o in a.origins if o.family}
    return fams


# Files named in a coverage violation (the finding ids name them all).
_SHOWN_FILES = 5


def _coverage_violations(policy: Policy, a: Assessment) -> list[Violation]:
    """An analyzer that did not run fails the release whatever the policy; files that could
    not be analysed fail it unless coverage.fail_on_not_analysed is false."""
    out = [
        Violation("coverage.analyzer_failed", f.message, (fid,))
        for fid, f in a.findings
        if f.kind == "analyzer-failed"
    ]
    missed = [(fid, f) for fid, f in a.findings if f.kind == "not-analysed"]
    if policy.fail_on_not_analysed and missed:
        shown = "; ".join(
            f"{f.location.path or f.analyzer or 'release'}: "
            f"{f.message.removeprefix('not analysed: ')}"
            for _, f in missed[:_SHOWN_FILES]
        )
        more = f"; and {len(missed) - _SHOWN_FILES} more" if len(missed) > _SHOWN_FILES else ""
        out.append(
            Violation(
                "coverage.fail_on_not_analysed",
                f"{len(missed)} item(s) not analysed: {shown}{more}",
                tuple(fid for fid, _ in missed),
            )
        )
    return out


def evaluate(policy: Policy, a: Assessment, snapshot: Snapshot) -> PolicyResult:
    """Every violation of the policy by the assessed release."""
    out = _coverage_violations(policy, a)
    out += _license_violations(policy, a)
    if policy.fail_on_undeclared_base:
        out += [
            Violation("lineage.fail_on_undeclared_base", d.title, d.finding_ids)
            for d in a.discrepancies
            if d.kind == "undeclared-base-model"
        ]
    for c in a.copied:
        stripped = c.notice_status in ("removed", "replaced")
        if (stripped and policy.fail_on_removed_notice) or (
            c.notice_status == "changed" and policy.fail_on_changed_notice
        ):
            key = "removed" if stripped else "changed"
            out.append(
                Violation(
                    f"notices.fail_on_{key}",
                    f"{c.path}: upstream notice of {c.upstream} {c.notice_status}",
                    (c.finding_id,),
                )
            )
    if policy.foreign_notices_in_notice_file:
        out += [
            Violation("attributions.foreign_notices_in_notice_file", d.title, d.finding_ids)
            for d in a.discrepancies
            if d.kind == "missing-attribution"
        ]
    present = _families_present(a)
    for req in policy.required:
        if req.family.lower() not in present:
            continue
        texts = texts_matching(snapshot, req.within)
        if not any(re.search(re.escape(req.text), t, re.IGNORECASE) for t in texts.values()):
            out.append(
                Violation(
                    "attributions.required",
                    f'"{req.text}" is required ({req.family} material) but not '
                    f"found in {', '.join(req.within)}",
                )
            )
    return PolicyResult(policy=policy, violations=tuple(out))

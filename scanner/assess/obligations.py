"""Obligations: which license families apply to this release, and whether each is met.

The families and their clauses are data (rules/obligations.toml). A check that provscan
cannot decide from the release's files says so (`unknown`), and duties only a person can
judge (acceptable use, user counts) are `manual`: a checklist never pretends.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ..licenses import ObligationFamily, families, family_of
from ..model import FileKind
from ..rules import load_rules
from ..snapshot import Snapshot
from .model import CopiedCode, Obligation, UpstreamNotices
from .release import files_of_kind, notice_files, read_text, release_name, texts_matching
from .upstream import upstream_text

_CHANGE_NOTE = re.compile(r"\b(modified|changed|changes|adapted)\b", re.IGNORECASE)
_DOC_GLOBS = ("README*", "NOTICE*", "*.md", "docs/*")


@dataclass(frozen=True)
class Reason:
    """Why a family applies: the license id and where it came from, in words."""

    license_id: str
    because: str


def applicable(reasons: Iterable[Reason]) -> dict[str, list[str]]:
    """family id -> reasons it applies (in order, deduplicated)."""
    out: dict[str, list[str]] = {}
    for r in reasons:
        fam = family_of(r.license_id)
        if fam is None:
            continue
        lst = out.setdefault(fam.id, [])
        if r.because not in lst:
            lst.append(r.because)
    return out


class _Checks:
    """The release facts the checks need, read once."""

    def __init__(
        self,
        snapshot: Snapshot,
        origins: tuple[UpstreamNotices, ...],
        copied: tuple[CopiedCode, ...],
        license_texts: Mapping[str, tuple[str, ...]],
    ):
        self.snapshot = snapshot
        self.origins = origins
        self.copied = copied
        self.license_texts = license_texts
        self.family: ObligationFamily | None = None
        """The family whose obligation is being checked."""
        self.notice_paths = notice_files(snapshot)
        self.notice_text = "\n".join(read_text(snapshot, p) or "" for p in self.notice_paths)
        self._docs: dict[str, str] | None = None

    @property
    def docs(self) -> dict[str, str]:
        if self._docs is None:
            self._docs = texts_matching(self.snapshot, _DOC_GLOBS)
        return self._docs

    def run(self, check: str, needle: str | None, family: str) -> tuple[str, str]:
        self.family = next((f for f in families() if f.id == family), None)
        return getattr(self, "check_" + check.replace("-", "_"), self.check_manual)(needle)

    def check_manual(self, needle: str | None) -> tuple[str, str]:
        return "manual", "a person must confirm this; provscan cannot see it in the files"

    def check_license_file(self, needle: str | None) -> tuple[str, str]:
        """A copy of this family's license: a LICENSE / COPYING file whose text scancode
        identifies as one of the family's licenses (its presence alone says nothing)."""
        found = files_of_kind(self.snapshot, FileKind.LICENSE)
        if not found:
            return "unmet", "no LICENSE / COPYING file in the release"
        fam = self.family
        name = fam.name if fam else "this license"
        ours = [p for p in found if any(_in(fam, i) for i in self.license_texts.get(p, ()))]
        if ours:
            ids = ", ".join(dict.fromkeys(i for p in ours for i in self.license_texts[p]))
            return "met", f"{', '.join(ours[:3])}: scancode identifies {ids}"
        other = {p: self.license_texts[p] for p in found if self.license_texts.get(p)}
        if other:
            said = "; ".join(f"{p}: {' AND '.join(ids)}" for p, ids in list(other.items())[:3])
            return "unmet", f"no {name} text in the license files ({said})"
        return "unknown", (
            f"{', '.join(found[:3])}: scancode identifies no license text in it; check that "
            f"it is the {name}"
        )

    def check_upstream_notice_file(self, needle: str | None) -> tuple[str, str]:
        """Apache-2.0 4(d): the upstream NOTICE attributions, owed only where an upstream
        work ships a NOTICE file, which provscan cannot see: met when the release's NOTICE
        names every upstream, else for a person to check (never unmet on a guess)."""
        status, how = self.check_notice_file(needle)
        if status == "met":
            return status, how
        upstreams = ", ".join(o.org for o in self.origins[:5]) or "the upstreams"
        return "unknown", (
            f"{how}; owed only if an upstream work ships a NOTICE file: check {upstreams}"
        )

    def check_notice_file(self, needle: str | None) -> tuple[str, str]:
        if not self.notice_paths:
            return "unmet", "no NOTICE file in the release"
        missing = [o.org for o in self.origins if not _mentions(self.notice_text, o)]
        if needle and not re.search(needle, self.notice_text, re.IGNORECASE):
            missing.append(f'"{needle}"')
        if missing:
            return "unmet", (
                f"{', '.join(self.notice_paths)} does not mention: "
                + ", ".join(dict.fromkeys(missing))
            )
        return "met", "NOTICE file present and names every detected upstream"

    def check_notices_kept(self, needle: str | None) -> tuple[str, str]:
        if not self.copied:
            return "unknown", "no copied code detected, so no upstream notice to compare"
        bad = [c for c in self.copied if c.notice_status in ("removed", "replaced", "changed")]
        if bad:
            return "unmet", "; ".join(
                f"{c.path}: upstream notice {c.notice_status}" for c in bad[:5]
            )
        return "met", f"upstream notices kept in {len(self.copied)} copied file(s)"

    def check_changes_stated(self, needle: str | None) -> tuple[str, str]:
        modified = [
            c
            for c in self.copied
            if (c.share is not None and c.share < 0.999)
            or c.notice_status in ("changed", "replaced", "removed")
        ]
        if not modified:
            return "unknown", "no modified copy of upstream code detected"
        silent = [c.path for c in modified if not self._says_changed(c)]
        if silent:
            return "unmet", "no change notice of its own in the header of: " + ", ".join(silent[:5])
        return "met", "every modified copy says it was changed"

    def _says_changed(self, c: CopiedCode) -> bool:
        """A change note in the copy's header that the upstream file does not already have
        (transformers' own headers say "modified from its original forms")."""
        upstream = upstream_text(c) or c.upstream_notice or ""
        for line in (read_text(self.snapshot, c.path) or "").splitlines()[:40]:
            if _CHANGE_NOTE.search(line) and line.strip() not in upstream:
                return True
        return False

    def check_name_prefix(self, needle: str | None) -> tuple[str, str]:
        name = release_name(self.snapshot)
        if needle and name.lower().startswith(needle.lower()):
            return "met", f'model name "{name}" begins with "{needle}"'
        return "unmet", f'model name "{name}" does not begin with "{needle}"'

    def check_text_in_release(self, needle: str | None) -> tuple[str, str]:
        pattern = re.compile(needle or "", re.IGNORECASE)
        for path, text in self.docs.items():
            if pattern.search(text):
                return "met", f'"{needle}" found in {path}'
        said = " or ".join(f'"{n}"' for n in (needle or "").split("|"))
        return "unmet", f"{said} not found in README, NOTICE or docs"


def _in(family: ObligationFamily | None, license_id: str) -> bool:
    found = family_of(license_id)
    return family is not None and found is not None and found.id == family.id


def _mentions(text: str, origin: UpstreamNotices) -> bool:
    low = text.lower()
    keys = [origin.org, *(origin.holders or ()), *([origin.family] if origin.family else [])]
    return any(k and k.lower() in low for k in keys)


def assess_obligations(
    snapshot: Snapshot,
    reasons: Iterable[Reason],
    origins: tuple[UpstreamNotices, ...],
    copied: tuple[CopiedCode, ...],
    license_texts: Mapping[str, tuple[str, ...]] | None = None,
) -> tuple[Obligation, ...]:
    """The checklist: each obligation of each applicable family, with its status.
    `license_texts`: license file -> the license ids scancode identified in it."""
    applies = applicable(reasons)
    checks = _Checks(snapshot, origins, copied, license_texts or {})
    out: list[Obligation] = []
    for fam in load_rules("obligations").get("family", []):
        because = applies.get(fam["id"])
        if not because:
            continue
        for ob in fam.get("obligation", []):
            status, how = checks.run(ob.get("check", "manual"), ob.get("needle"), fam["id"])
            out.append(
                Obligation(
                    id=ob["id"],
                    family=fam["id"],
                    family_name=fam["name"],
                    title=ob["title"],
                    text=ob["text"],
                    section=ob["section"],
                    quote=ob["quote"],
                    source_url=fam.get("url", ""),
                    applies_because=tuple(because),
                    status=status,
                    how_checked=how,
                    notice=ob.get("notice"),
                )
            )
    return tuple(out)

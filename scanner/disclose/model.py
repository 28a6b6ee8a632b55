"""What a release discloses about its provenance: the card metadata it should declare, the
statements of its "Provenance and licenses" section, and what is left to review.

Frozen dataclasses, built from one Report (scanner/disclose/build.py). Every statement
carries the finding ids (F1, F2 ... of the JSON report) it rests on: nothing is stated that
a finding does not support.
"""

from __future__ import annotations

from dataclasses import dataclass

METADATA_KEYS = ("license", "license_name", "license_link", "base_model", "base_model_relation")
"""The card keys the disclosure may set, in the order it writes new ones."""


@dataclass(frozen=True)
class CardMetadata:
    """Values of the provenance keys of a card's front matter (None: absent)."""

    license: str | None = None
    license_name: str | None = None
    license_link: str | None = None
    base_model: tuple[str, ...] = ()
    base_model_relation: str | None = None

    def value(self, key: str) -> str | list[str] | None:
        """The value as the card's YAML holds it: one base model is a string, several a
        list (the Hub's convention); no base model is no key."""
        if key == "base_model":
            if not self.base_model:
                return None
            return self.base_model[0] if len(self.base_model) == 1 else list(self.base_model)
        value: str | None = getattr(self, key)
        return value


@dataclass(frozen=True)
class MetadataChange:
    """One key the release should declare differently, and why."""

    key: str
    current: str | list[str] | None
    proposed: str | list[str] | None
    """None: the key is to be removed."""
    reason: str
    finding_ids: tuple[str, ...]


@dataclass(frozen=True)
class Metadata:
    """The card metadata the release should declare."""

    current: CardMetadata
    proposed: CardMetadata
    changes: tuple[MetadataChange, ...]
    card_readable: bool
    """False when the card's front matter could not be read: `proposed` is then built
    from nothing, and --apply refuses."""


@dataclass(frozen=True)
class LicenseStatement:
    """The license the release is under, as the section states it."""

    card_value: str
    """How the card declares it: `apache-2.0`, `other (qwen)`."""
    name: str | None
    """The license's name (its obligation family), where known."""
    because: str
    finding_ids: tuple[str, ...]


@dataclass(frozen=True)
class BaseModelStatement:
    """A base model the weights derive from, established by the lineage analysis."""

    name: str
    """As written in base_model."""
    relation: str | None
    hub_relation: str | None
    declared_before: bool
    """The card already named it."""
    sentence: str
    """The evidence in one plain sentence."""
    how_sure: str
    license: str | None
    finding_ids: tuple[str, ...]


@dataclass(frozen=True)
class CodeStatement:
    """A third-party file copied into the release."""

    path: str
    lines: tuple[int, int] | None
    upstream_path: str
    corpus: str
    version: str | None
    license: str | None
    share: float | None
    notice_status: str
    notice_words: str
    upstream_notice: tuple[str, ...]
    finding_ids: tuple[str, ...]


@dataclass(frozen=True)
class NoticeStatement:
    """An upstream whose notices the release carries, its notices verbatim."""

    org: str
    family: str | None
    license: str | None
    notices: tuple[str, ...]
    paths: tuple[str, ...]
    finding_ids: tuple[str, ...]
    more: int = 0
    """Notices of this upstream not quoted (a card quotes the first ones)."""


@dataclass(frozen=True)
class ObligationStatement:
    """What one license obliges and how the release meets it."""

    id: str
    title: str
    family_name: str
    status: str
    """met, unmet, unknown, manual; or `section` when the disclosure's own words meet it."""
    how: str
    finding_ids: tuple[str, ...]


@dataclass(frozen=True)
class ReviewItem:
    """Something detected but not established: listed, never stated as fact."""

    text: str
    finding_ids: tuple[str, ...]


@dataclass(frozen=True)
class CitedFinding:
    """A finding the disclosure cites: its id, kind and where (never its absolute paths)."""

    id: str
    kind: str
    where: str


@dataclass(frozen=True)
class Disclosure:
    """Everything the disclosure writes, from one Report."""

    release: str
    metadata: Metadata
    license: LicenseStatement | None
    displayed: tuple[tuple[str, tuple[str, ...]], ...]
    """Words the licenses ask the card to display ("Built with Qwen"), with the ids of the
    findings that make the license apply."""
    bases: tuple[BaseModelStatement, ...]
    code: tuple[CodeStatement, ...]
    notices: tuple[NoticeStatement, ...]
    obligations: tuple[ObligationStatement, ...]
    prescribed_notices: tuple[str, ...]
    """Attribution texts the licenses prescribe for a NOTICE file."""
    to_review: tuple[ReviewItem, ...]
    cited: tuple[CitedFinding, ...]

"""The evidence records: one frozen record per finding kind, the `evidence.details` of the
JSON report. Analyzers build them, the assessment reads their fields, the JSON report writes
them (`to_dict`) and reads them back (`from_dict`, every value type-checked).

Adding a finding kind with details: a record here and a line in DETAILS; the schema test
then asks for docs/report.schema.json to be regenerated (`python -m scanner.report.schema`).

Over 400 lines on purpose: one file is the one schema of the report's evidence; the records
are short declarations, and splitting them would spread that schema over several files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from .records import OMIT_NONE, Json, Record, RecordError

# ---- licenses and notices (code/analyzer.py) ------------------------------------------------


@dataclass(frozen=True)
class LicenseInFile(Record):
    """`license` found in a file by scancode."""

    source: Literal["file"] = field(default="file", kw_only=True)
    license_expression: str
    """scancode license expression (scancode keys)."""
    license_expression_spdx: str | None
    families: dict[str, str]
    """scancode key -> license category (rules/licenses.toml)."""
    rules: tuple[str, ...]
    matchers: tuple[str, ...]
    needs_review: bool
    approximate: bool
    """The approximate (sequence) matcher was needed."""


@dataclass(frozen=True)
class Declaration(Record):
    """A license the release declares (model card or config), resolved to ids."""

    declared: str
    """As written: `apache-2.0`, `other (qwen-research)`."""
    key: str | None
    """scancode key or LicenseRef-provscan-* key; None when not resolved."""
    license_id: str | None
    """SPDX id or LicenseRef; None when not resolved."""
    family: str
    declared_in: str
    """A path (README.md, config.json) or `hub`."""


@dataclass(frozen=True)
class LicenseDeclared(Record):
    """`license` declared by the release (the fields of a Declaration)."""

    source: Literal["declared"] = field(default="declared", kw_only=True)
    declared: str
    key: str | None
    license_id: str | None
    family: str
    declared_in: str

    @classmethod
    def of(cls, d: Declaration) -> LicenseDeclared:
        return cls(
            declared=d.declared,
            key=d.key,
            license_id=d.license_id,
            family=d.family,
            declared_in=d.declared_in,
        )


@dataclass(frozen=True)
class LicenseReview(Record):
    """`license-review`: a detection a person should look at, and why."""

    license_expression: str | None
    reasons: tuple[str, ...]
    rules: tuple[str, ...]
    matchers: tuple[str, ...]


@dataclass(frozen=True)
class UpstreamId(Record):
    """An upstream of rules/holders.toml that a notice names."""

    id: str
    organisation: str
    project: str
    usual_license: str


NoticeReader = Literal["cluecode", "spdx"]
"""Who read the statement: scancode's cluecode (as its CLI does), or provscan from an
SPDX-FileCopyrightText line cluecode does not read."""


@dataclass(frozen=True)
class CopyrightNotice(Record):
    """`copyright-notice`: a copyright statement of the publisher (or of no known origin)."""

    statement: str
    holder: str | None
    """The holder as cluecode reads it (the scancode CLI's holder)."""
    holder_key: str
    """The holder normalised: spellings of one holder share it."""
    lines: tuple[str, ...]
    """The file's lines, verbatim."""
    holders: tuple[str, ...] | None = field(default=None, metadata=OMIT_NONE, kw_only=True)
    """Every holder the statement names ("Meta Inc., vLLM, and HuggingFace Inc. team":
    three), where cluecode's holder stops at the first."""
    read_by: NoticeReader | None = field(default=None, metadata=OMIT_NONE, kw_only=True)

    @property
    def named(self) -> tuple[str, ...]:
        """Every holder named (reports written before `holders` existed: the holder)."""
        return self.holders or ((self.holder,) if self.holder else ())


@dataclass(frozen=True)
class ForeignNotice(Record):
    """`foreign-notice`: a copyright statement of someone other than the publisher."""

    statement: str
    holder: str | None
    holder_key: str
    lines: tuple[str, ...]
    origins: tuple[UpstreamId, ...]
    """Known upstreams the statement's holders name; empty: foreign, origin unknown."""
    publisher: str | None
    holders: tuple[str, ...] | None = field(default=None, metadata=OMIT_NONE, kw_only=True)
    """Every holder the statement names (see CopyrightNotice.holders)."""
    read_by: NoticeReader | None = field(default=None, metadata=OMIT_NONE, kw_only=True)

    @property
    def named(self) -> tuple[str, ...]:
        """Every holder named (reports written before `holders` existed: the holder)."""
        return self.holders or ((self.holder,) if self.holder else ())


@dataclass(frozen=True)
class LicenseMismatch(Record):
    """`license-mismatch`: the declared license against a restrictive one found in the
    files (via license-text) or usual for an upstream whose notices are carried."""

    declared: Declaration
    detected: str
    detected_name: str | None = field(default=None, metadata=OMIT_NONE, kw_only=True)
    """The license's name, for via license-text."""
    detected_family: str
    files: tuple[str, ...]
    via: Literal["license-text", "upstream-notice"]
    origin: str | None = field(default=None, metadata=OMIT_NONE, kw_only=True)
    """The upstream id, for via upstream-notice."""


@dataclass(frozen=True)
class BaseModelHint(Record):
    """`base-model-hint`: a model the release names as its base outside the card's
    `base_model` (card text, config `_name_or_path`, a weight file's own metadata). A hint
    for a reader, never evidence of lineage."""

    name: str
    """The model as named (org/name where the text gives one)."""
    source: Literal["card-text", "config", "weights-metadata"]
    said: str
    """The words that name it, as written (bounded)."""


@dataclass(frozen=True)
class MissingLicense(Record):
    """`missing-license`: no license file, or no declared license."""

    missing: Literal["license-file", "declared-license"]


@dataclass(frozen=True)
class NoticeMissing(Record):
    """`notice-missing`: Apache-2.0 files carry upstream notices, the release no NOTICE."""

    holders: tuple[str, ...]
    files: tuple[str, ...]


# ---- copied code (code/clones.py) -----------------------------------------------------------


@dataclass(frozen=True)
class MatchedRange(Record):
    """Lines of the release file and of its upstream that match, 1-based, inclusive."""

    target: tuple[int, int]
    upstream: tuple[int, int]
    lines: int | None = field(default=None, metadata=OMIT_NONE)
    """Lines of the release file in the range that match (kept lines of a declared
    adaptation; lines covered by matched fingerprints otherwise)."""
    evidence: float | None = field(default=None, metadata=OMIT_NONE)
    """The range's evidence: its fingerprints weighed by their rarity in the corpus."""
    unit: str | None = field(default=None, metadata=OMIT_NONE)
    """The function or class of the release file the range starts in."""


NoticeStatus = Literal["kept", "original", "changed", "removed", "replaced", "none"]
"""none: the upstream file has no notice; original: the copy carries the notice of the
code's original author (named in the upstream's notice or its ancestors', other than the
corpus's maintainers), not the upstream's own."""


@dataclass(frozen=True)
class NoticeFate(Record):
    """What became of the upstream file's copyright notice in the copy."""

    status: NoticeStatus
    upstream: tuple[str, ...]
    target: tuple[str, ...]
    original: tuple[str, ...] | None = field(default=None, metadata=OMIT_NONE)
    """The original authors' notice lines the copy was also checked against."""


@dataclass(frozen=True)
class OtherMatch(Record):
    """A runner-up upstream file."""

    corpus: str
    path: str
    shared: int
    share: float
    evidence: float | None = field(default=None, metadata=OMIT_NONE)


@dataclass(frozen=True)
class CopyBackground(Record):
    """What independently written ML code scores (rules/clone_background.toml)."""

    region_threshold: float
    region_q99: float
    region_max: float
    share_threshold: float
    share_q99: float
    share_max: float
    n: int
    measured_on: str


CopyBasis = Literal["identical", "whole-file", "regions"]
"""Why a copy is reported: byte-identical; most of the file matches; or some regions are
stronger than independently written code produces."""


@dataclass(frozen=True)
class CopiedCodeEvidence(Record):
    """`copied-code` and `notice-removed`: the upstream of a copied file."""

    corpus: str
    corpus_source: str
    """Where the corpus was indexed from (a folder, a git URL, pkg:NAME)."""
    upstream_path: str
    upstream_version: str | None
    upstream_license: str | None
    shared_fingerprints: int
    target_fingerprints: int
    upstream_share: float
    ranges: tuple[MatchedRange, ...]
    """The strongest matched ranges, in the release file's order."""
    range_count: int
    notice: NoticeFate
    other_matches: tuple[OtherMatch, ...]
    basis: CopyBasis | None = field(default=None, metadata=OMIT_NONE)
    region_evidence: float | None = field(default=None, metadata=OMIT_NONE)
    """The strongest range's evidence."""
    named_fingerprints: int | None = field(default=None, metadata=OMIT_NONE)
    """Shared fingerprints whose identifiers match too."""
    matched_lines: int | None = field(default=None, metadata=OMIT_NONE)
    """Lines of the release file in the ranges."""
    background: CopyBackground | None = field(default=None, metadata=OMIT_NONE)


@dataclass(frozen=True)
class DeclaredAdaptation(Record):
    """`declared-adaptation`: an upstream the file's own comments say it was adapted from,
    matched against that upstream when an indexed corpus holds it."""

    phrase: str
    """The declaring words as written ("Adapted from", "Copied from")."""
    reference: str
    """The URL, module or path as written."""
    repository: str | None
    revision: str | None
    symbol: str | None
    ranges: tuple[MatchedRange, ...]
    """Regions of kept lines (each with its count), in the release file's order."""
    range_count: int
    upstream_path: str | None = field(default=None, metadata=OMIT_NONE)
    """The corpus file compared (absent when no indexed corpus holds what is named)."""
    named_path: str | None = field(default=None, metadata=OMIT_NONE)
    """The corpus path the reference names, when it differs from upstream_path (a model
    folder, or a file of the named model that kept less of the code)."""
    corpus: str | None = field(default=None, metadata=OMIT_NONE)
    upstream_version: str | None = field(default=None, metadata=OMIT_NONE)
    upstream_license: str | None = field(default=None, metadata=OMIT_NONE)
    kept_lines: int | None = field(default=None, metadata=OMIT_NONE)
    """Lines of the release file found verbatim (whitespace aside) in upstream_path."""
    notice: NoticeFate | None = field(default=None, metadata=OMIT_NONE)
    undeclared_basis: CopyBasis | None = field(default=None, metadata=OMIT_NONE)
    """Set when the copy is strong enough to be reported without the declaration (the
    copied-code bar, calibrated on independently written code), and why."""


# ---- weight lineage (weights/analyzer.py) ---------------------------------------------------


@dataclass(frozen=True)
class SignalEvidence(Record):
    """One lineage signal with its null background (what unrelated models score)."""

    name: str
    score: float
    null_mean: float
    null_std: float
    z: float
    p_value: float
    robust_to: tuple[str, ...]
    details: dict[str, Json]
    """The signal's own diagnostics (weights layer), carried verbatim; `per_layer` is
    read through the property of that name."""
    in_words: str | None = field(default=None, metadata=OMIT_NONE)
    """The certainty in plain words ("unrelated models of this size reach this similarity
    about 1 time in N"), as calibrate.in_words writes it for the CLI and every report."""

    @property
    def per_layer(self) -> tuple[tuple[int, float], ...] | None:
        """(layer, value) pairs sorted by layer, or None when absent or malformed."""
        per = self.details.get("per_layer")
        if not isinstance(per, dict):
            return None
        try:
            return tuple(sorted((int(k), float(v)) for k, v in per.items()))
        except (TypeError, ValueError):
            return None


LineageVerdict = Literal["identical", "derived", "shared-components", "unrelated", "inconclusive"]


@dataclass(frozen=True)
class WeightsLineage(Record):
    """`weights-derived`, `undeclared-base-model` and `weights-lineage` (the other
    verdicts): the comparison with one reference (evidence.matched)."""

    verdict: LineageVerdict
    relation: str | None
    signals: tuple[SignalEvidence, ...]
    reasons: tuple[str, ...]
    reference_name: str | None = field(default=None, metadata=OMIT_NONE, kw_only=True)
    """The model the reference stands for, as its fingerprint names it (a fingerprint file
    `base.npz` made from `hf:org/base` names hf:org/base)."""
    library_source: str | None = field(default=None, metadata=OMIT_NONE, kw_only=True)
    """Where the reference came from when it is a fingerprint library entry (the entry's
    name is evidence.matched): a folder, a file, a git or hf: target."""


@dataclass(frozen=True)
class LibraryCandidate(Record):
    """A library entry the first stage picked, and what the calibrated comparison said."""

    name: str
    source: str
    channel: Literal["content", "embedding", "vocabulary", "shape"]
    """What picked it: sketches of same-shape tensors, the anchor tokens' embedding
    geometry, a shared vocabulary, or the shape alone."""
    first_stage: float
    """That channel's similarity: why it was worth comparing, not evidence of lineage."""
    verdict: LineageVerdict
    relation: str | None
    score: float | None
    """The strongest deciding signal's score, when one beat its null."""
    z: float | None
    p_value: float | None


@dataclass(frozen=True)
class LibrarySearch(Record):
    """`library-search`: the release's weights against the fingerprint library."""

    entries: int
    """Entries in the library."""
    searched: int
    """Entries of the fingerprint format this provscan reads; the others are `stale`."""
    stale: tuple[str, ...]
    """Entries of an older fingerprint format: to add again (at most 50 named)."""
    candidates: tuple[LibraryCandidate, ...]
    """Every entry compared, nearest first; the matches also have their own findings."""


# ---- kinds -> records --------------------------------------------------------------------

DETAILS: dict[str, tuple[type[Record], ...]] = {
    "license": (LicenseInFile, LicenseDeclared),
    "license-review": (LicenseReview,),
    "copyright-notice": (CopyrightNotice,),
    "foreign-notice": (ForeignNotice,),
    "license-mismatch": (LicenseMismatch,),
    "missing-license": (MissingLicense,),
    "base-model-hint": (BaseModelHint,),
    "notice-missing": (NoticeMissing,),
    "copied-code": (CopiedCodeEvidence,),
    "notice-removed": (CopiedCodeEvidence,),
    "declared-adaptation": (DeclaredAdaptation,),
    "weights-derived": (WeightsLineage,),
    "undeclared-base-model": (WeightsLineage,),
    "weights-lineage": (WeightsLineage,),
    "library-search": (LibrarySearch,),
}
"""The evidence record(s) of each finding kind that has details (several: told apart by a
Literal field, e.g. `source`). A kind absent here has none (not-analysed)."""


@dataclass(frozen=True)
class UnknownDetails(Record):
    """Details of a kind this version does not know (a report of a later 1.x): kept
    verbatim so the report round-trips, read by nothing."""

    data: dict[str, Json]

    def to_dict(self) -> dict[str, Any]:
        return dict(self.data)


def details_from_dict(kind: str, data: object, where: str) -> Record:
    """The evidence record of a `kind` finding from its JSON form (RecordError if wrong)."""
    choices = DETAILS.get(kind)
    if not choices:
        if not isinstance(data, dict):
            raise RecordError(f"{where}: expected an object, got {type(data).__name__}")
        return UnknownDetails(dict(data))
    errors = []
    for cls in choices:
        try:
            return cls.from_dict(data, where)
        except RecordError as exc:
            errors.append(str(exc))
    raise RecordError(errors[0] if len(errors) == 1 else " / ".join(errors))

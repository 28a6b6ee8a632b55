"""What the assessment establishes: declared vs detected, discrepancies, obligations; and
the Report the formats render (the audit, its assessment, the excerpts they quote).

Frozen dataclasses, like every stage boundary. Findings are referred to by their id
(F1, F2 ... in the audit's order), so every claim in a report links back to its evidence.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..evidence import SignalEvidence
from ..model import Finding
from ..result import AuditResult
from .release import release_name


def finding_id(index: int) -> str:
    """The stable id of the index-th finding of an audit (F1 is the first)."""
    return f"F{index + 1}"


@dataclass(frozen=True)
class Declared:
    """What the release says about itself (its model card / Hub metadata)."""

    license: str | None
    """The card's license key as written (apache-2.0, llama3, other...)."""
    license_name: str | None
    license_ids: tuple[str, ...]
    """License ids the declaration stands for, lower-case (license_name for `other`)."""
    base_models: tuple[str, ...]
    base_model_relation: str | None
    has_card: bool


@dataclass(frozen=True)
class DetectedLicense:
    """A license found somewhere in or behind the release."""

    expression: str
    ids: tuple[str, ...]
    """The license ids of the expression, lower-case."""
    via: str
    """file, copied-code, foreign-notice or base-model."""
    where: tuple[str, ...]
    """Paths (or a base model reference) where it was found."""
    finding_ids: tuple[str, ...]
    reflected: bool
    """Whether the declared license covers it (same id, or the card names it)."""


@dataclass(frozen=True)
class UpstreamNotices:
    """An upstream whose notices the release carries: an org / model family, its notices."""

    org: str
    family: str | None
    license: str | None
    holders: tuple[str, ...]
    notices: tuple[str, ...]
    """Copyright lines verbatim, deduplicated, in order of first appearance."""
    paths: tuple[str, ...]
    finding_ids: tuple[str, ...]


@dataclass(frozen=True)
class Curve:
    """A signal's per-layer values, drawn against that signal's null background."""

    label: str
    layers: tuple[int, ...]
    values: tuple[float, ...]
    value_label: str
    null_mean: float
    null_std: float
    band_note: str
    """What the band stands for (the null of the overall score, not of each layer)."""


@dataclass(frozen=True)
class LineageClaim:
    """A base model the weights derive from, and whether the card declares it."""

    reference: str
    name: str
    """A short name for the reference (its repo name, or the folder name of a path)."""
    verdict: str
    relation: str | None
    declared: bool
    license: str | None
    score: float | None
    z: float | None
    p_value: float | None
    signals: tuple[SignalEvidence, ...]
    curves: dict[str, Curve]
    """Per-layer values of the signals that have them, by signal name."""
    finding_ids: tuple[str, ...]


@dataclass(frozen=True)
class CopiedCode:
    """One copied file: where it sits in the release, where it comes from, its notice."""

    path: str
    start_line: int | None
    end_line: int | None
    upstream: str
    """corpus:path of the upstream file."""
    upstream_path: str
    corpus: str
    version: str | None
    license: str | None
    share: float | None
    notice_status: str
    """kept, changed, removed or unknown."""
    upstream_notice: str | None
    target_notice: str | None
    target_lines: tuple[int, int] | None
    upstream_lines: tuple[int, int] | None
    finding_id: str
    corpus_source: str = ""
    """Where the corpus was indexed from (to read the upstream file); not in the JSON
    report's assessment, the copied-code finding's evidence has it."""
    severity: str = "medium"
    """The finding's severity: how strong the evidence is and what became of the notice."""
    basis: str | None = None
    """identical, whole-file or regions (code/clones.py), or declared: the file's own
    comments name this upstream (a declared adaptation)."""
    lines: int | None = None
    """Lines of the release file matched (kept lines, for a declared adaptation)."""


@dataclass(frozen=True)
class Discrepancy:
    """A difference between what is declared and what was detected: the headline."""

    kind: str
    """undeclared-base-model, license-not-reflected, notice-removed, notice-changed,
    missing-attribution, missing-license, license-mismatch, license-review."""
    severity: str
    title: str
    explanation: str
    finding_ids: tuple[str, ...]
    path: str | None = None
    start_line: int | None = None
    end_line: int | None = None


@dataclass(frozen=True)
class Obligation:
    """What one license obliges, why it applies here, and whether the release meets it."""

    id: str
    family: str
    family_name: str
    title: str
    text: str
    section: str
    quote: str
    source_url: str
    applies_because: tuple[str, ...]
    status: str
    """met, unmet, unknown (could not be checked) or manual (a person must check)."""
    how_checked: str
    notice: str | None = None
    """The attribution text the license prescribes for a NOTICE file, if any."""


@dataclass(frozen=True)
class Verdict:
    """The answer in one line, and the level it implies."""

    level: str
    """fail (discrepancies of high severity), warn, or pass."""
    headline: str
    points: tuple[str, ...]


@dataclass(frozen=True)
class Assessment:
    """Everything the reports say, derived from one audit's findings and snapshot."""

    declared: Declared
    detected_licenses: tuple[DetectedLicense, ...]
    origins: tuple[UpstreamNotices, ...]
    lineage: tuple[LineageClaim, ...]
    copied: tuple[CopiedCode, ...]
    discrepancies: tuple[Discrepancy, ...]
    obligations: tuple[Obligation, ...]
    verdict: Verdict
    findings: tuple[tuple[str, Finding], ...]
    """(id, finding) for every finding of the audit."""


# ---- what the reports quote from the release (gathered once, bounded) -----------------------


@dataclass(frozen=True)
class Excerpt:
    """Consecutive lines of a release file."""

    path: str
    first_line: int
    """The 1-based number of lines[0]."""
    lines: tuple[str, ...]


@dataclass(frozen=True)
class CopyHeads:
    """The first lines of a copied file and of its upstream (the notices live there)."""

    release: tuple[str, ...]
    upstream: tuple[str, ...] | None
    """None when the upstream file could not be read (corpus folder gone, not installed)."""


@dataclass(frozen=True)
class ModelConfig:
    """What the release's config.json says of the model; nothing is guessed."""

    model_type: str | None = None
    architecture: str | None = None


@dataclass(frozen=True)
class Excerpts:
    """The release text the reports quote, read during the assessment so that formats
    never read the release themselves."""

    notices: dict[str, Excerpt]
    """Finding id of a foreign notice -> its lines with a little context."""
    copies: dict[str, CopyHeads]
    """Finding id of a copy -> the heads of both files (the first MAX_COPIES copies)."""
    config: ModelConfig
    model_name: str | None = None
    """The model's name as its card gives it (model_name, or the card's title)."""


@dataclass(frozen=True)
class Report:
    """What every output format renders: one audit, its assessment, and the excerpts."""

    result: AuditResult
    assessment: Assessment
    excerpts: Excerpts

    @property
    def name(self) -> str:
        """The model's name for titles: its card's, else the Hub repository's or the
        folder's (a folder named `model` says nothing)."""
        return self.excerpts.model_name or release_name(self.result.snapshot)

"""disclosure_of(report): what the release should say about its provenance, from its audit."""

from __future__ import annotations

import re
from dataclasses import replace

from ..assess.model import Report
from ..assess.release import release_name
from .metadata import plan_metadata
from .model import Disclosure, ReviewItem
from .statements import (
    base_statements,
    cited_findings,
    code_review,
    code_statements,
    displayed_words,
    license_statement,
    lineage_review,
    notice_statements,
    obligation_statements,
    other_review,
    prescribed_notices,
)
from .wording import statement_for

_ID = re.compile(r"F(\d+)")


def _unique(items: list[ReviewItem]) -> tuple[ReviewItem, ...]:
    seen: dict[str, ReviewItem] = {}
    for item in items:
        seen.setdefault(item.text, item)
    return tuple(seen.values())


def disclosure_of(report: Report) -> Disclosure:
    """The disclosure of one audited release: a pure function of its Report."""
    a = report.assessment
    snapshot = report.result.snapshot
    metadata, meta_review = plan_metadata(a, snapshot)
    displayed = displayed_words(a)
    shown = {w for w, _ in displayed}
    obligations, ob_review = obligation_statements(
        a, {o.id for o in a.obligations if statement_for(o.id) in shown}
    )
    review = _unique(
        list(meta_review) + lineage_review(a) + code_review(a) + ob_review + other_review(a)
    )
    d = Disclosure(
        release=release_name(snapshot),
        metadata=metadata,
        license=license_statement(a, metadata),
        displayed=displayed,
        bases=base_statements(a),
        code=code_statements(a),
        notices=notice_statements(a),
        obligations=obligations,
        prescribed_notices=prescribed_notices(a),
        to_review=review,
        cited=(),
    )
    ids = _cited_ids(d)
    return replace(d, cited=cited_findings(a, ids))


def _cited_ids(d: Disclosure) -> list[str]:
    ids: list[str] = []
    if d.license:
        ids += d.license.finding_ids
    for _, fids in d.displayed:
        ids += fids
    for group in (d.bases, d.code, d.notices, d.obligations, d.to_review):
        for item in group:
            ids += item.finding_ids
    for c in d.metadata.changes:
        ids += c.finding_ids
    return sorted(set(ids), key=_number)


def _number(fid: str) -> int:
    m = _ID.fullmatch(fid)
    return int(m.group(1)) if m else 0

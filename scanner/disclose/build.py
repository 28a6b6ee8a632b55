"""disclosure_of(report): what the release should say about its provenance, from its audit."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import TypeVar

from ..assess.model import Report
from ..assess.release import release_name
from .metadata import plan_metadata
from .model import (
    BaseModelStatement,
    CodeStatement,
    Disclosure,
    LicenseStatement,
    NoticeStatement,
    ObligationStatement,
    ReviewItem,
)
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
# A card is read by people: a release vendoring thousands of upstream files gets the first
# of each list, and says how many more the JSON report holds. A statement cites at most
# MAX_IDS of its findings (the first ones; the report has them all).
MAX_IDS = 12
MAX_CODE_ROWS = 100
MAX_NOTICE_LINES = 20
MAX_REVIEW = 50


_Cites = TypeVar(
    "_Cites",
    LicenseStatement | None,
    BaseModelStatement,
    CodeStatement,
    NoticeStatement,
    ObligationStatement,
    ReviewItem,
)


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
    # A declaration the disclosure replaces no longer makes its license's duties apply.
    declared = not any(c.key in ("license", "license_name") for c in metadata.changes)
    displayed = displayed_words(a, declared)
    shown = {w for w, _ in displayed}
    obligations, ob_review = obligation_statements(
        a, {o.id for o in a.obligations if statement_for(o.id) in shown}, declared
    )
    review = _unique(
        list(meta_review) + lineage_review(a) + code_review(a) + ob_review + other_review(a)
    )
    code = code_statements(a)
    if len(code) > MAX_CODE_ROWS:
        rest = code[MAX_CODE_ROWS:]
        review += (_more(len(rest), "copied files are", [i for c in rest for i in c.finding_ids]),)
        code = code[:MAX_CODE_ROWS]
    notices = tuple(
        replace(
            n, notices=n.notices[:MAX_NOTICE_LINES], more=max(0, len(n.notices) - MAX_NOTICE_LINES)
        )
        for n in notice_statements(a)
    )
    if len(review) > MAX_REVIEW:
        rest_review = review[MAX_REVIEW - 1 :]
        review = review[: MAX_REVIEW - 1] + (
            _more(
                len(rest_review),
                "items to review are",
                [i for r in rest_review for i in r.finding_ids],
            ),
        )
    d = Disclosure(
        release=release_name(snapshot),
        metadata=metadata,
        license=_few(license_statement(a, metadata)),
        displayed=tuple((w, ids[:MAX_IDS]) for w, ids in displayed),
        bases=tuple(map(_few, base_statements(a))),
        code=tuple(map(_few, code)),
        notices=tuple(map(_few, notices)),
        obligations=tuple(map(_few, obligations)),
        prescribed_notices=prescribed_notices(a, declared),
        to_review=tuple(map(_few, review)),
        cited=(),
    )
    return replace(d, cited=cited_findings(a, _cited_ids(d)))


def _few(item: _Cites) -> _Cites:
    """The statement citing at most MAX_IDS of its findings."""
    if item is None or len(item.finding_ids) <= MAX_IDS:
        return item
    return replace(item, finding_ids=item.finding_ids[:MAX_IDS])


def _more(count: int, what: str, ids: list[str]) -> ReviewItem:
    return ReviewItem(
        f"{count} more {what} not listed in this section; the JSON report has them all.",
        tuple(ids[:MAX_IDS]),
    )


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

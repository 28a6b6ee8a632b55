"""License detection per file with scancode-toolkit, used as a library.

The scancode CLI runs the full (approximate) matcher on every file; we run the exact
matchers first (hash, SPDX-License-Identifier, Aho-Corasick: a few ms a file) and the
approximate sequence matcher only where the exact pass finds nothing or something unclear.
A file where the exact pass finds nothing goes on with the same query (tokenized once).
Detections are then built the way scancode's own `get_licenses` builds them, so the file's
license expression is the one its CLI reports.

The approximate matcher spends nearly all its time ranking candidate rules: for every
query run, every one of ~36,000 rules is compared with the run's tokens, and on a code
file without license text none survives its own first filter (enough distinct legalese
tokens in common). `_prune_candidates` applies that filter first, from an inverted index
of the rules' legalese tokens, and hands scancode only the rules that can pass it: the
same candidates, the same matches (tests/test_licenses_scan.py compares them), ~10x less
time on such files.

scancode is imported lazily: a re-scan served entirely from the cache never loads its
~400 MB index.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib.metadata import version as _dist_version
from itertools import pairwise
from pathlib import Path
from typing import Any

MAX_MATCHED_TEXT = 2000
"""Characters of matched text kept per match (evidence, not a copy of the license)."""
SEQUENCE_MATCHER = "3-seq"


@cache
def scancode_version() -> str:
    return _dist_version("scancode-toolkit")


def load_index() -> Any:
    """The scancode license index, loaded once per process (~6 s, ~1.4 GB), with the
    modules detection needs imported too, so forked workers inherit all of it."""
    from licensedcode.cache import get_index, get_licensing
    from licensedcode.detection import LicenseDetection  # noqa: F401
    from packagedcode.utils import combine_expressions  # noqa: F401

    index = get_index()
    get_licensing()
    _skip_needless_matched_text()
    _prune_candidates(index)
    return index


def _skip_needless_matched_text() -> None:
    """scancode's is_false_positive renders each match's text (a tokenization of the whole
    file, about half of a detection's cost) to look for "copyright", then returns False
    anyway when every matched rule has relevance 100 - the common case. Answering that
    case first returns exactly what scancode returns, without the rendering."""
    from licensedcode import detection

    original = detection.is_false_positive
    if getattr(original, "_provscan", False):
        return

    def is_false_positive(license_matches: Any, package_license: bool = False) -> bool:
        if package_license or all(m.rule.relevance == 100 for m in license_matches):
            return False
        return bool(original(license_matches, package_license))

    is_false_positive._provscan = True  # type: ignore[attr-defined]
    detection.is_false_positive = is_false_positive


def _prune_candidates(index: Any) -> None:
    """Wrap scancode's compute_candidates so that it only ranks the rules that can pass its
    own step-one filter: at least max(1, rule.min_high_matched_length_unique) distinct
    legalese tokens shared with the query run (match_set.compare_token_sets drops every
    other rule). Built once per process, before workers fork."""
    import numpy as np
    from licensedcode import match_set

    original = match_set.compute_candidates
    if getattr(original, "_provscan", False):
        return
    legalese = index.len_legalese
    count = len(index.rules_by_rid)
    unreachable = np.iinfo(np.int64).max
    need = np.full(count, unreachable, dtype=np.int64)
    postings: dict[int, list[int]] = {}
    for rid in index.approx_matchable_rids:
        need[rid] = max(1, index.rules_by_rid[rid].get_min_high_matched_length(True))
        for tid in index.sets_by_rid[rid]:
            if tid < legalese:
                postings.setdefault(tid, []).append(rid)
    rules_of = {tid: np.asarray(rids, dtype=np.int64) for tid, rids in postings.items()}

    def compute_candidates(
        query_run: Any,
        idx: Any,
        matchable_rids: Any,
        top: int = 50,
        high_resemblance: bool = False,
        high_resemblance_threshold: float = 0.8,
        _use_bigrams: bool = False,
    ) -> Any:
        if _use_bigrams or idx is not index:  # sets built otherwise: nothing to prune
            return original(
                query_run,
                idx,
                matchable_rids,
                top,
                high_resemblance,
                high_resemblance_threshold,
                _use_bigrams,
            )
        high = {tid for tid in query_run.matchable_tokens() if 0 <= tid < legalese}
        shared = [rules_of[tid] for tid in high if tid in rules_of]
        if not shared:
            return []
        counts = np.bincount(np.concatenate(shared), minlength=count)
        possible = matchable_rids.intersection(np.flatnonzero(counts >= need).tolist())
        if not possible:
            return []
        return original(
            query_run, idx, possible, top, high_resemblance, high_resemblance_threshold, False
        )

    compute_candidates._provscan = True  # type: ignore[attr-defined]
    compute_candidates.unpruned = original  # type: ignore[attr-defined]
    match_set.compute_candidates = compute_candidates


def unpruned_candidates() -> Callable[..., Any] | None:
    """scancode's own compute_candidates, once _prune_candidates has wrapped it (tests)."""
    from licensedcode import match_set

    return getattr(match_set.compute_candidates, "unpruned", None)


def text_lines(text: str) -> list[str]:
    """Lines as scancode numbers them: split on newlines only (str.splitlines would also
    split on form feeds and other separators, and shift every later line number)."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return lines[:-1] if lines and lines[-1] == "" else lines


@dataclass(frozen=True)
class MatchInfo:
    """One scancode rule match in a file."""

    expression: str
    """scancode license expression of the matched rule."""
    rule: str
    """scancode rule identifier, e.g. apache-2.0_7.RULE."""
    matcher: str
    """1-hash, 1-spdx-id, 2-aho, 3-seq, ..."""
    start_line: int
    end_line: int
    coverage: float
    """Percent of the rule's text matched."""
    score: float
    matched_text: str

    @property
    def needs_review(self) -> bool:
        return (
            self.matcher == SEQUENCE_MATCHER or self.coverage < 100 or "unknown" in self.expression
        )


@dataclass(frozen=True)
class DetectionInfo:
    """A license detection: matches grouped the way scancode groups them."""

    expression: str | None
    """None for a clue (matches that scancode does not turn into a license)."""
    spdx: str | None
    matches: tuple[MatchInfo, ...]

    @property
    def needs_review(self) -> bool:
        return any(m.needs_review for m in self.matches)


@dataclass(frozen=True)
class FileLicenses:
    """The licenses scancode finds in one file."""

    expression: str | None
    """The file's combined license expression (scancode's detected_license_expression)."""
    spdx: str | None
    detections: tuple[DetectionInfo, ...] = ()
    approximate: bool = False
    """Whether the approximate matcher ran on this file."""

    @property
    def needs_review(self) -> bool:
        return any(d.needs_review for d in self.detections)

    def to_dict(self) -> dict[str, Any]:
        return {
            "expression": self.expression,
            "spdx": self.spdx,
            "approximate": self.approximate,
            "detections": [
                {
                    "expression": d.expression,
                    "spdx": d.spdx,
                    "matches": [m.__dict__ for m in d.matches],
                }
                for d in self.detections
            ],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FileLicenses:
        return cls(
            expression=data["expression"],
            spdx=data["spdx"],
            approximate=bool(data.get("approximate")),
            detections=tuple(
                DetectionInfo(
                    d["expression"], d["spdx"], tuple(MatchInfo(**m) for m in d["matches"])
                )
                for d in data["detections"]
            ),
        )


FRAGMENT_GAP_LINES = 2
"""Exact matches this close to each other may be pieces of one longer notice (a BSD text
split into a clause and a disclaimer) that only the approximate matcher sees whole."""


def _is_unclear(matches: list[Any]) -> bool:
    """True where the approximate matcher may see more than the exact pass did: nothing
    found, partial coverage, unknown references, or fragments of one notice."""
    if not matches:
        return True
    if any(m.coverage() < 100 or "unknown" in m.rule.license_expression for m in matches):
        return True
    spans = sorted((m.start_line, m.end_line) for m in matches)
    return any(b[0] - a[1] <= FRAGMENT_GAP_LINES for a, b in pairwise(spans))


def _match_info(match: Any, lines: list[str]) -> MatchInfo:
    # The evidence is the matched lines as they are in the file (scancode's own rendering
    # re-tokenizes the whole file).
    text = "\n".join(lines[match.start_line - 1 : match.end_line])
    return MatchInfo(
        expression=match.rule.license_expression,
        rule=match.rule.identifier,
        matcher=match.matcher,
        start_line=match.start_line,
        end_line=match.end_line,
        coverage=round(float(match.coverage()), 2),
        score=round(float(match.score()), 2),
        matched_text=text[:MAX_MATCHED_TEXT],
    )


def _detection(matches: list[Any]) -> Any:
    """scancode's LicenseDetection.from_matches (32.5) without its `identifier`: a hash of
    the matches' rendered text that costs a tokenization of the whole file, and that
    nothing here uses. Expression and SPDX expression are computed as scancode does."""
    from licensedcode.detection import (
        LicenseDetection,
        analyze_detection,
        get_detected_license_expression,
    )

    analysis = analyze_detection(license_matches=matches, package_license=False)
    log, expression = get_detected_license_expression(
        analysis=analysis, license_matches=matches, post_scan=False
    )
    if expression is None:
        return LicenseDetection(matches=matches, detection_log=log)
    detection = LicenseDetection(
        matches=matches, license_expression=str(expression), detection_log=log
    )
    detection.license_expression_spdx = detection.spdx_license_expression()
    return detection


def _query(index: Any, location: Path) -> Any:
    """The file as scancode's matchers read it (the arguments of its Index.match)."""
    from licensedcode.query import build_query

    return build_query(
        location=str(location), idx=index, text_line_threshold=15, bin_line_threshold=50
    )


def _match(index: Any, location: Path, deadline: float) -> tuple[list[Any], bool]:
    """The matches of one file, and whether the approximate matcher ran: the exact
    matchers, then, where they leave things unclear, the whole cascade with the
    approximate one, as Index.match(approximate=True) runs it. A file where the exact
    pass found nothing is not tokenized again (that pass left its query as it was)."""
    query = _query(index, location)
    if not query:
        return [], True
    matchable = (len(query.high_matchables), len(query.low_matchables))
    matches = index.match_query(query, approximate=False, deadline=deadline)
    if not _is_unclear(matches):
        return matches, False
    if matches or matchable != (len(query.high_matchables), len(query.low_matchables)):
        query = _query(index, location)  # matched spans were taken out: start afresh
    return index.match_query(query, approximate=True, deadline=deadline), True


def detect_file_licenses(
    location: Path, lines: list[str] | None = None, timeout: float = 60.0
) -> FileLicenses:
    """License detections of one file, exact matching first (see module docstring).
    `lines`: the file's text lines, for the evidence (read from `location` if not given)."""
    from licensedcode.cache import build_spdx_license_expression, get_licensing
    from licensedcode.detection import group_matches, process_detections
    from packagedcode.utils import combine_expressions

    matches, approximate = _match(load_index(), location, time.time() + timeout)
    if not matches:
        return FileLicenses(None, None, (), approximate)

    if lines is None:
        lines = text_lines(location.read_text(encoding="utf-8", errors="replace"))
    licensing = get_licensing()
    detections = [_detection(group) for group in group_matches(license_matches=matches)]
    out: list[DetectionInfo] = []
    expressions: list[str] = []
    for det in process_detections(detections=detections, licensing=licensing):
        infos = tuple(_match_info(m, lines) for m in det.matches)
        out.append(DetectionInfo(det.license_expression, det.license_expression_spdx, infos))
        if det.license_expression is not None:
            expressions.append(det.license_expression)
    expression = spdx = None
    if expressions:
        combined = combine_expressions(
            expressions=expressions, relation="AND", unique=True, licensing=licensing
        )
        expression = str(combined)
        spdx = str(build_spdx_license_expression(expression, licensing=licensing))
    return FileLicenses(expression, spdx, tuple(out), approximate)


@dataclass(frozen=True)
class StatedLicense:
    """A license statement (package metadata, a config field) as scancode reads it."""

    expression: str
    """scancode license expression (scancode keys)."""
    spdx: str
    """The same in SPDX ids (LicenseRef-scancode-* where SPDX has none)."""


MAX_STATEMENT_CHARS = 64 * 1024
"""A statement longer than this (a whole license pasted into a metadata field) is cut."""


def license_of_statement(statement: str) -> StatedLicense | None:
    """scancode's reading of a declared license string: an SPDX or scancode expression
    ("Apache-2.0 AND MIT"), a name ("Apache 2.0 License"), a trove classifier ("License ::
    OSI Approved :: Apache Software License") or a license text. None when it recognises
    no license in it (only unknown references). Loads the index (~6 s) on first use."""
    from licensedcode.cache import build_spdx_license_expression, get_licensing
    from packagedcode.licensing import get_license_detections_and_expression

    text = statement.strip()[:MAX_STATEMENT_CHARS]
    if not text:
        return None
    load_index()
    _, expression = get_license_detections_and_expression(extracted_license_statement=text)
    if not expression:
        return None
    keys = get_licensing().license_keys(expression)
    if not keys or all(k.startswith("unknown") for k in keys):
        return None
    spdx = build_spdx_license_expression(expression, licensing=get_licensing())
    return StatedLicense(str(expression), str(spdx))

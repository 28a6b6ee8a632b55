"""The clones analyzer: code of the release copied from an indexed reference corpus.

For each code file: its winnowed fingerprints are looked up in every corpus; the reference
file sharing the most distinct fingerprints is the upstream (ties go to the file the shared
part covers most of, i.e. the most specific one: transformers' models copy each other's
code, and the original is the file the copies share most with; counts within 1% are
tied). The share of the file's
fingerprints found there is the score, set against what unrelated files score
(rules/clone_background.toml), with both line ranges and the fate of the upstream notice.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

import numpy as np

from ..analyzers import Analyzer, AuditContext
from ..errors import SourceError
from ..evidence import CopiedCodeEvidence, MatchedRange, NoticeFate, OtherMatch
from ..model import Evidence, FileKind, Finding, Location, Severity, not_analysed
from ..rules import load_rules
from ..snapshot import MAX_TEXT_BYTES, Snapshot
from .corpus import LoadedCorpus, load_corpora
from .headers import notice_status
from .tokens import family_of, tokenize
from .winnow import DEFAULT_PARAMS, Fingerprints, WinnowParams, fingerprint

NAME = "clones"
# A fingerprint found in more reference positions than this is boilerplate for scoring
# purposes (bounds the work of a query whatever the corpus).
MAX_POSTINGS_PER_HASH = 50_000
# Reference files within this fraction of the best shared count are tied with it.
NEAR_TIE = 0.01
# Matched k-grams closer than this (lines, on both sides) form one range.
RANGE_GAP = 6
# At most this many ranges are listed in a finding (the longest ones).
MAX_RANGES = 50


@dataclass(frozen=True)
class Candidate:
    """A reference file sharing fingerprints with the target."""

    corpus: LoadedCorpus
    idx: int
    shared: int
    """Distinct target fingerprints found in this reference file."""
    share: float
    """shared / distinct fingerprints of the target file."""
    upstream_share: float
    """shared / distinct fingerprints of the reference file."""

    @property
    def path(self) -> str:
        return self.corpus.paths[self.idx]


@dataclass(frozen=True)
class CloneMatch:
    """The best upstream of one target file, with the runner-up candidates."""

    best: Candidate
    others: tuple[Candidate, ...]
    target_fingerprints: int
    ranges: tuple[tuple[int, int, int, int], ...]
    """(target start, target end, upstream start, upstream end) line ranges, 1-based."""


@cache
def background() -> dict[str, object]:
    return load_rules("clone_background")


def candidates(fps: Fingerprints, corpus: LoadedCorpus, top: int = 5) -> list[Candidate]:
    """Reference files of one corpus ranked by shared fingerprints, then specificity."""
    q = np.unique(fps.hashes)
    if q.shape[0] == 0 or corpus.hashes.shape[0] == 0:
        return []
    lo = np.searchsorted(corpus.hashes, q, side="left")
    hi = np.searchsorted(corpus.hashes, q, side="right")
    cnt = hi - lo
    cnt[cnt > MAX_POSTINGS_PER_HASH] = 0
    total = int(cnt.sum())
    if total == 0:
        return []
    qi = np.repeat(np.arange(q.shape[0], dtype=np.int64), cnt)
    offs = (
        np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(cnt) - cnt, cnt) + np.repeat(lo, cnt)
    )
    nfiles = len(corpus.paths)
    pairs = np.unique(qi * nfiles + corpus.file_idx[offs].astype(np.int64))
    shared = np.bincount(pairs % nfiles, minlength=nfiles)
    hit = np.flatnonzero(shared)
    spec = shared[hit] / np.maximum(corpus.file_fps[hit], 1)
    order = np.lexsort((-spec, -shared[hit]))[:top]
    return [
        Candidate(
            corpus=corpus,
            idx=int(hit[i]),
            shared=int(shared[hit[i]]),
            share=float(shared[hit[i]]) / q.shape[0],
            upstream_share=float(spec[i]),
        )
        for i in order
    ]


def matched_ranges(fps: Fingerprints, cand: Candidate) -> tuple[tuple[int, int, int, int], ...]:
    """Pair the target's matched k-grams with the reference's and merge them into ranges."""
    corpus = cand.corpus
    mine = np.flatnonzero(corpus.file_idx == cand.idx)
    ref_h = corpus.hashes[mine]
    ref_s, ref_e = corpus.start_lines[mine], corpus.end_lines[mine]
    lo = np.searchsorted(ref_h, fps.hashes, side="left")
    hi = np.searchsorted(ref_h, fps.hashes, side="right")
    hit = np.flatnonzero(hi > lo)
    t_s, t_e = fps.start_lines[hit].tolist(), fps.end_lines[hit].tolist()
    lo_l, hi_l = lo[hit].tolist(), hi[hit].tolist()
    ref_sl, ref_el = ref_s.tolist(), ref_e.tolist()
    blocks: list[list[int]] = []
    prev_ref = 0
    for ts, te, a, b_ in zip(t_s, t_e, lo_l, hi_l, strict=True):
        # Of several occurrences upstream, the one that continues the current range.
        j = a if b_ - a == 1 else min(range(a, b_), key=lambda x: abs(ref_sl[x] - prev_ref))
        rs, re_ = ref_sl[j], ref_el[j]
        prev_ref = re_
        if blocks:
            b = blocks[-1]
            if ts <= b[1] + RANGE_GAP and b[2] - RANGE_GAP <= rs <= b[3] + RANGE_GAP:
                b[0], b[1] = min(b[0], ts), max(b[1], te)
                b[2], b[3] = min(b[2], rs), max(b[3], re_)
                continue
        blocks.append([ts, te, rs, re_])
    return tuple((b[0], b[1], b[2], b[3]) for b in blocks)


def best_match(fps: Fingerprints, corpora: list[LoadedCorpus]) -> CloneMatch | None:
    """The best upstream across all corpora, or None when nothing is shared."""
    found: list[Candidate] = []
    for corpus in corpora:
        found.extend(candidates(fps, corpus))
    if not found:
        return None
    found.sort(key=lambda c: (-c.shared, -c.upstream_share, c.corpus.info.name, c.path))
    # Near-ties (a fingerprint or two at the seams of a reordered or partial copy) go to the
    # most specific file: a modular_*.py that includes a configuration must not win by one.
    slack = max(1, round(NEAR_TIE * found[0].shared))
    near = [c for c in found if c.shared >= found[0].shared - slack]
    best = max(near, key=lambda c: c.upstream_share)
    others = [c for c in found if c is not best]
    return CloneMatch(
        best=best,
        others=tuple(others[:4]),
        target_fingerprints=int(np.unique(fps.hashes).shape[0]),
        ranges=matched_ranges(fps, best),
    )


def is_copy(match: CloneMatch) -> bool:
    """Above the default threshold (rules/clone_background.toml): a large enough share of
    the file, or a large enough amount of code whatever the file's size."""
    th = background()["threshold"]
    assert isinstance(th, dict)
    shared, share = match.best.shared, match.best.share
    return (share >= float(th["min_share"]) and shared >= int(th["min_shared"])) or (
        shared >= int(th["min_shared_alone"])
    )


def null_stats(score: float) -> tuple[float, float, float | None, float]:
    """null mean, std, z and empirical p-value of a share under the unrelated background."""
    bg = background()["null"]
    assert isinstance(bg, dict)
    mean, std, n = float(bg["mean"]), float(bg["std"]), int(bg["n"])
    tail = [float(x) for x in bg["top"]]
    exceed = sum(1 for x in tail if x >= score)
    p = (exceed + 1) / (n + 1)
    z = (score - mean) / std if std > 0 else None
    return mean, std, z, p


def _largest(
    ranges: tuple[tuple[int, int, int, int], ...], n: int
) -> list[tuple[int, int, int, int]]:
    """The n longest ranges, back in target order (bounds the report's size)."""
    longest = sorted(ranges, key=lambda r: r[0] - r[1])[:n]
    return sorted(longest)


def clone_finding(path: str, match: CloneMatch, target_text: str) -> Finding:
    best = match.best
    info = best.corpus.info
    upstream_notice = best.corpus.notice(best.idx)
    status, target_notice = notice_status(upstream_notice, target_text)
    removed = status in ("removed", "replaced")
    kind = "notice-removed" if removed else "copied-code"
    severity = (
        Severity.HIGH if removed else (Severity.INFO if status == "kept" else Severity.MEDIUM)
    )
    where = f"{info.name}:{best.path}" + (f" ({info.version})" if info.version else "")
    verb = {
        "removed": "with its copyright notice removed",
        "replaced": "with its copyright notice replaced",
        "changed": "with its copyright notice changed",
        "kept": "keeping its copyright notice",
        "none": "(upstream file has no notice)",
    }[status]
    message = f"{best.share:.0%} of this file is copied from {where} {verb}"
    mean, std, z, p = null_stats(best.share)
    t_start = min(r[0] for r in match.ranges) if match.ranges else None
    t_end = max(r[1] for r in match.ranges) if match.ranges else None
    details = CopiedCodeEvidence(
        corpus=info.name,
        corpus_source=info.source,
        upstream_path=best.path,
        upstream_version=info.version,
        upstream_license=info.license,
        shared_fingerprints=best.shared,
        target_fingerprints=match.target_fingerprints,
        upstream_share=round(best.upstream_share, 4),
        ranges=tuple(
            MatchedRange(target=(r[0], r[1]), upstream=(r[2], r[3]))
            for r in _largest(match.ranges, MAX_RANGES)
        ),
        range_count=len(match.ranges),
        notice=NoticeFate(
            status=status, upstream=tuple(upstream_notice), target=tuple(target_notice)
        ),
        other_matches=tuple(
            OtherMatch(
                corpus=c.corpus.info.name, path=c.path, shared=c.shared, share=round(c.share, 4)
            )
            for c in match.others
        ),
    )
    return Finding(
        kind=kind,
        severity=severity,
        message=message,
        location=Location(path=path, start_line=t_start, end_line=t_end),
        evidence=Evidence(
            matched=f"{info.name}:{best.path}",
            score=round(best.share, 4),
            null_mean=mean,
            null_std=std,
            z=round(z, 2) if z is not None else None,
            p_value=p,
            details=details,
        ),
        analyzer=NAME,
    )


def scan_text(
    text: str, language: str, corpora: list[LoadedCorpus], params: WinnowParams = DEFAULT_PARAMS
) -> CloneMatch | None:
    """The best upstream of one file's text (the unit the evaluation and bench time)."""
    return best_match(fingerprint(tokenize(text, language), params), corpora)


class ClonesAnalyzer(Analyzer):
    """Copied code against every indexed corpus; free when none is indexed."""

    name = NAME

    def __init__(self, corpora: list[LoadedCorpus] | None = None):
        self._corpora = corpora

    def analyze(self, snapshot: Snapshot, ctx: AuditContext) -> Iterable[Finding]:
        code = [f for f in snapshot.by_kind(FileKind.CODE) if family_of(f.language)]
        if not code:
            return []
        corpora = self._corpora if self._corpora is not None else load_corpora()
        findings: list[Finding] = [
            not_analysed(
                None,
                f"corpus {c.info.name!r} was indexed by another version of "
                "provscan; re-index it (`provscan index add --replace`)",
                NAME,
            )
            for c in corpora
            if c.params != DEFAULT_PARAMS.key()
        ]
        corpora = [c for c in corpora if c.params == DEFAULT_PARAMS.key()]
        if not corpora:
            return findings
        for f in code:
            if f.size > MAX_TEXT_BYTES:
                findings.append(not_analysed(f.path, "too large to compare with corpora", NAME))
                continue
            try:
                text = snapshot.reader.read_text(f.path)
            except (OSError, ValueError, SourceError) as exc:
                findings.append(not_analysed(f.path, f"unreadable ({exc})", NAME))
                continue
            assert f.language is not None
            try:
                match = scan_text(text, f.language, corpora)
                if match is not None and is_copy(match):
                    findings.append(clone_finding(f.path, match, text))
            except Exception as exc:  # one hostile file costs that file, not the analyzer
                findings.append(not_analysed(f.path, f"{type(exc).__name__}: {exc}", NAME))
        return findings

"""Reading `provscan scan --json` reports of the real-code benchmark against its ground truth.

Only the JSON contract is read (docs/report.schema.json), so that later versions of the
scanner are measured the same way:

- A *copy finding* is one of kind `copied-code` or `notice-removed`, or any finding whose
  `evidence.details` has an `upstream_path` (a kind added later that names an upstream). Its
  upstream is `evidence.details.upstream_path` (a path in the corpus, here
  'transformers/models/opt/modeling_opt.py'); its regions are `evidence.details.ranges`
  (`{"target": [a, b], "upstream": [c, d]}`, with `lines` when the scanner gives the count,
  else b - a + 1 is used).
- A *declared adaptation* is a finding of kind `declared-adaptation` (DECLARED_KIND) on the
  file (`location.path`, `location.start_line` the comment), one per upstream its comments
  name, with `evidence.details.upstream_path` the corpus path the reference resolves to (a
  file, or a model folder ending in '/') and `evidence.details.reference` the URL or module
  as written. Today's scanner has no such kind: every declaration counts as not reported.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.code_real_truth import Declaration, Overlap, group_of, overlap

DECLARED_KIND = "declared-adaptation"
COPY_KINDS = frozenset({"copied-code", "notice-removed"})
SEVERITIES = ("high", "medium", "low", "info")
# The judgement of a finding on independently written code, from the verbatim lines the file
# shares with the upstream it was matched to (bench/code_real_truth.py).
REAL_COPY_LINES = 20
"""As many as the recall set's bar: a file sharing this many distinct lines is a real copy."""
SOME_CODE_DISTINCTIVE = 5
"""Below the bar, this many distinctive (non-idiom) shared lines: some code in common."""


def copy_findings(report: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Copy findings by file path."""
    out: dict[str, list[dict[str, Any]]] = {}
    for f in report.get("findings", []):
        details = (f.get("evidence") or {}).get("details") or {}
        if f.get("kind") in COPY_KINDS or "upstream_path" in details:
            out.setdefault((f.get("location") or {}).get("path") or "", []).append(f)
    return out


def declared_findings(report: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for f in report.get("findings", []):
        if f.get("kind") == DECLARED_KIND:
            out.setdefault((f.get("location") or {}).get("path") or "", []).append(f)
    return out


def _details(finding: dict[str, Any]) -> dict[str, Any]:
    return (finding.get("evidence") or {}).get("details") or {}


def upstream_of(finding: dict[str, Any]) -> str:
    details = (finding.get("evidence") or {}).get("details") or {}
    return str(
        details.get("upstream_path") or (finding.get("evidence") or {}).get("matched") or "?"
    )


def region_lines(finding: dict[str, Any]) -> tuple[int, int]:
    """(regions, target lines they cover, overlapping regions merged)."""
    ranges = ((finding.get("evidence") or {}).get("details") or {}).get("ranges") or []
    spans = sorted(
        (int(r["target"][0]), int(r["target"][1]))
        for r in ranges
        if isinstance(r, dict) and r.get("target")
    )
    covered, end = 0, 0
    for a, b in spans:
        a = max(a, end + 1)
        if b >= a:
            covered += b - a + 1
            end = b
    explicit = sum(int(r["lines"]) for r in ranges if isinstance(r, dict) and "lines" in r)
    return len(spans), explicit or covered


def strongest_range(finding: dict[str, Any]) -> str:
    """'distance2bbox: lines 439-452 (14 lines, evidence 19.4)' of the range with the most
    evidence (or the most lines), when the finding has ranges."""
    ranges = [
        r
        for r in ((finding.get("evidence") or {}).get("details") or {}).get("ranges") or []
        if isinstance(r, dict) and r.get("target")
    ]
    if not ranges:
        return ""
    r = max(ranges, key=lambda r: (r.get("evidence") or 0, r.get("lines") or 0))
    a, b = r["target"]
    what = f"{r['unit']}: " if r.get("unit") else ""
    extra = [f"{r['lines']} lines"] if r.get("lines") else []
    if r.get("evidence") is not None:
        extra.append(f"evidence {r['evidence']}")
    return f"{what}lines {a}-{b}" + (f" ({', '.join(extra)})" if extra else "")


def judge(shared: Overlap | None) -> str:
    if shared is None:
        return "not measurable (upstream not a file of the installed package)"
    if shared.shared >= REAL_COPY_LINES:
        return "real copy"
    if shared.distinctive >= SOME_CODE_DISTINCTIVE:
        return "some shared code"
    return "boilerplate"


# ---- precision -----------------------------------------------------------------------------


@dataclass(frozen=True)
class PrecisionRow:
    path: str
    kind: str
    severity: str
    upstream: str
    score: float | None
    shared_fingerprints: int | None
    overlap: Overlap | None
    judgement: str
    declares: tuple[str, ...]
    """Upstreams (not transformers) that the file's own comments name."""
    strongest: str = ""
    """The finding's strongest range as the scanner describes it (function, lines,
    evidence), when it gives them: what a person reads to judge it."""


def precision_rows(
    report: dict[str, Any],
    sources: dict[str, Path],
    transformers_root: Path,
    declares: dict[str, tuple[Declaration, ...]],
) -> list[PrecisionRow]:
    rows = []
    for path, findings in sorted(copy_findings(report).items()):
        text = (
            sources[path].read_text(encoding="utf-8", errors="replace") if path in sources else ""
        )
        for f in findings:
            up = upstream_of(f)
            ov = overlap(text, up, transformers_root) if text else None
            ev = f.get("evidence") or {}
            rows.append(
                PrecisionRow(
                    path=path,
                    kind=f["kind"],
                    severity=f["severity"],
                    upstream=up,
                    score=ev.get("score"),
                    shared_fingerprints=(ev.get("details") or {}).get("shared_fingerprints"),
                    overlap=ov,
                    judgement=judge(ov),
                    declares=tuple(d.upstream for d in declares.get(path, ())),
                    strongest=strongest_range(f),
                )
            )
    return rows


def other_findings(report: dict[str, Any], paths: set[str]) -> Counter[tuple[str, str]]:
    """(kind, severity) of the findings on the set's files that claim no copy."""
    copies = {id(f) for fs in copy_findings(report).values() for f in fs}
    return Counter(
        (f["kind"], f["severity"])
        for f in report.get("findings", [])
        if id(f) not in copies and (f.get("location") or {}).get("path") in paths
    )


# ---- recall --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecallTruth:
    path: str
    declarations: tuple[Declaration, ...]
    named: Declaration
    """The declaration whose model the file shares most with."""
    named_overlap: Overlap | None
    """With exactly the named file (None: the installed version has no such file)."""
    best: Overlap | None
    """With the file of the named model that shares most."""

    @property
    def qualifies(self) -> bool:
        return self.best is not None and self.best.shared >= REAL_COPY_LINES


@dataclass(frozen=True)
class RecallRow:
    truth: RecallTruth
    reported: tuple[str, ...]
    """Upstreams of the copy findings on the file."""
    hit: str | None
    """The reported upstream in a named model's folder, if any."""
    regions: int
    region_lines: int
    declared: bool
    without_declaration: bool = False
    """The hit also clears the calibrated copied-code bar (a copied-code finding from the
    named model, or a declared adaptation whose `undeclared_basis` is set): it would be
    reported had the file declared nothing."""


def _same_upstream(reported: str, named: str) -> bool:
    """A reported corpus path is the named file, or in the named model's folder."""
    reported, named = reported.lstrip("/"), named.lstrip("/")
    if named.endswith("/"):
        return reported.startswith(named) or reported.rstrip("/") == named.rstrip("/")
    return reported == named or reported.startswith(group_of(named))


def recall_rows(report: dict[str, Any], truths: list[RecallTruth]) -> list[RecallRow]:
    copies, declared = copy_findings(report), declared_findings(report)
    rows = []
    for t in truths:
        found = copies.get(t.path, [])
        ups = tuple(upstream_of(f) for f in found)
        hit_f = next(
            (
                f
                for f in found
                for d in t.declarations
                if _same_upstream(upstream_of(f), d.upstream)
            ),
            None,
        )
        regions, lines = region_lines(hit_f) if hit_f else (0, 0)
        bar = any(
            (f.get("kind") != DECLARED_KIND or _details(f).get("undeclared_basis"))
            and any(_same_upstream(upstream_of(f), d.upstream) for d in t.declarations)
            for f in found
        )
        rows.append(
            RecallRow(
                truth=t,
                reported=ups,
                hit=upstream_of(hit_f) if hit_f else None,
                regions=regions,
                region_lines=lines,
                declared=all(_declares(declared.get(t.path, []), d) for d in t.declarations),
                without_declaration=bar,
            )
        )
    return rows


def _declares(findings: list[dict[str, Any]], decl: Declaration) -> bool:
    """A declared-adaptation finding names this upstream: its upstream_path is the named
    file (or in the named folder), or its reference holds the named path or module."""
    dotted = decl.upstream.removesuffix(".py").rstrip("/").replace("/", ".")
    for f in findings:
        details = (f.get("evidence") or {}).get("details") or {}
        path = str(details.get("upstream_path") or "")
        ref = str(details.get("reference") or "")
        if (path and _same_upstream(path, decl.upstream)) or (
            ref and (decl.upstream.rstrip("/") in ref or dotted in ref)
        ):
            return True
    return False


def declared_other(report: dict[str, Any], files: dict[str, tuple[Declaration, ...]]) -> int:
    """Files naming only a non-transformers upstream that got a declared-adaptation finding
    naming it (its repository's path, as written, in details.reference or upstream_path)."""
    declared = declared_findings(report)
    n = 0
    for path, decls in files.items():
        said = " ".join(
            str(((f.get("evidence") or {}).get("details") or {}).get(k) or "")
            for f in declared.get(path, [])
            for k in ("reference", "upstream_path")
        )
        if all(d.upstream.split(":", 1)[1].rstrip("/") in said for d in decls):
            n += 1
    return n


# ---- licenses and notices ------------------------------------------------------------------


def _holder_key(holder: str) -> str:
    return re.sub(r"[\s.,;:]+", " ", holder.casefold()).strip()


def provscan_licenses(
    report: dict[str, Any],
) -> tuple[dict[str, str | None], dict[str, frozenset[str]]]:
    """Per file: the license expression found in it, and its copyright holders."""
    exprs: dict[str, str | None] = {
        f["path"]: None for f in report.get("files", []) if f.get("kind") == "code"
    }
    holders: dict[str, set[str]] = {p: set() for p in exprs}
    for f in report.get("findings", []):
        path = (f.get("location") or {}).get("path")
        details = (f.get("evidence") or {}).get("details") or {}
        if path not in exprs:
            continue
        if f["kind"] == "license" and details.get("source") == "file":
            exprs[path] = details.get("license_expression")
        elif f["kind"] in ("copyright-notice", "foreign-notice") and details.get("holder"):
            holders[path].add(_holder_key(details["holder"]))
        elif f["kind"] == "not-analysed" and f.get("analyzer") == "licenses":
            exprs[path] = "not-analysed"
    return exprs, {p: frozenset(h) for p, h in holders.items()}


def scancode_licenses(
    data: dict[str, Any],
) -> tuple[dict[str, str | None], dict[str, frozenset[str]]]:
    exprs: dict[str, str | None] = {}
    holders: dict[str, frozenset[str]] = {}
    for entry in data.get("files", []):
        if entry.get("type") != "file":
            continue
        rel = entry["path"].split("/", 1)[1] if "/" in entry["path"] else entry["path"]
        exprs[rel] = entry.get("detected_license_expression")
        holders[rel] = frozenset(
            _holder_key(h["holder"]) for h in entry.get("holders") or [] if h.get("holder")
        )
    return exprs, holders

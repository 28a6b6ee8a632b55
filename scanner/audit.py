"""The audit: source -> analyzers -> assessment, handing the formats one Report."""

from __future__ import annotations

from collections.abc import Sequence

from .analyzers import Analyzer, AuditContext, AuditOptions
from .assess import report_of
from .assess.model import Report
from .errors import ProvscanError
from .model import Finding, analyzer_failed
from .result import AuditResult
from .safetext import one_line
from .snapshot import Progress, SilentProgress, Snapshot
from .sources import open_target

__all__ = ["AuditResult", "Report", "analyze_target", "audit"]


def default_analyzers() -> list[Analyzer]:
    """The analyzers a scan runs, in order; each module is imported only here."""
    analyzers: list[Analyzer] = []
    # licenses, notices and card (issue: license scanner)
    from .code.analyzer import LicenseAnalyzer

    analyzers.append(LicenseAnalyzer())

    # copied code against indexed corpora (issue: clones)
    from .code.clones import ClonesAnalyzer

    analyzers.append(ClonesAnalyzer())

    # weight lineage against --against references (issue: weights)
    from .weights.analyzer import WeightsAnalyzer

    analyzers.append(WeightsAnalyzer())

    return analyzers


def run_analyzers(
    snapshot: Snapshot, analyzers: Sequence[Analyzer], ctx: AuditContext
) -> list[Finding]:
    """Every analyzer's findings. Analyzers isolate each file themselves (a file they cannot
    analyse is a not-analysed finding); one that fails anyway is reported as failed, with
    nothing of what it found before (half a license scan is not evidence), and the others
    still run."""
    findings: list[Finding] = list(snapshot.problems)
    for analyzer in analyzers:
        try:
            with ctx.progress.task(f"{analyzer.name} analysis", unit="steps"):
                findings.extend(list(analyzer.analyze(snapshot, ctx)))
        except ProvscanError as exc:
            findings.append(analyzer_failed(analyzer.name, one_line(exc)))
        except Exception as exc:  # hostile input nobody anticipated: fail closed, go on
            findings.append(
                analyzer_failed(analyzer.name, f"unexpected {type(exc).__name__}: {one_line(exc)}")
            )
    return findings


def analyze_target(
    target: str,
    options: AuditOptions | None = None,
    *,
    analyzers: Sequence[Analyzer] | None = None,
    progress: Progress | None = None,
) -> AuditResult:
    """Source -> analyzers: the findings about a target, not yet assessed."""
    options = options or AuditOptions()
    ctx = AuditContext(options=options, progress=progress or SilentProgress())
    snapshot = open_target(target, offline=options.offline, progress=ctx.progress)
    chosen = default_analyzers() if analyzers is None else analyzers
    findings = run_analyzers(snapshot, chosen, ctx)
    return AuditResult(snapshot=snapshot, findings=tuple(findings))


def audit(
    target: str,
    options: AuditOptions | None = None,
    *,
    analyzers: Sequence[Analyzer] | None = None,
    progress: Progress | None = None,
) -> Report:
    """Source -> analyzers -> assessment: the Report every output format renders."""
    return report_of(analyze_target(target, options, analyzers=analyzers, progress=progress))

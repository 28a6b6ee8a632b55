# ruff: noqa: F811  (pytest fixtures imported from test_report_data)
"""The HTML report as the person who signs off reads it: one count everywhere, how sure in
plain words, signals named in words, charts with a legend and round ticks, models named
(not folders or fingerprint files), a missing license said once, hidden characters shown."""

from __future__ import annotations

import math
import re
from pathlib import Path

from test_report_data import audit_with, demo_release, demo_report, make_clean_release  # noqa: F401

from scanner.assess.model import Curve, Report
from scanner.demo_release import BASE_NAME
from scanner.evidence import (
    ForeignNotice,
    LicenseInFile,
    MissingLicense,
    SignalEvidence,
    UpstreamId,
    WeightsLineage,
)
from scanner.model import Evidence, Finding, Location, Severity
from scanner.report.charts import line_chart, nice_ticks, signal_chart, tick_label
from scanner.report.cyclonedx import CycloneDxFormat
from scanner.report.html import HtmlFormat
from scanner.report.notice import NoticeFormat
from scanner.report.wording import how_sure, signal_sureness


def test_the_headline_counts_what_the_list_below_it_shows(demo_report: Report) -> None:
    a = demo_report.assessment
    n = len(a.discrepancies)
    serious = sum(d.severity == "high" for d in a.discrepancies)
    assert f"{n} discrepancies, {serious} of them serious" in a.verdict.headline
    assert len(a.verdict.points) == n
    html = HtmlFormat().render(demo_report)
    assert f"Discrepancies ({n})" in html
    headline = re.search(r'<p class="headline">(.*?)</p>', html).group(1)
    assert str(n) in headline


def test_how_sure_is_said_in_plain_words() -> None:
    assert how_sure(0.3, 0.0, 0.1, 3.7, 1e-4) == (
        "Unrelated models reach this similarity about 1 time in 10,000."
    )
    assert "no evidence on its own" in how_sure(0.1, 0.0, 0.1, 1.0, 0.16)
    assert "A hint, not proof" in how_sure(0.25, 0.0, 0.1, 2.5, 0.0062)
    far = how_sure(0.99, 0.0, 0.005, 198.0, 0.0)
    assert far.startswith("Far beyond unrelated models: 198 standard deviations")
    panel = how_sure(0.99, 0.0, 0.005, 198.0, 0.0, pairs=15, panel_max=0.0072)
    assert "Beyond anything seen in 15 pairs of unrelated models." in panel
    assert "No background" in how_sure(0.5, None, None, None, None)


def test_a_calibrated_signal_is_said_with_its_own_sentence_not_recomputed_from_z() -> None:
    calibrated = SignalEvidence(
        name="aligned_forms",
        score=0.41,
        null_mean=0.02,
        null_std=0.01,
        z=39.0,
        p_value=1 / 35,
        robust_to=(),
        details={},
        in_words="none of the 34 real unrelated pairs measured come this close: fewer "
        "than 1 time in 35 is all that panel can say",
    )
    text = signal_sureness(calibrated)
    assert text.startswith("None of the 34 real unrelated pairs measured come this close")
    assert "Far beyond" not in text and "million" not in text
    bare = SignalEvidence(**{**calibrated.__dict__, "in_words": None})
    assert signal_sureness(bare) == "Unrelated models reach this similarity about 1 time in 35."


def test_each_lineage_verdict_says_how_sure_beside_z_and_p(demo_report: Report) -> None:
    html = HtmlFormat().render(demo_report)
    sure = re.search(r'<p class="sure"><strong>How sure:</strong> (.*?)</p>', html, re.S)
    assert sure and "standard deviations above" in sure.group(1)
    assert "matching tensors point the same way (direct_cosine)" in sure.group(1)
    # every signal's row has its words, its code name, z, p and a sentence
    assert "matching tensors point the same way <code>direct_cosine</code>" in html
    assert "<code>std_curve</code>" in html and "Weak on its own" in html


def test_a_chart_has_a_legend_and_round_ticks_and_nothing_over_the_data() -> None:
    curve = Curve(
        label="direct_cosine by layer",
        layers=(0, 1, 2, 3),
        values=(0.9931, 0.9957, 0.9949, 0.9962),
        value_label="direct_cosine",
        null_mean=0.0,
        null_std=0.0041,
        band_note="the band is the null of the signal's overall score",
    )
    chart = line_chart("c", curve)
    assert chart is not None
    labels = [item.label for item in chart.legend]
    assert any("direct_cosine" in label for label in labels)
    assert any("unrelated models" in label for label in labels)
    plot_top = chart.plot[1]
    assert all(item.y < plot_top for item in chart.legend)  # a strip above the plot
    values = [float(t.label) for t in chart.y_ticks]
    step = values[1] - values[0]
    assert round(step / 10 ** math.floor(math.log10(step)), 6) in (1, 2, 2.5, 5)
    for tick, value in zip(chart.y_ticks, values, strict=True):
        assert re.fullmatch(r"-?\d+(\.\d{1,2})?", tick.label), tick.label
        assert math.isclose(value / step, round(value / step), abs_tol=1e-6), tick.label
    signals = signal_chart(
        "s",
        [
            SignalEvidence("direct_cosine", 0.99, 0.0, 0.004, 248.0, 0.0, (), {}),
            SignalEvidence("std_curve", 0.98, 0.5, 0.25, 1.9, 0.03, (), {}),
        ],
    )
    assert signals is not None
    bottom = signals.plot[1] + signals.plot[3]
    assert {i.mark for i in signals.legend} == {"band", "dot"}
    assert all(item.y > bottom + 20 for item in signals.legend)  # below the axis labels
    values = [float(t.label) for t in signals.x_ticks]
    assert values[0] <= -0.008 and values[-1] >= 1.0  # the bands and dots are inside
    assert values[-1] - values[0] < 1.3 and len(values) <= 8  # not twice the range needed


def test_ticks_are_one_two_or_five_times_a_power_of_ten() -> None:
    for lo, hi in [(-2.06, 1.05), (0.0, 0.0073), (-0.8, 326.0), (3.0, 3.0), (-1e-4, 2e-4)]:
        ticks, step = nice_ticks(lo, hi)
        assert ticks[0] <= lo and ticks[-1] >= hi
        mantissa = step / 10 ** math.floor(math.log10(step))
        assert any(math.isclose(mantissa, m) for m in (1, 2, 2.5, 5)), step
        labels = [tick_label(t, step) for t in ticks]
        assert len(set(labels)) == len(labels), labels


def test_a_whole_model_finding_is_not_located_at_a_tensor(demo_report: Report) -> None:
    html = HtmlFormat().render(demo_report)
    rows = re.findall(r'<tr id="F\d+">(.*?)</tr>', html.replace("<wbr>", ""), re.S)
    lineage = [r for r in rows if "weights-derived" in r or "undeclared-base-model" in r]
    assert lineage
    for row in lineage:
        where = re.search(r'data-label="Where">(.*?)</td>', row, re.S).group(1)
        assert where == "the whole model" and "tensor" not in where


def test_the_title_names_the_model_from_its_card(tmp_path: Path) -> None:
    root = make_clean_release(tmp_path / "model")  # a folder name that says nothing
    (root / "README.md").write_text(
        "---\nlicense: apache-2.0\n---\n# Model Card for Acme Chat 1B\n"
    )
    report = audit_with(root, [])
    assert report.name == "Acme Chat 1B"
    html = HtmlFormat().render(report)
    assert "<title>provscan report: Acme Chat 1B</title>" in html
    assert NoticeFormat().render(report).startswith("Acme Chat 1B\n")
    assert '"name": "Acme Chat 1B"' in CycloneDxFormat().render(report)
    (root / "README.md").write_text("---\nlicense: apache-2.0\nmodel_name: acme-chat\n---\n# X\n")
    assert audit_with(root, []).name == "acme-chat"
    (root / "README.md").write_text("---\nlicense: apache-2.0\n---\n```\n# not a title\n```\n")
    assert audit_with(root, []).name == "model"  # no title: the folder, as before


def test_a_fingerprint_reference_is_named_by_the_model_it_stands_for(tmp_path: Path) -> None:
    root = make_clean_release(tmp_path / "r")
    signal = SignalEvidence("direct_cosine", 0.99, 0.0, 0.004, 248.0, 0.0, (), {})
    derived = Finding(
        kind="undeclared-base-model",
        severity=Severity.HIGH,
        message="the model card declares no base model, but the weights derive from x",
        evidence=Evidence(
            matched=str(tmp_path / "minilm.npz"),
            score=0.99,
            z=248.0,
            p_value=0.0,
            details=WeightsLineage(
                verdict="derived",
                relation="fine-tune",
                signals=(signal,),
                reasons=(),
                reference_name="hf:sentence-transformers/all-MiniLM-L6-v2",
            ),
        ),
    )
    report = audit_with(root, [derived])
    [claim] = report.assessment.lineage
    assert claim.name == "sentence-transformers/all-MiniLM-L6-v2"
    [title] = [
        d.title for d in report.assessment.discrepancies if d.kind == "undeclared-base-model"
    ]
    assert "all-MiniLM-L6-v2" in title and "minilm.npz" not in title


def test_a_fingerprint_file_made_by_provscan_carries_its_models_name(
    demo_release, tmp_path: Path
) -> None:
    from scanner.analyzers import AuditOptions
    from scanner.audit import audit
    from scanner.weights.analyzer import WeightsAnalyzer
    from scanner.weights.fingerprint import fingerprint_of

    npz = tmp_path / "fingerprints" / "base.npz"
    npz.parent.mkdir()
    fingerprint_of(str(demo_release.base)).save(npz)
    report = audit(
        str(demo_release.release),
        AuditOptions(against=(str(npz),)),
        analyzers=[WeightsAnalyzer()],
    )
    [claim] = report.assessment.lineage
    assert claim.reference == str(npz) and claim.name == BASE_NAME


def _license_finding(path: str, expression: str = "apache-2.0") -> Finding:
    return Finding(
        kind="license",
        severity=Severity.INFO,
        message=f"{expression} in {path}",
        location=Location(path=path, start_line=1, end_line=3),
        evidence=Evidence(
            matched=expression,
            details=LicenseInFile(
                license_expression=expression,
                license_expression_spdx=expression,
                families={},
                rules=(),
                matchers=(),
                needs_review=False,
                approximate=False,
            ),
        ),
    )


def _qwen_notice(usual_license: str = "apache-2.0") -> Finding:
    return Finding(
        kind="foreign-notice",
        severity=Severity.MEDIUM,
        message="notice of The Qwen team, Alibaba Group",
        location=Location(path="a.py", start_line=1, end_line=1),
        evidence=Evidence(
            matched="Copyright 2024 The Qwen team, Alibaba Group",
            details=ForeignNotice(
                statement="Copyright 2024 The Qwen team, Alibaba Group",
                holder="The Qwen team, Alibaba Group",
                holder_key="qwen",
                lines=("# Copyright 2024 The Qwen team, Alibaba Group",),
                origins=(UpstreamId("qwen", "Alibaba Group", "Qwen", usual_license),),
                publisher=None,
            ),
        ),
    )


def test_a_release_without_a_declared_license_says_so_once(tmp_path: Path) -> None:
    root = make_clean_release(tmp_path / "r")
    (root / "README.md").write_text("---\nlanguage: en\n---\n# r\n")
    (root / "LICENSE").unlink()
    notice = _qwen_notice()
    missing = [
        Finding(
            kind="missing-license",
            severity=Severity.MEDIUM,
            message=text,
            evidence=Evidence(details=MissingLicense(which)),
        )
        for which, text in (
            ("license-file", "no LICENSE or COPYING file in the release"),
            ("declared-license", "no license declared (model card `license:` or config)"),
        )
    ]
    a = audit_with(root, [_license_finding("a.py"), _license_finding("b.py"), notice, *missing])
    about_license = [
        d
        for d in a.assessment.discrepancies
        if d.kind in ("missing-license", "license-not-reflected")
    ]
    assert len(about_license) == 1, [d.title for d in about_license]
    [one] = about_license
    assert one.title == "No license declared, though the release carries apache-2.0"
    assert "no LICENSE or COPYING file" in one.explanation
    assert len(one.finding_ids) >= 4  # every finding behind it is still cited


def test_a_license_brought_in_by_several_routes_is_one_discrepancy(tmp_path: Path) -> None:
    root = make_clean_release(tmp_path / "r")
    (root / "README.md").write_text("---\nlicense: mit\n---\n# r\n")
    found = [_license_finding(p, "gpl-3.0") for p in ("a.py", "b.py")] + [_qwen_notice("gpl-3.0")]
    a = audit_with(root, found).assessment
    [gpl] = [d for d in a.discrepancies if d.kind == "license-not-reflected"]
    assert gpl.title == "gpl-3.0 (file) is not reflected in the declared license"
    assert "file: a.py, b.py" in gpl.explanation
    # a holder's usual license is no route of its own: the file's license text decides
    assert "foreign notice" not in gpl.explanation
    assert set(gpl.finding_ids) == {"F1", "F2"}


def test_bidi_and_control_characters_are_shown_escaped_and_said(tmp_path: Path) -> None:
    root = make_clean_release(tmp_path / "r")
    name = "bidi\u202etxt.py"
    finding = Finding(
        kind="license-review",
        severity=Severity.LOW,
        message=f"unclear license in {name} \x1b]0;pwned\x07",
        location=Location(path=name, start_line=1, end_line=1),
        evidence=Evidence(matched="x\u2066y"),
    )
    html = HtmlFormat().render(audit_with(root, [finding]))
    for raw in ("\u202e", "\u2066", "\x1b", "\x07"):
        assert raw not in html
    assert "bidi\\u202etxt.py" in html and "\\x1b]0;pwned\\x07" in html
    assert "Hidden characters shown" in html  # said at the top, with an example
    clean = HtmlFormat().render(audit_with(make_clean_release(tmp_path / "c"), []))
    assert "Hidden characters shown" not in clean


def test_every_discrepancy_cites_the_findings_behind_it(demo_report: Report) -> None:
    """An obligation of a base model's license cites the lineage findings that brought the
    license in; no discrepancy says "Evidence:" with nothing after it."""
    a = demo_report.assessment
    owed = [d for d in a.discrepancies if d.kind in ("missing-attribution", "missing-license")]
    assert owed, [d.kind for d in a.discrepancies]
    assert all(d.finding_ids for d in a.discrepancies), [
        (d.kind, d.title) for d in a.discrepancies if not d.finding_ids
    ]
    html = HtmlFormat().render(demo_report)
    assert not re.search(r"Evidence:\s*</p>", html)

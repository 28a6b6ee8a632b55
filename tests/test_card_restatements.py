"""A card's front matter and the section `provscan disclose` writes restate; they are not
material the release carries. The license analyzer leaves their detections out (real
scancode), so a card that declares `license: other` the Hub's way, or quotes the notices
the audit found, does not become a discrepancy of its own."""

from __future__ import annotations

from pathlib import Path

from scanner.audit import audit
from scanner.card import PROVENANCE_BEGIN, PROVENANCE_END, declaration_lines
from scanner.code.analyzer import LicenseAnalyzer

SECTION = f"""{PROVENANCE_BEGIN}
## Provenance and licenses

**License:** Qwen License Agreement, declared as `license: other`.

```text
Copyright 2022 EleutherAI and the HuggingFace Inc. team. All rights reserved.
Licensed under the Apache License, Version 2.0 (the "License");
```
{PROVENANCE_END}
"""


def test_declaration_lines_are_the_front_matter_and_the_marked_section() -> None:
    text = "---\nlicense: other\n---\n# m\n\n" + SECTION + "after\n"
    lines = text.splitlines()
    ranges = declaration_lines(text)
    assert ranges[0] == (1, 3)
    begin, end = ranges[1]
    assert lines[begin - 1] == PROVENANCE_BEGIN and lines[end - 1] == PROVENANCE_END
    assert declaration_lines("# no front matter\n") == ()
    # one marker alone, or two pairs, mark nothing: the section is not recognised
    assert declaration_lines("x\n" + PROVENANCE_BEGIN + "\n") == ()
    assert len(declaration_lines(SECTION + SECTION)) == 0


def test_license_other_on_the_card_is_no_found_license(tmp_path: Path) -> None:
    root = tmp_path / "r"
    root.mkdir()
    (root / "README.md").write_text(
        "---\nlicense: other\nlicense_name: qwen\n---\n# m\n\nOur model.\n" + SECTION
    )
    # the Apache-2.0 the section quotes is carried by a file of the release too
    (root / "model.py").write_text(
        "# Copyright 2024 Example\n#\n"
        '# Licensed under the Apache License, Version 2.0 (the "License");\n'
        "# you may not use this file except in compliance with the License.\n"
        "# You may obtain a copy of the License at\n#\n"
        "#     http://www.apache.org/licenses/LICENSE-2.0\n\nx = 1\n"
    )
    report = audit(str(root), analyzers=[LicenseAnalyzer(workers=1)])
    in_card = [
        f
        for f in report.result.findings
        if f.location.path == "README.md" and f.kind in ("license", "foreign-notice")
    ]
    # only the declaration itself (LicenseDeclared); nothing detected in what restates
    assert [type(f.evidence.details).__name__ for f in in_card] == ["LicenseDeclared"]
    kinds = {d.kind for d in report.assessment.discrepancies}
    assert "license-not-reflected" not in kinds


def test_text_outside_the_section_is_still_scanned(tmp_path: Path) -> None:
    root = tmp_path / "r"
    root.mkdir()
    (root / "README.md").write_text(
        "---\nlicense: mit\n---\n# m\n\nCopyright 2023 Example Corp.\n\n"
        "Licensed under the GNU General Public License v3.0.\n" + SECTION
    )
    report = audit(str(root), analyzers=[LicenseAnalyzer(workers=1)])
    found = [
        f
        for f in report.result.findings
        if f.location.path == "README.md" and f.kind == "license" and f.location.start_line
    ]
    assert found and all(f.location.start_line and f.location.start_line > 3 for f in found)
    assert any("gpl" in (f.message or "").lower() for f in found)
    holders = [f.message for f in report.result.findings if "Example Corp" in f.message]
    assert holders
    assert not [f for f in report.result.findings if "EleutherAI" in f.message]


def test_a_license_only_inside_the_markers_is_still_reported(tmp_path: Path) -> None:
    """The markers are plain text anyone can write: they restate, they cannot hide. A GPL
    statement that appears nowhere else in the release is reported even inside them."""
    root = tmp_path / "r"
    root.mkdir()
    (root / "README.md").write_text(
        "---\nlicense: mit\n---\n# m\n\n"
        + SECTION.replace(
            "## Provenance and licenses\n",
            "## Provenance and licenses\n\nThis model is licensed under the GNU General "
            "Public License v3.0.\n",
        )
    )
    report = audit(str(root), analyzers=[LicenseAnalyzer(workers=1)])
    found = [
        f
        for f in report.result.findings
        if f.location.path == "README.md" and f.kind == "license" and f.location.start_line
    ]
    assert any("gpl" in (f.message or "").lower() for f in found)

"""`provscan disclose` on the demo release, run as a user runs it with every real analyzer
(licenses with scancode, copied code against the indexed transformers files, weights
against the base): what it discloses, --apply, and a second `provscan check` afterwards."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
from conftest import run_cli
from huggingface_hub import ModelCard

from scanner.demo import DEMO_CORPUS
from scanner.demo_release import BASE_NAME, DemoRelease, build_release


def tree_hashes(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[DemoRelease, dict[str, str]]:
    home = tmp_path_factory.mktemp("disclose-home")
    env = {"PROVSCAN_HOME": str(home)}
    demo = build_release(tmp_path_factory.mktemp("disclose-demo"))
    res = run_cli("index", "add", DEMO_CORPUS, str(demo.corpus), "--license", "apache-2.0", env=env)
    assert res.returncode == 0, res.stderr
    return demo, env


@pytest.fixture(scope="module")
def disclosed(demo, tmp_path_factory: pytest.TempPathFactory):
    """disclose without --apply: the files, and the release untouched."""
    release, env = demo
    out = tmp_path_factory.mktemp("disclosure")
    before = tree_hashes(release.release)
    res = run_cli(
        "disclose",
        str(release.release),
        "--against",
        str(release.base),
        "--out",
        str(out),
        env=env,
    )
    return out, res, before


@pytest.fixture(scope="module")
def applied(demo, disclosed, tmp_path_factory: pytest.TempPathFactory):
    """disclose --apply, then `provscan check` of the release."""
    release, env = demo
    out = tmp_path_factory.mktemp("applied")
    card_before = (release.release / "README.md").read_text()
    res = run_cli(
        "disclose",
        str(release.release),
        "--against",
        str(release.base),
        "--out",
        str(out),
        "--apply",
        env=env,
    )
    check_json = out / "check.json"
    check = run_cli(
        "check",
        str(release.release),
        "--against",
        str(release.base),
        "--json",
        str(check_json),
        env=env,
    )
    scan_json = out / "after.json"
    run_cli(
        "scan",
        str(release.release),
        "--against",
        str(release.base),
        "--json",
        str(scan_json),
        env=env,
    )
    return out, res, card_before, check, json.loads(scan_json.read_text())


def test_without_apply_the_release_is_untouched(demo, disclosed) -> None:
    release, _ = demo
    out, res, before = disclosed
    assert res.returncode == 0, res.stderr
    assert tree_hashes(release.release) == before
    assert "nothing in the release was changed" in res.stdout
    for name in (
        "provenance.md",
        "card-metadata.yaml",
        "card-metadata.diff",
        "disclosure.html",
        "README.proposed.md",
        "report.json",
    ):
        assert (out / name).is_file(), name


def test_disclosed_front_matter_declares_the_base_and_its_license(disclosed) -> None:
    out, _, _ = disclosed
    data = ModelCard((out / "README.proposed.md").read_text()).data
    assert data.base_model == BASE_NAME
    assert (data.license, data.license_name) == ("other", "qwen")
    assert data.to_dict()["base_model_relation"] == "finetune"
    diff = (out / "card-metadata.diff").read_text()
    assert "-license: apache-2.0" in diff and f"+base_model: {BASE_NAME}" in diff
    assert (out / "card-metadata.yaml").read_text().startswith("---\n")


def test_section_lists_the_copied_modeling_file_with_its_upstream_notice_and_qwen_notices(
    disclosed,
) -> None:
    out, _, _ = disclosed
    section = (out / "provenance.md").read_text()
    code = section.split("### Third-party code", 1)[1].split("### Notices carried", 1)[0]
    row = next(line for line in code.splitlines() if line.startswith("| `modeling_acme.py`"))
    assert "models/llama/modeling_llama.py" in row and "replaced" in row
    notice = code.split("`modeling_acme.py`, from", 1)[1].split("- `", 1)[0]
    assert "Copyright 2022 EleutherAI and the HuggingFace Inc. team" in notice
    notices = section.split("### Notices carried", 1)[1].split("###", 1)[0]
    assert "Alibaba Group" in notices and "The Qwen team, Alibaba Group" in notices


def test_every_statement_cites_findings_of_the_json_report(disclosed) -> None:
    out, _, _ = disclosed
    section = (out / "provenance.md").read_text()
    report = json.loads((out / "report.json").read_text())
    kinds = {f"F{i + 1}": f["kind"] for i, f in enumerate(report["findings"])}
    body = section.split("### Findings cited", 1)[0].split("\n", 3)[3]  # past title and preface
    not_statements = ("#", "|---", "| File", "| Obligation", "The ", "_Detected")
    in_fence = False
    for line in body.splitlines():
        if line.strip().startswith("```"):
            in_fence = not in_fence
        elif line.strip() and not in_fence and not line.startswith(not_statements):
            assert re.search(r"\[F\d+(, F\d+)*\]", line), line
    cited = set(re.findall(r"\bF\d+\b", body))
    assert cited and cited <= set(kinds)
    listed = dict(re.findall(r"^- (F\d+): `([\w-]+)`", section, re.MULTILINE))
    assert set(listed) == cited and all(kinds[i] == k for i, k in listed.items())


def test_apply_writes_the_card_and_check_finds_no_discrepancy_left_for_what_was_disclosed(
    demo, applied
) -> None:
    release, _ = demo
    _, res, card_before, check, after = applied
    assert res.returncode == 0, res.stderr
    assert "README.md: set license: other (was apache-2.0)" in res.stdout
    assert f"added base_model: {BASE_NAME}" in res.stdout
    card = (release.release / "README.md").read_text()
    body_before = card_before.split("---\n", 2)[2]
    assert card.split("---\n", 2)[2].startswith(body_before)
    # the second audit: the base is declared, its license reflected, "Built with Qwen" shown
    a = after["assessment"]
    assert [c["declared"] for c in a["lineage"]] == [True]
    kinds = {d["kind"] for d in a["discrepancies"]}
    assert "undeclared-base-model" not in kinds and "license-not-reflected" not in kinds
    assert all(d["reflected"] for d in a["detected_licenses"])
    built = next(o for o in a["obligations"] if o["id"] == "qwen/built-with")
    assert built["status"] == "met"
    assert "lineage.fail_on_undeclared_base" not in check.stdout
    assert "licenses.fail_on_unreflected" not in check.stdout
    # what disclosure cannot fix stays visible: the replaced notice in the copied file
    assert "notices.fail_on_removed" in check.stdout and check.returncode == 1


def test_apply_on_unparseable_front_matter_exits_2_and_changes_nothing(
    demo, tmp_path: Path
) -> None:
    release, env = demo
    root = tmp_path / "broken"
    root.mkdir()
    for f in release.release.iterdir():
        (root / f.name).write_bytes(f.read_bytes())
    broken = b"---\nlicense: [apache-2.0\nbase_model: x: y\n---\n# acme\n\xff\xfe body\n"
    (root / "README.md").write_bytes(broken)
    before = tree_hashes(root)
    res = run_cli(
        "disclose",
        str(root),
        "--against",
        str(release.base),
        "--out",
        str(tmp_path / "o"),
        "--apply",
        env=env,
    )
    assert res.returncode == 2, res.stdout + res.stderr
    assert "README.md" in res.stderr and "Traceback" not in res.stderr
    assert (root / "README.md").read_bytes() == broken
    assert tree_hashes(root) == before
    # without --apply the disclosure is still written, and says why the card is not
    res = run_cli("disclose", str(root), "--out", str(tmp_path / "o2"), env=env)
    assert res.returncode == 0 and "cannot be parsed" in res.stdout
    assert not (tmp_path / "o2" / "README.proposed.md").exists()


def test_apply_refuses_a_git_target_before_any_audit(demo, tmp_path: Path) -> None:
    _, env = demo
    res = run_cli(
        "disclose",
        "https://example.invalid/org/model.git",
        "--out",
        str(tmp_path / "o"),
        "--apply",
        env=env,
    )
    assert res.returncode == 2
    assert "local release folder only" in res.stderr
    res = run_cli("disclose", "hf:org/name", "--out", str(tmp_path / "o"), "--apply", env=env)
    assert res.returncode == 2 and "local release folder only" in res.stderr


def test_out_inside_the_release_is_refused(demo, tmp_path: Path) -> None:
    release, env = demo
    res = run_cli("disclose", str(release.release), "--out", str(release.release / "d"), env=env)
    assert res.returncode == 2 and "inside the release" in res.stderr
    assert not (release.release / "d").exists()

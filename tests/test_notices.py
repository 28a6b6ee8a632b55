"""Copyright notices: prefiltered cluecode detection with real line numbers, holder
normalisation, origins from rules/holders.toml, foreign-notice findings."""

from __future__ import annotations

from pathlib import Path

import pytest
import transformers

from scanner.analyzers import AuditOptions
from scanner.audit import analyze_target
from scanner.code.analyzer import LicenseAnalyzer
from scanner.code.notices import (
    candidate_blocks,
    detect_notices,
    holders_named,
    normalise_holder,
    origin_of_publisher,
    origins_of,
)

QWEN2 = Path(transformers.__file__).parent / "models" / "qwen2"
QWEN2_FILES = (
    "configuration_qwen2.py",
    "tokenization_qwen2.py",
    "__init__.py",
    "modeling_qwen2.py",
    "modular_qwen2.py",
)


@pytest.fixture
def qwen2_folder(tmp_path: Path) -> Path:
    root = tmp_path / "qwen2-copy"
    root.mkdir()
    for name in QWEN2_FILES:
        (root / name).write_bytes((QWEN2 / name).read_bytes())
    return root


def test_qwen2_files_yield_foreign_notices_of_qwen_alibaba_verbatim(qwen2_folder):
    result = analyze_target(str(qwen2_folder), analyzers=[LicenseAnalyzer()])
    foreign = [f for f in result.findings if f.kind == "foreign-notice"]
    by_path = {f.location.path: f for f in foreign}
    assert {"configuration_qwen2.py", "tokenization_qwen2.py"} <= set(by_path)
    for path, finding in by_path.items():
        origins = finding.evidence.details.origins
        qwen = [o for o in origins if o.id == "qwen"]
        assert qwen and qwen[0].project == "Qwen"
        assert qwen[0].organisation == "Alibaba Group"
        assert "Qwen / Alibaba Group" in finding.message
        # The original lines, verbatim, at their real line numbers.
        lines = (qwen2_folder / path).read_text().splitlines()
        start, end = finding.location.start_line, finding.location.end_line
        assert list(finding.evidence.details.lines) == lines[start - 1 : end]
        assert finding.evidence.matched == "\n".join(lines[start - 1 : end])
        assert "Copyright" in finding.evidence.matched


def test_publisher_own_notices_are_not_foreign(qwen2_folder):
    options = AuditOptions(publisher="Qwen")
    result = analyze_target(str(qwen2_folder), options, analyzers=[LicenseAnalyzer()])
    for f in result.findings:
        if f.kind == "foreign-notice":
            assert "qwen" not in {o.id for o in f.evidence.details.origins}
            assert f.severity == "medium"


def test_holder_of_unknown_origin_is_foreign_only_with_a_publisher(tmp_path):
    root = tmp_path / "r"
    root.mkdir()
    (root / "a.py").write_text("# Copyright 2021 Zyxwv Widgets Ltd.\nx = 1\n")
    plain = analyze_target(str(root), analyzers=[LicenseAnalyzer()]).findings
    assert [f.kind for f in plain if "notice" in f.kind] == ["copyright-notice"]
    with_pub = analyze_target(
        str(root), AuditOptions(publisher="acme"), analyzers=[LicenseAnalyzer()]
    ).findings
    foreign = [f for f in with_pub if f.kind == "foreign-notice"]
    assert len(foreign) == 1 and foreign[0].severity == "low"
    assert foreign[0].evidence.details.origins == ()


def test_notice_missing_needs_apache_content_with_foreign_notices_and_no_notice_file(qwen2_folder):
    (qwen2_folder / "README.md").write_text("---\nlicense: apache-2.0\n---\n")
    kinds = [
        f.kind for f in analyze_target(str(qwen2_folder), analyzers=[LicenseAnalyzer()]).findings
    ]
    assert kinds.count("notice-missing") == 1
    (qwen2_folder / "NOTICE").write_text("This product includes Qwen2 code.\n")
    kinds = [
        f.kind for f in analyze_target(str(qwen2_folder), analyzers=[LicenseAnalyzer()]).findings
    ]
    assert "notice-missing" not in kinds


def test_prefilter_keeps_real_line_numbers_and_neighbours():
    lines = ["x = 1"] * 10 + ["# Copyright (c) 2023 Example Org", "# All rights"] + ["y"] * 10
    blocks = candidate_blocks(lines)
    assert len(blocks) == 1
    numbers = [n for n, _ in blocks[0]]
    assert numbers == [9, 10, 11, 12, 13]
    assert blocks[0][2] == (11, "# Copyright (c) 2023 Example Org")


def test_notices_far_apart_are_found_at_their_own_lines():
    text = "\n".join(
        ["# Copyright 2020 Google LLC"]
        + ["pass"] * 50
        + ["# Copyright (c) 2024 DeepSeek-AI. All rights reserved."]
    )
    notices = detect_notices(text)
    assert [(n.start_line, n.holder) for n in notices] == [(1, "Google LLC"), (52, "DeepSeek-AI")]
    assert notices[1].lines == ("# Copyright (c) 2024 DeepSeek-AI. All rights reserved.",)


def test_holder_spellings_meet_under_one_key():
    keys = {
        normalise_holder(h)
        for h in (
            "The HuggingFace Inc. team",
            "HuggingFace Inc.",
            "the Huggingface Team",
            "HuggingFace",
        )
    }
    assert keys == {"huggingface"}
    assert normalise_holder("The Qwen team, Alibaba Group") == normalise_holder(
        "Qwen Team Alibaba group"
    )
    assert normalise_holder("Google LLC") != normalise_holder("Meta Platforms, Inc.")


@pytest.mark.parametrize(
    ("holder", "origin"),
    [
        ("The Qwen team, Alibaba Group", "qwen"),
        ("Meta Platforms, Inc. and affiliates", "meta-llama"),
        ("The HuggingFace Inc. team", "huggingface"),
        ("Google LLC", "google"),
        ("Mistral AI and the HuggingFace Inc. team", "mistral"),
        ("DeepSeek-AI", "deepseek"),
        ("Microsoft Corporation", "microsoft"),
        ("EleutherAI", "eleutherai"),
        ("OpenAI", "openai"),
        ("The GLM team, THUDM", "zhipu"),
        ("Zhipu AI", "zhipu"),
        ("01.AI", "01-ai"),
        ("Baichuan Inc.", "baichuan"),
        ("Shanghai AI Laboratory", "internlm"),
        ("InternLM Team", "internlm"),
        ("Huawei Technologies Co., Ltd.", "huawei"),
        ("NVIDIA CORPORATION", "nvidia"),
        ("BigScience Workshop", "bigscience"),
        ("Stability AI", "stability"),
        ("Technology Innovation Institute", "tii"),
        ("the Falcon authors", "tii"),
        ("Allen Institute for AI", "allenai"),
        ("Tencent", "tencent"),
        ("MiniMax", "minimax"),
        ("Moonshot AI", "moonshot"),
        ("xAI", "xai"),
        # holders as the headers of transformers and vllm spell them
        ("The ZhipuAI Team", "zhipu"),
        ("The Zhipu AI team", "zhipu"),
        ("The GLM4 & ZhipuAI team", "zhipu"),
        ("The Baidu team", "baidu"),
        ("Baidu, Inc.", "baidu"),
        ("The PaddlePaddle Team", "baidu"),
        ("The LG AI Research EXAONE Lab", "lg"),
        ("The LG CNS Gen AI Solution Delivery Team", "lg"),
        ("Xiaomi Corporation", "xiaomi"),
        ("Horizon team, Xiaomi MiLM Plus", "xiaomi"),
        ("The Cohere Team", "cohere"),
        ("Cohere Inc.", "cohere"),
        ("NAVER Cloud HyperCLOVA team", "naver"),
        ("NAVER Corp.", "naver"),
        ("IBM", "ibm"),
        ("THL A29 Limited, a Tencent company", "tencent"),
        ("Tencent HunYuan Team", "tencent"),
        ("the MiniMax AI Team", "minimax"),
        ("MiniMaxAI", "minimax"),
        ("the LLAMA4, Meta Inc.", "meta-llama"),
        ("The Fairseq Authors", "meta-llama"),
        ("contributors to the vLLM project", "vllm"),
        ("SGLang Team", "sglang"),
        ("Apple Inc.", "apple"),
        ("OpenBMB", "openbmb"),
        ("The Swiss AI Initiative", "swiss-ai"),
        ("Sarvam AI team", "sarvam"),
        ("Bytedance Ltd. and/or its affiliates", "bytedance"),
        ("Antgroup", "antgroup"),
        ("Advanced Micro Devices, Inc", "amd"),
        ("The Intel Labs Team Authors", "intel"),
        ("Arcee AI", "arcee"),
        ("Zyphra Technologies", "zyphra"),
        ("Kyutai", "kyutai"),
        ("The LightOn Team", "lighton"),
        ("SK Telecom", "skt"),
        ("The rednote-hilab team", "rednote"),
        ("The Rhymes-AI Teams Authors", "rhymes"),
    ],
)
def test_holders_map_to_their_origin(holder, origin):
    assert origins_of(holder)[0].id == origin


def test_every_holder_of_a_statement_naming_several_is_kept():
    (notice,) = detect_notices(
        "# Copyright 2025 the LLAMA4, Meta Inc., vLLM, and HuggingFace Inc. team.\nx = 1\n"
    )
    assert notice.holder == "the LLAMA4, Meta Inc."  # cluecode stops there, as its CLI does
    assert notice.holders == ("the LLAMA4", "Meta Inc", "vLLM", "HuggingFace Inc. team")
    assert [o.id for o in origins_of(" ; ".join(notice.holders))] == [
        "meta-llama",
        "vllm",
        "huggingface",
    ]


def test_company_suffixes_stay_with_their_holder():
    assert holders_named("Copyright 2024 Baidu, Inc. and HuggingFace Inc. team.") == (
        "Baidu, Inc",
        "HuggingFace Inc. team",
    )
    assert holders_named("# Copyright 2025 Bytedance Ltd. and/or its affiliates.") == (
        "Bytedance Ltd",
    )
    assert holders_named("Copyright (c) 2023-2024, NVIDIA CORPORATION.  All rights reserved.") == (
        "NVIDIA CORPORATION",
    )


def test_adjacent_statements_keep_their_own_holders():
    # cluecode given both lines at once runs the first one's tail into the second and gives
    # that second statement the first one's holder: IBM was lost.
    text = (
        "# Copyright 2025 the LLAMA4, Meta Inc., vLLM, and HuggingFace Inc. team.\n"
        "# Copyright 2023 IBM and HuggingFace Inc. team. All Rights Reserved.\n"
    )
    notices = detect_notices(text)
    assert [(n.start_line, n.end_line) for n in notices] == [(1, 1), (2, 2)]
    assert notices[1].holder == "IBM and HuggingFace Inc. team"
    assert notices[1].holders == ("IBM", "HuggingFace Inc. team")
    blocks = candidate_blocks(text.splitlines())
    assert [[n for n, _ in b] for b in blocks] == [[1], [2]]


def test_a_statement_running_onto_the_next_line_stays_whole():
    text = (
        "# Copyright 2025 NVIDIA CORPORATION and the HuggingFace Inc. team. All rights\n"
        "# reserved.\n"
        "# Copyright 2023 The vLLM team.\n"
    )
    notices = detect_notices(text)
    assert [n.start_line for n in notices] == [1, 3]
    assert notices[0].holders == ("NVIDIA CORPORATION", "the HuggingFace Inc. team")


def test_spdx_file_copyright_text_lines_are_read():
    text = (
        "# SPDX-License-Identifier: Apache-2.0\n"
        "# SPDX-FileCopyrightText: Copyright contributors to the vLLM project\n"
        "# SPDX-FileCopyrightText: 2024 Xiaomi Corporation\n"
    )
    notices = detect_notices(text)
    assert [(n.start_line, n.holder, n.read_by) for n in notices] == [
        (2, "contributors to the vLLM project", "spdx"),  # cluecode does not read this one
        (3, "Xiaomi Corporation", "cluecode"),
    ]
    assert notices[0].statement == "Copyright contributors to the vLLM project"
    assert notices[0].lines == (
        "# SPDX-FileCopyrightText: Copyright contributors to the vLLM project",
    )


def test_a_notice_naming_several_upstreams_counts_for_each(tmp_path):
    from scanner.audit import audit

    root = tmp_path / "r"
    root.mkdir()
    (root / "m.py").write_text(
        "# Copyright 2023 Meta Inc., vLLM, and HuggingFace Inc. team. All rights reserved.\nx = 1\n"
    )
    report = audit(str(root), AuditOptions(publisher="acme"), analyzers=[LicenseAnalyzer()])
    (foreign,) = [f for _, f in report.assessment.findings if f.kind == "foreign-notice"]
    assert foreign.evidence.details.holders == ("Meta Inc", "vLLM", "HuggingFace Inc. team")
    assert [o.id for o in foreign.evidence.details.origins] == [
        "meta-llama",
        "vllm",
        "huggingface",
    ]
    orgs = {o.org: o for o in report.assessment.origins}
    assert set(orgs) == {"Meta Platforms", "vLLM project", "Hugging Face"}
    assert all(o.paths == ("m.py",) for o in orgs.values())


def test_holder_naming_two_origins_lists_both_in_text_order():
    ids = [o.id for o in origins_of("EleutherAI and the HuggingFace Inc. team")]
    assert ids == ["eleutherai", "huggingface"]
    assert origins_of("Zyxwv Widgets Ltd.") == ()


def test_publisher_is_recognised_by_hub_org_or_name():
    assert origin_of_publisher("Qwen").id == "qwen"
    assert origin_of_publisher("meta-llama").id == "meta-llama"
    assert origin_of_publisher("some-startup") is None


def test_publisher_defaults_to_the_hub_org_of_an_hf_target():
    from scanner.code.analyzer import publisher_of
    from scanner.snapshot import Snapshot

    hub = Snapshot(
        target="hf:Qwen/Qwen2-0.5B@main", source="hf", revision=None, files=(), reader=None
    )  # type: ignore[arg-type]
    assert publisher_of(hub, None) == "Qwen"
    assert publisher_of(hub, "someone-else") == "someone-else"
    local = Snapshot(target="/tmp/x", source="local", revision=None, files=(), reader=None)  # type: ignore[arg-type]
    assert publisher_of(local, None) is None

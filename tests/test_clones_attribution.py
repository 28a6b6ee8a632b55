"""Attribution comments: the upstream a file's own comments declare, read as written and
resolved against a corpus's paths."""

from __future__ import annotations

from pathlib import Path

from scanner.code.attribution import PathIndex, attributions, resolve
from scanner.code.genealogy import genealogy_of, maintainers, modular_parents, parents_of
from scanner.code.tokens import tokenize

TRANSFORMERS = Path(__import__("transformers").__file__).resolve().parent
PATHS = sorted(
    "transformers/" + p.relative_to(TRANSFORMERS).as_posix()
    for p in TRANSFORMERS.rglob("*.py")
    if "__pycache__" not in p.parts
)


def _read(text: str, language: str = "python"):
    return attributions(tokenize(text, language).comments)


def test_an_adapted_from_url_is_read_with_its_revision():
    (a,) = _read(
        "# SPDX-License-Identifier: Apache-2.0\n"
        "# Adapted from\n"
        "# https://github.com/huggingface/transformers/blob/v4.28.0/src/transformers/models/"
        "opt/modeling_opt.py\n"
        "# Copyright 2023 The vLLM team.\n"
        "import torch\n"
    )
    assert a.phrase == "Adapted from" and a.line == 3
    assert a.repository == "huggingface/transformers" and a.revision == "v4.28.0"
    assert a.path == "src/transformers/models/opt/modeling_opt.py"
    resolved = resolve(a, PATHS)
    assert resolved is not None
    assert resolved.path == "transformers/models/opt/modeling_opt.py"


def test_a_copied_from_module_names_its_file_and_symbol():
    text = (
        "class MyRMSNorm(nn.Module):\n"
        "    # Copied from transformers.models.llama.modeling_llama.LlamaRMSNorm with Llama->My\n"
        "    def __init__(self, hidden_size, eps=1e-6):\n"
        "        super().__init__()\n"
    )
    (a,) = _read(text)
    assert a.reference == "transformers.models.llama.modeling_llama.LlamaRMSNorm"
    resolved = resolve(a, PATHS)
    assert resolved is not None
    assert resolved.path == "transformers/models/llama/modeling_llama.py"
    assert resolved.symbol == "LlamaRMSNorm"


def test_a_url_cut_over_two_docstring_lines_is_joined():
    text = (
        "def bias(x):\n"
        '    """The Huggingface implementation is used as a reference\n'
        "    https://github.com/huggingface/transformers/blob/v4.30.0/src/\n"
        "    transformers/models/t5/modeling_t5.py#L435\n"
        '    """\n'
        "    return x\n"
    )
    (a,) = _read(text)
    assert a.path == "src/transformers/models/t5/modeling_t5.py"
    assert resolve(a, PATHS).path == "transformers/models/t5/modeling_t5.py"  # type: ignore[union-attr]


def test_mentions_without_a_declaring_word_and_non_code_urls_declare_nothing():
    text = (
        '# Licensed under the Apache License, Version 2.0 (the "License");\n'
        "# You may obtain a copy of the License at\n"
        "#     http://www.apache.org/licenses/LICENSE-2.0\n"
        "# See https://github.com/huggingface/transformers/blob/main/src/transformers/x.py\n"
        "# for the API. The fix follows https://github.com/vllm-project/vllm/pull/1234.\n"
        "# Reference: https://arxiv.org/abs/2104.09864\n"
        "# Based on torch.nn.functional.scaled_dot_product_attention semantics\n"
        "x = 1\n"
    )
    found = _read(text)
    assert [a.reference for a in found] == ["torch.nn.functional.scaled_dot_product_attention"]
    assert resolve(found[0], PATHS) is None  # a dotted name no corpus holds names no source


def test_other_repositories_and_misspellings_are_read():
    text = (
        "// adpated from https://github.com/vllm-project/vllm/blob/main/csrc/layernorm.cu\n"
        "__global__ void k() {}\n"
        "/* Ported from: https://github.com/Dao-AILab/flash-attention/tree/main/csrc */\n"
    )
    found = _read(text, "cuda")
    assert [(a.repository, a.path) for a in found] == [
        ("vllm-project/vllm", "csrc/layernorm.cu"),
        ("Dao-AILab/flash-attention", "csrc/"),
    ]
    assert all(resolve(a, PATHS) is None for a in found)


def test_a_reference_to_a_model_folder_resolves_to_the_folder():
    (a,) = _read('"""Reference: transformers/models/hrm_text (transformers >= 5.9.0)."""\n')
    resolved = resolve(a, PATHS)
    assert resolved is not None and resolved.path == "transformers/models/hrm_text/"


def test_a_capitalised_url_folder_resolves_case_insensitively():
    index = PathIndex(PATHS)
    assert index.file("src/transformers/models/Glm4v/modeling_Glm4v.py") == (
        "transformers/models/glm4v/modeling_glm4v.py"
    )
    assert index.file("modeling_opt.py") is None  # a bare file name is not a path


def test_transformers_genealogy_is_read_from_its_own_files():
    """Generated files name their modular file; modular files import their parents."""
    index = PathIndex(PATHS)

    def parents(rel: str) -> tuple[str, ...]:
        text = (TRANSFORMERS.parent / rel).read_text()
        declared = attributions(tokenize(text, "python").comments)
        return parents_of(rel, declared, modular_parents(rel, text), index)

    mistral = "transformers/models/mistral/modeling_mistral.py"
    modular = "transformers/models/mistral/modular_mistral.py"
    assert modular in parents(mistral)
    assert "transformers/models/llama/modeling_llama.py" in parents(modular)
    g = genealogy_of(
        [mistral, modular, "transformers/models/llama/modeling_llama.py"],
        [parents(mistral), parents(modular), ()],
    )
    assert g.is_original_of(2, 0) and not g.is_original_of(0, 2)


def test_the_maintainers_of_a_corpus_are_the_holders_most_notices_name():
    notices = [
        ("Copyright 2023 The HuggingFace Team. All rights reserved.",),
        ("Copyright 2018 Google AI and The HuggingFace Inc. team.",),
        ("Copyright 2023 Meta AI Authors and The HuggingFace Team.",),
        ("Copyright 2024 Qwen and the HuggingFace Inc. team.",),
    ]
    assert maintainers(notices) == frozenset({"huggingface"})

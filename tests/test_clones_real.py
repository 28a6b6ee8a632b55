"""Copied-code evidence on real code: the installed transformers package indexed as users
index it, and release files built from its real files (copied whole, in part, renamed,
declared, under another notice) or written independently of it."""

from __future__ import annotations

import ast
import hashlib
import os
import re
from dataclasses import replace
from pathlib import Path

import pytest

import scanner.code.clones as clones_mod
from scanner.code.calibration import background
from scanner.code.clones import ClonesAnalyzer, scan_text
from scanner.code.corpus import add_corpus, load_corpora
from scanner.code.index import LoadedCorpus
from scanner.evidence import CopiedCodeEvidence, DeclaredAdaptation
from scanner.model import Finding
from scanner.rules import load_rules

TRANSFORMERS = Path(__import__("transformers").__file__).resolve().parent
MODELS = TRANSFORMERS / "models"


@pytest.fixture(scope="module")
def corpora(tmp_path_factory: pytest.TempPathFactory) -> list[LoadedCorpus]:
    """transformers indexed once for the module (a corpus remembers its own store)."""
    home = tmp_path_factory.mktemp("tf-home")
    before = os.environ.get("PROVSCAN_HOME")
    os.environ["PROVSCAN_HOME"] = str(home)
    try:
        add_corpus("tf", "pkg:transformers")
        return load_corpora()
    finally:
        if before is None:
            os.environ.pop("PROVSCAN_HOME", None)
        else:
            os.environ["PROVSCAN_HOME"] = before


def scan(path: str, text: str, corpora: list[LoadedCorpus]) -> list[Finding]:
    sha = hashlib.sha256(text.encode()).hexdigest()
    return ClonesAnalyzer.file_findings(path, sha, text, "python", corpora)


def copies(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.kind in ("copied-code", "notice-removed")]


def body_of(path: Path) -> str:
    """The file without its leading comment block (the notice)."""
    lines = path.read_text().splitlines(True)
    start = next(i for i, line in enumerate(lines) if not line.startswith("#"))
    return "".join(lines[start:])


def top_level(path: Path, *names: str) -> list[str]:
    """The source of some top-level classes and functions of a real file."""
    text = path.read_text()
    lines = text.splitlines(True)
    out = []
    for node in ast.parse(text).body:
        if getattr(node, "name", None) in names:
            first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
            out.append("".join(lines[first - 1 : node.end_lineno]))
    assert len(out) == len(names)
    return out


def own_code(n: int) -> list[str]:
    """Top-level definitions of Python's own difflib and textwrap modules: real code that
    transformers does not hold, to surround a copied part."""
    import difflib
    import textwrap

    out: list[str] = []
    for module in (difflib, textwrap):
        text = Path(module.__file__ or "").read_text()
        lines = text.splitlines(True)
        for node in ast.parse(text).body:
            if isinstance(node, ast.FunctionDef | ast.ClassDef):
                out.append("".join(lines[node.lineno - 1 : node.end_lineno]) + "\n\n")
    assert len(out) >= n
    return out[:n]


def test_the_null_in_the_rules_is_what_the_finding_states_and_applies(corpora):
    """The thresholds and the null come from rules/clone_background.toml; a region a
    little stronger than the threshold is reported, and no longer once the threshold is
    raised above it."""
    rules = load_rules("clone_background")
    bg = background()
    assert bg.region_threshold == rules["threshold"]["region_evidence"]
    assert bg.region.n == rules["null"]["region"]["n"] > 100
    parts = top_level(MODELS / "opt" / "modeling_opt.py", "OPTAttention")
    text = "".join(own_code(12)) + parts[0]
    (f,) = copies(scan("ours.py", text, corpora))
    d = f.evidence.details
    assert isinstance(d, CopiedCodeEvidence) and d.background is not None
    assert d.background.region_threshold == bg.region_threshold
    assert d.background.region_max == bg.region.max and d.background.n == bg.region.n
    assert d.region_evidence is not None and d.region_evidence >= bg.region_threshold
    assert f.evidence.p_value == bg.region.p_value(d.region_evidence)
    assert "independently written ML code scores" in f.message


def test_a_raised_threshold_is_obeyed(corpora, monkeypatch):
    parts = top_level(MODELS / "opt" / "modeling_opt.py", "OPTAttention")
    text = "".join(own_code(12)) + parts[0]
    match = scan_text(text, "python", corpora)
    assert match is not None and match.basis == "regions"
    raised = replace(background(), region_threshold=match.region_evidence + 1)
    monkeypatch.setattr(clones_mod, "background", lambda: raised)
    assert copies(scan("ours.py", text, corpora)) == []


def test_imports_and_signatures_alone_are_never_a_copy(corpora):
    """Every import and every def/class line of modeling_llama.py, verbatim, bodies
    replaced: what an independent implementation against the same API shares."""
    source = (MODELS / "llama" / "modeling_llama.py").read_text()
    tree = ast.parse(source)
    lines = source.splitlines()
    kept: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            kept.extend(lines[node.lineno - 1 : node.end_lineno])
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            kept.append(lines[node.lineno - 1].removesuffix(" ..."))
            for item in node.body:
                if isinstance(item, ast.FunctionDef):
                    kept.extend(lines[item.lineno - 1 : item.body[0].lineno - 1])
                    kept.append("        raise NotImplementedError")
            kept.extend(["    pass", ""])
    text = "\n".join(kept) + "\n"
    ast.parse(text)
    assert scan("llama_api.py", text, corpora) == []


def test_an_independent_implementation_of_common_layers_is_not_flagged(corpora):
    """Attention and MLP written against torch's API the way every implementation is:
    the idioms it shares with transformers are in hundreds of its files."""
    text = """
import math

import torch
from torch import nn
import torch.nn.functional as F


class SelfAttention(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        self.hidden_size = config.hidden_size
        self.num_heads = config.num_attention_heads
        self.head_dim = self.hidden_size // self.num_heads
        self.q_proj = nn.Linear(self.hidden_size, self.num_heads * self.head_dim, bias=False)
        self.k_proj = nn.Linear(self.hidden_size, self.num_heads * self.head_dim, bias=False)
        self.v_proj = nn.Linear(self.hidden_size, self.num_heads * self.head_dim, bias=False)
        self.o_proj = nn.Linear(self.num_heads * self.head_dim, self.hidden_size, bias=False)
        self.dropout = nn.Dropout(config.attention_dropout)

    def forward(self, hidden_states, attention_mask=None):
        batch, length, _ = hidden_states.shape
        q = self.q_proj(hidden_states).view(batch, length, self.num_heads, -1).transpose(1, 2)
        k = self.k_proj(hidden_states).view(batch, length, self.num_heads, -1).transpose(1, 2)
        v = self.v_proj(hidden_states).view(batch, length, self.num_heads, -1).transpose(1, 2)
        scores = torch.matmul(q, k.transpose(2, 3)) / math.sqrt(self.head_dim)
        if attention_mask is not None:
            scores = scores + attention_mask
        probs = self.dropout(F.softmax(scores, dim=-1, dtype=torch.float32).to(q.dtype))
        out = torch.matmul(probs, v).transpose(1, 2).reshape(batch, length, -1)
        return self.o_proj(out)


class FeedForward(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.gate_proj = nn.Linear(config.hidden_size, config.intermediate_size, bias=False)
        self.up_proj = nn.Linear(config.hidden_size, config.intermediate_size, bias=False)
        self.down_proj = nn.Linear(config.intermediate_size, config.hidden_size, bias=False)
        self.act_fn = nn.SiLU()

    def forward(self, x):
        return self.down_proj(self.act_fn(self.gate_proj(x)) * self.up_proj(x))


class Block(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.input_layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.post_attention_layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.self_attn = SelfAttention(config)
        self.mlp = FeedForward(config)

    def forward(self, hidden_states, attention_mask=None):
        residual = hidden_states
        hidden_states = self.input_layernorm(hidden_states)
        hidden_states = self.self_attn(hidden_states, attention_mask)
        hidden_states = residual + hidden_states
        residual = hidden_states
        hidden_states = self.post_attention_layernorm(hidden_states)
        hidden_states = self.mlp(hidden_states)
        return residual + hidden_states
"""
    match = scan_text(text, "python", corpora)
    assert match is not None and match.best.shared > 0  # it does share fingerprints
    assert match.basis is None
    assert match.region_evidence < background().region_threshold
    assert scan("block.py", text, corpora) == []


def test_a_partial_interleaved_copy_is_reported_with_its_regions(corpora):
    """Two classes of modeling_opt.py, apart, in a file ten times their size under its
    own notice: a small share, but regions stronger than independent code produces."""
    embed, attention = top_level(
        MODELS / "opt" / "modeling_opt.py", "OPTLearnedPositionalEmbedding", "OPTAttention"
    )
    own = own_code(24)
    text = (
        "# Copyright 2025 Someone Else. All rights reserved.\nimport torch\nfrom torch import nn\n"
        + "".join(own[:8])
        + embed
        + "\n\n"
        + "".join(own[8:16])
        + attention
        + "\n\n"
        + "".join(own[16:])
    )
    (f,) = copies(scan("engine/opt.py", text, corpora))
    d = f.evidence.details
    assert isinstance(d, CopiedCodeEvidence)
    assert d.upstream_path == "transformers/models/opt/modeling_opt.py"
    assert d.basis == "regions" and f.evidence.score is not None and f.evidence.score < 0.3
    assert f.kind == "notice-removed" and d.notice.status == "replaced"
    assert str(f.severity) == "medium"  # regions of a file: never high
    strong = [r for r in d.ranges if r.evidence and r.evidence >= 2]
    units = {r.unit.split(".")[0] for r in strong if r.unit}
    assert {"OPTLearnedPositionalEmbedding", "OPTAttention"} <= units
    assert all(r.lines and r.lines > 0 for r in d.ranges)
    text_lines = text.splitlines()
    start = next(i for i, line in enumerate(text_lines, 1) if "class OPTAttention" in line)
    assert any(r.target[0] <= start + 5 <= r.target[1] for r in d.ranges)
    assert d.matched_lines is not None and d.matched_lines >= 40


def test_an_adaptation_declared_in_a_comment_is_matched_against_the_file_it_names(corpora):
    """vllm's way: the header names the transformers file and keeps its notice; the kept
    code is partial and interleaved. One declared-adaptation finding, no accusation."""
    source = (MODELS / "opt" / "modeling_opt.py").read_text()
    notice = [line for line in source.splitlines() if line.startswith("# Copyright")]
    embed, attention = top_level(
        MODELS / "opt" / "modeling_opt.py", "OPTLearnedPositionalEmbedding", "OPTAttention"
    )
    text = (
        "# SPDX-License-Identifier: Apache-2.0\n# Adapted from\n"
        "# https://github.com/huggingface/transformers/blob/v4.28.0/src/transformers/models/"
        "opt/modeling_opt.py\n"
        + "\n".join(notice)
        + "\nimport torch\nfrom torch import nn\n"
        + "".join(own_code(3))
        + embed
        + "\n\n"
        + "".join(own_code(6)[3:])
        + attention
    )
    findings = scan("vllm/opt.py", text, corpora)
    assert copies(findings) == []  # folded into the declaration
    (f,) = [f for f in findings if f.kind == "declared-adaptation"]
    d = f.evidence.details
    assert isinstance(d, DeclaredAdaptation)
    assert d.upstream_path == "transformers/models/opt/modeling_opt.py"
    assert d.revision == "v4.28.0" and d.phrase == "Adapted from"
    assert f.location.start_line == 3 and str(f.severity) == "info"
    assert d.notice is not None and d.notice.status == "kept"
    assert d.kept_lines is not None and d.kept_lines >= 40
    assert len(d.ranges) >= 2 and sum(r.lines or 0 for r in d.ranges) <= d.kept_lines


def test_a_declared_adaptation_keeping_little_is_still_reported_with_what_it_kept(corpora):
    """The declaration, not the match, is the claim: a port to another framework that
    kept a few lines is shown as attributed, whatever how common they are."""
    text = (
        '"""Gemma-style RMS norm.\n\nAdapted from transformers.models.llama.modeling_llama.'
        'LlamaRMSNorm\n"""\nimport keras\n\n\nclass RMSNorm(keras.layers.Layer):\n'
        "    def __init__(self, hidden_size, eps=1e-6):\n        super().__init__()\n"
        "        self.variance_epsilon = eps\n\n    def call(self, hidden_states):\n"
        "        variance = keras.ops.mean(keras.ops.square(hidden_states), -1, keepdims=True)\n"
        "        return hidden_states * keras.ops.rsqrt(variance + self.variance_epsilon)\n"
    )
    (f,) = scan("keras_rms.py", text, corpora)
    d = f.evidence.details
    assert f.kind == "declared-adaptation" and isinstance(d, DeclaredAdaptation)
    assert d.upstream_path == "transformers/models/llama/modeling_llama.py"
    assert d.symbol == "LlamaRMSNorm"
    assert d.kept_lines is not None and d.kept_lines >= 1
    # Fewer than declared_copies.NOTICE_OWED_LINES kept: a reference read, no notice owed.
    assert str(f.severity) == "info"


def test_a_byte_identical_copy_is_matched_to_its_own_path(corpora):
    """Every model's __init__.py has the same structure: the identical one wins."""
    text = (MODELS / "bert" / "__init__.py").read_text()
    for where in ("models/bert/__init__.py", "vendor/init_copy.py"):
        (f,) = copies(scan(where, text, corpora))
        d = f.evidence.details
        assert isinstance(d, CopiedCodeEvidence)
        assert d.upstream_path == "transformers/models/bert/__init__.py", where
        assert d.basis == "identical" and d.notice.status == "kept"
        assert str(f.severity) == "info"


def test_the_original_wins_over_the_files_copied_from_it(corpora):
    """CLIP's layers, renamed, match CLIP and every model that copied them (x_clip,
    altclip, ...) alike; the corpus's own 'Copied from' genealogy names the original."""
    parts = top_level(
        MODELS / "clip" / "modeling_clip.py", "CLIPMLP", "CLIPEncoderLayer", "CLIPEncoder"
    )
    text = "import torch\nfrom torch import nn\n\n\n" + re.sub(
        r"\bCLIP(\w*)", r"Zorb\1", "\n\n".join(parts)
    )
    match = scan_text(text, "python", corpora)
    assert match is not None and match.basis is not None
    near = [c for c in match.others if c.evidence >= 0.9 * match.best.evidence]
    assert near, "the test needs derivatives tied with the original"
    assert match.best.path == "transformers/models/clip/modeling_clip.py"
    g = match.best.corpus.genealogy
    assert any(g.is_original_of(match.best.idx, c.idx) for c in near)


def test_a_copy_keeping_its_original_authors_notice_is_not_notice_removed(corpora):
    """SAM's code under Meta's own notice, as ports of Meta's SAM carry it, matches the
    transformers port whose notice is the Meta AI Authors' and HuggingFace's."""
    body = body_of(MODELS / "sam" / "modeling_sam.py")
    meta = (
        "# Copyright (c) Meta Platforms, Inc. and affiliates.\n# All rights reserved.\n\n"
        "# This source code is licensed under the license found in the\n"
        "# LICENSE file in the root directory of this source tree.\n"
    )
    (f,) = copies(scan("sam_encoder.py", meta + body, corpora))
    d = f.evidence.details
    assert isinstance(d, CopiedCodeEvidence)
    assert d.upstream_path == "transformers/models/sam/modeling_sam.py"
    assert f.kind == "copied-code" and d.notice.status == "original"
    assert str(f.severity) == "info"
    # the same code under someone else's notice has its notice replaced
    (g,) = copies(scan("sam_encoder.py", "# Copyright 2025 Acme Corp.\n" + body, corpora))
    assert g.kind == "notice-removed" and str(g.severity) == "high"

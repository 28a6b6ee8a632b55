"""Tokenising, normalising and winnowing: what makes a copy match whatever its surface."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

from scanner.code.headers import head_notice, holders, notice_status
from scanner.code.regions import signature_lines
from scanner.code.tokens import IDENT, NUMBER, STRING, family_of, tokenize
from scanner.code.winnow import (
    WinnowParams,
    fingerprint,
    kgram_hashes,
    periodic_kgrams,
    winnow_positions,
)

PY = '''# Copyright 2024 Example Corp. All rights reserved.
"""Module docstring."""
import math


def area(radius, scale=2.0):
    """Docstring of area."""
    # a comment
    value = math.pi * radius ** 2  # trailing comment
    return value * scale
'''


def test_identifiers_and_literals_are_abstracted_comments_dropped():
    renamed = (
        PY.replace("radius", "r")
        .replace("value", "out")
        .replace("area", "surface")
        .replace("2.0", "3.5")
        .replace("# a comment", "# something else entirely")
    )
    a, b = tokenize(PY, "python"), tokenize(renamed, "python")
    assert a.codes.tolist() == b.codes.tolist()
    assert IDENT in a.codes and NUMBER in a.codes
    # docstrings and comments left no STRING token behind
    assert STRING not in a.codes


def test_tokens_keep_their_lines():
    toks = tokenize(PY, "python")
    assert toks.lines[0] == 3  # `import` after the header comment and the docstring
    assert toks.lines[-1] == 10
    assert np.all(np.diff(toks.lines.astype(int)) >= 0)


def test_layout_and_trailing_commas_do_not_matter():
    a = "x = f(a, b)\ny = [1, 2]\n"
    b = "x = f(\n    a,\n    b,\n)\ny = [\n  1,\n  2,\n]\n"
    assert tokenize(a, "python").codes.tolist() == tokenize(b, "python").codes.tolist()


def test_a_string_value_is_not_a_docstring():
    toks = tokenize('x = "abc"\nf(\n  "def"\n)\n', "python")
    assert (toks.codes == STRING).sum() == 2


def test_c_family_comments_and_strings():
    src = '/* block\n comment */\nint f(int a) { // line\n  return a + 1; }\nchar *s = "x//y";\n'
    toks = tokenize(src, "cuda")
    assert (toks.codes == STRING).sum() == 1
    assert toks.lines[0] == 3
    assert (
        tokenize(src.replace("f(int a", "g(int b").replace("a + 1", "b + 1"), "c").codes.tolist()
        == toks.codes.tolist()
    )


def test_shell_comment_but_not_parameter_count():
    toks = tokenize("# comment\necho $# args\n", "shell")
    assert toks.lines.tolist() == [2, 2, 2, 2]


def test_languages_covered():
    for lang in ("python", "c", "cpp", "cuda", "rust", "go", "javascript", "typescript", "shell"):
        assert family_of(lang) is not None
    assert family_of("cobol") is None


def test_winnowing_guarantee_and_robust_ties():
    rng = np.random.default_rng(0)
    codes = rng.integers(4, 50, size=400).astype(np.uint32)
    p = WinnowParams(k=5, w=4)
    h = kgram_hashes(codes, p.k)
    pos = winnow_positions(h, p.w)
    # every window of w hashes holds a selected position
    for i in range(len(h) - p.w + 1):
        assert any(i <= q < i + p.w for q in pos)
    # ties pick the rightmost minimum, and each position once
    assert winnow_positions(np.array([3, 1, 1, 5], dtype=np.uint64), 2).tolist() == [1, 2]


def test_shared_run_shares_fingerprints_wherever_it_is():
    rng = np.random.default_rng(1)
    shared = rng.integers(4, 90, size=60).astype(np.uint32)
    a = np.concatenate([rng.integers(4, 90, 50), shared, rng.integers(4, 90, 30)])
    b = np.concatenate([rng.integers(4, 90, 10), shared])
    from scanner.code.tokens import TokenStream

    def fp(c: np.ndarray) -> set[int]:
        c = c.astype(np.uint32)
        return set(
            fingerprint(
                TokenStream(c, np.arange(1, len(c) + 1, dtype=np.uint32)), WinnowParams(k=8, w=6)
            ).hashes.tolist()
        )

    assert len(fp(a) & fp(b)) >= 60 // 7 - 1


def test_periodic_runs_are_not_fingerprints():
    codes = np.array([3, 7] * 30, dtype=np.uint32)
    assert periodic_kgrams(codes, 10).all()
    assert len(fingerprint(tokenize("x = [" + '"a", ' * 200 + "]\n", "python"))) == 0


@pytest.mark.parametrize(
    ("target_head", "maintained", "status"),
    [
        ("# Copyright 2022 Example Corp. All rights reserved.\n", False, "kept"),
        # The corpus's maintainer named with other lines: the notice was changed.
        ("# Copyright 2025 Example Corp and Someone Else\n", True, "changed"),
        # A holder who is not the corpus's maintainer is the code's original author.
        ("# Copyright 2025 Example Corp and Someone Else\n", False, "original"),
        ("# Copyright 2025 Another Company Ltd.\n", False, "replaced"),
        ("", False, "removed"),
    ],
)
def test_notice_status(target_head: str, maintained: bool, status: str):
    upstream = head_notice(
        "#!/usr/bin/env python\n# Copyright 2022 Example Corp. All rights "
        "reserved.\n# Licensed under the MIT license.\nimport os\n"
    )
    assert upstream[0] == "Copyright 2022 Example Corp. All rights reserved."
    maintainers = holders(upstream) if maintained else frozenset()
    assert notice_status(upstream, target_head + "import os\n", (), maintainers)[0] == status
    assert notice_status((), target_head + "import os\n")[0] == "none"


def test_a_copyright_word_in_code_is_not_a_notice():
    assert head_notice('import os\nX = "Copyright 2020 Nobody"\n') == ()


@pytest.mark.parametrize(
    ("language", "src", "renamed"),
    [
        (
            "rust",
            'fn add(a: i32, b: i32) -> i32 { let s = r#"raw "q" str"#; a + b } // c\n',
            'fn plus(x: i32, y: i32) -> i32 { let t = r#"other"#; x + y }\n',
        ),
        (
            "go",
            "func Add(a int, b int) int { s := `raw`; return a + b } /* c */\n",
            "func Plus(x int, y int) int { t := `r`; return x + y }\n",
        ),
        (
            "shell",
            'for f in "$@"; do echo "$f" # loop\ndone\n',
            'for g in "$@"; do echo "$g"\ndone\n',
        ),
        (
            "typescript",
            "const f = (a: number): number => a ** 2; // sq\n",
            "const g = (b: number): number => b ** 2;\n",
        ),
    ],
)
def test_other_languages_normalise_the_same_way(language: str, src: str, renamed: str):
    assert tokenize(src, language).codes.tolist() == tokenize(renamed, language).codes.tolist()


def test_upstream_credit_above_the_copied_code_counts_as_kept():
    upstream = ("Copyright 2022 Example Corp. All rights reserved.",)
    target = (
        "# Copyright 2025 Me\nimport os\n\n# Adapted from Example:\n"
        "# Copyright 2022 Example Corp. All rights reserved.\ndef f():\n    pass\n"
    )
    status, lines = notice_status(upstream, target)
    assert status == "kept" and lines[0] == "Copyright 2025 Me"


def _ast_signature_lines(text: str) -> set[int]:
    out: set[int] = set()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import | ast.ImportFrom):
            out.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            body = node.body[0].lineno if node.body else node.lineno
            out.update(range(node.lineno, max(node.lineno, body - 1) + 1))
    return out


def test_signature_lines_are_imports_and_signatures_only_even_with_brackets_in_strings():
    """difflib's `IS_LINE_JUNK(line, pat=re.compile(r"\\s*(?:#\\s*)?$").match)` holds an
    unbalanced bracket after its '#': read naively, the rest of the file is a signature."""
    import difflib

    text = Path(difflib.__file__ or "").read_text()
    lines = signature_lines(text, "python")
    expected = _ast_signature_lines(text)
    assert lines <= expected
    assert len(lines) >= 0.7 * len(expected)

"""Hostile code files: pathological quoting must not make the clone lexers quadratic."""

from __future__ import annotations

from pathlib import Path

from scanner.code.tokens import STRING, tokenize

# Each is ~400 KB of openers whose string never closes: the old lexers rescanned the rest of
# the line (or file) from every opener, hours of work; now each is one linear pass.
HOSTILE = {
    "a.py": "'\\" * 200_000,
    "b.py": '"""\\' * 100_000,
    "c.c": "'\\" * 200_000,
    "d.rs": 'r#"' * 130_000,
    "e.sh": '"\\' * 200_000,
}


def test_pathological_quoting_is_scanned_in_linear_time(cli, tmp_path: Path) -> None:
    ref = tmp_path / "ref"
    ref.mkdir()
    (ref / "m.py").write_text("def f(a, b):\n    return a + b\n")
    assert cli("index", "add", "ref", str(ref)).returncode == 0
    rel = tmp_path / "rel"
    rel.mkdir()
    for name, text in HOSTILE.items():
        (rel / name).write_text(text)
    # The timeout is a hang guard, not a benchmark: the old lexers needed hours here.
    r = cli("scan", str(rel), "--json", str(tmp_path / "r.json"), timeout=120)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr


def test_quote_skipping_keeps_strings_after_an_unterminated_quote() -> None:
    # A Rust lifetime is an unterminated quote; the string on the next line is still one.
    src = "fn f<'a>(x: &'a str) -> &'a str {\n  let s = 'x';\n  x\n}\n"
    codes = tokenize(src, "rust").codes.tolist()
    assert codes.count(STRING) == 2  # `'a>(x: &'` (as before) and `'x'`
    escaped = 'a = "x\\"y" + "\\\\" + \'\\\'\' + "tail\n'
    assert tokenize(escaped, "c").codes.tolist().count(STRING) == 3


def test_tokenizing_a_huge_one_line_file_stays_compact() -> None:
    # An 8 MB one-line file is millions of tokens: per-token Python objects used ~73 bytes
    # a token at peak (600 MB for 8 MB of `x+`), typed arrays about 32.
    import tracemalloc

    text = "x+" * 500_000
    tracemalloc.start()
    try:
        tokens = tokenize(text, "python")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(tokens) == 1_000_000
    assert peak / len(tokens) < 48

"""Source code -> a normalised token stream, for clone detection.

One hand-written regex lexer per comment/string family (Python, C-like, shell) instead of
pygments: on transformers' models/ tree it is about 10x faster than pygments' Python lexer,
and clone detection only needs tokens, not highlighting (bench/clones_bench.py measures it).

Normalisation makes copies match whatever was done to their surface: identifiers become
one token (keywords and builtins stay, renaming tools leave them alone), literals become one
token per kind, comments, docstrings and whitespace vanish, and a trailing comma before a
closing bracket (a formatter's choice) is dropped. A second stream keeps each identifier's
own code: a copy that kept its names matches there too, which unrelated code written to the
same pattern (`self.I = I(I, I)`) rarely does. The comments and docstrings themselves are
kept aside, for the attribution comments a copy may carry ("Adapted from ...").
"""

from __future__ import annotations

import builtins
import keyword
import re
import zlib
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache

import numpy as np

IDENT, NUMBER, STRING = 1, 2, 3
# Operator codes have the top bit set, keyword codes not: `is_word` needs no lookup.
_OP_BIT = 0x80000000


def op_code(tok: str) -> int:
    return zlib.crc32(tok.encode()) | _OP_BIT


def word_code(word: str) -> int:
    return max(zlib.crc32(word.encode()) & (_OP_BIT - 1), 4)


def is_word(codes: np.ndarray) -> np.ndarray:
    """True for identifiers and keywords (not literals, not operators)."""
    return (codes == IDENT) | ((codes > STRING) & (codes < _OP_BIT))


_COMMA = op_code(",")
_CLOSERS = np.array([op_code(c) for c in ")]}"], dtype=np.uint32)

# Language (as classify names it) -> lexer family.
FAMILIES: dict[str, str] = {
    "python": "python",
    "c": "c",
    "cpp": "c",
    "cuda": "c",
    "rust": "c",
    "go": "c",
    "javascript": "c",
    "typescript": "c",
    "java": "c",
    "kotlin": "c",
    "swift": "c",
    "objective-c": "c",
    "metal": "c",
    "scala": "c",
    "shell": "shell",
}

_PY_KEYWORDS = (
    set(keyword.kwlist)
    | set(keyword.softkwlist)
    | {"self", "cls"}
    | {n for n in dir(builtins) if not n.startswith("_")}
)


def _words(text: str) -> set[str]:
    return set(text.split())


_C_KEYWORDS = _words("""
auto break case char const continue default do double else enum extern float for goto if
inline int long register restrict return short signed sizeof static struct switch typedef
union unsigned void volatile while bool true false nullptr class namespace template typename
public private protected virtual override final new delete this operator using try catch
throw constexpr noexcept static_cast dynamic_cast reinterpret_cast const_cast decltype
#include #define #if #ifdef #ifndef #endif #else #elif #pragma #undef
__global__ __device__ __host__ __shared__ __restrict__ __syncthreads threadIdx blockIdx
blockDim gridDim size_t int8_t int16_t int32_t int64_t uint8_t uint16_t uint32_t uint64_t
half float2 float4 std vector string
fn let mut impl trait pub mod use crate self Self super where match loop move ref dyn async
await unsafe as in box type i8 i16 i32 i64 u8 u16 u32 u64 f32 f64 usize isize str Vec Option
Some None Ok Err Result
func package import go chan select defer fallthrough range map interface var nil error byte
rune make len cap append panic recover
function export from extends instanceof typeof yield of null undefined let await async
implements readonly declare abstract any number boolean never unknown keyof console require
module
""")
_SH_KEYWORDS = _words("""
if then else elif fi case esac for while until do done in function select time return exit
local export readonly declare set unset shift source echo printf read cd test true false
""")

# An unterminated triple-quoted or raw string runs to the end of the file: no valid source
# has one, and letting the match fail instead makes every later opener rescan the rest of
# the file (quadratic on hostile input such as `"""\\"""\\"""...`).
_TRIPLE = (
    r"'''[^'\\]*(?:(?:\\.|'(?!''))[^'\\]*)*(?:'''|\\?\Z)"
    r'|"""[^"\\]*(?:(?:\\.|"(?!""))[^"\\]*)*(?:"""|\\?\Z)'
)
_SQ = r"'[^'\\\n]*(?:\\.[^'\\\n]*)*'"
_DQ = r'"[^"\\\n]*(?:\\.[^"\\\n]*)*"'
# Python only: an unterminated one-line string (a syntax error) ends at its line's end.
_PY_SINGLE = (
    r"'[^'\\\n]*(?:\\.[^'\\\n]*)*(?:'|(?=\n)|\\?\Z)"
    r'|"[^"\\\n]*(?:\\.[^"\\\n]*)*(?:"|(?=\n)|\\?\Z)'
)
_NUMBER = r"(?:\d|\.\d)(?:[eE][+-]|[\w.])*"
_NAME = r"[^\W\d]\w*"
_NEVER_MATCH = r"(?!)"


def _c_lexer(single: str) -> re.Pattern[str]:
    return re.compile(
        rf"(//[^\n]*|/\*.*?(?:\*/|\Z))"
        rf"|(r##\"[\s\S]*?(?:\"##|\Z)|r#\"[\s\S]*?(?:\"#|\Z)|r\"[^\"]*\"|`[^`]*`|{single})"
        rf"|({_NAME}|#\s*[a-z]+)|({_NUMBER})"
        r"|(>>>=?|<<=|>>=|===|!==|\.\.\.|::|->|=>|\+\+|--|&&|\|\||<<|>>|[-+*/%&|^!<>=]=|[^\s\w])",
        re.S,
    )


def _shell_lexer(single: str) -> re.Pattern[str]:
    return re.compile(
        rf"((?<![$\w])#[^\n]*)|({single})|({_NAME})|({_NUMBER})"
        r"|(&&|\|\||;;|<<|>>|\$\(|\$\{|[^\s\w])",
        re.S,
    )


def _variants(make: object) -> dict[frozenset[str], re.Pattern[str]]:
    """The lexer with the one-line string rule of each quote in `blocked` left out."""
    assert callable(make)
    out = {}
    for blocked in (frozenset(), frozenset("'"), frozenset('"'), frozenset("'\"")):
        rules = [r for q, r in (("'", _SQ), ('"', _DQ)) if q not in blocked]
        out[blocked] = make("|".join(rules) or _NEVER_MATCH)
    return out


# Each lexer: one regex whose groups are, in order: comment, string, name, number, other.
# C and shell keep exact string semantics (a Rust lifetime `'a` is an unterminated quote);
# the variants let `tokenize` skip string rules already known to fail (see there).
_LEXERS: dict[str, dict[frozenset[str], re.Pattern[str]]] = {
    "python": {
        frozenset(): re.compile(
            rf"(#[^\n]*)|((?:[rRbBuUfF]{{1,2}})?(?:{_TRIPLE}|{_PY_SINGLE}))|({_NAME})|({_NUMBER})"
            r"|(\*\*=?|//=?|>>=?|<<=?|->|:=|[-+*/%&|^@=!<>]=|\.\.\.|[^\s\w])",
            re.S,
        )
    },
    "c": _variants(_c_lexer),
    "shell": _variants(_shell_lexer),
}
# From a quote whose one-line string failed to match: where its scan stopped (the first
# unescaped newline, or the end). Every quote of the same kind before that point is
# escaped, so its string rule fails too: retrying each would be quadratic in the line.
_QUOTE_SCAN = {q: re.compile(rf"{q}[^{q}\\\n]*(?:\\.[^{q}\\\n]*)*", re.S) for q in "'\""}
_KEYWORDS = {"python": _PY_KEYWORDS, "c": _C_KEYWORDS, "shell": _SH_KEYWORDS}


@dataclass(frozen=True)
class Comment:
    """A comment or docstring, as written (its markers and quotes included)."""

    line: int
    """1-based line it starts on."""
    text: str


@dataclass(frozen=True)
class TokenStream:
    """The normalised tokens of one file and, for each, the 1-based line it starts on."""

    codes: np.ndarray
    """uint32 token codes: IDENT, NUMBER, STRING, or a stable hash of the keyword/operator
    (operators with the top bit set)."""
    lines: np.ndarray
    """uint32 line number of each token."""
    named: np.ndarray | None = None
    """uint32 codes as `codes`, except that each identifier has its own (word_code)."""
    comments: tuple[Comment, ...] = ()
    """The file's comments and docstrings, in order."""

    def __len__(self) -> int:
        return int(self.codes.shape[0])


def family_of(language: str | None) -> str | None:
    """The lexer family for a language name, or None when clones do not cover it."""
    return FAMILIES.get(language or "")


@cache
def _word_codes(family: str) -> dict[str, int]:
    return {w: word_code(w) for w in _KEYWORDS[family]}


def tokenize(text: str, language: str) -> TokenStream:
    """Normalised tokens of `text`; an unknown language raises KeyError."""
    family = FAMILIES[language]
    words = _word_codes(family)
    ops: dict[str, int] = {}
    names: dict[str, int] = {}
    # Typed arrays, not lists: 16 bytes a token instead of ~50 (an 8 MB one-line file is
    # millions of tokens).
    codes = array("I")
    named = array("I")
    starts = array("q")
    notes: list[tuple[int, str]] = []
    python = family == "python"
    depth = 0
    last_end = 0
    for m in _matches(text, family):
        group = m.lastindex
        if group == 1:  # comment
            notes.append((m.start(), m.group()))
            continue
        if group == 3:
            word = m.group()
            code = words.get(word)
            if code is None:
                codes.append(IDENT)
                known = names.get(word)
                named.append(
                    known if known is not None else names.setdefault(word, word_code(word))
                )
            else:
                codes.append(code)
                named.append(code)
        elif group == 2:
            # A Python string alone at the start of a statement is a docstring: a comment.
            if (
                python
                and depth == 0
                and text.count("\n", last_end, m.start()) > 0
                or python
                and not codes
            ):
                notes.append((m.start(), m.group()))
                last_end = m.end()
                continue
            codes.append(STRING)
            named.append(STRING)
        elif group == 4:
            codes.append(NUMBER)
            named.append(NUMBER)
        else:
            tok = m.group()
            known = ops.get(tok)
            code = known if known is not None else ops.setdefault(tok, op_code(tok))
            if python:
                if tok in "([{":
                    depth += 1
                elif tok in ")]}" and depth:
                    depth -= 1
            codes.append(code)
            named.append(code)
        starts.append(m.start())
        last_end = m.end()
    arr = np.frombuffer(codes, dtype=np.uint32).copy() if codes else np.zeros(0, np.uint32)
    own = np.frombuffer(named, dtype=np.uint32).copy() if named else np.zeros(0, np.uint32)
    lines = _line_numbers(
        text, np.frombuffer(starts, dtype=np.int64) if starts else np.zeros(0, np.int64)
    )
    if arr.shape[0] > 1:
        keep = np.ones(arr.shape[0], dtype=bool)
        keep[:-1] = ~((arr[:-1] == _COMMA) & np.isin(arr[1:], _CLOSERS))
        arr, own, lines = arr[keep], own[keep], lines[keep]
    note_lines = _line_numbers(text, np.array([o for o, _ in notes], dtype=np.int64))
    comments = tuple(
        Comment(line=int(n), text=t) for n, (_, t) in zip(note_lines.tolist(), notes, strict=True)
    )
    return TokenStream(codes=arr, lines=lines, named=own, comments=comments)


def _matches(text: str, family: str) -> Iterator[re.Match[str]]:
    """The lexer's matches over `text`, as finditer gives them, in linear time.

    When a quote's one-line string fails to match, the same rule is left out until the
    point its scan reached (see _QUOTE_SCAN): same tokens, no quadratic rescans.
    """
    lexers = _LEXERS[family]
    full = lexers[frozenset()]
    if len(lexers) == 1:
        yield from full.finditer(text)
        return
    blocked_until = {"'": -1, '"': -1}
    pos = 0
    while True:
        blocked = frozenset(q for q, end in blocked_until.items() if end > pos)
        m = lexers[blocked].search(text, pos)
        if m is None:
            return
        if blocked and any(blocked_until[q] <= m.start() for q in blocked):
            # The match lies past a block's end: find it again with the rules back in.
            pos = m.start()
            blocked = frozenset(q for q in blocked if blocked_until[q] > pos)
            m = lexers[blocked].match(text, pos)
            assert m is not None  # every non-space character starts a token
        tok = m.group()
        if m.lastindex == 5 and tok in blocked_until and blocked_until[tok] <= m.start():
            scan = _QUOTE_SCAN[tok].match(text, m.start())
            assert scan is not None
            blocked_until[tok] = scan.end()
        pos = m.end()
        yield m


def _line_numbers(text: str, offsets: np.ndarray) -> np.ndarray:
    """1-based line of each character offset."""
    if offsets.shape[0] == 0:
        return np.zeros(0, dtype=np.uint32)
    chars = np.frombuffer(text.encode("utf-32-le", errors="surrogatepass"), dtype=np.uint32)
    newlines = np.flatnonzero(chars == 10)
    return (np.searchsorted(newlines, offsets, side="left") + 1).astype(np.uint32)

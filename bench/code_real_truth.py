"""Ground truth of the real-code benchmark, read from the files themselves.

Two questions, answered without provscan so that any version of it can be held to them:

- Which upstream does a file's own text name? Its comments and docstrings are searched for a
  transformers file or module (a GitHub URL `huggingface/transformers/blob/REV/src/...`, a
  path `transformers/models/X/modeling_X.py`, a module `transformers.models.X.modeling_X.Y`
  as in "Copied from" markers) preceded, in the same sentence, by a word that declares a
  copy ("Adapted from", "Copied from", "Based on", "Ported from", "Derived from", "Source:"
  ...). A mention without such a word ("see .../pull/29402", "matches the transformers
  reference") names nothing. GitHub URLs of other repositories (vllm, sglang ...) declared
  the same way are kept apart as declarations of a non-transformers upstream.
- How much does it share with that upstream? The number of its lines that also occur
  verbatim (whitespace-normalised) in the upstream file, each distinct line counted once (a
  `super().__init__()` repeated in ten classes is one line), leaving aside blank lines,
  import statements, comment lines that state a copyright or license, and trivial lines
  (fewer than two names or literals besides keywords and `self`: `)`, `else:`, `return x`).
  Of those, the *distinctive* ones are the lines that fewer than 1% of the installed
  transformers files contain: `self.config = config` or `residual = hidden_states` are
  idioms that code written against the same configs repeats, not a sign of a copy.
"""

from __future__ import annotations

import ast
import io
import keyword
import re
import tokenize
from collections import Counter
from dataclasses import dataclass
from functools import cache
from pathlib import Path

# A word that declares a copy, then (in the same sentence) the reference.
_DECLARES = re.compile(
    r"\b(adapted|adpated|adapt|adopted|ported|port|copied|copy|based\s+on|derived|modified|"
    r"borrowed|taken|inspired|translated|re-?implement\w*|source\s*:|mirrors?|"
    r"reproduced|reference|modell?(?:ed|ing)\s+(?:after|from|on))\b",
    re.IGNORECASE,
)
_SENTENCE_END = re.compile(r"[.!?](?=\s)|\n\s*\n")
_WINDOW = 240  # characters a declaring word may stand before its reference
_TF_URL = re.compile(
    r"https?://github\.com/[\w.-]+/transformers/(?:blob|tree|raw)/(?P<rev>[^/\s]+)/"
    r"(?:src/)?(?P<path>transformers/[\w./\-]*\w)"
)
_TF_PATH = re.compile(r"(?<![\w/.:-])(?:src/)?(?P<path>transformers/models/\w+(?:/\w+\.py)?)")
_TF_MODULE = re.compile(r"(?<![\w.])(?P<mod>transformers(?:\.\w+)+)")
_OTHER_URL = re.compile(
    r"https?://github\.com/(?P<repo>[\w.-]+/(?!transformers/)[\w.-]+)/"
    r"(?:blob|tree)/(?P<rev>[^/\s]+)/(?P<path>[\w./\-]*\w)"
)


@dataclass(frozen=True)
class Declaration:
    """One upstream named by a file's own comments."""

    line: int
    """Where the reference stands (1-based)."""
    reference: str
    """The URL, path or module as written."""
    upstream: str
    """transformers: the file it resolves to in the installed package ('transformers/models/
    opt/modeling_opt.py') or, for a module naming only a model, its folder (ending in '/');
    other repositories: 'org/repo:path'."""
    revision: str | None
    """The git revision a URL names (the version adapted, which may not be the installed one)."""
    in_transformers: bool


@dataclass(frozen=True)
class Overlap:
    """Verbatim lines a file shares with one upstream file."""

    upstream: str
    shared: int
    """Distinct countable lines of the file found verbatim in the upstream."""
    distinctive: int
    """Of those, the lines that are not idioms of the installed package."""


# ---- reading a file's own text ----------------------------------------------------------


def _text_blocks(source: str) -> list[tuple[int, str]]:
    """(first line, text) of each comment block (consecutive comment lines) and docstring."""
    blocks: list[tuple[int, list[str]]] = []
    last_comment_line = -2
    prev_type = tokenize.NEWLINE
    depth = 0  # inside brackets a string starting a line is data, not a docstring
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type == tokenize.COMMENT:
                text = tok.string.lstrip("#").strip()
                if tok.start[0] == last_comment_line + 1 and blocks:
                    blocks[-1][1].append(text)
                else:
                    blocks.append((tok.start[0], [text]))
                last_comment_line = tok.start[0]
            elif (
                tok.type == tokenize.STRING
                and depth == 0
                and prev_type in (tokenize.NEWLINE, tokenize.NL, tokenize.INDENT, tokenize.DEDENT)
            ):
                blocks.append((tok.start[0], [tok.string]))
            elif tok.type == tokenize.OP and tok.string in "([{":
                depth += 1
            elif tok.type == tokenize.OP and tok.string in ")]}":
                depth = max(0, depth - 1)
            if tok.type != tokenize.COMMENT:
                prev_type = tok.type
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass
    return [(line, "\n".join(parts)) for line, parts in blocks]


def _declared(block: str, start: int) -> bool:
    """A declaring word stands before position `start`, in the same sentence."""
    lo = max(0, start - _WINDOW)
    window = block[lo:start]
    ends = list(_SENTENCE_END.finditer(window))
    if ends:
        window = window[ends[-1].end() :]
    return _DECLARES.search(window) is not None


@cache
def _installed(root: str) -> frozenset[str]:
    """Every .py path of the installed transformers package, as 'transformers/...'."""
    base = Path(root)
    return frozenset(
        p.relative_to(base.parent).as_posix()
        for p in base.rglob("*.py")
        if "__pycache__" not in p.parts
    )


def resolve_module(dotted: str, root: Path) -> str | None:
    """'transformers.models.llama.modeling_llama.LlamaMLP' -> the longest prefix that is a
    file (or a package folder) of the installed package."""
    parts = dotted.split(".")
    files = _installed(str(root))
    for n in range(len(parts), 1, -1):
        path = "/".join(parts[:n])
        if f"{path}.py" in files:
            return f"{path}.py"
        if f"{path}/__init__.py" in files:
            return f"{path}/"
    if len(parts) >= 3 and parts[1] == "models":  # a model folder of another version
        return "/".join(parts[:3]) + ("/" + parts[3] + ".py" if len(parts) > 3 else "/")
    return None


def resolve_path(path: str, root: Path) -> str:
    """A named path as the installed package spells it (URLs sometimes capitalise a model
    folder: models/Glm4v/ for models/glm4v/); unchanged when it has no such file."""
    files = _installed(str(root))
    if path in files or path.lower() not in {f.lower() for f in files}:
        return path
    return next(f for f in sorted(files) if f.lower() == path.lower())


def _normal_path(path: str) -> str:
    path = path.split("#")[0].rstrip(").,>'\"`")
    return path if path.endswith(".py") else path.rstrip("/") + "/"


def declarations(source: str, transformers_root: Path) -> list[Declaration]:
    """Every upstream a file's comments and docstrings declare it was adapted from."""
    found: dict[tuple[str, bool], Declaration] = {}
    for first, block in _text_blocks(source):
        for match, kind in _references(block):
            if not _declared(block, match.start()):
                continue
            line = first + block.count("\n", 0, match.start())
            decl = _declaration(match, kind, line, transformers_root)
            if decl is not None:
                found.setdefault((decl.upstream, decl.in_transformers), decl)
    return sorted(found.values(), key=lambda d: (d.line, d.upstream))


def _references(block: str) -> list[tuple[re.Match[str], str]]:
    out: list[tuple[re.Match[str], str]] = []
    spans: list[tuple[int, int]] = []
    for kind, rx in (
        ("url", _TF_URL),
        ("other", _OTHER_URL),
        ("path", _TF_PATH),
        ("module", _TF_MODULE),
    ):
        for m in rx.finditer(block):
            if any(a <= m.start() < b for a, b in spans):
                continue  # a path or module inside a URL already taken
            spans.append(m.span())
            out.append((m, kind))
    return sorted(out, key=lambda mk: mk[0].start())


def _declaration(m: re.Match[str], kind: str, line: int, root: Path) -> Declaration | None:
    if kind == "other":
        return Declaration(
            line=line,
            reference=m.group(0),
            revision=m.group("rev"),
            upstream=f"{m.group('repo')}:{_normal_path(m.group('path'))}",
            in_transformers=False,
        )
    if kind == "module":
        upstream = resolve_module(m.group("mod").rstrip("."), root)
        if upstream is None or upstream == "transformers/":
            return None
        return Declaration(
            line=line, reference=m.group(0), upstream=upstream, revision=None, in_transformers=True
        )
    path = resolve_path(_normal_path(m.group("path")), root)
    if path in ("transformers/", "transformers/models/"):
        return None
    return Declaration(
        line=line,
        reference=m.group(0),
        upstream=path,
        revision=m.group("rev") if kind == "url" else None,
        in_transformers=True,
    )


# ---- verbatim lines ----------------------------------------------------------------------

_NAME_OR_LITERAL = re.compile(r"[A-Za-z_]\w*|\d[\w.]*|\"[^\"]*\"|'[^']*'")
_NOT_COUNTED = frozenset(keyword.kwlist) | {"self", "cls"}
# A line in at least this share of transformers' files is an idiom, not evidence of a copy.
IDIOM_SHARE = 0.01
_LEGAL = re.compile(r"copyright|licen[cs]e|spdx-", re.IGNORECASE)


def _import_lines(source: str) -> set[int]:
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return {
            i
            for i, line in enumerate(source.splitlines(), 1)
            if re.match(r"\s*(import\s|from\s+\S+\s+import\s)", line)
        }
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            lines.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
    return lines


def _trivial(line: str) -> bool:
    names = [t for t in _NAME_OR_LITERAL.findall(line) if t not in _NOT_COUNTED]
    return len(names) < 2


@cache
def countable_lines(source: str) -> tuple[str, ...]:
    """The whitespace-normalised lines that count as code a copy can share."""
    imports = _import_lines(source)
    out = []
    for i, raw in enumerate(source.splitlines(), 1):
        line = " ".join(raw.split())
        if not line or i in imports or _trivial(line):
            continue
        if line.startswith("#") and _LEGAL.search(line):
            continue
        out.append(line)
    return tuple(out)


def shared_lines(target: str, upstream: str) -> set[str]:
    """Distinct countable lines of `target` found verbatim in `upstream`."""
    return set(countable_lines(target)) & set(countable_lines(upstream))


def overlap(target: str, upstream_path: str, transformers_root: Path) -> Overlap | None:
    """Verbatim lines `target` shares with a file of the installed package (None when the
    version installed has no such file)."""
    path = transformers_root.parent / upstream_path
    if not upstream_path.endswith(".py") or not path.is_file():
        return None
    shared = shared_lines(target, path.read_text(encoding="utf-8", errors="replace"))
    return Overlap(
        upstream=upstream_path,
        shared=len(shared),
        distinctive=len(shared - idioms(transformers_root)),
    )


def best_in_group(target: str, upstream: str, transformers_root: Path) -> Overlap | None:
    """The file of the named model (its folder) that the target shares most lines with."""
    found = [
        o
        for f in files_of_group(group_of(upstream), transformers_root)
        if (o := overlap(target, f, transformers_root)) is not None
    ]
    return max(found, key=lambda o: (o.shared, o.distinctive, o.upstream == upstream), default=None)


def group_of(upstream: str) -> str:
    """The files that count as 'the named model': its models/<name>/ folder; any other
    transformers file stands alone."""
    parts = upstream.split("/")
    if len(parts) >= 3 and parts[0] == "transformers" and parts[1] == "models":
        return "/".join(parts[:3]) + "/"
    return upstream


def files_of_group(group: str, transformers_root: Path) -> list[str]:
    files = _installed(str(transformers_root))
    if group.endswith("/"):
        return sorted(f for f in files if f.startswith(group) and f.count("/") == 3)
    return [group] if group in files else []


@cache
def idioms(transformers_root: Path, share: float = IDIOM_SHARE) -> frozenset[str]:
    """Countable lines found in at least `share` of the installed package's .py files: the
    idioms that code written against the same configs repeats (`self.config = config`,
    `residual = hidden_states`), which shared alone do not show a copy."""
    files = _installed(str(transformers_root))
    df: Counter[str] = Counter()
    for rel in files:
        text = (transformers_root.parent / rel).read_text(encoding="utf-8", errors="replace")
        df.update(set(countable_lines(text)))
    floor = max(2, int(share * len(files)))
    return frozenset(line for line, n in df.items() if n >= floor)

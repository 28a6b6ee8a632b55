"""Attribution comments: the upstream a file's own comments say it was adapted from.

Inference engines, ports to other frameworks and transformers itself say where code comes
from in comments and docstrings: "# Adapted from https://github.com/huggingface/
transformers/blob/v4.28.0/src/transformers/models/opt/modeling_opt.py", "# Copied from
transformers.models.llama.modeling_llama.LlamaRMSNorm with Llama->Mistral", "This file
was automatically generated from src/transformers/models/x/modular_x.py", "Reference: -
https://...". A reference (a URL, a dotted module, a path) counts when a declaring phrase
stands before it in the same sentence; a URL or module mentioned without one ("see
.../pull/29402") declares nothing.

A declaration is evidence that the file reuses the code it names: the clones analyzer
matches the file against the named upstream when a corpus holds it, and reports it as an
attribution, not as an accusation. Inside a corpus the same comments give its genealogy
(which file was copied from which), so that the original wins over its copies.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .tokens import Comment

# A declaring phrase, then (in the same sentence, before the reference ends) the reference.
# "adpated" and "adopted" are frequent misspellings of "adapted" in real headers.
_DECLARES = re.compile(
    r"\b(?:adapted|adpated|adopted|adaptation\s+of|copied|copy\s+(?:of|from)|cop(?:y|ies)\s+"
    r"code\s+from|based\s+(?:on|off)|ported|port\s+of|derived|modified|borrowed|taken|"
    r"inspired\s+by|translated|re-?implement\w*|reproduced|references?|modell?(?:ed|ing)\s+"
    r"(?:after|from|on)|generated\s+from|mirrors?|follows|source\s*:)",
    re.IGNORECASE,
)
_SENTENCE_END = re.compile(r"[.!?](?=\s)|\n\s*\n")
WINDOW = 240
"""Characters a declaring phrase may stand before its reference."""

_URL = re.compile(r"https?://[^\s<>()\[\]'\"`,]+")
_GITHUB = re.compile(
    r"https?://(?:www\.)?github\.com/(?P<org>[\w.-]+)/(?P<repo>[\w.-]+)"
    r"(?:/(?:blob|tree|raw)/(?P<rev>[^/\s]+)(?:/(?P<path>[^\s#?]*))?)?"
)
_RAW_GITHUB = re.compile(
    r"https?://raw\.githubusercontent\.com/(?P<org>[\w.-]+)/(?P<repo>[\w.-]+)/"
    r"(?P<rev>[^/\s]+)/(?P<path>[^\s#?]*)"
)
# transformers.models.llama.modeling_llama.LlamaRMSNorm: three dotted names at least.
_MODULE = re.compile(r"(?<![\w./-])(?P<mod>[a-z_][a-z0-9_]*(?:\.[A-Za-z_]\w*){2,})")
# src/transformers/models/t5/modeling_t5.py, transformers/models/hrm_text (a folder).
_PATH = re.compile(r"(?<![\w./:-])(?P<path>[A-Za-z_][\w.-]*(?:/[\w.-]+)+/?)")
_CODE_SUFFIXES = (".py", ".cu", ".cuh", ".cc", ".cpp", ".c", ".h", ".hpp", ".rs", ".js", ".ts")
# Where code is published: a URL elsewhere (a paper, a license, documentation) names no
# upstream code unless it ends in a source file.
_CODE_HOSTS = re.compile(
    r"https?://(?:www\.)?(?:github\.com|raw\.githubusercontent\.com|gitlab\.com|"
    r"bitbucket\.org|huggingface\.co/[^/\s]+/[^/\s]+/(?:blob|resolve|tree)/)"
)
# Only these phrases make a bare dotted name a declaration ("Copied from transformers.
# models.x.X"); "see", "follows" or "reference" before one name an API, not a source.
_COPY_WORDS = re.compile(
    r"adapted|adpated|adopted|adaptation|cop(?:y|ied|ies)|based|port|derived|modified|"
    r"borrowed|taken|generated",
    re.IGNORECASE,
)
_TRAILING = ").,;:>'\"`*"


@dataclass(frozen=True)
class Attribution:
    """One upstream a file's comments declare."""

    line: int
    """1-based line of the reference."""
    phrase: str
    """The declaring words as written ("Adapted from", "Copied from")."""
    reference: str
    """The URL, module or path as written."""
    repository: str | None
    """'org/name' of a GitHub URL."""
    revision: str | None
    """The git revision a URL names."""
    path: str | None
    """The path the reference names inside its repository or package ('src/transformers/
    models/opt/modeling_opt.py', 'transformers/models/hrm_text/'), a folder ending in '/'."""
    symbol: str | None
    """What a dotted reference names inside its module (a class or function), when known:
    resolution against a corpus tells the module from the symbol."""

    @property
    def dotted(self) -> bool:
        return self.repository is None and "/" not in self.reference


# ---- reading comment blocks ----------------------------------------------------------------


def _strip_markers(text: str) -> str:
    """A comment's text without its markers, line by line (#, //, /* */, *, quotes)."""
    out = []
    for line in text.splitlines():
        line = line.strip()
        line = re.sub(r"^(?:#+|//+|/\*+|\*+/?|[rRbBuU]?(?:\"\"\"|'''))", "", line)
        line = re.sub(r"(?:\*+/|\"\"\"|''')$", "", line)
        out.append(line.strip())
    return "\n".join(out)


def blocks(comments: Sequence[Comment]) -> list[tuple[int, str]]:
    """(first line, text) of each comment block: consecutive one-line comments are one
    block (a sentence may run over several), a docstring or /* */ comment is one."""
    out: list[tuple[int, list[str]]] = []
    follows = -2  # the line a one-line comment must stand on to continue the block
    for c in comments:
        text = _strip_markers(c.text)
        one_line = "\n" not in c.text
        if one_line and out and c.line == follows:
            out[-1][1].append(text)
        else:
            out.append((c.line, [text]))
        follows = c.line + 1 if one_line else -2
    return [(line, "\n".join(parts)) for line, parts in out]


# ---- finding references ---------------------------------------------------------------


def _declared_before(block: str, start: int) -> str | None:
    """The declaring phrase standing before `start` in the same sentence, if any; a URL of
    something other than code in between was what the phrase was about ("a copy of the
    License at http://www.apache.org/..."), not this reference."""
    lo = max(0, start - WINDOW)
    window = block[lo:start]
    ends = list(_SENTENCE_END.finditer(window))
    if ends:
        window = window[ends[-1].end() :]
    found = list(_DECLARES.finditer(window))
    if not found:
        return None
    m = found[-1]
    rest = window[m.end() :]
    if any(not _names_code(u.group().rstrip(_TRAILING)) for u in _URL.finditer(rest)):
        return None
    tail = re.match(r"\s*(?:from|on|of|by|after|at|:)?", rest)
    return " ".join((m.group() + (tail.group() if tail else "")).split())


def _joined_url(block: str, m: re.Match[str]) -> tuple[str, int]:
    """A URL cut at the end of a line and continued on the next ('.../src/' then
    'transformers/models/t5/modeling_t5.py'): the whole, and where it ends."""
    url, end = m.group(), m.end()
    while url.endswith("/"):
        nxt = re.match(r"[ \t]*\n[ \t]*([^\s<>()\[\]'\"`,]+)", block[end:])
        if not nxt or "://" in nxt.group(1):
            break
        url += nxt.group(1)
        end += nxt.end()
    return url.rstrip(_TRAILING), end


def _references(block: str) -> list[tuple[int, str, str]]:
    """(start, kind, text) of every URL, dotted module and path, in order; a module or
    path inside a URL is not counted again."""
    found: list[tuple[int, str, str]] = []
    taken: list[tuple[int, int]] = []
    for m in _URL.finditer(block):
        url, end = _joined_url(block, m)
        taken.append((m.start(), end))
        if _names_code(url):
            found.append((m.start(), "url", url))
    for kind, rx, group in (("module", _MODULE, "mod"), ("path", _PATH, "path")):
        for m in rx.finditer(block):
            if any(a <= m.start() < b for a, b in taken):
                continue
            text = m.group(group).rstrip(_TRAILING)
            if kind == "path" and not _looks_like_path(text):
                continue
            if kind == "module" and not _looks_like_module(text):
                continue
            found.append((m.start(), kind, text))
            taken.append((m.start(), m.end()))
    return sorted(found)


def _names_code(url: str) -> bool:
    """A URL of published code: a repository, a file or folder in it; not a pull request,
    an issue or a page elsewhere (a paper, a license), unless it ends in a source file."""
    if url.split("#")[0].split("?")[0].endswith(_CODE_SUFFIXES):
        return True
    if not _CODE_HOSTS.match(url):
        return False
    gh = re.match(r"https?://(?:www\.)?github\.com/[^/\s]+/[^/\s]+/?([^/\s#?]*)", url)
    return gh is None or gh.group(1) in ("", "blob", "tree", "raw", "blame")


def _looks_like_path(text: str) -> bool:
    """A repository path: a source file, or a folder of at least two names; not a fraction
    ('1/2'), a ratio ('and/or') or a relative sibling ('./llama.py': the project's own)."""
    if text.startswith(("./", "../")) or text.count("/") < 1:
        return False
    if text.endswith(_CODE_SUFFIXES):
        return True
    return text.rstrip("/").count("/") >= 2


def _looks_like_module(text: str) -> bool:
    """A dotted module path, not a file name ('modeling_opt.py') or a version ('v4.28.0')."""
    last = text.rsplit(".", 1)[-1]
    return last not in ("py", "md", "txt", "html", "json", "yaml") and not any(
        part[:1].isdigit() for part in text.split(".")
    )


def _attribution(line: int, phrase: str, kind: str, text: str) -> Attribution:
    if kind == "url":
        gh = _GITHUB.match(text) or _RAW_GITHUB.match(text)
        if gh:
            path = (gh.group("path") or "").rstrip("/") or None
            if path and gh.re is _GITHUB and "/tree/" in text:
                path += "/"
            return Attribution(
                line=line,
                phrase=phrase,
                reference=text,
                repository=f"{gh.group('org')}/{gh.group('repo')}",
                revision=gh.group("rev"),
                path=path,
                symbol=None,
            )
        return Attribution(line, phrase, text, None, None, None, None)
    if kind == "module":
        return Attribution(line, phrase, text, None, None, text.replace(".", "/"), None)
    path = text if text.endswith(_CODE_SUFFIXES) else text.rstrip("/") + "/"
    return Attribution(line, phrase, text, None, None, path, None)


def attributions(comments: Sequence[Comment]) -> tuple[Attribution, ...]:
    """Every upstream the comments declare, once each (the first mention), in file order."""
    out: dict[str, Attribution] = {}
    for first, block in blocks(comments):
        for start, kind, text in _references(block):
            phrase = _declared_before(block, start)
            if phrase is None or (kind == "module" and not _COPY_WORDS.search(phrase)):
                continue
            line = first + block.count("\n", 0, start)
            a = _attribution(line, phrase, kind, text)
            out.setdefault(_key(a), a)
    return tuple(sorted(out.values(), key=lambda a: a.line))


def _key(a: Attribution) -> str:
    """Two mentions of one upstream (a file, whatever the revision or the anchor)."""
    return f"{a.repository or ''}:{(a.path or a.reference).lower()}"


# ---- resolving against a corpus's paths --------------------------------------------------


@dataclass(frozen=True)
class Resolved:
    """What an attribution names in one corpus: a file, or a folder (ending in '/')."""

    path: str
    symbol: str | None


def resolve(
    a: Attribution, paths: Iterable[str], index: PathIndex | None = None
) -> Resolved | None:
    """The corpus file (or folder) the attribution names, if the corpus holds it."""
    if a.path is None:
        return None
    idx = index or PathIndex(paths)
    if a.dotted:
        parts = a.path.split("/")
        for n in range(len(parts), 1, -1):
            head = "/".join(parts[:n])
            symbol = ".".join(parts[n:]) or None
            found = idx.file(head + ".py") or idx.folder(head)
            if found:
                return Resolved(found, symbol)
        return None
    if not a.path.endswith("/"):
        found = idx.file(a.path)
        if found:
            return Resolved(found, None)
    # a folder, or the folder of a file this version of the corpus no longer has
    folder = idx.folder(a.path.rstrip("/")) or idx.folder(a.path.rsplit("/", 1)[0])
    return Resolved(folder, None) if folder else None


class PathIndex:
    """Lookups of a corpus's paths by suffix: a URL names 'src/transformers/models/x.py'
    where the package corpus holds 'transformers/models/x.py'; a URL may capitalise a
    folder the package spells in lower case."""

    MIN_PARTS = 3
    """A named path shorter than the corpus path matches its end only with this many
    names ('models/opt/modeling_opt.py'), never on a bare file name."""

    def __init__(self, paths: Iterable[str]):
        self._files: dict[str, str] = {}
        self._folders: dict[str, str] = {}
        for p in paths:
            self._files.setdefault(p.lower(), p)
            parts = p.split("/")
            for n in range(1, len(parts)):
                folder = "/".join(parts[:n])
                self._folders.setdefault(folder.lower(), folder + "/")
        self._by_name: dict[str, list[str]] = {}
        for low, p in self._files.items():
            self._by_name.setdefault(low.rsplit("/", 1)[-1], []).append(p)

    def file(self, named: str) -> str | None:
        low = named.lower().lstrip("/")
        if low in self._files:
            return self._files[low]
        # the corpus path is the end of the named one, or the named one the end of it
        parts = low.split("/")
        for n in range(1, len(parts)):
            tail = "/".join(parts[n:])
            if tail in self._files and "/" in tail:
                return self._files[tail]
        if len(parts) >= self.MIN_PARTS:
            ends = [p for p in self._by_name.get(parts[-1], []) if p.lower().endswith("/" + low)]
            if len(ends) == 1:
                return ends[0]
        return None

    def folder(self, named: str) -> str | None:
        """A folder of at least MIN_PARTS names ('transformers/models/opt/'): a shorter
        one ('transformers/models/') names a whole package, not an upstream."""
        low = named.lower().strip("/")
        parts = low.split("/")
        for n in range(0, len(parts)):
            tail = "/".join(parts[n:])
            if tail in self._folders and tail.count("/") + 1 >= self.MIN_PARTS:
                return self._folders[tail]
        return None

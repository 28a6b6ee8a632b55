"""A corpus's own genealogy: which of its files were copied from which.

transformers copies its models into each other and says so: "# Copied from transformers.
models.llama.modeling_llama.LlamaRMSNorm", "This file was automatically generated from
src/transformers/models/mistral/modular_mistral.py", and a modular file imports the classes
it inherits (`from ..llama.modeling_llama import LlamaAttention`). A copy found in a release
matches the original and its derivatives alike; read here, the genealogy lets the original
win a near-tie, and tells whose notice a copy may rightly carry (the original author's).

Also here: the corpus's maintainers, the holders named in most of its notices (the
HuggingFace team in transformers). A notice naming someone else names an original author.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from .attribution import Attribution, PathIndex, resolve
from .headers import copyright_lines, holders

# transformers' modular convention: a modular_<name>.py file lists, as imports from sibling
# model folders, the classes its generated modeling file copies.
MODULAR_PREFIX = "modular_"
_RELATIVE_IMPORT = re.compile(r"^from\s+(\.+)([\w.]+)\s+import\b", re.MULTILINE)
MAINTAINER_SHARE = 0.3
"""A holder word in at least this share of a corpus's notices names its maintainer."""


def modular_parents(path: str, text: str) -> tuple[str, ...]:
    """The sibling-folder modules a modular file imports from, as paths next to `path`
    ('transformers/models/mistral/modular_mistral.py' importing `..llama.modeling_llama`
    gives 'transformers/models/llama/modeling_llama.py'); none for other files."""
    name = path.rsplit("/", 1)[-1]
    if not name.startswith(MODULAR_PREFIX):
        return ()
    folder = path.rsplit("/", 1)[0] if "/" in path else ""
    out = []
    for dots, module in _RELATIVE_IMPORT.findall(text):
        if len(dots) != 2:  # `..x.modeling_x`: a sibling model; `...` is the package's
            continue
        parent = folder.rsplit("/", 1)[0] if "/" in folder else ""
        target = "/".join(p for p in (parent, module.replace(".", "/")) if p) + ".py"
        if target.rsplit("/", 2)[-2] != folder.rsplit("/", 1)[-1]:
            out.append(target)
    return tuple(dict.fromkeys(out))


def parents_of(
    path: str,
    declared: Sequence[Attribution],
    modular: Sequence[str],
    index: PathIndex,
) -> tuple[str, ...]:
    """The corpus files `path` declares it was copied or generated from."""
    found: list[str] = []
    for a in declared:
        r = resolve(a, (), index)
        if r and not r.path.endswith("/") and r.path != path:
            found.append(r.path)
    for m in modular:
        p = index.file(m)
        if p and p != path:
            found.append(p)
    return tuple(dict.fromkeys(found))


@dataclass
class Genealogy:
    """Parents by file index, and the transitive ancestors, computed on demand."""

    parents: dict[int, tuple[int, ...]]
    _ancestors: dict[int, frozenset[int]] = field(default_factory=dict)

    def ancestors(self, idx: int) -> frozenset[int]:
        if idx not in self._ancestors:
            seen: set[int] = set()
            todo = list(self.parents.get(idx, ()))
            while todo:
                p = todo.pop()
                if p in seen or p == idx:
                    continue
                seen.add(p)
                todo.extend(self.parents.get(p, ()))
            self._ancestors[idx] = frozenset(seen)
        return self._ancestors[idx]

    def is_original_of(self, a: int, b: int) -> bool:
        """`a` is an ancestor of `b`: b's code was copied (maybe through others) from a."""
        return a in self.ancestors(b)


def genealogy_of(paths: Sequence[str], parents: Iterable[tuple[str, ...]]) -> Genealogy:
    """Parent paths per file -> parent indices."""
    where = {p: i for i, p in enumerate(paths)}
    out: dict[int, tuple[int, ...]] = {}
    for i, ps in enumerate(parents):
        idx = tuple(where[p] for p in ps if p in where and where[p] != i)
        if idx:
            out[i] = idx
    return Genealogy(out)


def maintainers(notices: Iterable[Sequence[str]]) -> frozenset[str]:
    """Holder words found in at least MAINTAINER_SHARE of the notices that name a holder."""
    counts: Counter[str] = Counter()
    n = 0
    for notice in notices:
        words = holders(copyright_lines(tuple(notice)))
        if words:
            n += 1
            counts.update(words)
    return frozenset(w for w, c in counts.items() if n and c >= MAINTAINER_SHARE * n)

"""Model card metadata: the YAML front matter of README.md, parsed by us (safe loader,
bounded size), never by running anything from the repository."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

import yaml

from .errors import SourceError
from .model import CardData, FileEntry, FileKind, Finding, not_analysed

MAX_CARD_BYTES = 1024 * 1024
MAX_FRONT_MATTER_BYTES = 256 * 1024
# safe_load shares an aliased node instead of copying it, but whatever walks the result
# (a report, json.dumps) expands it: nine aliases of nine aliases... is a billion laughs.
# Real cards use a handful of aliases at most; nesting beyond this depth is an attack too.
MAX_ALIASES = 64
MAX_DEPTH = 64


_TIMESTAMP = "tag:yaml.org,2002:timestamp"


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader that refuses documents with many aliases or deep nesting, and reads dates
    as the strings they are written as: a card field is text, and an impossible date
    (`license: 2024-13-45`) made the constructor raise."""

    yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != _TIMESTAMP]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._aliases = 0
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise SourceError(
                    f"model card front matter has more than {MAX_ALIASES} "
                    "YAML aliases (an alias bomb?)"
                )
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise SourceError(f"model card front matter nests deeper than {MAX_DEPTH}")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


_BoundedLoader.add_constructor(_TIMESTAMP, yaml.SafeLoader.construct_yaml_str)


def split_front_matter(text: str) -> str | None:
    """The YAML between a leading '---' line and the next '---' line, if any."""
    text = text.lstrip("\ufeff")
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        return None
    for i, line in enumerate(lines[1:], start=1):
        if line.strip() in ("---", "..."):
            return "\n".join(lines[1:i])
    return None


def _strings(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list | tuple):
        return tuple(str(v) for v in value if isinstance(v, str | int | float))
    return ()


def _string(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, list) and value:
        value = value[0]
    return str(value) if isinstance(value, str | int | float) else None


def card_from_mapping(meta: dict[str, Any]) -> CardData:
    """CardData from the card's metadata mapping (front matter or Hub cardData)."""
    return CardData(
        license=_string(meta.get("license")),
        license_name=_string(meta.get("license_name")),
        license_link=_string(meta.get("license_link")),
        base_model=_strings(meta.get("base_model")),
        base_model_relation=_string(meta.get("base_model_relation")),
        datasets=_strings(meta.get("datasets")),
        pipeline_tag=_string(meta.get("pipeline_tag")),
        tags=_strings(meta.get("tags")),
    )


def parse_card(text: str) -> CardData:
    """Parse a model card's front matter; a card without one declares nothing."""
    front = split_front_matter(text)
    if front is None:
        return CardData()
    if len(front.encode()) > MAX_FRONT_MATTER_BYTES:
        raise SourceError("model card front matter is larger than 256 KiB")
    try:
        meta = yaml.load(front, Loader=_BoundedLoader)  # noqa: S506 (a SafeLoader)
    except RecursionError as exc:  # a last guard: _BoundedLoader bounds nesting itself
        raise SourceError("model card front matter nests too deeply") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 2}" if mark is not None else ""
        raise SourceError(f"model card front matter is not valid YAML{where}") from exc
    except (ValueError, TypeError, OverflowError, IndexError) as exc:  # `!!int x`, `!!int ""`
        raise SourceError(f"model card front matter has an impossible value ({exc})") from exc
    if meta is None:
        return CardData()
    if not isinstance(meta, dict):
        raise SourceError("model card front matter is not a mapping")
    return card_from_mapping(meta)


def find_card(files: tuple[FileEntry, ...]) -> FileEntry | None:
    """The release's own card: a model-card file at the root."""
    for f in files:
        if f.kind is FileKind.MODEL_CARD and "/" not in f.path:
            return f
    return None


def read_card(
    files: tuple[FileEntry, ...], reader: Any
) -> tuple[CardData | None, tuple[Finding, ...]]:
    """Read and parse the root card through a ContentReader; problems become findings."""
    entry = find_card(files)
    if entry is None:
        return None, ()
    try:
        # Only the head: the front matter comes first, and a card with a long body (tables,
        # inlined images) still declares its license.
        head = reader.read_range(entry.path, 0, MAX_CARD_BYTES)
        text = head.decode("utf-8", errors="replace")
        if (
            len(head) >= MAX_CARD_BYTES
            and text.lstrip("\ufeff").startswith("---")
            and split_front_matter(text) is None
        ):
            raise SourceError(
                f"model card front matter does not end within the first {MAX_CARD_BYTES} bytes"
            )
        return parse_card(text), ()
    except SourceError as exc:
        return None, (not_analysed(entry.path, str(exc), "card"),)


# ---- is this base declared? ------------------------------------------------------------------


def model_names(ref: str) -> set[str]:
    """Names a model card could use for a model: org/name and name, lower-case, without
    `hf:`, `@rev`, a trailing '/' or a fingerprint file's `.npz`."""
    s = ref.strip().removeprefix("hf:").split("@", 1)[0].rstrip("/")
    parts = PurePosixPath(s).parts
    out = set()
    if len(parts) >= 2:
        out.add("/".join(parts[-2:]).lower())
    if parts:
        last = PurePosixPath(parts[-1]).stem if s.endswith(".npz") else parts[-1]
        out.add(last.lower())
    return out


def declares_base(base_models: Sequence[str], *names: str | None) -> bool:
    """Whether a card's base_model list names the model known by any of `names` (a
    reference as given, a fingerprint's name...): the same org/name, or the same name."""
    said = set().union(*(model_names(b) for b in base_models))
    return any(model_names(n) & said for n in names if n)


# ---- hints of a base model outside base_model ----------------------------------------------

# Words before a base model's name in a card's text.
_SAYS_BASE = re.compile(
    r"\b(?:fine-?tuned\s+(?:version\s+)?(?:of|from|on(?:\s+top\s+of)?)|finetune\s+of"
    r"|based\s+on|built\s+(?:up)?on(?:\s+top\s+of)?|derived\s+from"
    r"|continued\s+(?:pre-?training|training)\s+(?:of|from|on)|trained\s+on\s+top\s+of"
    r"|distilled\s+from|quantized\s+(?:version\s+)?of|quantizations?\s+of"
    r"|initiali[sz]ed\s+(?:from|with)|merge\s+of|adapted\s+from|version\s+of)\s+",
    re.IGNORECASE,
)
_LEAD = re.compile(r"(?:(?:the|a|an)\s+|[\[*_`\"'(]+)*", re.IGNORECASE)
_HUB_LINK = re.compile(
    r"\[[^\]\n]{0,200}\]\(\s*(https?://(?:www\.)?(?:huggingface\.co|hf\.co)/[^)\s]+)"
    r"|(https?://(?:www\.)?(?:huggingface\.co|hf\.co)/\S+)"
)
_HUB_PATH = re.compile(r"^https?://[^/]+/([\w.-]+)(?:/([\w.-]+))?")
_NOT_MODELS = {"datasets", "spaces", "docs", "blog", "papers", "models", "settings", "collections"}
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]{0,95}/[A-Za-z0-9][\w.-]{0,95}")
_MODEL_NAME = re.compile(r"[A-Za-z][\w.]*(?:-[\w.]+)+")
MAX_HINTS = 10
MAX_SAID = 200


@dataclass(frozen=True)
class BaseHint:
    """A model a text names as a base, and the words that name it."""

    name: str
    said: str


def _hub_id(url: str) -> str | None:
    m = _HUB_PATH.match(url)
    if m is None or m.group(1) in _NOT_MODELS:
        return None
    return "/".join(p for p in m.groups() if p)


def _named_after(text: str) -> str | None:
    """The model named at the start of `text`: a Hub link, an org/name, or a name with a
    version in it (Mistral-7B-v0.1); None for anything else (an architecture, a paper)."""
    rest = text[_LEAD.match(text).end() :]  # type: ignore[union-attr]  # matches ""
    link = _HUB_LINK.match(rest)
    if link is not None:
        return _hub_id(link.group(1) or link.group(2))
    for pattern in (_HUB_ID, _MODEL_NAME):
        m = pattern.match(rest)
        if m is not None:
            name = m.group(0).rstrip(".,;:")
            if pattern is _HUB_ID or re.search(r"\d", name):
                return name
    return None


def base_model_hints(text: str) -> tuple[BaseHint, ...]:
    """Models a card's text names as a base ("a fine-tuned version of [X](...)",
    "based on org/name", "distilled from Qwen2.5-7B"): hints for a reader, never a
    declaration nor evidence."""
    body = text
    front = split_front_matter(text)
    if front is not None:
        body = text.split(front, 1)[1]
    hints: dict[str, BaseHint] = {}
    for m in _SAYS_BASE.finditer(body):
        name = _named_after(body[m.end() : m.end() + MAX_SAID])
        if name and name.lower() not in hints:
            stop = re.search(r"\n|\.\s", body[m.end() : m.end() + MAX_SAID])
            end = m.end() + (stop.start() if stop else MAX_SAID)
            said = " ".join(body[m.start() : end].split())[:MAX_SAID]
            hints[name.lower()] = BaseHint(name, said)
            if len(hints) >= MAX_HINTS:
                break
    return tuple(hints.values())


_CONFIG_BASE_KEYS = ("_name_or_path", "base_model_name_or_path")
_LOOKS_LOCAL = re.compile(r"^(?:[./~]|[A-Za-z]:)|\.\.|//")


def config_base_hint(config: dict[str, Any]) -> BaseHint | None:
    """The Hub id a config was saved from (`_name_or_path`, PEFT's
    `base_model_name_or_path`), where it is one: a local path says nothing."""
    for key in _CONFIG_BASE_KEYS:
        value = config.get(key)
        if (
            isinstance(value, str)
            and not _LOOKS_LOCAL.match(value)
            and _HUB_ID.fullmatch(value.strip())
        ):
            return BaseHint(value.strip(), f'"{key}": "{value.strip()}"')
    return None


# ---- what in a card is not release content ---------------------------------------------------

PROVENANCE_BEGIN = "<!-- provscan:provenance -->"
PROVENANCE_END = "<!-- /provscan:provenance -->"
"""The markers around the section `provscan disclose` writes into a card."""


def declaration_lines(text: str) -> tuple[tuple[int, int], ...]:
    """1-based inclusive line ranges of a card that restate rather than carry: its front
    matter (the declaration, read as such by declared_licenses) and the section `provscan
    disclose` writes (the audit's own findings in words). License and notice detections
    there are not found material: counting them would make a card's `license: other`, or a
    disclosure quoting the notices it found, new findings of their own."""
    lines = text.lstrip("\ufeff").splitlines()
    out: list[tuple[int, int]] = []
    if lines and lines[0].strip() == "---":
        end = next((i for i in range(1, len(lines)) if lines[i].strip() in ("---", "...")), None)
        if end is not None:
            out.append((1, end + 1))
    begins = [i for i, line in enumerate(lines, 1) if line.strip() == PROVENANCE_BEGIN]
    ends = [i for i, line in enumerate(lines, 1) if line.strip() == PROVENANCE_END]
    if len(begins) == 1 and len(ends) == 1 and begins[0] < ends[0]:
        out.append((begins[0], ends[0]))
    return tuple(out)

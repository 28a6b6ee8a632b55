"""The disclosure's words and thresholds, read from rules/disclosure.toml."""

from __future__ import annotations

from typing import Any

from ..rules import load_rules

HUB_RELATIONS = ("adapter", "merge", "quantized", "finetune")
"""The values the Hub accepts for base_model_relation (Hub docs, "Specifying a base
model"; huggingface_hub's ModelCardData passes the key through without checking it)."""


def _rules() -> dict[str, Any]:
    return load_rules("disclosure")


def min_z() -> float:
    """The z a derived verdict needs to be stated as a base model."""
    return float(_rules()["lineage"]["min_z"])


def identical_words() -> str:
    return str(_rules()["lineage"]["identical"])


def certainty(z: float | None) -> str:
    """How sure, in words, for a deciding signal's z."""
    scale = _rules()["lineage"]["certainty"]
    if z is None:
        return str(scale[-1]["words"])
    for step in scale:
        if z >= float(step["min_z"]):
            return str(step["words"])
    return str(scale[-1]["words"])


def hub_relation(relation: str | None) -> str | None:
    """The Hub's base_model_relation for provscan's relation, if it has one."""
    if relation is None:
        return None
    value = _rules()["relations"].get(relation)
    return value if value in HUB_RELATIONS else None


def relation_words(relation: str | None) -> str:
    return str(_rules()["relation_words"].get(relation or "unknown", "derived from"))


def signal_words(name: str) -> str:
    return str(_rules()["signals"].get(name, f"the {name} signal"))


def notice_words(status: str) -> str:
    return str(_rules()["notice_status"].get(status, status))


def status_words(status: str) -> str:
    return str(_rules()["status"].get(status, status))


def statement_for(obligation_id: str) -> str | None:
    """The words that meet a display obligation ("Built with Llama"), if it is one."""
    value = _rules()["statements"].get(obligation_id)
    return str(value) if value else None

"""Frozen records that cross into JSON and back, with one codec for all of them.

A record is a frozen dataclass whose field names are its JSON keys. `to_dict` writes it;
`from_dict` reads it back with every value checked against the field's annotation, because
a JSON report may come from elsewhere: a wrong type is a RecordError that names the field,
never a crash three stages later. The same annotations give the JSON Schema of each record
(docs/report.schema.json is checked against it in the tests).

Annotations the codec knows: str, int, float (an int is accepted), bool, Literal[...],
X | None, tuple[X, ...], tuple[X, Y], dict[str, X], another Record, and `Json` (any JSON
value, carried verbatim: only for data another layer owns, e.g. a signal's diagnostics).
"""

from __future__ import annotations

import re
import types
import typing
from dataclasses import dataclass, fields
from typing import Any, Literal, Self, TypeAlias, Union

Json: TypeAlias = Any
"""A JSON value carried verbatim."""

OMIT_NONE = {"omit_none": True}
"""Field metadata: the key is left out of the JSON when the value is None."""


class RecordError(TypeError):
    """A record's JSON form has a missing key or a value of the wrong type."""


@dataclass(frozen=True)
class Record:
    """Base of the records: `to_dict` and `from_dict` from the annotations."""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None and f.metadata.get("omit_none"):
                continue
            out[f.name] = _encode(value)
        return out

    @classmethod
    def from_dict(cls, data: object, where: str | None = None) -> Self:
        return _decode_record(cls, data, where or cls.__name__)

    @classmethod
    def def_name(cls) -> str:
        """The record's name under the schema's $defs: its class name in snake_case."""
        return re.sub(r"(?<!^)(?=[A-Z])", "_", cls.__name__).lower()


def _encode(value: Any) -> Any:
    if isinstance(value, Record):
        return value.to_dict()
    if isinstance(value, tuple | list):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    return value


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    """The record's annotations, resolved once per class."""
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def _fail(where: str, expected: str, value: object) -> RecordError:
    return RecordError(f"{where}: expected {expected}, got {type(value).__name__}")


def _decode_record(cls: type[Any], data: object, where: str) -> Any:
    if not isinstance(data, dict):
        raise _fail(where, "an object", data)
    hints = _hints(cls)
    values: dict[str, Any] = {}
    for f in fields(cls):
        if f.name not in data:
            if f.metadata.get("omit_none"):  # to_dict writes every other key
                continue
            raise RecordError(f"{where}: missing {f.name!r}")
        values[f.name] = _decode(hints[f.name], data[f.name], f"{where}.{f.name}")
    return cls(**values)


def _decode(tp: Any, value: object, where: str) -> Any:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _decode(inner[0], value, where)
    if origin is Literal:
        if value not in args:
            raise RecordError(f"{where}: expected one of {', '.join(map(repr, args))}")
        return value
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise _fail(where, "an array", value)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_decode(args[0], v, f"{where}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise RecordError(f"{where}: expected {len(args)} items, got {len(value)}")
        return tuple(
            _decode(a, v, f"{where}[{i}]") for i, (a, v) in enumerate(zip(args, value, strict=True))
        )
    if origin is dict:
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            raise _fail(where, "an object", value)
        return {k: _decode(args[1], v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(tp, type) and issubclass(tp, Record):
        return _decode_record(tp, value, where)
    return _scalar(tp, value, where)


def _scalar(tp: Any, value: object, where: str) -> Any:
    if tp is bool:
        ok = isinstance(value, bool)
    elif tp is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif tp is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    elif tp is str:
        ok = isinstance(value, str)
    else:
        raise TypeError(f"{where}: the record codec does not know {tp!r}")
    if not ok:
        raise _fail(where, tp.__name__, value)
    return value


# ---- JSON Schema -------------------------------------------------------------------------

_SCALARS = {str: "string", int: "integer", float: "number", bool: "boolean"}


def json_schema(cls: type[Record], defs: dict[str, Any]) -> dict[str, Any]:
    """A $ref to the record's schema, which is added (with those it uses) to `defs`."""
    name = cls.def_name()
    if name not in defs:
        defs[name] = {}  # placeholder: a record may refer to itself
        hints = _hints(cls)
        # to_dict writes every key but those left out when None.
        required = [f.name for f in fields(cls) if not f.metadata.get("omit_none")]
        props = {f.name: _schema(hints[f.name], defs) for f in fields(cls)}
        doc = " ".join((cls.__doc__ or "").strip().split("\n\n")[0].split())
        defs[name] = {
            "description": doc,
            "type": "object",
            "required": required,
            "properties": props,
            "additionalProperties": False,
        }
    return {"$ref": f"#/$defs/{name}"}


def _schema(tp: Any, defs: dict[str, Any]) -> dict[str, Any]:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any:
        return {}
    if origin in (Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        one = _schema(inner[0], defs)
        if set(one) == {"type"} and isinstance(one["type"], str):
            return {"type": [one["type"], "null"]}
        return {"oneOf": [{"type": "null"}, one]}
    if origin is Literal:
        return {"enum": list(args)}
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return {"type": "array", "items": _schema(args[0], defs)}
        return {
            "type": "array",
            "prefixItems": [_schema(a, defs) for a in args],
            "minItems": len(args),
            "maxItems": len(args),
        }
    if origin is dict:
        return {"type": "object", "additionalProperties": _schema(args[1], defs)}
    if isinstance(tp, type) and issubclass(tp, Record):
        return json_schema(tp, defs)
    return {"type": _SCALARS[tp]}

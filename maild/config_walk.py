"""Reading TOML tables into frozen dataclasses, with every problem named.

The dataclass is the schema: its fields are the keys a table accepts (a field's
`metadata["toml"]` gives its TOML name when that differs), their types say what a value
must be, and a field without a default is a required key. `tuple[SomeDataclass, ...]`
fields read arrays of tables (`[[department]]`). Problems are collected, not raised, so
`maild check` lists them all at once.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints

__all__ = ["build", "build_list", "toml_name"]

_WRONG = object()


def toml_name(field: dataclasses.Field) -> str:
    return field.metadata.get("toml", field.name)


def build(cls: type, table: dict[str, Any], where: str, problems: list[str]) -> Any:
    """An instance of `cls` from `table`, or None when a required key is missing."""
    hints = get_type_hints(cls)
    fields = {toml_name(f): f for f in dataclasses.fields(cls) if f.init}
    values = {}
    for key, value in table.items():
        field = fields.get(key)
        if field is None:
            problems.append(f"{where} unknown key {key!r}")
            continue
        converted = _convert(hints[field.name], value, f"{where} {key}", problems)
        if converted is not _WRONG:
            values[field.name] = converted
    missing = [
        key
        for key, f in fields.items()
        if f.name not in values
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]
    for key in missing:
        if key not in table:
            problems.append(f"{where} missing key {key!r}")
    if any(fields[key].name not in values for key in missing):
        return None
    return cls(**values)


def build_list(kind: Any, value: Any, where: str, problems: list[str]) -> tuple:
    """A top-level array of tables (`[[department]]`) read as `kind`, a tuple[Dataclass, ...]."""
    converted = _convert(kind, value, where, problems)
    return () if converted is _WRONG else converted


def _convert(kind: Any, value: Any, where: str, problems: list[str]) -> Any:
    item = get_args(kind)[0] if get_origin(kind) is tuple else None
    if item is not None and dataclasses.is_dataclass(item):
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            problems.append(f"{where} must be a list of tables")
            return _WRONG
        built = []
        for n, table in enumerate(value, start=1):
            label = f" {table['name']!r}" if isinstance(table.get("name"), str) else ""
            one = build(item, table, f"{where} #{n}{label}:", problems)
            if one is not None:
                built.append(one)
        return tuple(built)
    converted = _scalar(kind, value)
    if converted is _WRONG:
        problems.append(f"{where} must be {_describe(kind)}, got {value!r}")
    return converted


def _scalar(kind: Any, value: Any) -> Any:
    if kind is bool:
        return value if isinstance(value, bool) else _WRONG
    if kind is int:
        return value if isinstance(value, int) and not isinstance(value, bool) else _WRONG
    if kind is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return float(value) if ok else _WRONG
    if kind is str:
        return value if isinstance(value, str) else _WRONG
    if kind is Path:
        return Path(value) if isinstance(value, str) and value else _WRONG
    if kind == tuple[str, ...]:
        ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
        return tuple(value) if ok else _WRONG
    raise TypeError(f"unsupported config type {kind!r}")


def _describe(kind: Any) -> str:
    names = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
    return names.get(kind, "a path" if kind is Path else "a list of strings")

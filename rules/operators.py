"""Condition operators: which fields each applies to, what operand it takes, how it reads.

Every operator is a relation (`equals`, `contains`, `starts_with`, `ends_with`, `matches`,
`in`, `greater`, `less`), the negation of one (`not_equals`, `not_contains`, `not_matches`,
`not_in`), or `exists`. Text comparisons fold case unless the condition says
`case_sensitive = true`; `matches` compiles its pattern here, once, at load. `greater` and
`less` take numbers; on `size` they also take sizes such as "5MB", "200KB" or "1.5 MB"
(binary units: 1 KB = 1024 bytes); on a text field they compare the value read as a number.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from rules.fields import FLAG, FOLDED, LIST, NUMBER, NUMERIC, RAW, TEXT

__all__ = [
    "OPERATORS",
    "TEXT_RELATIONS",
    "Operand",
    "Operator",
    "parse_operand",
    "parse_size",
    "predicate",
    "show",
    "show_list",
]


@dataclass(frozen=True, slots=True)
class Operator:
    key: str  # as written in a rule
    relation: str  # what is tested; a negated operator matches when it does not hold
    negated: bool
    holds: str  # wording when the relation holds, e.g. "contains"
    fails: str  # and when it does not, e.g. "does not contain"
    kinds: frozenset[str]  # the field kinds it applies to


_TEXTUAL = frozenset({TEXT, LIST})
_WORDING = {
    "equals": ("equals", "does not equal", _TEXTUAL | {NUMBER, FLAG}),
    "contains": ("contains", "does not contain", _TEXTUAL),
    "starts_with": ("starts with", "does not start with", _TEXTUAL),
    "ends_with": ("ends with", "does not end with", _TEXTUAL),
    "matches": ("matches", "does not match", _TEXTUAL),
    "in": ("in", "not in", _TEXTUAL),
    "greater": ("is greater than", "is not greater than", _TEXTUAL | {NUMBER}),
    "less": ("is less than", "is not less than", _TEXTUAL | {NUMBER}),
    "exists": ("exists", "is missing", _TEXTUAL | {NUMBER}),
}
_NEGATABLE = ("equals", "contains", "matches", "in")


def _operators() -> dict[str, Operator]:
    table = {}
    for relation, (holds, fails, kinds) in _WORDING.items():
        table[relation] = Operator(relation, relation, False, holds, fails, kinds)
        if relation in _NEGATABLE:
            key = f"not_{relation}"
            table[key] = Operator(key, relation, True, holds, fails, kinds)
    return table


OPERATORS = _operators()
TEXT_RELATIONS = frozenset({"equals", "contains", "starts_with", "ends_with", "matches", "in"})


@dataclass(frozen=True, slots=True)
class Operand:
    value: object  # what the predicate compares with: folded text, a set, a pattern, a number
    shown: str  # as the admin wrote it, for explanations
    mode: str  # how the field's value is read: RAW, FOLDED or NUMERIC
    captures: tuple[str, ...] = ()  # named groups of a `matches` pattern


def parse_operand(
    operator: Operator, field_name: str, kind: str, written: object, case_sensitive: bool
) -> Operand | str:
    """The operand of `operator` on a field of `kind`, or the problem with it."""
    relation = operator.relation
    fold = not case_sensitive and kind in _TEXTUAL
    if relation == "exists":
        if not isinstance(written, bool):
            return "exists takes true or false"
        return Operand(written, str(written).lower(), RAW)
    if relation in ("greater", "less"):
        number = _number_operand(written, sizes=field_name == "size")
        if isinstance(number, str):
            return f"{operator.key} {number}"
        return Operand(number, _shown(written), RAW if kind == NUMBER else NUMERIC)
    if kind == NUMBER:
        number = _number_operand(written, sizes=field_name == "size")
        if isinstance(number, str):
            return f"{operator.key} {number}"
        return Operand(number, _shown(written), RAW)
    if kind == FLAG:
        if not isinstance(written, bool):
            return f"{operator.key} takes true or false on {field_name!r}"
        return Operand(written, str(written).lower(), RAW)
    if relation == "in":
        return _list_operand(operator.key, written, fold)
    if not isinstance(written, str):
        return f"{operator.key} takes a string, not {_type_name(written)}"
    if relation == "matches":
        return _pattern_operand(written, case_sensitive)
    if written == "" and relation != "equals":
        return f"{operator.key} an empty string would match every value"
    return Operand(written.casefold() if fold else written, repr(written), FOLDED if fold else RAW)


def _list_operand(key: str, written: object, fold: bool) -> Operand | str:
    if not isinstance(written, list) or not all(isinstance(item, str) for item in written):
        return f'{key} takes a list of strings, e.g. {key} = ["a", "b"]'
    if not written:
        return f"{key} takes a list with at least one string"
    items = frozenset(item.casefold() if fold else item for item in written)
    return Operand(items, show_list(written), FOLDED if fold else RAW)


def _pattern_operand(written: str, case_sensitive: bool) -> Operand | str:
    try:
        pattern = re.compile(written, 0 if case_sensitive else re.IGNORECASE)
    except (re.error, OverflowError, RecursionError, ValueError) as error:
        return f"bad regular expression {written!r}: {error}"
    # Shown as written, like a TOML literal string: repr() would double every backslash.
    return Operand(pattern, f"'{written}'", RAW, tuple(pattern.groupindex))


def _number_operand(written: object, *, sizes: bool) -> int | float | str:
    if isinstance(written, bool) or not isinstance(written, int | float | str):
        return f"takes a number, not {_type_name(written)}"
    if isinstance(written, str):
        if not sizes:
            return f"takes a number, not the string {written!r}"
        size = parse_size(written)
        if size is None:
            return (
                f"has a bad size {written!r} (write e.g. 5MB, 200KB, 1.5 MB or a number of bytes)"
            )
        return size
    if written != written or written in (float("inf"), float("-inf")):
        return f"takes a finite number, not {written}"
    return written


_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(?:([kmgt])i?)?b?\s*", re.IGNORECASE)
_UNITS = {None: 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def parse_size(text: str) -> int | None:
    """Bytes in "5MB", "200KB", "1.5 MB", "300" (binary units); None if it is not a size."""
    found = _SIZE.fullmatch(text)
    if not found or len(found.group(1)) > 30:
        return None
    unit = found.group(2).lower() if found.group(2) else None
    return round(float(found.group(1)) * _UNITS[unit])


def predicate(relation: str, operand: object) -> Callable[[object], object]:
    """A test of one value (one element of a list field) against the operand."""
    if relation == "equals":
        return lambda value: value == operand
    if relation == "contains":
        return lambda value: operand in value  # type: ignore[operator]
    if relation == "starts_with":
        return lambda value: value.startswith(operand)  # type: ignore[attr-defined]
    if relation == "ends_with":
        return lambda value: value.endswith(operand)  # type: ignore[attr-defined]
    if relation == "matches":
        return operand.search  # type: ignore[attr-defined]
    if relation == "in":
        return operand.__contains__  # type: ignore[attr-defined]
    if relation == "greater":
        return lambda value: value > operand  # type: ignore[operator]
    if relation == "less":
        return lambda value: value < operand  # type: ignore[operator]
    if relation == "exists":
        return lambda value: True  # a value was found; `exists` itself is compiled apart
    raise ValueError(f"no predicate for {relation!r}")


def _type_name(value: object) -> str:
    if isinstance(value, bool):
        return "true/false"
    return {dict: "a table", list: "a list", int: "a number", float: "a number"}.get(
        type(value), type(value).__name__
    )


def _shown(written: object) -> str:
    return written if isinstance(written, str) else repr(written)


_SHOWN_CHARS = 80
_SHOWN_ITEMS = 3


def show(value: object) -> str:
    """A value as explanations print it: quoted, long text abbreviated, long lists cut."""
    if isinstance(value, str):
        return repr(value) if len(value) <= _SHOWN_CHARS else f"({len(value)} characters)"
    if isinstance(value, tuple | list):
        return show_list(value)
    if isinstance(value, bool):
        return str(value).lower()
    return repr(value)


def show_list(values: tuple | list) -> str:
    shown = [show(value) for value in values[:_SHOWN_ITEMS]]
    if len(values) > _SHOWN_ITEMS:
        shown.append("...")
    return f"[{', '.join(shown)}]"

r"""Conditions: read from a rule's `if` list, checked at load, compiled into closures.

A condition is an inline table with `field` and exactly one operator (see `rules.operators`):

    { field = "subject", contains = "invoice" }
    { field = "subject", matches = '(?P<order>ORD-\d{6})' }
    { field = "header:X-Priority", equals = "1", case_sensitive = true }

A group is `{ any = [ … ] }` or `{ all = [ … ] }`; groups nest. On a list field (`to`, `cc`,
`recipients`, `attachment_name`, `attachment_type`, `header:<Name>`) an operator matches
when any element matches, and a `not_*` operator when no element does. A missing value
matches `exists = false` and every `not_*` operator, and nothing else.

Each node has `test(view)`, the fast path (a closure; truthy on a match), and
`explain(view)`, which evaluates the same thing again and says in words why it did or did
not match. `explain` never records captures, so it can run after `test` safely.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rules.closures import Needle, Test, compile_leaf, join_tests, needle_of
from rules.fields import (
    CHANNELS,
    FOLDED,
    LIST,
    RAW,
    TEXT,
    View,
    accessor,
    cache_key,
    find_field,
)
from rules.operators import (
    OPERATORS,
    TEXT_RELATIONS,
    Operand,
    Operator,
    parse_operand,
    predicate,
    show,
)
from rules.problems import suggest

__all__ = ["Group", "Leaf", "parse_conditions"]

MAX_DEPTH = 16
_KIND_NAMES = {TEXT: "text", LIST: "a list", "number": "a number", "flag": "true/false"}


@dataclass(frozen=True, slots=True, eq=False)
class Leaf:
    field: str
    key: str  # the value's key in `View.cache`: mode and canonical field name
    operator: Operator
    operand: Operand
    is_list: bool
    get: Test  # the value the operator compares, in the operand's mode
    raw: Test  # the value as written in the message, for explanations
    pred: Callable[[object], object]
    test: Test
    needle: Needle | None  # text the value needs for the relation to hold, if there is such

    @property
    def captures(self) -> tuple[str, ...]:
        return () if self.operator.negated else self.operand.captures

    def describe(self) -> str:
        """The condition as written, in words: "subject contains 'invoice'"."""
        return f"{self.field} {self.operator.key} {self.operand.shown}"

    def explain(self, view: View) -> tuple[bool, list[str]]:
        operator, name = self.operator, self.field
        if operator.relation == "exists":
            value = self.raw(view)
            present = value is not None
            words = f"{name} exists ({show(value)})" if present else f"{name} is missing"
            return present == self.operand.value, [words]
        compared = self.get(view)
        if compared is None:
            raw = self.raw(view)
            words = f"{name} is missing" if raw is None else f"{name} {show(raw)} is not a number"
            return operator.negated, [words]
        needle = self.needle
        if needle is not None and needle.text not in needle.get(view):  # type: ignore[operator]
            hit = None  # the relation cannot hold: spare the search
        else:
            hit = _first_hit(compared if self.is_list else (compared,), self.pred)
        # Explanations quote the message, not its lower-cased form; folding keeps list order.
        shown = self.raw(view) if self.operand.mode == FOLDED else compared
        if hit is not None and self.is_list:
            shown = shown[hit]  # type: ignore[index]
        verb = operator.holds if hit is not None else operator.fails
        words = f"{name} {show(shown)} {verb} {self.operand.shown}"
        return (hit is not None) != operator.negated, [words]


def _first_hit(values, pred) -> int | None:
    for index, value in enumerate(values):
        if pred(value):
            return index
    return None


@dataclass(frozen=True, slots=True, eq=False)
class Group:
    kind: str  # "any" or "all"
    children: tuple[Leaf | Group, ...]
    test: Test

    @property
    def captures(self) -> tuple[str, ...]:
        return tuple(name for child in self.children for name in child.captures)

    def describe(self) -> str:
        inner = "; ".join(child.describe() for child in self.children)
        return f"{self.kind} of ({inner})"

    def explain(self, view: View) -> tuple[bool, list[str]]:
        if not self.children:
            return True, ["no conditions: always matches"]
        if self.kind == "all":
            reasons: list[str] = []
            for child in self.children:
                ok, why = child.explain(view)
                if not ok:
                    return False, why
                reasons += why
            return True, reasons
        misses: list[str] = []
        for child in self.children:
            ok, why = child.explain(view)
            if ok:
                return True, why
            misses += why
        return False, [f"none of ({'; '.join(misses)})"]


def parse_conditions(items: object, kind: str, path: str) -> tuple[Group | None, list[str]]:
    """The rule's top-level group (`kind` is its `match`), or None and the problems."""
    if not isinstance(items, list):
        return None, [f"{path}: must be a list of conditions, e.g. if = [ {{ field = … }} ]"]
    return _group(kind, items, path, 1)


def _group(kind: str, items: list, path: str, depth: int) -> tuple[Group | None, list[str]]:
    problems: list[str] = []
    children = []
    for number, item in enumerate(items, 1):
        child, found = _node(item, f"{path}[{number}]", depth)
        problems += found
        if child is not None:
            children.append(child)
    if problems:
        return None, problems
    return Group(kind, tuple(children), join_tests(kind, [child.test for child in children])), []


def _node(item: object, path: str, depth: int) -> tuple[Leaf | Group | None, list[str]]:
    if not isinstance(item, dict):
        return None, [f'{path}: a condition is a table, e.g. {{ field = "subject", … }}']
    groups = [key for key in ("any", "all") if key in item]
    if not groups:
        return _leaf(item, path)
    if len(item) > 1:
        others = ", ".join(sorted(repr(key) for key in item if key != groups[0]))
        return None, [f"{path}: a group has only its {groups[0]!r} list, not also {others}"]
    kind = groups[0]
    members = item[kind]
    if not isinstance(members, list):
        return None, [f"{path}.{kind}: must be a list of conditions"]
    if not members:
        return None, [f"{path}.{kind}: an empty group never decides anything; remove it"]
    if depth >= MAX_DEPTH:
        return None, [f"{path}.{kind}: groups nested more than {MAX_DEPTH} deep"]
    return _group(kind, members, f"{path}.{kind}", depth + 1)


def _leaf(item: dict, path: str) -> tuple[Leaf | None, list[str]]:
    allowed = {"field", "case_sensitive", *OPERATORS}
    unknown = [key for key in item if key not in allowed]
    if unknown:
        return None, [
            f"{path}: unknown key {key!r}{suggest(key, [*allowed, 'any', 'all'])}"
            for key in unknown
        ]
    operators = [key for key in item if key in OPERATORS]
    name = item.get("field")
    if not isinstance(name, str):
        what = "is missing" if name is None else "must be a string"
        return None, [f'{path}: field {what} (e.g. field = "subject")']
    if len(operators) != 1:
        if not operators:
            return None, [f"{path}: no operator (one of {', '.join(OPERATORS)})"]
        several = ", ".join(operators)
        return None, [f"{path}: several operators ({several}); a condition takes exactly one"]
    field = find_field(name)
    if isinstance(field, str):
        return None, [f"{path}: {field}"]
    operator = OPERATORS[operators[0]]
    if field.kind not in operator.kinds:
        kind = _KIND_NAMES[field.kind]
        return None, [f"{path}: {operator.key} does not apply to {name!r} ({kind})"]
    case_sensitive = item.get("case_sensitive", False)
    if not isinstance(case_sensitive, bool):
        return None, [f"{path}: case_sensitive must be true or false"]
    if "case_sensitive" in item and not (
        operator.relation in TEXT_RELATIONS and field.kind in (TEXT, LIST)
    ):
        return None, [f"{path}: case_sensitive applies only to text comparisons"]
    operand = parse_operand(operator, name, field.kind, item[operator.key], case_sensitive)
    if isinstance(operand, str):
        return None, [f"{path}: {operand}"]
    if name == "channel" and operator.relation in ("equals", "in"):
        wrong = sorted(_strings(item[operator.key]) - set(CHANNELS))
        if wrong:
            return None, [f"{path}: unknown channel {wrong[0]!r} (one of {', '.join(CHANNELS)})"]
    get = accessor(field, operand.mode)
    raw = get if operand.mode == RAW else accessor(field, RAW)
    pred = predicate(operator.relation, operand.value)
    needle = needle_of(operator, operand, field, get)
    test = compile_leaf(operator, operand, field, get, pred, needle)
    key = cache_key(field, operand.mode)
    is_list = field.kind == LIST
    return Leaf(name, key, operator, operand, is_list, get, raw, pred, test, needle), []


def _strings(written: object) -> set[str]:
    items = written if isinstance(written, list) else [written]
    return {item.casefold() for item in items if isinstance(item, str)}

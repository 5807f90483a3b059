"""The fast path: each condition compiled once, at load, into a closure over a `View`.

A closure returns something truthy when its condition holds. Values come from the view's
per-message cache (see `rules.fields`), so the subject is lower-cased once however many
conditions read it. The relations that run most (contains, equals, in) are written out
rather than calling a predicate, and a regular expression is only searched when the text
every match needs is there (see `rules.literals`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import NamedTuple

from rules.fields import FOLDED, LIST, RAW, TEXT, Field, View, accessor, cache_key
from rules.literals import required_text
from rules.operators import Operand, Operator

__all__ = ["Needle", "Test", "compile_leaf", "join_tests", "needle_of"]

Test = Callable[[View], object]


class Needle(NamedTuple):
    """Text that must be in a field's value for a condition to hold."""

    key: str  # the value's key in `View.cache`; needles with one key look in one value
    get: Test
    text: str


def needle_of(operator: Operator, operand: Operand, field: Field, get: Test) -> Needle | None:
    """Text a text field's value must contain for the relation (`contains`, `matches`) to hold.

    For `not_contains` and `not_matches` it is the text whose absence settles the condition.
    """
    if field.kind != TEXT:
        return None
    if operator.relation == "contains":
        return Needle(cache_key(field, operand.mode), get, operand.value)  # type: ignore[arg-type]
    if operator.relation == "matches":
        return _required(operand, field)
    return None


def _required(operand: Operand, field: Field) -> Needle | None:
    """Where to look for the text every match of the operand's pattern contains."""
    text = required_text(operand.value)  # type: ignore[arg-type]
    if text is None:
        return None
    mode = FOLDED if operand.value.flags & re.IGNORECASE else RAW  # type: ignore[attr-defined]
    return Needle(cache_key(field, mode), accessor(field, mode), text)


def compile_leaf(
    operator: Operator, operand: Operand, field: Field, get: Test, pred, needle: Needle | None
) -> Test:
    is_list = field.kind == LIST
    if operator.relation == "exists":
        if operand.value:
            return lambda view: get(view) is not None
        return lambda view: get(view) is None
    if operator.relation == "matches" and not is_list:
        return _pattern(operator, operand, get, pred, needle)
    if operand.captures and not operator.negated:
        return _capturing(get, pred, is_list)
    if not is_list:
        return _scalar(operator, operand.value, get, pred)
    if operator.relation == "in":
        options = operand.value

        def holds(view: View) -> bool:
            items = get(view)
            return items is not None and not options.isdisjoint(items)

    else:

        def holds(view: View) -> bool:
            items = get(view)
            if items is None:
                return False
            for item in items:  # noqa: SIM110 - a plain loop is faster than any() here
                if pred(item):
                    return True
            return False

    if operator.negated:
        return lambda view: not holds(view)
    return holds


def _scalar(operator: Operator, operand, get: Test, pred) -> Test:
    """One field value against the operand; the common relations inlined, as they run most."""
    relation, negated = operator.relation, operator.negated
    if relation == "contains":
        if negated:
            return lambda view: (value := get(view)) is None or operand not in value
        return lambda view: (value := get(view)) is not None and operand in value
    if relation == "equals":  # a missing value is None, never equal to an operand
        if negated:
            return lambda view: get(view) != operand
        return lambda view: get(view) == operand
    if relation == "in":
        if negated:
            return lambda view: get(view) not in operand
        return lambda view: get(view) in operand
    if negated:
        return lambda view: (value := get(view)) is None or not pred(value)
    return lambda view: (value := get(view)) is not None and pred(value)


def _pattern(operator: Operator, operand: Operand, get: Test, search, needle) -> Test:
    """A regular expression on a text field, searched only when its required text is there."""
    if operand.captures and not operator.negated:
        holds = _capturing(get, search, False)
    else:
        holds = lambda view: (value := get(view)) is not None and search(value)  # noqa: E731
    if needle is not None:
        _, haystack, text = needle
        search_only_if_there = holds

        def holds(view: View) -> object:
            value = haystack(view)
            return value is not None and text in value and search_only_if_there(view)

    if operator.negated:
        return lambda view: not holds(view)
    return holds


def _capturing(get: Test, search, is_list: bool) -> Test:
    def test(view: View) -> bool:
        value = get(view)
        if value is None:
            return False
        for item in value if is_list else (value,):
            found = search(item)
            if found is not None:
                view.capture(found)
                return True
        return False

    return test


def join_tests(kind: str, tests: list[Test]) -> Test:
    """One closure for the whole group, short-circuiting like `and` / `or`."""
    if not tests:
        return lambda view: True
    if len(tests) == 1:
        return tests[0]
    if len(tests) == 2:
        first, second = tests
        if kind == "all":
            return lambda view: first(view) and second(view)
        return lambda view: first(view) or second(view)
    if kind == "all":

        def every(view: View) -> bool:
            for test in tests:  # noqa: SIM110
                if not test(view):
                    return False
            return True

        return every

    def some(view: View) -> bool:
        for test in tests:  # noqa: SIM110
            if test(view):
                return True
        return False

    return some

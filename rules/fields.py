"""The fields a condition can name, and how their values are read from one message.

Each field has a kind: `text` (one string), `list` (several strings; headers are lists
because a header may occur more than once), `number` (`size`) or `flag` (a boolean).
A text field that is empty and a list with no elements count as missing.

Values are worked out lazily and at most once per message: the first condition that needs
the lower-cased subject folds it, and every later condition reuses it from `View.cache`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from rules.facts import Facts
from rules.problems import suggest

__all__ = [
    "CHANNELS",
    "FLAG",
    "FOLDED",
    "LIST",
    "MOMENTS",
    "NUMBER",
    "NUMERIC",
    "RAW",
    "TEXT",
    "Field",
    "View",
    "accessor",
    "cache_key",
    "find_field",
]

CHANNELS = ("email", "web", "api", "phone")
MOMENTS = ("create", "reply")

TEXT, LIST, NUMBER, FLAG = "text", "list", "number", "flag"
RAW, FOLDED, NUMERIC = "raw", "folded", "numeric"  # how a condition wants a value


class View:
    """One message as the conditions see it, with the values worked out so far."""

    __slots__ = ("cache", "captures", "channel", "facts")

    def __init__(self, facts: Facts, channel: str) -> None:
        self.facts = facts
        self.channel = channel
        self.cache: dict[str, object] = {}
        # Named groups of `matches` conditions in the rule being tested; reset per rule.
        self.captures: dict[str, str] | None = None

    def capture(self, match: re.Match[str]) -> None:
        captures = self.captures
        if captures is None:
            captures = self.captures = {}
        for name, text in match.groupdict().items():
            if text is not None:
                captures[name] = text


Reader = Callable[[View], object]


@dataclass(frozen=True, slots=True)
class Field:
    name: str  # as the rule spells it, for messages
    key: str  # canonical: header names lower-cased
    kind: str
    read: Reader


def _domain(address: object) -> str | None:
    if isinstance(address, str) and "@" in address:
        return address.rpartition("@")[2]
    return None


def _join(first: object, second: object) -> tuple[str, ...]:
    return (_as_list(first) or ()) + (_as_list(second) or ())


_FIELDS: dict[str, tuple[str, Reader]] = {
    "sender": (TEXT, lambda v: v.facts.sender),
    "sender_name": (TEXT, lambda v: v.facts.sender_name),
    "sender_domain": (TEXT, lambda v: v.facts.sender_domain or _domain(v.facts.sender)),
    "to": (LIST, lambda v: v.facts.to),
    "cc": (LIST, lambda v: v.facts.cc),
    "recipients": (LIST, lambda v: _join(v.facts.to, v.facts.cc)),
    "reply_to": (TEXT, lambda v: v.facts.reply_to),
    "subject": (TEXT, lambda v: v.facts.subject),
    "body": (TEXT, lambda v: v.facts.body),
    "recipient": (TEXT, lambda v: v.facts.recipient),
    "topic": (TEXT, lambda v: v.facts.topic),
    "organisation": (TEXT, lambda v: v.facts.organisation),
    "attachment_name": (LIST, lambda v: v.facts.attachment_name),
    "attachment_type": (LIST, lambda v: v.facts.attachment_type),
    "size": (NUMBER, lambda v: v.facts.size),
    "auto_reply": (FLAG, lambda v: v.facts.auto_reply),
    "bounce": (FLAG, lambda v: v.facts.bounce),
    "list": (FLAG, lambda v: v.facts.mailing_list),
    "priority": (TEXT, lambda v: v.facts.priority),
    "channel": (TEXT, lambda v: v.channel),
}

# RFC 5322 field names: printable ASCII except the colon.
_HEADER_NAME = re.compile(r"[!-9;-~]+")


def find_field(name: str) -> Field | str:
    """The field called `name`, or the problem with that name."""
    prefix, colon, rest = name.partition(":")
    if colon and prefix == "header":
        if not _HEADER_NAME.fullmatch(rest):
            return f"field {name!r}: not a valid header name"
        key = rest.lower()
        return Field(name, f"header:{key}", LIST, lambda v: _header(v, key))
    if colon and prefix == "field":
        if not rest:
            return f"field {name!r}: the custom field's name is missing"
        return Field(name, name, TEXT, lambda v: _custom(v, rest))
    if name in _FIELDS:
        kind, read = _FIELDS[name]
        return Field(name, name, kind, read)
    known = [*_FIELDS, "header:", "field:"]
    return f"unknown field {name!r}{suggest(name, known)}"


def _header(view: View, key: str) -> object:
    headers = view.facts.headers
    return headers.get(key) if headers else None


def _custom(view: View, name: str) -> object:
    fields = view.facts.fields
    return fields.get(name) if fields else None


def _as_text(value: object) -> str | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else str(value)


def _as_list(value: object) -> tuple[str, ...] | None:
    if not value:
        return None
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, tuple | list | set | frozenset):
        return (str(value),)
    items = tuple(item if isinstance(item, str) else str(item) for item in value)
    return items or None


def _as_number(value: object) -> int | float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    return None


def parse_number(text: str) -> float | None:
    try:
        return float(text.strip())
    except ValueError:
        return None


def _producer(kind: str, mode: str, read: Reader) -> Callable[[View], object]:
    if kind == TEXT:
        if mode == FOLDED:
            return lambda v: (t := _as_text(read(v))) and t.casefold()
        if mode == NUMERIC:
            return lambda v: None if (t := _as_text(read(v))) is None else parse_number(t)
        return lambda v: _as_text(read(v))
    if kind == LIST:
        if mode == FOLDED:
            return lambda v: (items := _as_list(read(v))) and tuple(i.casefold() for i in items)
        if mode == NUMERIC:
            return lambda v: _numbers(_as_list(read(v)))
        return lambda v: _as_list(read(v))
    if kind == NUMBER:
        return lambda v: _as_number(read(v))
    return lambda v: bool(read(v))


def _numbers(items: tuple[str, ...] | None) -> tuple[float, ...] | None:
    if items is None:
        return None
    numbers = tuple(n for n in map(parse_number, items) if n is not None)
    return numbers or None


def cache_key(field: Field, mode: str) -> str:
    return f"{mode}:{field.key}"


def accessor(field: Field, mode: str) -> Callable[[View], object]:
    """A function giving the field's value for a message, computed once per message."""
    key = cache_key(field, mode)
    produce = _producer(field.kind, mode, field.read)

    def get(view: View) -> object:
        cache = view.cache
        if key in cache:
            return cache[key]
        value = cache[key] = produce(view)
        return value

    return get

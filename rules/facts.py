"""The facts about one message that rules can test, as plain values.

The daemon builds one `Facts` per message (from the parsed mail, a web form or an API call)
and hands it to `evaluate`. Construction is a plain frozen-dataclass call: nothing is copied,
lower-cased or parsed here; the engine does that lazily, once per message, for the fields
some rule actually tests.

Conventions the engine relies on: addresses are bare (`bob@example.com`, no display name);
`headers` maps the lower-case header name to all its values in order (`header_map` builds
that from (name, value) pairs); a field that is unknown is `None` (or `()` for lists). The
channel the message came by is an argument of `evaluate`, which the `channel` field reads.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

__all__ = ["Facts", "header_map"]

_NO_MAPPING: Mapping = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Facts:
    sender: str | None = None
    sender_name: str | None = None
    sender_domain: str | None = None  # taken from `sender` when not given
    to: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()
    reply_to: str | None = None
    subject: str | None = None
    body: str | None = None
    headers: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: _NO_MAPPING)
    recipient: str | None = None  # the helpdesk address it was sent to, e.g. support+billing@…
    topic: str | None = None
    organisation: str | None = None
    attachment_name: tuple[str, ...] = ()
    attachment_type: tuple[str, ...] = ()
    size: int | None = None  # bytes
    auto_reply: bool = False
    bounce: bool = False
    mailing_list: bool = False  # the rule field `list`
    # Custom form fields by name.
    fields: Mapping[str, str] = field(default_factory=lambda: _NO_MAPPING)
    priority: str | None = None


def header_map(pairs: Iterable[tuple[str, str]]) -> dict[str, tuple[str, ...]]:
    """{lower-case name: (value, …)} from (name, value) pairs, keeping each header's order."""
    collected: dict[str, list[str]] = {}
    for name, value in pairs:
        collected.setdefault(name.lower(), []).append(value)
    return {name: tuple(values) for name, values in collected.items()}

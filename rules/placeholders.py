"""`{name}` placeholders in action values, filled from the rule's regex captures.

`{order}` is replaced by what the named group `(?P<order>…)` of a `matches` condition in the
same rule captured (an empty string when that group took no part in the match). `{{` and
`}}` stand for literal braces. Only bare names are allowed: no `{a.b}`, `{a[0]}` or `{a:>5}`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["Text", "parse_text"]

_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")


@dataclass(frozen=True, slots=True)
class Text:
    written: str
    parts: tuple[tuple[str, str | None], ...]  # (literal text, placeholder name or None)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for _, name in self.parts if name is not None)

    def render(self, captures: Mapping[str, str] | None) -> str:
        if not self.names:
            return self.parts[0][0] if self.parts else ""
        found = captures or {}
        return "".join(text + (found.get(name, "") if name else "") for text, name in self.parts)


def parse_text(written: str) -> Text | str:
    """The parsed text, or the problem with its braces."""
    parts: list[tuple[str, str | None]] = []
    literal: list[str] = []
    position = 0
    for token in _TOKEN.finditer(written):
        literal.append(written[position : token.start()])
        position = token.end()
        text = token.group()
        if text in ("{{", "}}"):
            literal.append(text[0])
            continue
        name = token.group(1)
        if name is None:
            return f"unbalanced {text!r} in {written!r} (write {text * 2!r} for a literal brace)"
        if not name.isidentifier():
            return f"placeholder {{{name}}} in {written!r} must be a capture name"
        parts.append(("".join(literal), name))
        literal = []
    literal.append(written[position:])
    rest = "".join(literal)
    if rest or not parts:
        parts.append((rest, None))
    return Text(written, tuple(parts))

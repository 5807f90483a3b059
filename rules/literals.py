"""The longest piece of plain text that every match of a regular expression contains.

Searching a 5 KB body with a regular expression costs CPython's engine ~100 µs, and a
leading `\\b` or ignoring case defeats its own literal-prefix shortcut; a substring test costs
~4 µs. So `matches` conditions first check for the pattern's required text (in the message's
lower-cased value when the pattern ignores case) and run the pattern only when it is there.

This reads the pattern with the standard library's own (private) parser; anything unexpected
means no shortcut, never a different answer. Ignoring case, `re` also matches "i" with the
Turkish dotless and dotted i (U+0131, U+0130), whose case folding differs, so "i" and
non-ASCII characters are left out of the required text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from re import _constants as sre  # type: ignore[attr-defined]
from re import _parser  # type: ignore[attr-defined]

__all__ = ["required_text"]

MIN_LENGTH = 3  # shorter text is in nearly every message: not worth a check
_REPEATS = {sre.MAX_REPEAT, sre.MIN_REPEAT, getattr(sre, "POSSESSIVE_REPEAT", sre.MAX_REPEAT)}
_ATOMIC = getattr(sre, "ATOMIC_GROUP", None)
_FOLD_SAFE = frozenset(chr(code) for code in range(0x20, 0x7F)) - {"i", "I"}


def required_text(pattern: re.Pattern[str]) -> str | None:
    """Text every match contains (lower-case if the pattern ignores case), or None."""
    try:
        runs = list(_runs(_parser.parse(pattern.pattern, pattern.flags)))
    except Exception:  # an optimisation only: any surprise in the parser means no shortcut
        return None
    if pattern.flags & re.IGNORECASE:
        runs = [piece.lower() for run in runs for piece in _fold_safe_pieces(run)]
    best = max(runs, key=len, default="")
    return best if len(best) >= MIN_LENGTH else None


def _fold_safe_pieces(run: str) -> Iterator[str]:
    piece: list[str] = []
    for char in run:
        if char in _FOLD_SAFE:
            piece.append(char)
        elif piece:
            yield "".join(piece)
            piece = []
    if piece:
        yield "".join(piece)


def _runs(items) -> Iterator[str]:
    """Runs of adjacent literal characters that every match contains."""
    current: list[str] = []
    for op, argument in _inline_groups(items):
        if op is sre.LITERAL:
            current.append(chr(argument))
            continue
        if op is sre.AT:
            continue  # \b, ^, $ take no characters: the letters around them stay adjacent
        if current:
            yield "".join(current)
            current = []
        if op in _REPEATS and argument[0] >= 1:
            yield from _runs(argument[2])  # repeated at least once, so required
        elif op is _ATOMIC:
            yield from _runs(argument)
    if current:
        yield "".join(current)


def _inline_groups(items) -> Iterator[tuple]:
    """The items, with groups that change no flags opened up in place."""
    for op, argument in items:
        if op is sre.SUBPATTERN and not argument[1] and not argument[2]:
            yield from _inline_groups(argument[3])
        else:
            yield op, argument

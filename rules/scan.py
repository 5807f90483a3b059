"""Which of many pieces of text occur in one value, found in a single pass.

A thousand rules may hold a few hundred `contains` texts for the body alone; testing each
with `in` scans the body a few hundred times. Instead the texts are compiled at load into one
regular expression shaped like a trie (`inv(?:oice(?:s)?|-)`), which the `re` engine runs
over the value once per position where some text starts. At such a position it matches the
longest text starting there, and every text that is a prefix of that one starts there too,
so nothing is missed. A handful of texts are simply tested one by one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["TextScan"]

MIN_FOR_PATTERN = 128  # measured: below this, testing the texts one by one is quicker
MAX_IN_PATTERN = 64  # longer texts stay out of the pattern, so that it nests shallowly


class TextScan:
    """Finds the positions (rule numbers) whose text occurs in a value."""

    __slots__ = ("_by_match", "_one_by_one", "_search")

    def __init__(self, needles: Iterable[tuple[str, int]]) -> None:
        # Rules often share a text (the same order-number prefix): look for each text once.
        owners: dict[str, list[int]] = {}
        for text, position in needles:
            owners.setdefault(text, []).append(position)
        in_pattern = {text for text in owners if len(text) <= MAX_IN_PATTERN}
        self._search = None
        if len(in_pattern) >= MIN_FOR_PATTERN:
            try:
                self._search = re.compile(_trie(in_pattern)).search
            except (re.error, RecursionError, OverflowError):
                self._search = None  # an optimisation only: fall back to testing each text
        if self._search is None:
            in_pattern = set()
        self._one_by_one = tuple(
            (text, tuple(positions)) for text, positions in owners.items() if text not in in_pattern
        )
        # For each text the pattern can match: the positions of it and of its prefixes.
        self._by_match = {
            text: tuple(p for end in range(1, len(text) + 1) for p in owners.get(text[:end], ()))
            for text in in_pattern
        }

    def positions(self, value: str) -> list[int]:
        found: list[int] = []
        for text, positions in self._one_by_one:
            if text in value:
                found += positions
        search = self._search
        if search is not None:
            by_match, start = self._by_match, 0
            while (match := search(value, start)) is not None:
                found += by_match[match.group()]
                start = match.start() + 1
        return found


def _trie(texts: Iterable[str]) -> str:
    root: dict = {}
    for text in texts:
        node = root
        for char in text:
            node = node.setdefault(char, {})
        node[""] = {}  # a text ends here
    return _alternatives(root)


def _alternatives(node: dict) -> str:
    """The pattern below `node`; longer texts are tried first, as `?` is greedy."""
    branches = [re.escape(char) + _alternatives(child) for char, child in node.items() if char]
    if not branches:
        return ""
    pattern = branches[0] if len(branches) == 1 else f"(?:{'|'.join(branches)})"
    return f"(?:{pattern})?" if "" in node else pattern

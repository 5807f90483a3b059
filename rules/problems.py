"""What loading reports: a `Problem` per mistake in a rule file, and the `Known` names to check.

Loading never raises on bad input; every mistake becomes a `Problem` that names the file and
the rule (by name, or by its place in the file when the name itself is missing), so that
`maild check` can print all of them at once.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, fields

__all__ = ["Known", "Problem", "suggest"]


@dataclass(frozen=True, slots=True)
class Problem:
    file: str
    rule: str | None  # the rule's name; None for file-level problems or a rule without a name
    message: str
    position: int | None = None  # the rule's place in its file, counting from 1
    line: int | None = None  # TOML syntax errors only

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        if self.rule is not None:
            return f"{where}: rule {self.rule!r}: {self.message}"
        if self.position is not None:
            return f"{where}: rule #{self.position}: {self.message}"
        return f"{where}: {self.message}"


@dataclass(frozen=True, slots=True)
class Known:
    """The names rules may use; `None` means that kind is not checked.

    Any iterable of strings is accepted and stored as a frozenset. Agents are compared
    case-insensitively (they are addresses); every other kind exactly.
    """

    departments: frozenset[str] | None = None
    agents: frozenset[str] | None = None
    teams: frozenset[str] | None = None
    slas: frozenset[str] | None = None
    topics: frozenset[str] | None = None
    templates: frozenset[str] | None = None
    statuses: frozenset[str] | None = None
    priorities: frozenset[str] | None = None

    def __post_init__(self) -> None:
        for kind in fields(self):
            names = getattr(self, kind.name)
            if names is None:
                continue
            if kind.name == "agents":
                names = (name.casefold() for name in names)
            object.__setattr__(self, kind.name, frozenset(names))

    def unknown(self, kind: str, name: str) -> str | None:
        """The problem with `name` as a `kind` ("department", "agent", …), or None if fine."""
        names: frozenset[str] | None = getattr(self, _PLURAL[kind])
        if names is None:
            return None
        if kind == "agent":
            if name.casefold() in names:
                return None
        elif name in names:
            return None
        return f"unknown {kind} {name!r}{suggest(name, names)}"


_PLURAL = {
    "department": "departments",
    "agent": "agents",
    "team": "teams",
    "SLA plan": "slas",
    "topic": "topics",
    "template": "templates",
    "status": "statuses",
    "priority": "priorities",
}


def suggest(word: str, choices: Iterable[str]) -> str:
    """' (did you mean 'x'?)' for the closest choice, or '' when none is close."""
    close = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""

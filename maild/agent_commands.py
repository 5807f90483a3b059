"""Commands an agent puts at the top of a reply by mail: `#close`, `#assign alice`, ….

Pure: `split_commands` takes the reply's text and returns the commands and the text without
them; the pipeline carries them out through the ticket actions. Commands are the lines at
the very top that start with `#` and a word (blank lines between them are fine); the first
other line ends them, so a `#` further down is just text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["COMMANDS", "Command", "split_commands"]

# name -> whether it takes an argument
COMMANDS = {
    "close": False,
    "resolve": False,
    "pending": False,
    "open": False,
    "assign": True,
    "take": False,
    "release": False,
    "team": True,
    "priority": True,
    "dept": True,
    "cc": True,
    "uncc": True,
    "tag": True,
    "note": False,
}
_COMMAND = re.compile(r"^#([A-Za-z][A-Za-z_-]*)(?:[ \t]+(.*?))?[ \t]*$")


@dataclass(frozen=True, slots=True)
class Command:
    name: str  # lower-case, as typed (it may be unknown)
    argument: str
    line: str  # the line as written, for messages back to the agent

    @property
    def known(self) -> bool:
        return self.name in COMMANDS

    @property
    def problem(self) -> str | None:
        """Why this command cannot run as written, or None."""
        if not self.known:
            return f"unknown command {self.line!r}"
        if COMMANDS[self.name] and not self.argument:
            return f"{self.line!r} needs an argument"
        if not COMMANDS[self.name] and self.argument:
            return f"{self.line!r} takes no argument"
        return None


def split_commands(text: str) -> tuple[list[Command], str]:
    """(commands at the top of `text`, the rest of the text)."""
    lines = text.splitlines()
    commands: list[Command] = []
    position = 0
    for position, line in enumerate(lines):  # noqa: B007 - used after the loop
        stripped = line.strip()
        if not stripped:
            continue
        found = _COMMAND.match(stripped)
        if found is None:
            break
        commands.append(Command(found.group(1).lower(), (found.group(2) or "").strip(), stripped))
    else:
        position = len(lines)
    if not commands:
        return [], text
    rest = "\n".join(lines[position:]).strip("\n")
    return commands, rest + "\n" if rest.strip() else ""

"""`[[mailbox]]` in config.toml: a mailbox maild polls over IMAP or POP3, and its checks.

Each table becomes a frozen `Mailbox`. `mailbox_problems` names every inconsistency (an
unknown protocol, a move without a folder to move to, a department that is not declared,
a missing or doubled password) with the file and the mailbox, like the rest of the config.
The password never appears in a problem, a log line or a repr: `screen_secrets` takes a
wrongly typed password out of the table before the generic reader would quote it.
"""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from maild.config import Config

__all__ = [
    "AFTER",
    "PROTOCOLS",
    "TLS_MODES",
    "Mailbox",
    "PasswordUnavailable",
    "department_of_source",
    "mailbox_problems",
    "resolve_mailboxes",
    "screen_secrets",
]

PROTOCOLS = ("imap", "pop3")
TLS_MODES = ("none", "starttls", "implicit")
AFTER = ("keep", "move", "delete")
_DEFAULT_PORTS = {("imap", False): 143, ("imap", True): 993, ("pop3", False): 110,
                  ("pop3", True): 995}  # fmt: skip
# The name is kept in every message's `source` ("imap:<name>"), a column of 16 characters.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,10}$")
_PASSWORD_KEYS = ("password", "password_env", "password_file")


class PasswordUnavailable(LookupError):
    """The password's environment variable is unset or its file cannot be read."""


@dataclass(frozen=True)
class Mailbox:
    name: str
    host: str
    username: str
    protocol: str = "imap"
    port: int = 0  # 0: the protocol's port for the TLS mode (143/993, 110/995)
    tls: str = "implicit"
    ca_file: str = ""
    password: str = field(default="", repr=False)
    password_env: str = ""
    password_file: str = ""
    folder: str = "INBOX"
    after: str = "keep"
    move_to: str = ""
    interval: int = 60
    max_per_poll: int = 100
    department: str = ""
    enabled: bool = True
    idle: bool = False
    timeout: float = 60.0

    @property
    def source(self) -> str:
        """What the inbound rows from this mailbox carry as their `source`."""
        return f"{self.protocol}:{self.name}"

    @property
    def server_port(self) -> int:
        return self.port or _DEFAULT_PORTS[(self.protocol, self.tls == "implicit")]

    def secret(self) -> str:
        """The password, from wherever it is configured; raises PasswordUnavailable."""
        if self.password_env:
            value = os.environ.get(self.password_env)
            if value is None:
                raise PasswordUnavailable(f"environment variable {self.password_env} is not set")
            return value
        if self.password_file:
            try:
                return Path(self.password_file).read_text(encoding="utf-8").strip("\r\n")
            except (OSError, UnicodeError) as exc:
                reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
                raise PasswordUnavailable(f"password_file {self.password_file}: {reason}") from None
        return self.password


def screen_secrets(table: dict[str, Any], where: str, problems: list[str]) -> None:
    """Replace a wrongly typed password in the raw [[mailbox]] tables by a problem that
    does not quote it (the generic reader would print the value)."""
    mailboxes = table.get("mailbox")
    if not isinstance(mailboxes, list):
        return
    for n, item in enumerate(mailboxes, start=1):
        if isinstance(item, dict) and "password" in item and not isinstance(item["password"], str):
            label = f" {item['name']!r}" if isinstance(item.get("name"), str) else ""
            problems.append(f"{where}: [[mailbox]] #{n}{label}: password must be a string")
            item["password"] = ""


def resolve_mailboxes(mailboxes: tuple[Mailbox, ...], base: Path) -> tuple[Mailbox, ...]:
    """Make `ca_file` and `password_file` absolute against the config file's folder."""

    def absolute(value: str) -> str:
        return str(base / value) if value else ""

    return tuple(
        dataclasses.replace(m, ca_file=absolute(m.ca_file), password_file=absolute(m.password_file))
        for m in mailboxes
    )


def department_of_source(config: Config, source: str) -> str | None:
    """The department of the mailbox an inbound row with this `source` came from, if any."""
    protocol, _, name = source.partition(":")
    for mailbox in config.mailboxes:
        if mailbox.name == name and mailbox.protocol == protocol:
            return mailbox.department or None
    return None


def mailbox_problems(config: Config) -> list[str]:
    """Every problem with the declared mailboxes, naming the file and the mailbox."""
    problems: list[str] = []
    seen: set[str] = set()
    departments = {d.name for d in config.departments}
    for mailbox in config.mailboxes:
        where = f"{config.path}: [[mailbox]] {mailbox.name!r}:"
        if mailbox.name in seen:
            problems.append(f"{config.path}: [[mailbox]] {mailbox.name!r} is declared twice")
        seen.add(mailbox.name)
        problems += [f"{where} {problem}" for problem in _problems(mailbox, departments)]
    return problems


def _problems(m: Mailbox, departments: set[str]) -> list[str]:
    problems = []

    def one_of(key: str, value: str, allowed: tuple[str, ...]) -> None:
        if value not in allowed:
            problems.append(f"{key} must be one of {', '.join(allowed)}, got {value!r}")

    if not _NAME.match(m.name):
        problems.append(
            "name must be 1-11 letters, digits, '-' or '_' (messages carry it as their "
            "source, imap:<name> or pop3:<name>)"
        )
    one_of("protocol", m.protocol, PROTOCOLS)
    one_of("tls", m.tls, TLS_MODES)
    one_of("after", m.after, AFTER)
    if not m.host.strip():
        problems.append("host must not be empty")
    if not m.username:
        problems.append("username must not be empty")
    if not 0 <= m.port < 65536:
        problems.append(f"port must be 1-65535 (or 0 for the default), got {m.port}")
    given = [key for key in _PASSWORD_KEYS if getattr(m, key)]
    if len(given) != 1:
        problems.append(
            "give exactly one of password, password_env or password_file"
            + (f" (got {', '.join(given)})" if given else "")
        )
    if m.after == "move" and not m.move_to:
        problems.append('after = "move" needs move_to, the folder to move stored messages to')
    if m.move_to and m.after != "move":
        problems.append('move_to is only used with after = "move"')
    if m.move_to and m.move_to == m.folder:
        problems.append("move_to must not be the folder that is polled")
    if m.protocol == "pop3":
        if m.after == "move":
            problems.append('POP3 has no folders: after must be "keep" or "delete"')
        if m.folder != "INBOX":
            problems.append("POP3 has no folders: folder is for IMAP only")
        if m.idle:
            problems.append("idle is for IMAP only")
    for key, value in (("interval", m.interval), ("max_per_poll", m.max_per_poll)):
        if value < 1:
            problems.append(f"{key} must be at least 1, got {value}")
    if m.timeout <= 0:
        problems.append(f"timeout must be more than 0 seconds, got {m.timeout}")
    if m.department and m.department not in departments:
        problems.append(f"department {m.department!r} is not declared")
    return problems

"""config.toml, read once into frozen dataclasses.

Every section is a dataclass whose fields are the keys it accepts, with their defaults;
the loader walks the TOML tables against them, so an unknown or mistyped key is an
error naming the key and the file. Paths are resolved against the config file's folder.
Every problem is collected before `ConfigError` is raised, so `maild check` lists them all.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_type_hints

from maild.config_lean import DEFAULT_MAX_SIZE, DEFAULT_STORE_URL, resolve_store_url
from maild.config_org import (
    Department,
    Role,
    Schedule,
    SlaPlan,
    Status,
    Team,
    Topic,
    org_problems,
)
from maild.config_walk import build, build_list, toml_name
from maild.errors import ConfigError
from maild.mailbox_config import Mailbox, mailbox_problems, resolve_mailboxes, screen_secrets

__all__ = ["Config", "load"]


@dataclass(frozen=True)
class Helpdesk:
    name: str = "Example Support"
    address: str = "support@example.com"
    aliases: tuple[str, ...] = ()
    plus_addressing: bool = True
    url: str = "http://127.0.0.1:8080"


@dataclass(frozen=True)
class Paths:
    data: Path = Path("data")
    templates: Path = Path("templates")
    rules: Path = Path("rules")


@dataclass(frozen=True)
class Store:
    url: str = DEFAULT_STORE_URL


@dataclass(frozen=True)
class Smtp:
    listen: str = "127.0.0.1:2525"
    hostname: str = ""
    max_message_size: int = DEFAULT_MAX_SIZE
    max_recipients: int = 100
    enabled: bool = True


@dataclass(frozen=True)
class Relay:
    host: str = ""
    port: int = 25
    starttls: bool = False
    ca_file: str = ""
    username: str = ""
    password: str = ""
    password_env: str = ""
    timeout: float = 30.0


@dataclass(frozen=True)
class Web:
    listen: str = "127.0.0.1:8080"


@dataclass(frozen=True)
class Tickets:
    number_format: str = "######"
    numbering: str = "random"
    token: str = "[#{number}]"
    priorities: tuple[str, ...] = ("low", "normal", "high", "emergency")
    default_priority: str = "normal"
    default_department: str = ""
    default_sla: str = ""
    priority_from_headers: bool = False
    collaborators: str = "always"  # To/Cc of a new message: always, same-organisation, never


@dataclass(frozen=True)
class Notices:
    new_ticket_autoresponse: bool = True
    new_message_autoresponse: bool = False
    autoresponse_limit: int = 5
    autoresponse_window: int = 3600
    new_ticket_alert: bool = True
    new_message_alert: bool = True
    assignment_alert: bool = True
    transfer_alert: bool = True
    overdue_alert: bool = True
    sla_warning: bool = True


@dataclass(frozen=True)
class AgentMail:
    """Agents working from their mail client (see maild.agent_mail)."""

    note_address: str = ""  # one of our addresses: an agent's mail to it is an internal note
    trusted_authserv_ids: tuple[str, ...] = ()  # Authentication-Results from these count


@dataclass(frozen=True)
class Processing:
    max_attempts: int = 5
    retry_delay: float = 5.0
    batch_size: int = 50
    workers: int = 1
    sweep_interval: int = 60


@dataclass(frozen=True)
class Outbound:
    max_attempts: int = 10
    retry_delay: float = 60.0
    batch_size: int = 100


@dataclass(frozen=True)
class Config:
    path: Path = Path("config.toml")
    helpdesk: Helpdesk = field(default_factory=Helpdesk)
    paths: Paths = field(default_factory=Paths)
    store: Store = field(default_factory=Store)
    smtp: Smtp = field(default_factory=Smtp)
    relay: Relay = field(default_factory=Relay)
    web: Web = field(default_factory=Web)
    tickets: Tickets = field(default_factory=Tickets)
    notices: Notices = field(default_factory=Notices)
    agent_mail: AgentMail = field(default_factory=AgentMail)
    processing: Processing = field(default_factory=Processing)
    outbound: Outbound = field(default_factory=Outbound)
    schedules: tuple[Schedule, ...] = field(default=(), metadata={"toml": "schedule"})
    slas: tuple[SlaPlan, ...] = field(default=(), metadata={"toml": "sla"})
    departments: tuple[Department, ...] = field(default=(), metadata={"toml": "department"})
    topics: tuple[Topic, ...] = field(default=(), metadata={"toml": "topic"})
    teams: tuple[Team, ...] = field(default=(), metadata={"toml": "team"})
    statuses: tuple[Status, ...] = field(default=(), metadata={"toml": "status"})
    roles: tuple[Role, ...] = field(default=(), metadata={"toml": "role"})
    mailboxes: tuple[Mailbox, ...] = field(default=(), metadata={"toml": "mailbox"})

    @property
    def domain(self) -> str:
        return self.helpdesk.address.rpartition("@")[2]

    @property
    def our_addresses(self) -> frozenset[str]:
        """The helpdesk address, its aliases and every department's addresses."""
        extra = (a for d in self.departments for a in d.addresses)
        return frozenset(a.lower() for a in (self.helpdesk.address, *self.helpdesk.aliases, *extra))

    def is_ours(self, address: str) -> bool:
        """Whether mail to `address` is for us: an address, an alias, or a plus-address of one."""
        address = address.lower()
        if address in self.our_addresses:
            return True
        local, _, domain = address.rpartition("@")
        base, plus, _ = local.partition("+")
        return (
            bool(plus)
            and self.helpdesk.plus_addressing
            and f"{base}@{domain}" in self.our_addresses
        )

    def relay_password(self) -> str:
        import os

        if self.relay.password_env:
            return os.environ.get(self.relay.password_env, "")
        return self.relay.password


_SECTIONS = {toml_name(f): f for f in dataclasses.fields(Config) if f.name != "path"}
_LISTS = {"schedules", "slas", "departments", "topics", "teams", "statuses", "roles", "mailboxes"}


def load(path: str | Path) -> Config:
    """Read and validate `path`; raise ConfigError listing every problem."""
    path = Path(path).resolve()
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError([f"{path}: no such file"]) from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError([f"{path}: {exc}"]) from None
    problems: list[str] = []
    screen_secrets(table, str(path), problems)
    sections: dict[str, Any] = {}
    hints = get_type_hints(Config)
    for name, value in table.items():
        field = _SECTIONS.get(name)
        if field is None:
            problems.append(f"{path}: unknown section [{name}]")
        elif field.name in _LISTS:
            sections[field.name] = build_list(
                hints[field.name], value, f"{path}: [[{name}]]", problems
            )
        elif not isinstance(value, dict):
            problems.append(f"{path}: [{name}] must be a table")
        else:
            sections[field.name] = build(hints[field.name], value, f"{path}: [{name}]", problems)
    config = Config(path=path, **sections)
    problems += _check(config) + org_problems(config) + mailbox_problems(config)
    if problems:
        raise ConfigError(problems)
    return _resolve(config)


def _check(config: Config) -> list[str]:
    """Checks that span one value's meaning, not just its type."""
    where = str(config.path)
    problems = []
    addresses = [("address", config.helpdesk.address)]
    addresses += [("aliases", alias) for alias in config.helpdesk.aliases]
    for key, address in addresses:
        local, _, domain = address.partition("@")
        if not local or "." not in domain or " " in address:
            problems.append(f"{where}: [helpdesk] {key}: {address!r} is not an email address")
    note = config.agent_mail.note_address
    if note and not config.is_ours(note):
        problems.append(
            f"{where}: [agent_mail] note_address {note!r} is not one of the helpdesk's "
            "addresses or plus-addresses"
        )
    if not 0 < config.relay.port < 65536:
        problems.append(f"{where}: [relay] port must be 1-65535, got {config.relay.port}")
    for section, listen in (("smtp", config.smtp.listen), ("web", config.web.listen)):
        host, _, port = listen.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            problems.append(f"{where}: [{section}] listen must be HOST:PORT, got {listen!r}")
    if not config.store.url.startswith(("sqlite:///", "postgresql://", "postgres://")):
        problems.append(
            f"{where}: [store] url must start with sqlite:/// or postgresql://, "
            f"got {config.store.url!r}"
        )
    if "#" not in config.tickets.number_format:
        problems.append(f"{where}: [tickets] number_format needs at least one '#' digit")
    if config.tickets.collaborators not in ("always", "same-organisation", "never"):
        problems.append(
            f"{where}: [tickets] collaborators must be always, same-organisation or never, "
            f"got {config.tickets.collaborators!r}"
        )
    if config.tickets.numbering not in ("random", "sequential"):
        problems.append(
            f"{where}: [tickets] numbering must be random or sequential, "
            f"got {config.tickets.numbering!r}"
        )
    if config.tickets.default_priority not in config.tickets.priorities:
        problems.append(
            f"{where}: [tickets] default_priority {config.tickets.default_priority!r} "
            "is not one of priorities"
        )
    if "{number}" not in config.tickets.token:
        problems.append(f"{where}: [tickets] token must contain {{number}}")
    for section, key, value in (
        ("smtp", "max_message_size", config.smtp.max_message_size),
        ("smtp", "max_recipients", config.smtp.max_recipients),
        ("processing", "max_attempts", config.processing.max_attempts),
        ("processing", "batch_size", config.processing.batch_size),
        ("outbound", "max_attempts", config.outbound.max_attempts),
        ("outbound", "batch_size", config.outbound.batch_size),
    ):
        if value < 1:
            problems.append(f"{where}: [{section}] {key} must be at least 1, got {value}")
    if config.processing.workers < 0:
        problems.append(f"{where}: [processing] workers must be 0 or more")
    return problems


def _resolve(config: Config) -> Config:
    """Make paths absolute against the config file's folder."""
    base = config.path.parent
    paths = Paths(
        **{f.name: base / getattr(config.paths, f.name) for f in dataclasses.fields(Paths)}
    )
    url = resolve_store_url(config.store.url, str(base))
    mailboxes = resolve_mailboxes(config.mailboxes, base)
    return dataclasses.replace(config, paths=paths, store=Store(url=url), mailboxes=mailboxes)

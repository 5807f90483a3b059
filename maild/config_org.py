"""The organisation declared in config.toml: schedules, SLA plans, departments, help topics,
teams, statuses and roles — and the checks that tie them together.

Each `[[schedule]]`, `[[sla]]`, `[[department]]`, `[[topic]]`, `[[team]]`, `[[status]]` and
`[[role]]` table becomes one frozen dataclass (read by `maild.config_walk`). `org_problems`
reports every reference to something undeclared, every duplicate name and every invalid
schedule, naming the file and the table, so `maild check` lists them all at once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING

from maild.sla_schedule import Closure, Span
from maild.sla_schedule import Schedule as BusinessHours

if TYPE_CHECKING:
    from maild.config import Config

__all__ = [
    "BUILTIN_STATUSES",
    "PERMISSIONS",
    "Department",
    "FormField",
    "Role",
    "Schedule",
    "SlaPlan",
    "Status",
    "Team",
    "Topic",
    "org_problems",
]

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
ALWAYS = "24x7"
STATES = ("open", "pending", "resolved", "closed")
BUILTIN_STATUSES = STATES
AUTO_ASSIGN = ("none", "round-robin", "least-open")
FIELD_TYPES = ("text", "textarea", "number", "date", "choice", "checkbox", "email", "phone")
PERMISSIONS = frozenset(
    {
        "ticket.create", "ticket.view", "ticket.edit", "ticket.reply", "ticket.note",
        "ticket.assign", "ticket.transfer", "ticket.close", "ticket.delete", "ticket.merge",
        "canned.manage", "kb.manage", "queue.manage", "user.manage", "org.manage",
        "agent.manage", "report.view",
    }
)  # fmt: skip

_SPAN = re.compile(r"^(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})$")


@dataclass(frozen=True)
class Schedule:
    """Business hours: "HH:MM-HH:MM" spans per weekday, holidays as "YYYY-MM-DD [spans]"."""

    name: str
    timezone: str = "UTC"
    monday: tuple[str, ...] = ()
    tuesday: tuple[str, ...] = ()
    wednesday: tuple[str, ...] = ()
    thursday: tuple[str, ...] = ()
    friday: tuple[str, ...] = ()
    saturday: tuple[str, ...] = ()
    sunday: tuple[str, ...] = ()
    holidays: tuple[str, ...] = ()

    def business_hours(self, problems: list[str], where: str) -> BusinessHours:
        week = tuple(
            tuple(s for text in getattr(self, day) if (s := _span(text, problems, where, day)))
            for day in WEEKDAYS
        )
        closures = tuple(c for text in self.holidays if (c := _closure(text, problems, where)))
        hours = BusinessHours(self.name, self.timezone, week, closures)
        # The schedule names itself in its problems; the file is all that is missing.
        problems.extend(f"{where.partition(': ')[0]}: {problem}" for problem in hours.problems())
        return hours


@dataclass(frozen=True)
class SlaPlan:
    name: str
    schedule: str = ALWAYS
    first_response_hours: float = 0.0
    resolution_hours: float = 0.0
    pause_statuses: tuple[str, ...] = ("pending",)
    alerts: bool = True
    warning_minutes: int = 0


@dataclass(frozen=True)
class Department:
    name: str
    addresses: tuple[str, ...] = ()
    sla: str = ""
    manager: str = ""
    signature: str = ""
    auto_assign: str = "none"
    new_ticket_alert: bool = True
    new_message_alert: bool = True
    reopen_days: int = 0  # a reply later than this after closing opens a new ticket; 0: never


@dataclass(frozen=True)
class FormField:
    name: str
    type: str = "text"
    label: str = ""
    required: bool = False
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class Topic:
    name: str
    department: str = ""
    sla: str = ""
    priority: str = ""
    assign_agent: str = ""
    assign_team: str = ""
    public: bool = True
    fields: tuple[FormField, ...] = field(default=(), metadata={"toml": "field"})


@dataclass(frozen=True)
class Team:
    name: str
    lead: str = ""
    members: tuple[str, ...] = ()


@dataclass(frozen=True)
class Status:
    name: str
    state: str = "open"
    reopen_on_reply: bool = True
    reopen_to: str = "open"


@dataclass(frozen=True)
class Role:
    name: str
    permissions: tuple[str, ...] = ()


def _span(text: str, problems: list[str], where: str, day: str) -> Span | None:
    found = _SPAN.match(text.strip())
    if not found:
        problems.append(f"{where} {day}: {text!r} is not a span like '09:00-17:00'")
        return None
    h1, m1, h2, m2 = (int(g) for g in found.groups())
    return Span(h1 * 60 + m1, h2 * 60 + m2)


def _closure(text: str, problems: list[str], where: str) -> Closure | None:
    day_text, _, rest = text.strip().partition(" ")
    try:
        day = date.fromisoformat(day_text)
    except ValueError:
        problems.append(f"{where} holidays: {text!r} does not start with a date YYYY-MM-DD")
        return None
    if not rest.strip():
        return Closure(day)
    spans = [_span(part, problems, where, f"holiday {day_text}") for part in rest.split(",")]
    return Closure(day, tuple(s for s in spans if s))


def org_problems(config: Config) -> list[str]:
    """Every inconsistency between the declared parts of the organisation."""
    where = str(config.path)
    problems: list[str] = []
    for kind, items in (
        ("schedule", config.schedules), ("sla", config.slas), ("department", config.departments),
        ("topic", config.topics), ("team", config.teams), ("status", config.statuses),
        ("role", config.roles),
    ):  # fmt: skip
        seen: set[str] = set()
        for item in items:
            if item.name in seen:
                problems.append(f"{where}: [[{kind}]] {item.name!r} is declared twice")
            seen.add(item.name)
    schedules = {s.name for s in config.schedules} | {ALWAYS}
    slas = {s.name for s in config.slas}
    departments = {d.name for d in config.departments}
    statuses = set(BUILTIN_STATUSES) | {s.name for s in config.statuses}
    priorities = set(config.tickets.priorities)
    teams = {t.name for t in config.teams}

    def unknown(kind: str, name: str, key: str, value: str, known: set[str]) -> None:
        if value and value not in known:
            problems.append(f"{where}: [[{kind}]] {name!r}: {key} {value!r} is not declared")

    for s in config.schedules:
        s.business_hours(problems, f"{where}: [[schedule]] {s.name!r}:")
    for p in config.slas:
        unknown("sla", p.name, "schedule", p.schedule, schedules)
        for status in p.pause_statuses:
            unknown("sla", p.name, "pause_statuses", status, statuses)
        if p.first_response_hours < 0 or p.resolution_hours < 0 or p.warning_minutes < 0:
            problems.append(f"{where}: [[sla]] {p.name!r}: targets must not be negative")
    for d in config.departments:
        unknown("department", d.name, "sla", d.sla, slas)
        if d.auto_assign not in AUTO_ASSIGN:
            problems.append(f"{where}: [[department]] {d.name!r}: auto_assign must be one of "
                            f"{', '.join(AUTO_ASSIGN)}, got {d.auto_assign!r}")  # fmt: skip
    for t in config.topics:
        unknown("topic", t.name, "department", t.department, departments)
        unknown("topic", t.name, "sla", t.sla, slas)
        unknown("topic", t.name, "priority", t.priority, priorities)
        unknown("topic", t.name, "assign_team", t.assign_team, teams)
        for f in t.fields:
            if f.type not in FIELD_TYPES:
                problems.append(f"{where}: [[topic]] {t.name!r}: field {f.name!r} has unknown "
                                f"type {f.type!r} (one of {', '.join(FIELD_TYPES)})")  # fmt: skip
    for s in config.statuses:
        if s.state not in STATES:
            problems.append(f"{where}: [[status]] {s.name!r}: state must be one of "
                            f"{', '.join(STATES)}, got {s.state!r}")  # fmt: skip
        unknown("status", s.name, "reopen_to", s.reopen_to, statuses)
    for r in config.roles:
        for permission in r.permissions:
            if permission not in PERMISSIONS:
                problems.append(f"{where}: [[role]] {r.name!r}: unknown permission "
                                f"{permission!r}")  # fmt: skip
    for kind, key, value in (
        ("tickets", "default_department", config.tickets.default_department),
        ("tickets", "default_sla", config.tickets.default_sla),
    ):
        known = departments if key == "default_department" else slas
        if value and value not in known:
            problems.append(f"{where}: [{kind}] {key} {value!r} is not declared")
    return problems

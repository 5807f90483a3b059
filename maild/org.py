"""The declared organisation, ready to use: routing a new ticket and running its SLA clock.

Built once from the Config (business hours are compiled here, so the SLA clock's per-
schedule cache is reused); `route_new` and `clock` are what the pipeline and, later, the
sweep call. Times in and out of the store are naive UTC; the clock works in aware UTC.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from maild.config import Config
from maild.config_org import ALWAYS
from maild.mailbox_config import department_of_source
from maild.parse import ParsedMessage
from maild.routing import Routing, RuleChoices, route
from maild.sla import Clock, Plan, Schedule, StatusChange, compute, explain
from maild.statuses import StatusBook

__all__ = ["Organisation", "naive"]


class Organisation:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.statuses = StatusBook(config)
        problems: list[str] = []
        schedules = {s.name: s.business_hours(problems, str(config.path)) for s in config.schedules}
        schedules.setdefault(ALWAYS, Schedule.always())
        self.plans = {
            p.name: Plan(
                name=p.name,
                schedule=schedules[p.schedule],
                first_response_minutes=round(p.first_response_hours * 60) or None,
                resolution_minutes=round(p.resolution_hours * 60) or None,
                pause_statuses=frozenset(p.pause_statuses),
            )
            for p in config.slas
            if p.schedule in schedules
        }

    def route_new(
        self,
        msg: ParsedMessage,
        rcpt_to: Sequence[str],
        topic: str | None = None,
        rules: RuleChoices | None = None,
        source: str = "",
    ) -> Routing:
        """Route a new ticket; `source` is the inbound row's (e.g. "imap:sales")."""
        tickets = self.config.tickets
        headers = (msg.header("X-Priority"), msg.header("Importance"))
        return route(
            recipients=[*rcpt_to, *(a for _, a in msg.to), *(a for _, a in msg.cc)],
            departments=self.config.departments,
            topics=self.config.topics,
            topic=topic,
            default_department=tickets.default_department,
            default_sla=tickets.default_sla,
            default_priority=tickets.default_priority,
            priorities=tickets.priorities,
            priority_headers=headers if tickets.priority_from_headers else None,
            rules=rules,
            mailbox=_mailbox(self.config, source),
        )

    def clock(
        self,
        sla: str | None,
        *,
        created: datetime,
        history: Sequence[tuple[datetime, str]],
        first_response_at: datetime | None,
        now: datetime,
    ) -> Clock | None:
        """The ticket's SLA clock, or None when it has no (known) plan."""
        plan = self.plans.get(sla or "")
        if plan is None:
            return None
        return compute(plan, **self._clock_facts(created, history, first_response_at, now))

    def explain(
        self,
        sla: str | None,
        *,
        created: datetime,
        history: Sequence[tuple[datetime, str]],
        first_response_at: datetime | None,
        now: datetime,
    ) -> list[str] | None:
        """How the clock's due times were computed (`maild sla explain`); None without a plan."""
        plan = self.plans.get(sla or "")
        if plan is None:
            return None
        return explain(plan, **self._clock_facts(created, history, first_response_at, now))

    def _clock_facts(self, created, history, first_response_at, now) -> dict:
        return {
            "created": _aware(created),
            "history": [StatusChange(_aware(at), status) for at, status in history],
            "first_response_at": _aware(first_response_at) if first_response_at else None,
            "now": _aware(now),
            "final_statuses": self.statuses.final,
        }


def _mailbox(config: Config, source: str) -> tuple[str, str] | None:
    department = department_of_source(config, source) if ":" in source else None
    return (source.partition(":")[2], department) if department else None


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def naive(moment: datetime | None) -> datetime | None:
    """For the store: naive UTC."""
    return moment.astimezone(UTC).replace(tzinfo=None) if moment else None

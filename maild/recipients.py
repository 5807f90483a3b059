"""Which agents hear about a ticket: the assignee, else its team, else its department's
members — and always the department's manager. Agents only, never customers."""

from __future__ import annotations

from maild.config import Config
from store import agents
from store.models import Agent, Ticket

__all__ = ["agents_to_alert", "department_members"]


def department_members(config: Config, department: str | None) -> list[str]:
    return agents.department_member_emails(department) if department else []


def agents_to_alert(
    config: Config, ticket: Ticket, *, with_manager: bool = True, cache: dict | None = None
) -> list[str]:
    """The addresses to alert about `ticket`.

    `cache`, a dict the caller keeps for one batch of alerts (the SLA sweep), remembers
    each assignee's address and department's members so they are read once per batch.
    """
    cache = {} if cache is None else cache
    chosen: list[str] = []
    if ticket.assignee_id:
        key = ("agent", ticket.assignee_id)
        if key not in cache:
            assignee = Agent.get_or_none(Agent.id == ticket.assignee_id)
            active = assignee is not None and assignee.active
            cache[key] = agents.primary_email(assignee) if active else ""
        if cache[key]:
            chosen.append(cache[key])
    if not chosen and ticket.team:
        team = next((t for t in config.teams if t.name == ticket.team), None)
        if team is not None:
            chosen += [a for a in (team.lead, *team.members) if a]
    if not chosen:
        key = ("department", ticket.department)
        if key not in cache:
            cache[key] = department_members(config, ticket.department)
        chosen += cache[key]
    department = next((d for d in config.departments if d.name == ticket.department), None)
    if with_manager and department is not None and department.manager:
        chosen.append(department.manager)
    return list(dict.fromkeys(a.lower() for a in chosen if a))

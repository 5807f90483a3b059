"""Which agents hear about a ticket: the assignee, else its team, else its department's
members — and always the department's manager. Agents only, never customers."""

from __future__ import annotations

from maild.config import Config
from store import agents
from store.models import Agent, Ticket

__all__ = ["agents_to_alert", "department_members"]


def department_members(config: Config, department: str | None) -> list[str]:
    return agents.department_member_emails(department) if department else []


def agents_to_alert(config: Config, ticket: Ticket, *, with_manager: bool = True) -> list[str]:
    chosen: list[str] = []
    if ticket.assignee_id:
        assignee = Agent.get_or_none(Agent.id == ticket.assignee_id)
        if assignee is not None and assignee.active:
            chosen.append(agents.primary_email(assignee))
    if not chosen and ticket.team:
        team = next((t for t in config.teams if t.name == ticket.team), None)
        if team is not None:
            chosen += [a for a in (team.lead, *team.members) if a]
    if not chosen:
        chosen += department_members(config, ticket.department)
    department = next((d for d in config.departments if d.name == ticket.department), None)
    if with_manager and department is not None and department.manager:
        chosen.append(department.manager)
    return list(dict.fromkeys(a.lower() for a in chosen if a))

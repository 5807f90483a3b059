"""Queries behind automatic assignment: who is in a department, how busy they are, whose
turn it is. The round-robin position is kept per department in the `meta` table."""

from __future__ import annotations

from collections.abc import Sequence

from peewee import fn

from store.db import get_meta, is_postgresql, set_meta
from store.models import Agent, AgentDepartment, Meta, Ticket

__all__ = ["active_members", "assign", "next_in_turn", "open_counts"]

FINAL = ("resolved", "closed")


def active_members(department: str) -> list[Agent]:
    """Active agents of `department`, in the order they joined it."""
    return list(
        Agent.select()
        .join(AgentDepartment)
        .where((AgentDepartment.department == department) & Agent.active)
        .order_by(AgentDepartment.id)
    )


def open_counts(agent_ids: Sequence[int], finished: Sequence[str] = FINAL) -> dict[int, int]:
    """How many tickets each agent holds that are not in one of the `finished` statuses."""
    rows = (
        Ticket.select(Ticket.assignee, fn.COUNT(Ticket.id))
        .where(Ticket.assignee.in_(list(agent_ids)) & Ticket.status.not_in(list(finished)))
        .group_by(Ticket.assignee)
        .tuples()
    )
    return {agent_id: count for agent_id, count in rows}


def next_in_turn(department: str, members: Sequence[Agent]) -> Agent:
    """The member after the one chosen last time (within the caller's transaction)."""
    key = f"round_robin:{department}"[:64]
    if is_postgresql():
        # Two workers assigning at once must not both pick the same agent.
        Meta.insert(key=key, value="0").on_conflict_ignore().execute()
        Meta.select().where(Meta.key == key).for_update().execute()
    last = get_meta(key, "0")
    ids = [m.id for m in members]
    position = ids.index(int(last)) + 1 if last.isdigit() and int(last) in ids else 0
    chosen = members[position % len(members)]
    set_meta(key, str(chosen.id))
    return chosen


def assign(ticket: Ticket, agent: Agent) -> None:
    ticket.assignee = agent
    ticket.save(only=[Ticket.assignee])

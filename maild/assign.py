"""Automatic assignment of new tickets: to a named agent, round-robin, or to the member
with the fewest open tickets. Returns who and why; the pipeline records and announces it."""

from __future__ import annotations

from collections.abc import Iterable

from maild.routing import Routing
from store import agents, assignment
from store.models import Agent

__all__ = ["choose"]


def choose(routing: Routing, finished: Iterable[str]) -> tuple[Agent | None, str]:
    """The agent a new ticket goes to under `routing`, and how they were chosen.

    `finished` are the statuses (resolved or closed states) that no longer count as work.
    """
    if routing.assign_agent:
        agent = agents.agent_by_email(routing.assign_agent)
        if agent is None or not agent.active:
            return None, f"help topic names {routing.assign_agent}, who is not an active agent"
        return agent, "named by the help topic"
    if routing.auto_assign == "none" or not routing.department:
        return None, ""
    members = assignment.active_members(routing.department)
    if not members:
        return None, f"no active agents in {routing.department!r} to assign to"
    if routing.auto_assign == "round-robin":
        return assignment.next_in_turn(routing.department, members), "round-robin"
    counts = assignment.open_counts([m.id for m in members], list(finished))
    # min() keeps the first of equals: the longest-serving member wins a tie.
    chosen = min(members, key=lambda m: counts.get(m.id, 0))
    return chosen, f"fewest open tickets ({counts.get(chosen.id, 0)})"

"""Ticket actions: the changes people make to a ticket, defined once.

Mail commands, the web UI, the API and `maild ticket` all change tickets through these, so
the same change leaves the same thread entries, recomputes the same SLA clock and sends
the same notices whichever way it came. Each runs in the caller's transaction.

`by` is the acting agent, checked against their role in the ticket's department (and
refused with `ActionRefused` naming what is missing); None is an administrator at the
command line or a rule, who may do anything. `via` names who did it in the thread's event
(default: the agent's address, or "administrator").
"""

from __future__ import annotations

from dataclasses import dataclass

from maild.errors import MaildError
from maild.org import naive
from maild.sanitize import sanitize_html
from store import agents, labels, tickets
from store.clock import now
from store.models import Agent, Entry, Ticket

__all__ = ["ActionRefused", "TicketActions"]


class ActionRefused(MaildError, ValueError):
    """The action is not allowed, or names something that does not exist."""


@dataclass(frozen=True, slots=True)
class _Parent:
    """What a notice needs of the message it answers: its id, for the threading headers."""

    message_id: str
    references: tuple[str, ...] = ()


class TicketActions:
    def __init__(self, pipeline) -> None:
        self.config = pipeline.config
        self.org = pipeline.org
        self.notifier = pipeline.notifier
        self.roles = {r.name: frozenset(r.permissions) for r in self.config.roles}

    # -- checks ---------------------------------------------------------------------------

    def allowed(self, agent: Agent | None, ticket: Ticket, permission: str) -> bool:
        if agent is None:
            return True
        teams = [t.name for t in self.config.teams if _member(t, agent)]
        if not agents.can_see(agent, ticket, teams=teams):
            return False
        department = ticket.department or self.config.tickets.default_department
        return permission in agents.permissions_for(agent, department, self.roles)

    def _require(self, agent: Agent | None, ticket: Ticket, permission: str) -> None:
        if not self.allowed(agent, ticket, permission):
            who = agents.primary_email(agent) if agent else "nobody"
            raise ActionRefused(f"{who} may not do {permission} on ticket {ticket.number}")

    # -- status and SLA -------------------------------------------------------------------

    def set_status(
        self, ticket: Ticket, status: str, *, by: Agent | None = None, via: str = ""
    ) -> bool:
        """Move the ticket to `status`; whether it changed. Recomputes the SLA due times."""
        if status not in self.org.statuses:
            known = ", ".join(self.org.statuses.names())
            raise ActionRefused(f"unknown status {status!r} (one of {known})")
        final = self.org.statuses.is_final(status)
        self._require(by, ticket, "ticket.close" if final else "ticket.edit")
        if not tickets.touch(ticket, status=status, final=final):
            return False
        self._event(ticket, f"Status set to {status}", by, via)
        self.recompute_due(ticket)
        return True

    def recompute_due(self, ticket: Ticket) -> None:
        """Bring the stored due times in line with the ticket's plan and status history.

        Called after every change the clock depends on: a status change (pauses and final
        statuses clear the due times, resuming restores them), a first response, a
        transfer or a topic or SLA change. Without a plan, there are no due times.
        """
        clock = self.org.clock(
            ticket.sla,
            created=ticket.created,
            history=tickets.status_history(ticket),
            first_response_at=ticket.first_response_at,
            now=now(),
        )
        due = naive(clock.resolution_due) if clock else None
        first = naive(clock.first_response_due) if clock else None
        tickets.set_due(ticket, due=due, first_response_due=first)

    def set_sla(self, ticket: Ticket, sla: str, *, by: Agent | None = None, via: str = "") -> bool:
        if sla and sla not in self.org.plans:
            raise ActionRefused(f"unknown SLA plan {sla!r}")
        self._require(by, ticket, "ticket.edit")
        if not tickets.update_ticket(ticket, sla=sla or None):
            return False
        self._event(ticket, f"SLA plan set to {sla or 'none'}", by, via)
        self.recompute_due(ticket)
        return True

    def set_priority(
        self, ticket: Ticket, priority: str, *, by: Agent | None = None, via: str = ""
    ) -> bool:
        if priority not in self.config.tickets.priorities:
            known = ", ".join(self.config.tickets.priorities)
            raise ActionRefused(f"unknown priority {priority!r} (one of {known})")
        self._require(by, ticket, "ticket.edit")
        if not tickets.update_ticket(ticket, priority=priority):
            return False
        self._event(ticket, f"Priority set to {priority}", by, via)
        return True

    def set_topic(
        self, ticket: Ticket, topic: str, *, by: Agent | None = None, via: str = ""
    ) -> bool:
        """Set the help topic; its SLA plan, when it names one, replaces the ticket's."""
        declared = next((t for t in self.config.topics if t.name == topic), None)
        if declared is None:
            raise ActionRefused(f"unknown help topic {topic!r}")
        self._require(by, ticket, "ticket.edit")
        changes = {"topic": topic, **({"sla": declared.sla} if declared.sla else {})}
        if not tickets.update_ticket(ticket, **changes):
            return False
        self._event(ticket, f"Help topic set to {topic}", by, via)
        self.recompute_due(ticket)
        return True

    # -- who handles it -------------------------------------------------------------------

    def transfer(
        self, ticket: Ticket, department: str, *, by: Agent | None = None, via: str = ""
    ) -> bool:
        """Move the ticket to `department` and alert its members.

        The SLA plan follows the routing order: the help topic's plan stays; otherwise the
        new department's plan, when it has one, replaces the old one.
        """
        declared = next((d for d in self.config.departments if d.name == department), None)
        if declared is None:
            raise ActionRefused(f"unknown department {department!r}")
        self._require(by, ticket, "ticket.transfer")
        old = ticket.department
        if old == department:
            return False
        topic = next((t for t in self.config.topics if t.name == ticket.topic), None)
        changes: dict = {"department": department}
        if not (topic and topic.sla) and declared.sla:
            changes["sla"] = declared.sla
        tickets.update_ticket(ticket, **changes)
        self._event(ticket, f"Transferred from {old or 'no department'} to {department}", by, via)
        self.recompute_due(ticket)
        self.notifier.alert("transfer_alert", ticket, extra={"transfer": {"from": old or ""}})
        return True

    def assign(
        self, ticket: Ticket, agent: Agent | None, *, by: Agent | None = None, via: str = ""
    ) -> bool:
        """Assign the ticket to `agent` (None: unassign) and alert the new assignee."""
        if by is not None and agent is not None and agent.id == by.id:
            self._require(by, ticket, "ticket.view")  # taking a ticket one can see is allowed
        else:
            self._require(by, ticket, "ticket.assign")
        if agent is not None and not agent.active:
            raise ActionRefused(f"{agents.primary_email(agent)} is not an active agent")
        if not tickets.update_ticket(ticket, assignee=agent.id if agent else None):
            return False
        if agent is None:
            self._event(ticket, "Unassigned", by, via)
            return True
        address = agents.primary_email(agent)
        how = f"by {agents.primary_email(by)}" if by else f"by {via or 'an administrator'}"
        self._event(ticket, f"Assigned to {address} {how}", by, via)
        if by is None or by.id != agent.id:
            self.notifier.alert("assignment_alert", ticket, to=[address],
                                extra={"assignment": {"how": how}})  # fmt: skip
        return True

    def set_team(
        self, ticket: Ticket, team: str, *, by: Agent | None = None, via: str = ""
    ) -> bool:
        if team and not any(t.name == team for t in self.config.teams):
            raise ActionRefused(f"unknown team {team!r}")
        self._require(by, ticket, "ticket.assign")
        if not tickets.update_ticket(ticket, team=team or None):
            return False
        self._event(ticket, f"Team set to {team or 'none'}", by, via)
        return True

    # -- people and labels ----------------------------------------------------------------

    def add_collaborator(self, ticket: Ticket, address: str, *, by: Agent | None = None,
                         via: str = "") -> bool:  # fmt: skip
        """Copy `address` on the ticket's correspondence from now on."""
        self._require(by, ticket, "ticket.edit")
        address = address.strip().lower()
        if "@" not in address or " " in address or self.config.is_ours(address):
            raise ActionRefused(f"{address!r} cannot be a collaborator")
        if tickets.is_participant(ticket, address):
            return False
        tickets.add_collaborator(ticket, tickets.user_for(address))
        self._event(ticket, f"Collaborator {address} added", by, via)
        return True

    def remove_collaborator(self, ticket: Ticket, address: str, *, by: Agent | None = None,
                            via: str = "") -> bool:  # fmt: skip
        self._require(by, ticket, "ticket.edit")
        if not tickets.remove_collaborator(ticket, address.strip().lower()):
            return False
        self._event(ticket, f"Collaborator {address.strip().lower()} removed", by, via)
        return True

    def add_tags(self, ticket: Ticket, tags, *, by: Agent | None = None, via: str = "") -> bool:
        self._require(by, ticket, "ticket.edit")
        added = labels.add_tags(ticket, tags)
        if added:
            self._event(ticket, f"Tagged {', '.join(added)}", by, via)
        return bool(added)

    # -- the thread -----------------------------------------------------------------------

    def respond(self, ticket: Ticket, *, agent: Agent, text: str, html: str = "") -> Entry:
        """An agent's public reply: stored, mailed to the requester with the collaborators
        in Cc, and — the first time — it meets the first-response target."""
        self._require(agent, ticket, "ticket.reply")
        moment = now()
        entry = tickets.add_entry(
            ticket, kind="response", text=text, html=sanitize_html(html), agent=agent.id,
            author_name=agent.name, created=moment,
        )  # fmt: skip
        people = tickets.participants(ticket)
        requester, others = people[0], people[1:]
        self.notifier.queue(
            "agent_response",
            ticket,
            to=[(requester.name, requester.email)],
            cc=[(u.name, u.email) for u in others],
            parent=self._last_message(ticket),
            sender_name=agent.name,
            extra={
                "response": {"text": text, "html": entry.html or _paragraphs(text)},
                "agent": {"name": agent.name},
            },
        )
        changed = tickets.touch(ticket)
        if ticket.first_response_at is None:
            tickets.update_ticket(ticket, first_response_at=moment)
            changed = True
        if changed:
            self.recompute_due(ticket)
        return entry

    def note(self, ticket: Ticket, *, agent: Agent | None, text: str) -> Entry:
        """An internal note: stored in the thread, seen by agents only, mailed to nobody."""
        self._require(agent, ticket, "ticket.note")
        name = agent.name if agent else "administrator"
        entry = tickets.add_entry(ticket, kind="note", text=text,
                                  agent=agent.id if agent else None, author_name=name)  # fmt: skip
        tickets.touch(ticket)
        return entry

    # -- helpers --------------------------------------------------------------------------

    def _event(self, ticket: Ticket, text: str, by: Agent | None, via: str = "") -> None:
        who = via or (agents.primary_email(by) if by else "administrator")
        tickets.add_event(ticket, f"{text} ({who})")

    def _last_message(self, ticket: Ticket) -> _Parent | None:
        message_id = tickets.last_message_id(ticket)
        return _Parent(message_id) if message_id else None


def _member(team, agent: Agent) -> bool:
    addresses = set(agents.addresses_of(agent))
    return bool(addresses & {a.lower() for a in (team.lead, *team.members) if a})


def _paragraphs(text: str) -> str:
    from html import escape

    blocks = [b.strip() for b in text.split("\n\n") if b.strip()]
    return "".join(f"<p>{escape(b).replace(chr(10), '<br>')}</p>" for b in blocks)

"""`maild ticket set|reply|note`: change a ticket from the command line.

They go through the same ticket actions as mail commands and the web UI (maild.actions),
as an administrator, so the thread records the same events, the SLA clock is recomputed
and the same notices are queued (the daemon delivers them). Every change asked for in
one command happens in one transaction, or none does.
"""

from __future__ import annotations

import sys
from argparse import Namespace

from maild.actions import ActionRefused, TicketActions
from maild.config import Config
from maild.refusals import Refused, refusing

__all__ = ["ticket_note", "ticket_reply", "ticket_set"]

NONE = "none"  # the value that clears --assign, --team and --sla


def _context(config: Config, number: str):
    from maild.daemon import build_pipeline
    from store.tickets import ticket_by_number

    ticket = ticket_by_number(number)
    if ticket is None:
        raise Refused(f"no ticket {number}")
    return ticket, TicketActions(build_pipeline(config))


def _agent(email: str):
    from store.agents import agent_by_email

    agent = agent_by_email(email)
    if agent is None:
        raise Refused(f"no agent {email}")
    return agent


@refusing(ActionRefused)
def ticket_set(config: Config, args: Namespace) -> int:
    from store.db import transaction

    asked = [
        (key, value)
        for key in ("department", "topic", "sla", "priority", "team", "assign", "status")
        if (value := getattr(args, key)) is not None
    ]
    if not asked:
        raise Refused("nothing to change: give at least one of --status, --department, "
                      "--assign, --team, --priority, --sla, --topic")  # fmt: skip
    changed = []
    with transaction():
        ticket, actions = _context(config, args.number)
        for key, value in asked:
            cleared = "" if value == NONE else value
            if key == "department":
                did = actions.transfer(ticket, value)
            elif key == "topic":
                did = actions.set_topic(ticket, value)
            elif key == "sla":
                did = actions.set_sla(ticket, cleared)
            elif key == "priority":
                did = actions.set_priority(ticket, value)
            elif key == "team":
                did = actions.set_team(ticket, cleared)
            elif key == "assign":
                did = actions.assign(ticket, _agent(cleared) if cleared else None)
            else:
                did = actions.set_status(ticket, value)
            if did:
                changed.append(f"{key} {value}")
    print(f"ticket {ticket.number}: " + (", ".join(changed) if changed else "nothing changed"))
    return 0


@refusing(ActionRefused)
def ticket_reply(config: Config, args: Namespace) -> int:
    from store.db import transaction

    text = _text_from_stdin()
    with transaction():
        ticket, actions = _context(config, args.number)
        agent = _agent(args.agent)
        actions.respond(ticket, agent=agent, text=text)
        if args.status:
            actions.set_status(ticket, args.status, by=agent)
    print(f"ticket {ticket.number}: response queued to {ticket.requester.email}")
    return 0


@refusing(ActionRefused)
def ticket_note(config: Config, args: Namespace) -> int:
    from store.db import transaction

    text = _text_from_stdin()
    with transaction():
        ticket, actions = _context(config, args.number)
        actions.note(ticket, agent=_agent(args.agent) if args.agent else None, text=text)
    print(f"ticket {ticket.number}: note added")
    return 0


def _text_from_stdin() -> str:
    text = sys.stdin.read().strip()
    if not text:
        raise Refused("the text is read from standard input, which was empty")
    return text + "\n"

"""The admin subcommands: check, quarantine, outbound, ticket, agent (in `maild.agents_admin`),
user and org (in `maild.users_admin`).

Each prints plain text for a person at a terminal and returns the exit status.
"""

from __future__ import annotations

import json
import sys
from argparse import Namespace
from pathlib import Path

from maild import agents_admin, rules_admin, tickets_admin, users_admin
from maild.config import Config

__all__ = ["check", "dispatch"]


def check(config: Config) -> int:
    """Config was loaded already (its errors are raised); check what it points at."""
    from maild.notices import Notices

    notices = Notices(config.paths.templates)
    problems = notices.check()
    departments = {d.name for d in config.departments}
    for folder in sorted(set(notices.overrides) - departments):
        problems.append(
            f"{config.paths.templates / folder}: overrides notices for department {folder!r}, "
            "which is not declared"
        )
    problems += _rule_problems(config)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        return 1
    print(f"{config.path}: OK")
    return 0


def _rule_problems(config: Config) -> list[str]:
    """The rule files' problems; agents' addresses are checked when the database exists."""
    from maild.rulebook import RuleBook, RulesError
    from rules import signature

    if not config.paths.rules.is_dir() or not signature(config.paths.rules):
        return []
    agents = _agent_addresses(config.store.url)
    if agents is None:
        print(f"{config.path}: agents named in rules not checked: no database yet", file=sys.stderr)
    try:
        RuleBook(config, agents=(lambda: agents) if agents is not None else None)
    except RulesError as exc:
        return exc.problems
    return []


def _agent_addresses(url: str) -> list[str] | None:
    """Every active agent's address, read without creating or migrating anything; None when
    there is no database to read."""
    from peewee import DatabaseError, OperationalError

    from store.agents import all_addresses
    from store.db import close_database, open_database

    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        return None
    try:
        open_database(url, migrate=False)
        return all_addresses()
    except (OperationalError, DatabaseError):
        return None
    finally:
        close_database()


def dispatch(config: Config, args: Namespace) -> int:
    from store.db import close_database, open_database

    open_database(config.store.url)
    try:
        handler = _COMMANDS[(args.command, args.action)]
        return handler(config, args)
    finally:
        close_database()


def _quarantine_list(config: Config, args: Namespace) -> int:
    from store.inbound import list_by_state

    rows = list_by_state("quarantined")
    for row in rows:
        print(f"{row.id}\t{row.received:%Y-%m-%d %H:%M:%S}\t{row.source}\t{row.last_error}")
    if not rows:
        print("quarantine is empty")
    return 0


def _quarantine_show(config: Config, args: Namespace) -> int:
    from maild.parse import parse
    from store.inbound import inbound_by_id

    row = inbound_by_id(args.id)
    if row is None:
        return _missing("message", args.id)
    msg = parse(bytes(row.raw))
    print(f"id:         {row.id}")
    print(f"state:      {row.state}")
    print(f"received:   {row.received:%Y-%m-%d %H:%M:%S} UTC via {row.source}")
    print(f"envelope:   from {row.mail_from!r} to {', '.join(json.loads(row.rcpt_to or '[]'))}")
    print(f"attempts:   {row.attempts}")
    print(f"reason:     {row.last_error or '-'}")
    print(f"from:       {msg.from_name} <{msg.from_addr}>")
    print(f"subject:    {msg.subject}")
    print(f"message-id: {msg.message_id}")
    print(f"size:       {len(bytes(row.raw))} bytes")
    return 0


def _quarantine_retry(config: Config, args: Namespace) -> int:
    from store.inbound import requeue

    if not requeue(args.id):
        print(f"no quarantined message {args.id}", file=sys.stderr)
        return 1
    print(f"message {args.id} queued for processing again")
    return 0


def _quarantine_export(config: Config, args: Namespace) -> int:
    from store.inbound import inbound_by_id

    row = inbound_by_id(args.id)
    if row is None:
        return _missing("message", args.id)
    raw = bytes(row.raw)
    if args.output:
        Path(args.output).write_bytes(raw)
        print(f"wrote {len(raw)} bytes to {args.output}")
    else:
        sys.stdout.buffer.write(raw)
    return 0


def _outbound_list(config: Config, args: Namespace) -> int:
    from store.outbound import list_outbound

    for row in list_outbound(args.state):
        to = ", ".join(json.loads(row.recipients))
        detail = row.last_error or "-"
        print(f"{row.id}\t{row.state}\t{row.kind}\t{to}\tattempts={row.attempts}\t{detail}")
    return 0


def _outbound_retry(config: Config, args: Namespace) -> int:
    from store.outbound import requeue

    if not requeue(args.id):
        print(f"no unsent outbound message {args.id}", file=sys.stderr)
        return 1
    print(f"outbound message {args.id} queued again")
    return 0


def _ticket_list(config: Config, args: Namespace) -> int:
    from store.tickets import list_tickets

    for t in list_tickets(status=args.status, limit=args.limit):
        print(f"{t.number}\t{t.status}\t{t.requester.email}\t{t.subject}")
    return 0


def _ticket_show(config: Config, args: Namespace) -> int:
    from store.tickets import attachments_of, participants, thread, ticket_by_number

    ticket = ticket_by_number(args.number)
    if ticket is None:
        return _missing("ticket", args.number)
    print(f"ticket:   {ticket.number}  [{ticket.status}, {ticket.priority}]")
    print(f"subject:  {ticket.subject}")
    print(f"people:   {', '.join(u.email for u in participants(ticket))}")
    print(f"created:  {ticket.created:%Y-%m-%d %H:%M:%S} UTC via {ticket.source}")
    for entry in thread(ticket):
        print(f"\n--- {entry.kind} #{entry.id} {entry.created:%Y-%m-%d %H:%M:%S} "
              f"{entry.author_name or ''} <{entry.message_id}>")  # fmt: skip
        print(entry.text.rstrip())
        for a in attachments_of(entry):
            print(f"[attachment: {a.name} ({a.content_type}, {a.size} bytes)]")
    return 0


def _sla_sweep(config: Config, args: Namespace) -> int:
    from datetime import UTC, datetime

    from maild.daemon import build_pipeline
    from maild.sweep import sweep

    moment = None
    if args.now:
        try:
            moment = datetime.fromisoformat(args.now)
        except ValueError:
            print(f"--now: {args.now!r} is not an ISO 8601 time", file=sys.stderr)
            return 1
        if moment.tzinfo is not None:
            moment = moment.astimezone(UTC).replace(tzinfo=None)
    result = sweep(build_pipeline(config), now=moment)
    print(
        f"first response overdue: {result.first_response}, resolution overdue: "
        f"{result.resolution}, warnings: {result.warnings}"
    )
    return 0


def _sla_explain(config: Config, args: Namespace) -> int:
    from maild.org import Organisation
    from store.clock import now
    from store.tickets import status_history, ticket_by_number

    ticket = ticket_by_number(args.number)
    if ticket is None:
        return _missing("ticket", args.number)
    lines = Organisation(config).explain(
        ticket.sla,
        created=ticket.created,
        history=status_history(ticket),
        first_response_at=ticket.first_response_at,
        now=now(),
    )
    if lines is None:
        print(f"ticket {ticket.number} has no SLA plan ({ticket.sla or 'none set'})")
        return 0
    print(f"ticket {ticket.number}, SLA plan {ticket.sla!r}")
    for line in lines:
        print(line)
    return 0


def _missing(what: str, ident) -> int:
    print(f"no {what} {ident}", file=sys.stderr)
    return 1


_COMMANDS = {
    ("quarantine", "list"): _quarantine_list,
    ("quarantine", "show"): _quarantine_show,
    ("quarantine", "retry"): _quarantine_retry,
    ("quarantine", "export"): _quarantine_export,
    ("outbound", "list"): _outbound_list,
    ("outbound", "retry"): _outbound_retry,
    ("ticket", "list"): _ticket_list,
    ("ticket", "show"): _ticket_show,
    ("ticket", "set"): tickets_admin.ticket_set,
    ("ticket", "reply"): tickets_admin.ticket_reply,
    ("ticket", "note"): tickets_admin.ticket_note,
    ("rules", "test"): rules_admin.rules_test,
    ("sla", "sweep"): _sla_sweep,
    ("sla", "explain"): _sla_explain,
    ("agent", "add"): agents_admin.agent_add,
    ("agent", "list"): agents_admin.agent_list,
    ("agent", "show"): agents_admin.agent_show,
    ("agent", "edit"): agents_admin.agent_edit,
    ("agent", "disable"): agents_admin.agent_disable,
    ("agent", "enable"): agents_admin.agent_enable,
    ("agent", "set-password"): agents_admin.agent_set_password,
    ("agent", "reset-mfa"): agents_admin.agent_reset_mfa,
    ("user", "add"): users_admin.user_add,
    ("user", "list"): users_admin.user_list,
    ("user", "show"): users_admin.user_show,
    ("user", "merge"): users_admin.user_merge,
    ("user", "set-org"): users_admin.user_set_org,
    ("org", "add"): users_admin.org_add,
    ("org", "list"): users_admin.org_list,
    ("org", "show"): users_admin.org_show,
    ("org", "edit"): users_admin.org_edit,
}

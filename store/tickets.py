"""Queries on tickets, their participants, thread entries and attachments."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime

from peewee import JOIN

from store import sql
from store.clock import now
from store.models import (
    Attachment,
    Blob,
    Collaborator,
    Entry,
    MessageRef,
    Meta,
    StatusChange,
    Ticket,
    User,
)
from store.organisations import organisation_id_for_address
from store.users import better_name

__all__ = [
    "add_attachment",
    "add_collaborator",
    "add_entry",
    "add_event",
    "add_message_ref",
    "attachments_of",
    "create_ticket",
    "find_message_ref",
    "is_participant",
    "last_message_id",
    "list_tickets",
    "message_ref_exists",
    "next_in_sequence",
    "number_taken",
    "participants",
    "remove_collaborator",
    "set_due",
    "status_history",
    "thread",
    "ticket_by_number",
    "touch",
    "update_ticket",
    "user_for",
]


def user_for(email: str, name: str = "") -> User:
    """The user with this address, created on first sight.

    A new user joins the organisation owning their address's domain or a parent domain
    (one indexed lookup, on creation only). A real display name replaces none, the
    address or its local part; it never overwrites another real name.
    """
    email = email.lower()
    name = name[:200]
    row = sql.execute(
        "SELECT id, name, organisation_id, primary_contact FROM users WHERE email = ?",
        [email],
    ).fetchone()
    if row is None:
        values = {"email": email, "name": name, "organisation": organisation_id_for_address(email)}
        user_id = sql.insert(User, values, ignore_conflict=True)
        if user_id is None:  # another worker created them a moment ago
            return User.get(User.email == email)
        return User(id=user_id, **values)
    user_id, known_name, organisation_id, primary = row
    if better_name(name, known_name, email):
        User.update(name=name).where(User.id == user_id).execute()
        known_name = name
    return User(
        id=user_id,
        email=email,
        name=known_name,
        organisation=organisation_id,
        primary_contact=bool(primary),
    )


def next_in_sequence(name: str = "ticket_number") -> int:
    """The next value of a counter kept in `meta`, starting at 1.

    The UPDATE locks the counter's row until the caller's transaction ends, so two
    workers never draw the same value, and a rolled-back ticket gives its number back.
    """
    key = f"sequence:{name}"
    sql.insert(Meta, {"key": key, "value": "0"}, ignore_conflict=True)
    return int(
        sql.scalar(
            Meta,
            "UPDATE meta SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT) "
            "WHERE key = ? RETURNING value",
            [key],
        )
    )


def number_taken(number: str) -> bool:
    return sql.exists(Ticket, "SELECT 1 FROM tickets WHERE number = ?", [number])


def create_ticket(
    *,
    number: str,
    subject: str,
    requester: User,
    source: str,
    status: str = "open",
    created: datetime | None = None,
    **routing,
) -> Ticket:
    """A new ticket; `routing` sets department, topic, sla, priority, team and due times."""
    values = {
        "number": number,
        "subject": subject[:998],
        "requester": requester.id,
        "source": source,
        "status": status,
        "created": created or now(),
        **routing,
    }
    values["updated"] = values["created"]
    ticket_id = sql.insert(Ticket, values)
    sql.insert(StatusChange, {"ticket": ticket_id, "status": status, "at": values["created"]})
    return Ticket(id=ticket_id, **{**values, "requester": requester})


def status_history(ticket: Ticket) -> list[tuple[datetime, str]]:
    """(when, status) for every status the ticket entered, oldest first."""
    rows = StatusChange.select(StatusChange.at, StatusChange.status).where(
        StatusChange.ticket == ticket
    )
    return list(rows.order_by(StatusChange.id).tuples())


def set_due(ticket: Ticket, *, due: datetime | None, first_response_due: datetime | None) -> bool:
    """Store recomputed due times; whether either changed.

    A changed due time starts a new breach, so its flags are cleared and the sweep may
    announce it again; an unchanged one keeps them, so a breach is never announced twice.
    """
    fields = []
    if due != ticket.due:
        ticket.due, ticket.overdue, ticket.warned = due, False, False
        fields += [Ticket.due, Ticket.overdue, Ticket.warned]
    if first_response_due != ticket.first_response_due:
        ticket.first_response_due, ticket.first_response_breached = first_response_due, False
        fields += [Ticket.first_response_due, Ticket.first_response_breached]
    if fields:
        ticket.save(only=fields)
    return bool(fields)


def ticket_by_number(number: str) -> Ticket | None:
    return Ticket.get_or_none(Ticket.number == number)


def touch(ticket: Ticket, *, status: str | None = None, final: bool = False) -> bool:
    """Mark the ticket updated, entering `status` if given; whether the status changed.

    `final` says the new status finishes the ticket (a resolved or closed state): it
    stamps `closed`, which any other status clears.
    """
    ticket.updated = now()
    fields = [Ticket.updated]
    changed = status is not None and status != ticket.status
    if changed:
        ticket.status = status
        ticket.closed = ticket.updated if final else None
        fields += [Ticket.status, Ticket.closed]
        sql.insert(StatusChange, {"ticket": ticket.id, "status": status, "at": ticket.updated})
    ticket.save(only=fields)
    return changed


_EDITABLE = frozenset(
    {"department", "topic", "sla", "priority", "team", "assignee", "first_response_at", "subject"}
)


def update_ticket(ticket: Ticket, **changes) -> bool:
    """Set the given columns where they differ; whether anything changed."""
    unknown = set(changes) - _EDITABLE
    if unknown:
        raise ValueError(f"not editable here: {', '.join(sorted(unknown))}")
    current = {name: _column_value(ticket, name) for name in changes}
    different = {name: value for name, value in changes.items() if current[name] != value}
    if not different:
        return False
    for name, value in different.items():
        setattr(ticket, name, value)
    ticket.updated = now()
    ticket.save(only=[*(getattr(Ticket, n) for n in different), Ticket.updated])
    return True


def _column_value(ticket: Ticket, name: str):
    if name == "assignee":
        return ticket.assignee_id
    return getattr(ticket, name)


def last_message_id(ticket: Ticket) -> str:
    """The Message-ID of the newest message in the thread that has one, or ''."""
    row = (
        Entry.select(Entry.message_id)
        .where((Entry.ticket == ticket.id) & (Entry.message_id != "") & (Entry.kind == "message"))
        .order_by(Entry.id.desc())
        .first()
    )
    return row.message_id if row else ""


def is_participant(ticket: Ticket, email: str) -> bool:
    email = email.lower()
    if ticket.requester.email == email:
        return True
    return (
        Collaborator.select(Collaborator.id)
        .join(User)
        .where((Collaborator.ticket == ticket) & (User.email == email))
        .exists()
    )


def add_collaborator(ticket: Ticket, user: User) -> None:
    if user.id != ticket.requester_id:
        Collaborator.insert(ticket=ticket, user=user).on_conflict_ignore().execute()


def remove_collaborator(ticket: Ticket, email: str) -> bool:
    """Stop copying `email` on the ticket; whether it was a collaborator."""
    user = User.get_or_none(User.email == email.lower())
    if user is None:
        return False
    removed = (
        Collaborator.delete()
        .where((Collaborator.ticket == ticket.id) & (Collaborator.user == user.id))
        .execute()
    )
    return bool(removed)


def participants(ticket: Ticket) -> list[User]:
    """The requester first, then collaborators in the order they joined."""
    others = (
        User.select()
        .join(Collaborator)
        .where(Collaborator.ticket == ticket)
        .order_by(Collaborator.id)
    )
    return [ticket.requester, *others]


def add_entry(ticket: Ticket, *, kind: str, text: str, **fields) -> Entry:
    values = {"ticket": ticket.id, "kind": kind, "text": text, **fields}
    return Entry(id=sql.insert(Entry, values), **values)


def add_event(ticket: Ticket, text: str) -> None:
    """Record what happened to `ticket` in its thread (routing, assignment, SLA, …)."""
    sql.insert_later(Entry, {"ticket": ticket.id, "kind": "event", "text": text})


def add_attachment(
    entry: Entry, *, name: str, content_type: str, payload: bytes, content_id: str, inline: bool
) -> Attachment:
    digest = hashlib.sha256(payload).hexdigest()
    if not sql.exists(Blob, "SELECT 1 FROM blobs WHERE sha256 = ?", [digest]):
        sql.insert(Blob, {"sha256": digest, "size": len(payload), "data": payload},
                   ignore_conflict=True)  # fmt: skip
    values = {
        "entry": entry.id,
        "name": name[:255],
        "content_type": content_type[:255],
        "size": len(payload),
        "blob": digest,
        "content_id": content_id[:255],
        "inline": inline,
    }
    return Attachment(id=sql.insert(Attachment, values), **values)


def add_message_ref(message_id: str, *, direction: str, ticket: Ticket | None, entry=None) -> None:
    values = {
        "message_id": message_id[:998],
        "direction": direction,
        "ticket": ticket.id if ticket else None,
        "entry": entry.id if entry else None,
    }
    sql.insert_later(MessageRef, values, ignore_conflict=True)


def message_ref_exists(message_id: str) -> bool:
    return sql.exists(
        MessageRef, "SELECT 1 FROM message_refs WHERE message_id = ?", [message_id[:998]]
    )


def find_message_ref(message_ids: Iterable[str]) -> MessageRef | None:
    """The first of `message_ids` (in the order given) that we know and tied to a ticket."""
    ids = [m[:998] for m in message_ids if m]
    if not ids:
        return None
    refs = {
        r.message_id: r
        for r in MessageRef.select().where(
            MessageRef.message_id.in_(ids) & MessageRef.ticket.is_null(False)
        )
    }
    return next((refs[m] for m in ids if m in refs), None)


def list_tickets(*, status: str | None = None, limit: int = 50) -> list[Ticket]:
    query = (
        Ticket.select(Ticket, User).join(User, JOIN.INNER).order_by(Ticket.id.desc()).limit(limit)
    )
    if status:
        query = query.where(Ticket.status == status)
    return list(query)


def thread(ticket: Ticket) -> list[Entry]:
    return list(Entry.select().where(Entry.ticket == ticket).order_by(Entry.id))


def attachments_of(entry: Entry) -> list[Attachment]:
    return list(Attachment.select().where(Attachment.entry == entry).order_by(Attachment.id))

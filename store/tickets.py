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
    "list_tickets",
    "message_ref_exists",
    "number_taken",
    "participants",
    "set_due",
    "status_history",
    "thread",
    "ticket_by_number",
    "touch",
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


def set_due(ticket: Ticket, *, due: datetime | None, first_response_due: datetime | None) -> None:
    """New due times start new breaches: the sweep may announce them again."""
    ticket.due, ticket.first_response_due = due, first_response_due
    ticket.overdue = ticket.first_response_breached = ticket.warned = False
    ticket.save(
        only=[
            Ticket.due,
            Ticket.first_response_due,
            Ticket.overdue,
            Ticket.first_response_breached,
            Ticket.warned,
        ]
    )


def ticket_by_number(number: str) -> Ticket | None:
    return Ticket.get_or_none(Ticket.number == number)


def touch(ticket: Ticket, *, status: str | None = None) -> bool:
    """Mark the ticket updated, entering `status` if given; whether the status changed."""
    ticket.updated = now()
    fields = [Ticket.updated]
    changed = status is not None and status != ticket.status
    if changed:
        ticket.status = status
        ticket.closed = None if status == "open" else ticket.closed
        fields += [Ticket.status, Ticket.closed]
        sql.insert(StatusChange, {"ticket": ticket.id, "status": status, "at": ticket.updated})
    ticket.save(only=fields)
    return changed


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

"""Queries on tickets, their participants, thread entries and attachments."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from peewee import JOIN

from store.clock import now
from store.models import Attachment, Blob, Collaborator, Entry, MessageRef, Ticket, User

__all__ = [
    "add_attachment",
    "add_collaborator",
    "add_entry",
    "add_message_ref",
    "attachments_of",
    "create_ticket",
    "find_message_ref",
    "is_participant",
    "list_tickets",
    "message_ref_exists",
    "number_taken",
    "participants",
    "thread",
    "ticket_by_number",
    "touch",
    "user_for",
]


def user_for(email: str, name: str = "") -> User:
    """The user with this address, created on first sight; a better name replaces none."""
    email = email.lower()
    user = User.get_or_none(User.email == email)
    if user is None:
        return User.create(email=email, name=name[:200])
    if name and not user.name:
        user.name = name[:200]
        user.save(only=[User.name])
    return user


def number_taken(number: str) -> bool:
    return Ticket.select(Ticket.id).where(Ticket.number == number).exists()


def create_ticket(
    *, number: str, subject: str, requester: User, source: str, status: str = "open"
) -> Ticket:
    return Ticket.create(
        number=number, subject=subject[:998], requester=requester, source=source, status=status
    )


def ticket_by_number(number: str) -> Ticket | None:
    return Ticket.get_or_none(Ticket.number == number)


def touch(ticket: Ticket, *, status: str | None = None) -> None:
    ticket.updated = now()
    fields = [Ticket.updated]
    if status is not None and status != ticket.status:
        ticket.status = status
        ticket.closed = None if status == "open" else ticket.closed
        fields += [Ticket.status, Ticket.closed]
    ticket.save(only=fields)


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
    return Entry.create(ticket=ticket, kind=kind, text=text, **fields)


def add_attachment(
    entry: Entry, *, name: str, content_type: str, payload: bytes, content_id: str, inline: bool
) -> Attachment:
    digest = hashlib.sha256(payload).hexdigest()
    Blob.insert(sha256=digest, size=len(payload), data=payload).on_conflict_ignore().execute()
    return Attachment.create(
        entry=entry,
        name=name[:255],
        content_type=content_type[:255],
        size=len(payload),
        blob=digest,
        content_id=content_id[:255],
        inline=inline,
    )


def add_message_ref(message_id: str, *, direction: str, ticket: Ticket | None, entry=None) -> None:
    MessageRef.insert(
        message_id=message_id[:998], direction=direction, ticket=ticket, entry=entry
    ).on_conflict_ignore().execute()


def message_ref_exists(message_id: str) -> bool:
    return (
        MessageRef.select(MessageRef.message_id).where(MessageRef.message_id == message_id).exists()
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

"""Queries on customers (users): adding one by hand, their organisation, their tickets, and
merging two into one.

Most users are created from mail by `store.tickets.user_for`; `better_name` is the rule it
and `merge_users` share for when a display name replaces the one we have. Refusals raise
`store.organisations.DirectoryError`, naming the address at fault.
"""

from __future__ import annotations

from dataclasses import dataclass

from peewee import JOIN, IntegrityError

from store.db import transaction
from store.models import Collaborator, Entry, Organisation, Ticket, User
from store.organisations import DirectoryError, organisation_id_for_address

__all__ = [
    "Merged",
    "add_user",
    "better_name",
    "is_placeholder_name",
    "list_users",
    "merge_users",
    "requested_tickets",
    "set_organisation",
    "user_by_email",
]


@dataclass(frozen=True)
class Merged:
    """What `merge_users` moved, and the collaborations it dropped as duplicates."""

    tickets: int
    collaborations: int
    duplicates: int
    entries: int


def is_placeholder_name(name: str, email: str) -> bool:
    """True for no name, or one that only repeats the address or its local part."""
    bare = name.strip().strip("\"'<>").strip().lower()
    email = email.lower()
    return bare in ("", email, email.rpartition("@")[0])


def better_name(offered: str, known: str, email: str) -> bool:
    """Whether `offered` should replace `known`: a real name over a placeholder, never a
    real name over another."""
    return is_placeholder_name(known, email) and not is_placeholder_name(offered, email)


def add_user(email: str, *, name: str = "", organisation: Organisation | None = None) -> User:
    """A new user; without `organisation`, they join the one owning their domain, if any."""
    email = _address(email)
    organisation_id = organisation.id if organisation else organisation_id_for_address(email)
    try:
        with transaction():
            if user_by_email(email) is not None:
                raise DirectoryError(f"{email} is already a user")
            return User.create(email=email, name=name.strip()[:200], organisation=organisation_id)
    except IntegrityError:
        raise DirectoryError(f"{email} is already a user") from None


def user_by_email(email: str) -> User | None:
    return User.get_or_none(User.email == email.strip().lower())


def list_users(organisation: Organisation | None = None) -> list[User]:
    """Every user (or every member of `organisation`) by address, with their organisation."""
    query = User.select(User, Organisation).join(Organisation, JOIN.LEFT_OUTER).order_by(User.email)
    if organisation is not None:
        query = query.where(User.organisation == organisation.id)
    return list(query)


def set_organisation(
    user: User, organisation: Organisation | None, *, primary: bool = False
) -> None:
    """Put `user` in `organisation` (None: in none), as a primary contact or not."""
    if organisation is None and primary:
        raise DirectoryError("only a member of an organisation can be its primary contact")
    organisation_id = organisation.id if organisation else None
    User.update(organisation=organisation_id, primary_contact=primary).where(
        User.id == user.id
    ).execute()
    user.organisation, user.primary_contact = organisation, primary


def requested_tickets(user: User, *, newest: int = 5) -> tuple[int, list[str]]:
    """How many tickets `user` requested, and the numbers of the newest few."""
    query = Ticket.select(Ticket.number).where(Ticket.requester == user.id)
    numbers = [row.number for row in query.order_by(Ticket.id.desc()).limit(newest)]
    return query.count(), numbers


def merge_users(source: User, target: User) -> Merged:
    """Move everything of `source` to `target` and delete `source`, in one transaction.

    Tickets `source` requested, their collaborations (one the target already has, or on a
    ticket the target now requests, is dropped) and the thread entries they wrote. The
    target keeps their name unless `better_name` prefers the source's, and their
    organisation unless they have none.
    """
    if source.id == target.id:
        raise DirectoryError(f"cannot merge {source.email} into itself")
    with transaction():
        tickets = Ticket.update(requester=target.id).where(Ticket.requester == source.id).execute()
        duplicates = _drop_duplicate_collaborations(source, target)
        collaborations = (
            Collaborator.update(user=target.id).where(Collaborator.user == source.id).execute()
        )
        entries = Entry.update(author=target.id).where(Entry.author == source.id).execute()
        _inherit(source, target)
        User.delete().where(User.id == source.id).execute()
    return Merged(tickets, collaborations, duplicates, entries)


def _address(email: str) -> str:
    email = email.strip().lower()
    local, _, domain = email.rpartition("@")
    if not local or not domain or any(c.isspace() for c in email) or len(email) > 320:
        raise DirectoryError(f"{email!r} is not an email address")
    return email


def _drop_duplicate_collaborations(source: User, target: User) -> int:
    """Collaborations that would repeat a participant once the tickets have moved."""
    theirs = Collaborator.alias("theirs")
    target_collaborates = theirs.select(theirs.ticket).where(theirs.user == target.id)
    target_requests = Ticket.select(Ticket.id).where(Ticket.requester == target.id)
    dropped = (
        Collaborator.delete()
        .where(
            (Collaborator.user == source.id)
            & (
                Collaborator.ticket.in_(target_collaborates)
                | Collaborator.ticket.in_(target_requests)
            )
        )
        .execute()
    )
    # The target may have been copied on a ticket the source requested: now it is theirs.
    dropped += (
        Collaborator.delete()
        .where((Collaborator.user == target.id) & Collaborator.ticket.in_(target_requests))
        .execute()
    )
    return dropped


def _inherit(source: User, target: User) -> None:
    changes: dict = {}
    own = not is_placeholder_name(source.name, source.email)
    if own and better_name(source.name, target.name, target.email):
        changes["name"] = source.name
    if target.organisation_id is None and source.organisation_id is not None:
        changes["organisation"] = source.organisation_id
        changes["primary_contact"] = source.primary_contact
    if changes:
        User.update(**changes).where(User.id == target.id).execute()
        for key, value in changes.items():
            setattr(target, key, value)

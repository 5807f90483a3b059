"""Queries on customer organisations: their mail domains, members and ticket sharing.

A user created from mail joins the organisation that owns the domain of their address, or
of a parent domain (`a.b.example.com` matches `example.com`; the longest match wins):
`organisation_id_for_address` is the one indexed lookup `store.tickets.user_for` makes
when it creates a user. Existing users never move on their own; an admin moves them.

`tickets_visible_to_user` is the one definition of which tickets a customer may see, for
the portal: their own (as requester or collaborator), plus every ticket requested by a
member of their organisation when its sharing is "all", or when it is "primary" and they
are one of its primary contacts. It is read from the database when the query runs, so a
changed sharing setting or primary flag counts at once.

Errors, all `ValueError`s, their messages naming the address, organisation or domain:

    DirectoryError         a change to users or organisations was refused
    ├── NameTaken          another organisation has that name
    └── DomainTaken        the domain already belongs to an organisation
"""

from __future__ import annotations

from collections.abc import Iterable

from peewee import IntegrityError, ModelSelect

from store import sql
from store.db import transaction
from store.models import Collaborator, Organisation, OrganisationDomain, Ticket, User

__all__ = [
    "SHARING",
    "DirectoryError",
    "DomainTaken",
    "NameTaken",
    "add_organisation",
    "domain_candidates",
    "edit_organisation",
    "list_organisations",
    "member_count",
    "normalise_domain",
    "organisation_by_name",
    "organisation_domains",
    "organisation_id_for_address",
    "organisation_members",
    "tickets_visible_to_user",
]

SHARING = ("off", "primary", "all")
"""off: members see only their own tickets; primary: primary contacts see the
organisation's tickets; all: every member sees them."""


class DirectoryError(ValueError):
    """The change was refused; the message says why, naming what was wrong."""


class NameTaken(DirectoryError):
    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"an organisation named {name!r} already exists")


class DomainTaken(DirectoryError):
    def __init__(self, domain: str, owner: str) -> None:
        self.domain, self.owner = domain, owner
        super().__init__(f"domain {domain} already belongs to organisation {owner!r}")


def normalise_domain(domain: str) -> str:
    """`domain` lower-cased, without a leading `@` or a trailing dot; refused unless it
    looks like a mail domain with at least two labels."""
    cleaned = domain.strip().lower().removeprefix("@").removesuffix(".")
    labels = cleaned.split(".")
    if len(labels) < 2 or len(cleaned) > 253 or not all(map(_is_label, labels)):
        raise DirectoryError(f"{domain!r} is not a mail domain")
    return cleaned


def domain_candidates(email: str) -> list[str]:
    """The domain of `email` and each parent domain of two labels or more, longest first."""
    labels = email.rpartition("@")[2].strip().lower().removesuffix(".").split(".")
    return [".".join(labels[i:]) for i in range(len(labels) - 1)]


def organisation_id_for_address(email: str) -> int | None:
    """The organisation owning the domain of `email` (or the closest parent), if any."""
    candidates = domain_candidates(email)
    if not candidates:
        return None
    marks = ", ".join("?" for _ in candidates)
    return sql.scalar(
        OrganisationDomain,
        f"SELECT organisation_id FROM organisation_domains WHERE domain IN ({marks}) "
        "ORDER BY LENGTH(domain) DESC LIMIT 1",
        candidates,
    )


def add_organisation(
    name: str, *, domains: Iterable[str] = (), sharing: str = "off"
) -> Organisation:
    """A new organisation owning `domains`; all or nothing."""
    name, wanted = _name(name), _domains(domains)
    _check_sharing(sharing)
    try:
        with transaction():
            if organisation_by_name(name) is not None:
                raise NameTaken(name)
            _check_free(wanted)
            organisation = Organisation.create(name=name, sharing=sharing)
            _insert_domains(organisation, wanted)
    except IntegrityError:
        _raise_taken(name, wanted, organisation=None)
        raise
    return organisation


def organisation_by_name(name: str) -> Organisation | None:
    return Organisation.get_or_none(Organisation.name == name.strip())


def list_organisations() -> list[Organisation]:
    return list(Organisation.select().order_by(Organisation.name))


def organisation_domains(organisation: Organisation) -> list[str]:
    rows = OrganisationDomain.select(OrganisationDomain.domain).where(
        OrganisationDomain.organisation == organisation.id
    )
    return [row.domain for row in rows.order_by(OrganisationDomain.domain)]


def organisation_members(organisation: Organisation) -> list[User]:
    """Members, primary contacts first, then by address."""
    query = User.select().where(User.organisation == organisation.id)
    return list(query.order_by(User.primary_contact.desc(), User.email))


def member_count(organisation: Organisation) -> int:
    return User.select().where(User.organisation == organisation.id).count()


def edit_organisation(
    organisation: Organisation,
    *,
    add_domains: Iterable[str] = (),
    remove_domains: Iterable[str] = (),
    sharing: str | None = None,
    rename: str | None = None,
) -> None:
    """Change what is given, all or nothing. Members stay where they are."""
    add, remove = _domains(add_domains), _domains(remove_domains)
    name = _name(rename) if rename is not None else None
    if sharing is not None:
        _check_sharing(sharing)
    changes = {"name": name, "sharing": sharing}
    changes = {key: value for key, value in changes.items() if value is not None}
    try:
        with transaction():
            other = organisation_by_name(name) if name is not None else None
            if other is not None and other.id != organisation.id:
                raise NameTaken(name)
            if changes:
                Organisation.update(**changes).where(Organisation.id == organisation.id).execute()
            _change_domains(organisation, add, remove)
    except IntegrityError:
        _raise_taken(name, add, organisation=organisation)
        raise
    for key, value in changes.items():
        setattr(organisation, key, value)


def tickets_visible_to_user(user: User) -> ModelSelect:
    """Every ticket `user` may see (see the module docstring); refine it as any query."""
    me = User.alias("viewer")
    shared = (
        Organisation.select(Organisation.id)
        .join(me, on=me.organisation == Organisation.id)
        .where(
            (me.id == user.id)
            & (
                (Organisation.sharing == "all")
                | ((Organisation.sharing == "primary") & (me.primary_contact == True))  # noqa: E712
            )
        )
    )
    colleagues = User.select(User.id).where(User.organisation.in_(shared))
    collaborating = Collaborator.select(Collaborator.ticket).where(Collaborator.user == user.id)
    return Ticket.select().where(
        (Ticket.requester == user.id)
        | Ticket.id.in_(collaborating)
        | Ticket.requester.in_(colleagues)
    )


def _is_label(label: str) -> bool:
    return (
        0 < len(label) <= 63
        and not label.startswith("-")
        and not label.endswith("-")
        and all(c.isalnum() or c == "-" for c in label)
    )


def _name(name: str) -> str:
    name = name.strip()
    if not name:
        raise DirectoryError("an organisation needs a name")
    if len(name) > 200:
        raise DirectoryError("an organisation's name is at most 200 characters")
    return name


def _domains(domains: Iterable[str]) -> list[str]:
    """Normalised, without repeats, in the order given."""
    return list(dict.fromkeys(normalise_domain(d) for d in domains))


def _check_sharing(sharing: str) -> None:
    if sharing not in SHARING:
        raise DirectoryError(f"sharing is one of {', '.join(SHARING)}, not {sharing!r}")


def _check_free(domains: list[str], *, organisation: Organisation | None = None) -> None:
    taken = (
        OrganisationDomain.select(OrganisationDomain.domain, Organisation.id, Organisation.name)
        .join(Organisation)
        .where(OrganisationDomain.domain.in_(domains))
    )
    for row in taken:
        owner = row.organisation
        if organisation is None or owner.id != organisation.id:
            raise DomainTaken(row.domain, owner.name)


def _raise_taken(name: str | None, domains: list[str], *, organisation) -> None:
    """After a unique-key failure: another process took the name or a domain meanwhile."""
    other = organisation_by_name(name) if name else None
    if other is not None and (organisation is None or other.id != organisation.id):
        raise NameTaken(name) from None
    try:
        _check_free(domains, organisation=organisation)
    except DomainTaken as exc:
        raise exc from None


def _insert_domains(organisation: Organisation, domains: list[str]) -> None:
    if domains:
        rows = [{"organisation": organisation.id, "domain": d} for d in domains]
        OrganisationDomain.insert_many(rows).execute()


def _change_domains(organisation: Organisation, add: list[str], remove: list[str]) -> None:
    current = organisation_domains(organisation)
    for domain in remove:
        if domain not in current:
            raise DirectoryError(f"{domain} is not a domain of organisation {organisation.name!r}")
    _check_free(add, organisation=organisation)
    if remove:
        OrganisationDomain.delete().where(
            (OrganisationDomain.organisation == organisation.id)
            & OrganisationDomain.domain.in_(remove)
        ).execute()
    _insert_domains(organisation, [d for d in add if d not in current or d in remove])

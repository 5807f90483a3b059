"""`maild user …` and `maild org …`: customers and the organisations they belong to.

Users are mostly created from mail; here an admin adds them by hand, moves them between
organisations, marks primary contacts and merges two addresses of one person. Organisations
own mail domains (a new sender from one of them, or a subdomain, joins automatically) and
say how their members share tickets (`off`, `primary`, `all`). Each command prints one
line on success (`show` and `list` print a few), or one line on standard error and exits 1.
"""

from __future__ import annotations

from argparse import Namespace

from maild.config import Config
from maild.refusals import Command, Refused, refusing

__all__ = [
    "org_add",
    "org_edit",
    "org_list",
    "org_show",
    "user_add",
    "user_list",
    "user_merge",
    "user_set_org",
    "user_show",
]


SHARING_MEANS = {
    "off": "members see only their own tickets",
    "primary": "primary contacts see every member's tickets",
    "all": "every member sees every member's tickets",
}


def _command(handler: Command) -> Command:
    from store.organisations import DirectoryError

    return refusing(DirectoryError)(handler)


# -- users -------------------------------------------------------------------------------


@_command
def user_add(config: Config, args: Namespace) -> int:
    from store.users import add_user

    organisation = _organisation(args.org) if args.org else None
    user = add_user(args.email, name=args.name or "", organisation=organisation)
    joined = f", organisation {user.organisation.name}" if user.organisation_id else ""
    print(f"user {user.id} added: {user.email} ({user.name or 'no name'}){joined}")
    return 0


@_command
def user_list(config: Config, args: Namespace) -> int:
    from store.users import list_users

    users = list_users(_organisation(args.org) if args.org else None)
    for user in users:
        organisation = user.organisation.name if user.organisation_id else "-"
        primary = "primary" if user.primary_contact else "-"
        print(f"{user.id}\t{user.email}\t{user.name or '-'}\t{organisation}\t{primary}")
    if not users:
        print("no users")
    return 0


@_command
def user_show(config: Config, args: Namespace) -> int:
    from store.users import requested_tickets

    user = _user(args.email)
    count, newest = requested_tickets(user)
    tickets = f"{count} (newest: {', '.join(newest)})" if count else "0"
    print(f"user:            {user.id}")
    print(f"email:           {user.email}")
    print(f"name:            {user.name or '-'}")
    print(f"organisation:    {user.organisation.name if user.organisation_id else '-'}")
    print(f"primary contact: {'yes' if user.primary_contact else 'no'}")
    print(f"created:         {user.created:%Y-%m-%d %H:%M:%S} UTC")
    print(f"tickets:         {tickets}")
    return 0


@_command
def user_merge(config: Config, args: Namespace) -> int:
    from store.users import merge_users

    source, target = _user(args.from_email), _user(args.into_email)
    moved = merge_users(source, target)
    print(
        f"merged {source.email} into {target.email}: {_n(moved.tickets, 'ticket')}, "
        f"{_n(moved.collaborations, 'collaboration')} and {_n(moved.entries, 'entry', 'entries')} "
        f"moved, {_n(moved.duplicates, 'duplicate collaboration')} dropped"
    )
    return 0


@_command
def user_set_org(config: Config, args: Namespace) -> int:
    from store.users import set_organisation

    if (args.org is None) == (not args.none):
        raise Refused("give an organisation or --none")
    if args.none and args.primary:
        raise Refused("--primary needs an organisation")
    user = _user(args.email)
    organisation = None if args.none else _organisation(args.org)
    set_organisation(user, organisation, primary=args.primary)
    if organisation is None:
        print(f"{user.email} is in no organisation now")
    else:
        role = "primary contact" if args.primary else "member"
        print(f"{user.email} is a {role} of {organisation.name} now")
    return 0


# -- organisations -----------------------------------------------------------------------


@_command
def org_add(config: Config, args: Namespace) -> int:
    from store.organisations import add_organisation, organisation_domains

    organisation = add_organisation(args.name, domains=args.domain, sharing=args.sharing)
    domains = ", ".join(organisation_domains(organisation)) or "none"
    print(f"organisation {organisation.id} added: {organisation.name} "
          f"(sharing {organisation.sharing}; domains {domains})")  # fmt: skip
    return 0


@_command
def org_list(config: Config, args: Namespace) -> int:
    from store.organisations import list_organisations, member_count, organisation_domains

    organisations = list_organisations()
    for organisation in organisations:
        domains = ", ".join(organisation_domains(organisation)) or "-"
        members = member_count(organisation)
        print(f"{organisation.name}\t{organisation.sharing}\t{_n(members, 'member')}\t{domains}")
    if not organisations:
        print("no organisations")
    return 0


@_command
def org_show(config: Config, args: Namespace) -> int:
    from store.organisations import organisation_domains, organisation_members

    organisation = _organisation(args.name)
    members = organisation_members(organisation)
    print(f"organisation: {organisation.name}")
    print(f"sharing:      {organisation.sharing} ({SHARING_MEANS[organisation.sharing]})")
    print(f"domains:      {', '.join(organisation_domains(organisation)) or '-'}")
    print(f"members:      {len(members)}")
    for user in members:
        primary = "primary contact" if user.primary_contact else "member"
        print(f"  {user.email}\t{user.name or '-'}\t{primary}")
    return 0


@_command
def org_edit(config: Config, args: Namespace) -> int:
    from store.organisations import edit_organisation

    organisation = _organisation(args.name)
    if not (args.add_domain or args.remove_domain or args.sharing or args.rename):
        raise Refused("nothing to change: give --add-domain, --remove-domain, --sharing "
                       "or --rename")  # fmt: skip
    old_name = organisation.name
    edit_organisation(
        organisation,
        add_domains=args.add_domain,
        remove_domains=args.remove_domain,
        sharing=args.sharing,
        rename=args.rename,
    )
    renamed = f" (now {organisation.name})" if organisation.name != old_name else ""
    print(f"organisation {old_name} updated{renamed}")
    return 0


# -- helpers -----------------------------------------------------------------------------


def _user(email: str):
    from store.users import user_by_email

    user = user_by_email(email)
    if user is None:
        raise Refused(f"no user has the address {email.strip().lower()}")
    return user


def _organisation(name: str):
    from store.organisations import organisation_by_name

    organisation = organisation_by_name(name)
    if organisation is None:
        raise Refused(f"no organisation is named {name!r}")
    return organisation


def _n(count: int, singular: str, plural: str = "") -> str:
    return f"{count} {singular if count == 1 else plural or singular + 's'}"

"""`maild agent …`: add, list, show, edit, disable and enable agents, set their passwords
and reset their two-factor authentication.

Departments and roles must be declared in config.toml (`[[department]]`, `[[role]]`);
teams are read from `[[team]]` by address. Each command prints one line on success (`show`
and `list` print a few), or one line on standard error and exits 1.

`set-password` reads the password from the terminal without echo, or the first line of
standard input from a pipe, and hashes it with Argon2 (argon2-cffi's defaults). The
environment variable MAILD_ARGON2_FAST=1 swaps in cheap Argon2 parameters: it is for the
test suite only — never set it on a real deployment. The password is never printed or
logged.
"""

from __future__ import annotations

import os
import sys
from argparse import Namespace
from collections.abc import Mapping

from maild.config import Config
from maild.refusals import Command, Refused, refusing

__all__ = [
    "MIN_PASSWORD_LENGTH",
    "agent_add",
    "agent_disable",
    "agent_edit",
    "agent_enable",
    "agent_list",
    "agent_reset_mfa",
    "agent_set_password",
    "agent_show",
    "password_hasher",
    "role_permissions",
    "teams_for",
]

MIN_PASSWORD_LENGTH = 10


def _command(handler: Command) -> Command:
    from store.agents import AgentError

    return refusing(AgentError)(handler)


def password_hasher():
    """The Argon2 hasher for agents' passwords (cheap only under MAILD_ARGON2_FAST=1)."""
    from argon2 import PasswordHasher

    if os.environ.get("MAILD_ARGON2_FAST") == "1":  # tests only: see the module docstring
        return PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    return PasswordHasher()


def teams_for(config: Config, addresses: list[str]) -> list[str]:
    """The names of the declared teams that list any of `addresses` as lead or member."""
    mine = {a.lower() for a in addresses}
    return [
        team.name
        for team in config.teams
        if mine & {m.lower() for m in (team.lead, *team.members) if m}
    ]


def role_permissions(config: Config) -> dict[str, frozenset[str]]:
    """Each declared role's permissions, as `store.agents.permissions_for` takes them."""
    return {role.name: frozenset(role.permissions) for role in config.roles}


@_command
def agent_add(config: Config, args: Namespace) -> int:
    from store.agents import add_agent

    extra = _pairs(args.also, "--also")
    _check_declared(config, {args.department: args.role, **extra})
    agent = add_agent(args.name, args.emails, args.department, args.role, extra)
    print(f"agent {agent.id} added: {args.emails[0].lower()} ({agent.name})")
    return 0


@_command
def agent_list(config: Config, args: Namespace) -> int:
    from store.agents import agent_detail, list_agents

    agents = list_agents(include_inactive=True)
    for agent in agents:
        addresses, departments = agent_detail(agent)
        primary = next((d for d, _, is_primary in departments if is_primary), "-")
        state = "active" if agent.active else "disabled"
        print(f"{agent.id}\t{addresses[0] if addresses else '-'}\t{agent.name}\t{primary}\t{state}")
    if not agents:
        print("no agents")
    return 0


@_command
def agent_show(config: Config, args: Namespace) -> int:
    from store.agents import agent_detail

    agent = _find(args.email)
    addresses, departments = agent_detail(agent)
    places = [
        f"{d} ({r}, primary)" if is_primary else f"{d} ({r})" for d, r, is_primary in departments
    ]
    leads = {t.name for t in config.teams if t.lead.lower() in addresses}
    teams = [f"{t} (lead)" if t in leads else t for t in teams_for(config, addresses)]
    print(f"agent:       {agent.id}")
    print(f"name:        {agent.name}")
    print(f"addresses:   {', '.join(addresses)}")
    print(f"departments: {', '.join(places) or '-'}")
    print(f"teams:       {', '.join(teams) or '-'}")
    print(f"active:      {'yes' if agent.active else 'no'}")
    print(f"password:    {'set' if agent.password_hash else 'not set'}")
    print(f"totp:        {'set' if agent.totp_secret else 'not set'}")
    return 0


@_command
def agent_edit(config: Config, args: Namespace) -> int:
    from store.agents import edit_agent

    agent = _find(args.email)
    departments = _pairs(args.department, "--department") if args.department else None
    if departments is not None:
        _check_declared(config, departments)
    changes = (args.name, args.add_email, args.remove_email, departments, args.primary)
    if all(c is None or c == [] for c in changes):
        raise Refused("nothing to change: give --name, --add-email, --remove-email, "
                       "--department or --primary")  # fmt: skip
    edit_agent(
        agent,
        name=args.name,
        add_emails=args.add_email,
        remove_emails=args.remove_email,
        set_departments=departments,
        primary=args.primary,
    )
    print(f"agent {agent.id} updated")
    return 0


@_command
def agent_disable(config: Config, args: Namespace) -> int:
    return _set_active(args.email, False)


@_command
def agent_enable(config: Config, args: Namespace) -> int:
    return _set_active(args.email, True)


@_command
def agent_set_password(config: Config, args: Namespace) -> int:
    from store.agents import set_password_hash

    agent = _find(args.email)
    password = _read_password()
    if len(password) < MIN_PASSWORD_LENGTH:
        raise Refused(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    set_password_hash(agent, password_hasher().hash(password))
    print(f"password set for agent {agent.id} ({args.email.lower()})")
    return 0


@_command
def agent_reset_mfa(config: Config, args: Namespace) -> int:
    from store.agents import reset_mfa

    agent = _find(args.email)
    reset_mfa(agent)
    print(f"two-factor authentication reset for agent {agent.id} ({args.email.lower()})")
    return 0


def _find(email: str):
    from store.agents import agent_by_email

    agent = agent_by_email(email)
    if agent is None:
        raise Refused(f"no agent has the address {email}")
    return agent


def _set_active(email: str, active: bool) -> int:
    from store.agents import set_active

    agent = _find(email)
    set_active(agent, active)
    print(f"agent {agent.id} ({email.lower()}) {'enabled' if active else 'disabled'}")
    return 0


def _pairs(values: list[str], option: str) -> dict[str, str]:
    """`DEPT=ROLE` arguments as {department: role}."""
    pairs: dict[str, str] = {}
    for value in values:
        department, sep, role = (part.strip() for part in value.partition("="))
        if not sep or not department or not role:
            raise Refused(f"{option} takes DEPT=ROLE, got {value!r}")
        if department in pairs:
            raise Refused(f"department {department!r} is given twice")
        pairs[department] = role
    return pairs


def _check_declared(config: Config, departments: Mapping[str, str]) -> None:
    known_departments = {d.name for d in config.departments}
    known_roles = {r.name for r in config.roles}
    for department, role in departments.items():
        if department not in known_departments:
            raise Refused(f"department {department!r} is not declared in {config.path} "
                           "(add a [[department]])")  # fmt: skip
        if role not in known_roles:
            raise Refused(f"role {role!r} is not declared in {config.path} (add a [[role]])")


def _read_password() -> str:
    """From a terminal: asked twice, without echo. From a pipe: the first line."""
    import getpass

    if sys.stdin is None:
        raise Refused("no password: standard input is closed")
    if sys.stdin.isatty():
        password = getpass.getpass("New password: ")
        if getpass.getpass("Repeat it: ") != password:
            raise Refused("the two passwords differ")
        return password
    # Bytes, decoded strictly: the text layer may smuggle undecodable bytes through.
    line = sys.stdin.buffer.readline().removesuffix(b"\n").removesuffix(b"\r")
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        # The exception's text would quote the password's bytes.
        raise Refused("the password on standard input is not valid UTF-8") from None

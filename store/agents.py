"""Queries on agents: their addresses, departments and roles, sign-in secrets, and which
tickets each may see.

`visible_tickets` is the one definition of who sees what, used by the web UI, the API and
the mail commands alike: a ticket is visible to an agent when its department is one of the
agent's departments, when it is assigned to the agent, or when it is assigned to one of the
agent's teams. Teams are declared in config.toml, so the caller passes the names of the
teams the agent belongs to. `can_see` asks the same question of one ticket.

Errors, both `ValueError`s, their messages naming the address or department at fault:

    AgentError             a change that would leave an agent inconsistent
    └── AddressTaken       the address already belongs to another agent
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from peewee import Expression, IntegrityError, ModelSelect

from store.db import transaction
from store.models import Agent, AgentAddress, AgentDepartment, Ticket

__all__ = [
    "AddressTaken",
    "AgentError",
    "add_agent",
    "addresses_of",
    "agent_by_email",
    "agent_departments",
    "agent_detail",
    "agent_ids_by_email",
    "all_addresses",
    "can_see",
    "department_member_emails",
    "edit_agent",
    "list_agents",
    "permissions_for",
    "primary_email",
    "reset_mfa",
    "set_active",
    "set_password_hash",
    "visible_tickets",
]


class AgentError(ValueError):
    """The change was refused; the message says why, naming what was wrong."""


class AddressTaken(AgentError):
    def __init__(self, email: str) -> None:
        self.email = email
        super().__init__(f"{email} already belongs to another agent")


def add_agent(
    name: str,
    emails: Iterable[str],
    primary_department: str,
    role: str,
    extra: Mapping[str, str] | None = None,
) -> Agent:
    """A new, active agent; the first address is the primary one.

    `extra` maps further departments to the agent's role in each.
    """
    name = _name(name)
    addresses = _addresses(emails)
    if not addresses:
        raise AgentError("an agent needs at least one email address")
    departments = {primary_department: role}
    for department, extra_role in (extra or {}).items():
        if department in departments:
            raise AgentError(f"department {department!r} is given twice")
        departments[department] = extra_role
    _check_departments(departments)
    try:
        with transaction():
            _check_free(addresses, agent=None)
            agent = Agent.create(name=name)
            _insert_addresses(agent, addresses)
            _insert_departments(agent, departments, primary_department)
    except IntegrityError:
        _raise_taken(addresses, agent=None)
        raise
    return agent


def agent_by_email(email: str) -> Agent | None:
    """The agent with this address (any of theirs, any case), active or not."""
    return (
        Agent.select().join(AgentAddress).where(AgentAddress.email == email.strip().lower()).first()
    )


def agent_ids_by_email(emails: Iterable[str]) -> dict[str, int]:
    """Address (lower case) -> agent id, for those of `emails` that belong to an agent."""
    wanted = list({e.strip().lower() for e in emails})
    if not wanted:
        return {}
    rows = AgentAddress.select(AgentAddress.email, AgentAddress.agent).where(
        AgentAddress.email.in_(wanted)
    )
    return {row.email: row.agent_id for row in rows}


def list_agents(include_inactive: bool = False) -> list[Agent]:
    query = Agent.select().order_by(Agent.id)
    if not include_inactive:
        query = query.where(Agent.active == True)  # noqa: E712 (a peewee expression)
    return list(query)


def primary_email(agent: Agent) -> str:
    """The agent's primary address: the first one they were given that they still have."""
    row = (
        AgentAddress.select(AgentAddress.email)
        .where(AgentAddress.agent == agent.id)
        .order_by(AgentAddress.id)
        .first()
    )
    return row.email if row else ""


def all_addresses(*, active_only: bool = True) -> list[str]:
    """Every address of every (active) agent."""
    rows = AgentAddress.select(AgentAddress.email).join(Agent)
    if active_only:
        rows = rows.where(Agent.active)
    return [row.email for row in rows]


def addresses_of(agent: Agent) -> list[str]:
    """Every address of the agent, the primary one first."""
    return [
        row.email
        for row in AgentAddress.select(AgentAddress.email)
        .where(AgentAddress.agent == agent.id)
        .order_by(AgentAddress.id)
    ]


def agent_detail(agent: Agent) -> tuple[list[str], list[tuple[str, str, bool]]]:
    """(addresses, primary first; [(department, role, primary)], primary first)."""
    addresses = addresses_of(agent)
    departments = [
        (row.department, row.role, row.primary)
        for row in AgentDepartment.select()
        .where(AgentDepartment.agent == agent.id)
        .order_by(AgentDepartment.primary.desc(), AgentDepartment.department)
    ]
    return addresses, departments


def agent_departments(agent: Agent) -> dict[str, str]:
    """Department → the agent's role there, the primary department first."""
    return {department: role for department, role, _ in agent_detail(agent)[1]}


def permissions_for(
    agent: Agent, department: str, roles: Mapping[str, frozenset[str]]
) -> frozenset[str]:
    """What the agent may do in `department`: their role's permissions there, else none.

    `roles` maps each declared role name to its permissions (from config.toml).
    """
    role = agent_departments(agent).get(department)
    return roles.get(role, frozenset()) if role is not None else frozenset()


def edit_agent(
    agent: Agent,
    *,
    name: str | None = None,
    add_emails: Iterable[str] = (),
    remove_emails: Iterable[str] = (),
    set_departments: Mapping[str, str] | None = None,
    primary: str | None = None,
) -> None:
    """Change what is given, all or nothing.

    `set_departments` replaces the agent's departments (department → role). The primary
    department stays primary while the agent keeps it; otherwise `primary` must name one
    (unless only one is left).
    """
    add, remove = _addresses(add_emails), _addresses(remove_emails)
    if set_departments is not None:
        _check_departments(set_departments)
    try:
        with transaction():
            if name is not None:
                agent.name = _name(name)
                Agent.update(name=agent.name).where(Agent.id == agent.id).execute()
            if add or remove:
                _change_addresses(agent, add, remove)
            if set_departments is not None or primary is not None:
                _change_departments(agent, set_departments, primary)
    except IntegrityError:
        _raise_taken(add, agent=agent)
        raise


def set_active(agent: Agent, active: bool) -> None:
    agent.active = active
    Agent.update(active=active).where(Agent.id == agent.id).execute()


def set_password_hash(agent: Agent, password_hash: str) -> None:
    agent.password_hash = password_hash
    Agent.update(password_hash=password_hash).where(Agent.id == agent.id).execute()


def reset_mfa(agent: Agent) -> None:
    """Forget the agent's TOTP secret: their next sign-in sets up two-factor afresh."""
    agent.totp_secret, agent.totp_last_step = "", 0
    Agent.update(totp_secret="", totp_last_step=0).where(Agent.id == agent.id).execute()


def visible_tickets(agent: Agent, *, teams: Iterable[str]) -> ModelSelect:
    """Every ticket the agent may see (see the module docstring); refine it as any query."""
    return Ticket.select().where(_visible(agent, teams))


def can_see(agent: Agent, ticket: Ticket, *, teams: Iterable[str]) -> bool:
    return visible_tickets(agent, teams=teams).where(Ticket.id == ticket.id).exists()


def _visible(agent: Agent, teams: Iterable[str]) -> Expression:
    departments = AgentDepartment.select(AgentDepartment.department).where(
        AgentDepartment.agent == agent.id
    )
    condition = Ticket.department.in_(departments) | (Ticket.assignee == agent.id)
    teams = list(teams)
    if teams:
        condition |= Ticket.team.in_(teams)
    return condition


def _name(name: str) -> str:
    name = name.strip()
    if not name:
        raise AgentError("an agent needs a name")
    return name[:200]


def _addresses(emails: Iterable[str]) -> list[str]:
    """Lower-cased, checked and without repeats, in the order given."""
    found: list[str] = []
    for email in emails:
        email = email.strip().lower()
        local, _, domain = email.rpartition("@")
        if not local or not domain or any(c.isspace() for c in email) or len(email) > 320:
            raise AgentError(f"{email!r} is not an email address")
        if email not in found:
            found.append(email)
    return found


def _check_departments(departments: Mapping[str, str]) -> None:
    for department, role in departments.items():
        if not department.strip() or not role.strip():
            raise AgentError(f"department {department!r} needs a name and a role")


def _check_free(addresses: list[str], *, agent: Agent | None) -> None:
    taken = AgentAddress.select(AgentAddress.email, AgentAddress.agent).where(
        AgentAddress.email.in_(addresses)
    )
    for row in taken:
        if agent is None or row.agent_id != agent.id:
            raise AddressTaken(row.email)


def _raise_taken(addresses: list[str], *, agent: Agent | None) -> None:
    """After a unique-key failure: another process took one of the addresses meanwhile."""
    for email in addresses:
        owner = agent_by_email(email)
        if owner is not None and (agent is None or owner.id != agent.id):
            raise AddressTaken(email) from None


def _insert_addresses(agent: Agent, addresses: list[str]) -> None:
    # One row at a time, so the ids (and so which address is primary) follow the order given.
    for email in addresses:
        AgentAddress.create(agent=agent.id, email=email)


def _insert_departments(agent: Agent, departments: Mapping[str, str], primary: str) -> None:
    AgentDepartment.insert_many(
        [
            {"agent": agent.id, "department": d, "role": r, "primary": d == primary}
            for d, r in departments.items()
        ]
    ).execute()


def _change_addresses(agent: Agent, add: list[str], remove: list[str]) -> None:
    current = agent_detail(agent)[0]
    for email in remove:
        if email not in current:
            raise AgentError(f"{email} is not an address of this agent")
    new = [e for e in add if e not in current]
    if not set(current) - set(remove) and not new:
        raise AgentError("an agent needs at least one email address")
    _check_free(new, agent=agent)
    if remove:
        AgentAddress.delete().where(
            (AgentAddress.agent == agent.id) & AgentAddress.email.in_(remove)
        ).execute()
    _insert_addresses(agent, new)


def _change_departments(
    agent: Agent, departments: Mapping[str, str] | None, primary: str | None
) -> None:
    rows = agent_detail(agent)[1]
    old_primary = next((d for d, _, is_primary in rows if is_primary), None)
    departments = dict(departments) if departments is not None else {d: r for d, r, _ in rows}
    if not departments:
        raise AgentError("an agent needs at least one department")
    if primary is None:
        if old_primary in departments:
            primary = old_primary
        elif len(departments) == 1:
            primary = next(iter(departments))
        else:
            raise AgentError("the primary department is not among the new ones: name one")
    if primary not in departments:
        raise AgentError(f"{primary!r} is not one of the agent's departments")
    AgentDepartment.delete().where(AgentDepartment.agent == agent.id).execute()
    _insert_departments(agent, departments, primary)


def department_member_emails(department: str) -> list[str]:
    """The primary address of every active agent in `department`, in the order they joined."""
    rows = (
        Agent.select()
        .join(AgentDepartment)
        .where((AgentDepartment.department == department) & Agent.active)
        .order_by(AgentDepartment.id)
    )
    return [email for agent in rows if (email := primary_email(agent))]

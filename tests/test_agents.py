"""Agents: the store's queries on both backends, who sees which ticket, and `maild agent …`
run as an operator runs it."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from store.agents import (
    AddressTaken,
    AgentError,
    add_agent,
    agent_by_email,
    agent_departments,
    agent_detail,
    can_see,
    edit_agent,
    list_agents,
    permissions_for,
    primary_email,
    reset_mfa,
    set_active,
    set_password_hash,
    visible_tickets,
)
from store.db import close_database, open_database
from store.models import Agent, Ticket
from store.tickets import create_ticket, user_for
from tests.helpers import run_maild, write_config

ORG = """
[[department]]
name = "Billing"

[[department]]
name = "Sales"

[[department]]
name = "Support"

[[role]]
name = "agent"
permissions = ["ticket.view", "ticket.reply"]

[[role]]
name = "manager"
permissions = ["ticket.view", "ticket.reply", "ticket.assign", "agent.manage"]

[[team]]
name = "Tier 2"
lead = "ADA@example.test"
members = ["bob@example.test"]

[[team]]
name = "Night shift"
members = ["ada.l@example.test"]
"""

PASSWORD = "correct horse battery staple"


@pytest.fixture
def db(db_url) -> Iterator[str]:
    open_database(db_url)
    yield db_url
    close_database()


def make_ada() -> Agent:
    return add_agent(
        "Ada Lovelace", ["Ada@Example.test", "ada.l@example.test"], "Billing", "agent",
        {"Sales": "manager"},
    )  # fmt: skip


# -- the store ---------------------------------------------------------------------------


def test_add_agent_lower_cases_addresses_and_keeps_the_first_as_primary(db):
    ada = make_ada()

    addresses, departments = agent_detail(ada)
    assert addresses == ["ada@example.test", "ada.l@example.test"]
    assert primary_email(ada) == "ada@example.test"
    assert departments == [("Billing", "agent", True), ("Sales", "manager", False)]
    assert agent_departments(ada) == {"Billing": "agent", "Sales": "manager"}
    assert agent_by_email("ADA.L@example.TEST").id == ada.id
    assert agent_by_email("nobody@example.test") is None


def test_an_address_belongs_to_one_agent_and_a_refused_add_leaves_nothing(db):
    make_ada()

    with pytest.raises(AddressTaken, match=r"ada\.l@example\.test"):
        add_agent("Bob", ["bob@example.test", "ADA.L@example.test"], "Sales", "agent")

    assert agent_by_email("bob@example.test") is None
    assert [a.name for a in list_agents()] == ["Ada Lovelace"]


def test_add_agent_refuses_a_bad_address_a_blank_name_and_a_repeated_department(db):
    with pytest.raises(AgentError, match="not-an-address"):
        add_agent("Bob", ["not-an-address"], "Sales", "agent")
    with pytest.raises(AgentError, match="name"):
        add_agent("  ", ["bob@example.test"], "Sales", "agent")
    with pytest.raises(AgentError, match="Sales"):
        add_agent("Bob", ["bob@example.test"], "Sales", "agent", {"Sales": "manager"})
    assert list_agents(include_inactive=True) == []


def test_list_agents_leaves_out_disabled_ones_unless_asked(db):
    ada = make_ada()
    bob = add_agent("Bob", ["bob@example.test"], "Support", "agent")

    set_active(bob, False)

    assert [a.id for a in list_agents()] == [ada.id]
    assert [a.id for a in list_agents(include_inactive=True)] == [ada.id, bob.id]
    set_active(bob, True)
    assert len(list_agents()) == 2


def test_edit_agent_changes_name_addresses_and_departments(db):
    ada = make_ada()

    edit_agent(
        ada,
        name="Ada King",
        add_emails=["ADA.K@example.test"],
        remove_emails=["ada.l@example.test"],
        set_departments={"Sales": "manager", "Support": "agent"},
        primary="Support",
    )

    fresh = agent_by_email("ada.k@example.test")
    assert fresh.name == "Ada King"
    addresses, departments = agent_detail(fresh)
    assert addresses == ["ada@example.test", "ada.k@example.test"]
    assert departments == [("Support", "agent", True), ("Sales", "manager", False)]
    assert agent_by_email("ada.l@example.test") is None

    edit_agent(fresh, primary="Sales")
    assert agent_detail(fresh)[1][0] == ("Sales", "manager", True)


def test_edit_agent_refuses_inconsistent_changes_and_changes_nothing(db):
    ada = make_ada()
    add_agent("Bob", ["bob@example.test"], "Support", "agent")
    before = agent_detail(ada)

    with pytest.raises(AddressTaken, match=r"bob@example\.test"):
        edit_agent(ada, name="Changed", add_emails=["bob@example.test"])
    with pytest.raises(AgentError, match="at least one email"):
        edit_agent(ada, remove_emails=["ada@example.test", "ada.l@example.test"])
    with pytest.raises(AgentError, match=r"nobody@example\.test"):
        edit_agent(ada, remove_emails=["nobody@example.test"])
    with pytest.raises(AgentError, match="Support"):
        edit_agent(ada, primary="Support")
    with pytest.raises(AgentError, match="primary"):
        edit_agent(ada, set_departments={"Sales": "agent", "Support": "agent"})

    assert agent_detail(ada) == before
    assert agent_by_email("ada@example.test").name == "Ada Lovelace"


def test_password_hash_and_mfa_reset(db):
    ada = make_ada()
    Agent.update(totp_secret="JBSWY3DPEHPK3PXP", totp_last_step=42).execute()

    set_password_hash(ada, "$argon2id$fake")
    reset_mfa(ada)

    fresh = Agent.get_by_id(ada.id)
    assert fresh.password_hash == "$argon2id$fake"
    assert (fresh.totp_secret, fresh.totp_last_step) == ("", 0)


def test_permissions_come_from_the_role_in_that_department(db):
    ada = make_ada()
    roles = {"agent": frozenset({"ticket.view"}), "manager": frozenset({"ticket.assign"})}

    assert permissions_for(ada, "Billing", roles) == {"ticket.view"}
    assert permissions_for(ada, "Sales", roles) == {"ticket.assign"}
    assert permissions_for(ada, "Support", roles) == frozenset()
    assert permissions_for(ada, "Sales", {}) == frozenset()


def _ticket(number: str, **fields) -> Ticket:
    requester = user_for("customer@customer.test")
    ticket = create_ticket(number=number, subject=number, requester=requester, source="email")
    if fields:
        Ticket.update(**fields).where(Ticket.id == ticket.id).execute()
    return Ticket.get_by_id(ticket.id)


def test_an_agent_sees_their_departments_their_tickets_and_their_teams_tickets(db):
    ada = make_ada()  # Billing (primary) and Sales
    bob = add_agent("Bob", ["bob@example.test"], "Support", "agent")
    tickets = {
        "billing": _ticket("100001", department="Billing"),
        "sales": _ticket("100002", department="Sales"),
        "support": _ticket("100003", department="Support"),
        "support-ada": _ticket("100004", department="Support", assignee=ada.id),
        "support-bob": _ticket("100005", department="Support", assignee=bob.id),
        "tier2": _ticket("100006", department="Support", team="Tier 2"),
        "night": _ticket("100007", team="Night shift"),
        "nowhere": _ticket("100008"),
    }

    def seen(agent: Agent, teams: list[str]) -> set[str]:
        numbers = {t.number for t in visible_tickets(agent, teams=teams)}
        by_rule = {name for name, t in tickets.items() if can_see(agent, t, teams=teams)}
        assert by_rule == {name for name, t in tickets.items() if t.number in numbers}
        return by_rule

    assert seen(ada, ["Tier 2"]) == {"billing", "sales", "support-ada", "tier2"}
    assert seen(ada, []) == {"billing", "sales", "support-ada"}
    assert seen(ada, ["Tier 2", "Night shift"]) == {
        "billing", "sales", "support-ada", "tier2", "night",
    }  # fmt: skip
    assert seen(bob, []) == {"support", "support-ada", "support-bob", "tier2"}
    # The query refines like any other.
    assert visible_tickets(ada, teams=["Tier 2"]).where(Ticket.department == "Sales").count() == 1


# -- the command line --------------------------------------------------------------------


@pytest.fixture
def config(tmp_path, monkeypatch) -> Path:
    """A SQLite set-up with departments, roles and teams declared."""
    return org_config(tmp_path, f"sqlite:///{tmp_path}/maild.db", monkeypatch)


def org_config(tmp_path: Path, db_url: str, monkeypatch) -> Path:
    monkeypatch.setenv("MAILD_ARGON2_FAST", "1")  # inherited by the maild subprocesses
    path = write_config(tmp_path, db_url=db_url, relay_port=1)
    path.write_text(path.read_text() + ORG)
    return path


def maild(config: Path, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return run_maild(config, "agent", *args, stdin=stdin)


def ok(config: Path, *args: str, stdin: bytes | None = None) -> str:
    result = maild(config, *args, stdin=stdin)
    assert result.returncode == 0, result.stderr.decode()
    assert result.stderr == b""
    return result.stdout.decode()


def refused(config: Path, *args: str, stdin: bytes | None = None) -> str:
    result = maild(config, *args, stdin=stdin)
    assert result.returncode == 1, result
    assert result.stdout == b""
    message = result.stderr.decode()
    assert len(message.splitlines()) == 1, message
    return message


def field(output: str, name: str) -> str:
    for line in output.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() == name:
            return value.strip()
    raise AssertionError(f"no {name!r} in {output!r}")


def stored_agent(db_url: str, email: str) -> Agent:
    open_database(db_url)
    try:
        return agent_by_email(email)
    finally:
        close_database()


def test_agent_commands_from_add_to_reset_mfa(tmp_path, db_url, monkeypatch):
    config = org_config(tmp_path, db_url, monkeypatch)

    added = ok(config, "add", "Ada@Example.test", "ada.l@example.test", "--name", "Ada Lovelace",
               "--department", "Billing", "--role", "agent", "--also", "Sales=manager")  # fmt: skip
    assert len(added.splitlines()) == 1
    assert "ada@example.test" in added
    ok(config, "add", "bob@example.test", "--name", "Bob", "--department", "Support",
       "--role", "agent")  # fmt: skip

    shown = ok(config, "show", "ADA.L@example.test")
    assert field(shown, "name") == "Ada Lovelace"
    assert field(shown, "addresses") == "ada@example.test, ada.l@example.test"
    assert field(shown, "departments") == "Billing (agent, primary), Sales (manager)"
    assert field(shown, "teams") == "Tier 2 (lead), Night shift"
    assert field(shown, "active") == "yes"
    assert field(shown, "password") == "not set"
    assert field(shown, "totp") == "not set"

    ok(config, "edit", "ada@example.test", "--name", "Ada King", "--remove-email",
       "ada.l@example.test", "--add-email", "ada.k@example.test", "--department",
       "Sales=manager", "--department", "Support=agent", "--primary", "Support")  # fmt: skip
    shown = ok(config, "show", "ada.k@example.test")
    assert field(shown, "name") == "Ada King"
    assert field(shown, "addresses") == "ada@example.test, ada.k@example.test"
    assert field(shown, "departments") == "Support (agent, primary), Sales (manager)"
    assert field(shown, "teams") == "Tier 2 (lead)"

    assert "disabled" in ok(config, "disable", "bob@example.test")
    lines = [line.split("\t") for line in ok(config, "list").splitlines()]
    assert [row[1:] for row in lines] == [
        ["ada@example.test", "Ada King", "Support", "active"],
        ["bob@example.test", "Bob", "Support", "disabled"],
    ]
    assert "enabled" in ok(config, "enable", "bob@example.test")
    assert field(ok(config, "show", "bob@example.test"), "active") == "yes"

    out = ok(config, "set-password", "ada@example.test", stdin=PASSWORD.encode() + b"\nignored\n")
    assert len(out.splitlines()) == 1
    agent = stored_agent(db_url, "ada@example.test")
    assert PasswordHasher().verify(agent.password_hash, PASSWORD)
    assert "m=8," in agent.password_hash  # MAILD_ARGON2_FAST reached the subprocess
    shown = ok(config, "show", "ada@example.test")
    assert field(shown, "password") == "set"
    assert PASSWORD not in out + shown
    assert agent.password_hash not in shown

    open_database(db_url)
    Agent.update(totp_secret="JBSWY3DPEHPK3PXP", totp_last_step=7).execute()
    close_database()
    assert field(ok(config, "show", "ada@example.test"), "totp") == "set"
    ok(config, "reset-mfa", "ada@example.test")
    agent = stored_agent(db_url, "ada@example.test")
    assert (agent.totp_secret, agent.totp_last_step) == ("", 0)
    assert field(ok(config, "show", "ada@example.test"), "totp") == "not set"


def test_unknown_departments_roles_and_addresses_are_refused(config):
    assert "Legal" in refused(config, "add", "ada@example.test", "--name", "Ada",
                              "--department", "Legal", "--role", "agent")  # fmt: skip
    assert "boss" in refused(config, "add", "ada@example.test", "--name", "Ada",
                             "--department", "Sales", "--role", "boss")  # fmt: skip
    sales = ("--department", "Sales", "--role", "agent")
    assert "Legal" in refused(
        config, "add", "ada@example.test", "--name", "Ada", *sales, "--also", "Legal=agent"
    )
    assert "DEPT=ROLE" in refused(
        config, "add", "ada@example.test", "--name", "Ada", *sales, "--also", "Legal"
    )
    assert ok(config, "list") == "no agents\n"

    ok(config, "add", "ada@example.test", "--name", "Ada", "--department", "Sales",
       "--role", "agent")  # fmt: skip
    assert "ada@example.test" in refused(config, "add", "ADA@example.test", "--name", "Other",
                                         "--department", "Sales", "--role", "agent")  # fmt: skip
    assert "Legal" in refused(config, "edit", "ada@example.test", "--department", "Legal=agent")
    assert "nothing to change" in refused(config, "edit", "ada@example.test")
    for command in ("show", "edit", "disable", "enable", "set-password", "reset-mfa"):
        args = ("--name", "X") if command == "edit" else ()
        message = refused(config, command, "nobody@example.test", *args, stdin=b"")
        assert "nobody@example.test" in message


def test_set_password_refuses_a_short_or_missing_password_and_never_shows_it(config, tmp_path):
    ok(config, "add", "ada@example.test", "--name", "Ada", "--department", "Sales",
       "--role", "agent")  # fmt: skip

    message = refused(config, "set-password", "ada@example.test", stdin=b"short-pw9\n")
    assert "10 characters" in message
    assert "short-pw9" not in message
    assert "10 characters" in refused(config, "set-password", "ada@example.test", stdin=b"")
    assert "not valid UTF-8" in refused(
        config, "set-password", "ada@example.test", stdin=b"\xff\xfe long enough password\n"
    )
    assert stored_agent(f"sqlite:///{tmp_path}/maild.db", "ada@example.test").password_hash == ""

"""Users and organisations: the store's queries on both backends (membership by domain, the
name rule, merging, who sees which ticket) and `maild user …` / `maild org …` run as an
operator runs them."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from store.db import close_database, open_database
from store.models import Collaborator, Entry, Organisation, Ticket, User
from store.organisations import (
    DirectoryError,
    DomainTaken,
    NameTaken,
    add_organisation,
    domain_candidates,
    edit_organisation,
    list_organisations,
    member_count,
    organisation_by_name,
    organisation_domains,
    organisation_members,
    tickets_visible_to_user,
)
from store.tickets import add_collaborator, add_entry, create_ticket, user_for
from store.users import (
    add_user,
    list_users,
    merge_users,
    requested_tickets,
    set_organisation,
    user_by_email,
)
from tests.helpers import make_message, run_maild, write_config


@pytest.fixture
def db(db_url) -> Iterator[str]:
    open_database(db_url)
    yield db_url
    close_database()


_numbers = iter(range(100001, 999999))


def ticket_for(requester: User, *collaborators: User) -> Ticket:
    number = str(next(_numbers))
    ticket = create_ticket(number=number, subject=number, requester=requester, source="email")
    for user in collaborators:
        add_collaborator(ticket, user)
    return Ticket.get_by_id(ticket.id)


def org_of(email: str) -> str | None:
    user = user_by_email(email)
    return user.organisation.name if user.organisation_id else None


# -- membership and names ----------------------------------------------------------------


def test_domain_candidates_are_the_domain_and_its_parents_longest_first():
    assert domain_candidates("x@A.B.Example.com") == ["a.b.example.com", "b.example.com",
                                                      "example.com"]  # fmt: skip
    assert domain_candidates("x@localhost") == []
    assert domain_candidates("no-at-sign") == []


def test_a_new_sender_joins_the_organisation_of_their_domain_or_a_parent_domain(db):
    acme = add_organisation("Acme", domains=["acme.test"])
    europe = add_organisation("Acme Europe", domains=["eu.acme.test"])

    assert user_for("Ada@ACME.test", "Ada").organisation_id == acme.id
    assert user_for("bob@mail.hq.acme.test").organisation_id == acme.id
    assert user_for("cy@eu.acme.test").organisation_id == europe.id  # the closest domain wins
    assert user_for("dee@paris.eu.acme.test").organisation_id == europe.id
    for stranger in ("eve@notacme.test", "fay@acme.test.evil", "gus@test"):
        assert user_for(stranger).organisation_id is None
    assert org_of("ada@acme.test") == "Acme"
    assert org_of("dee@paris.eu.acme.test") == "Acme Europe"


def test_membership_is_decided_when_the_user_is_created_and_never_again(db):
    ada = user_for("ada@acme.test")
    acme = add_organisation("Acme", domains=["acme.test"])

    assert user_for("ada@acme.test", "Ada").organisation_id is None
    assert user_by_email("ada@acme.test").organisation_id is None
    set_organisation(ada, acme, primary=True)
    again = user_for("ada@acme.test")
    assert (again.organisation_id, again.primary_contact) == (acme.id, True)
    edit_organisation(acme, remove_domains=["acme.test"])
    assert user_for("ada@acme.test").organisation_id == acme.id  # members stay


def test_a_real_name_replaces_a_placeholder_but_never_another_real_name(db):
    assert user_for("Ada@Customer.test", "ada").name == "ada"
    assert user_for("ada@customer.test", "ADA@customer.test").name == "ada"
    assert user_for("ada@customer.test", "Ada Lovelace").name == "Ada Lovelace"
    assert user_for("ada@customer.test", "ada").name == "Ada Lovelace"
    assert user_for("ada@customer.test", "Countess of Lovelace").name == "Ada Lovelace"
    assert user_for("bob@customer.test", '"bob@customer.test"').name == '"bob@customer.test"'
    assert user_for("bob@customer.test", "Bob Babbage").name == "Bob Babbage"
    assert User.get(User.email == "bob@customer.test").name == "Bob Babbage"
    assert User.select().count() == 2


def test_mail_from_an_organisations_domain_makes_members(pipeline_for, db_url):
    from maild.worker import process_batch
    from store.inbound import NewInbound, add_inbound

    pipeline = pipeline_for(db_url)
    add_organisation("Customer Ltd", domains=["customer.test"])
    raw = make_message(headers={"Cc": "Bob <bob@eu.customer.test>, eve@elsewhere.test"})
    add_inbound([NewInbound(raw=raw, source="smtp", mail_from="ada@customer.test",
                            rcpt_to=("support@helpdesk.test",))])  # fmt: skip
    while process_batch(pipeline):
        pass

    assert org_of("ada@customer.test") == "Customer Ltd"
    assert org_of("bob@eu.customer.test") == "Customer Ltd"
    assert org_of("eve@elsewhere.test") is None
    assert user_by_email("ada@customer.test").name == "Ada Lovelace"


# -- organisations and users -------------------------------------------------------------


def test_organisations_own_normalised_domains_and_refuse_what_is_taken(db):
    acme = add_organisation("Acme", domains=["@ACME.test.", "acme.test", "Acme.example"],
                            sharing="primary")  # fmt: skip

    assert organisation_domains(acme) == ["acme.example", "acme.test"]
    assert organisation_by_name("Acme").sharing == "primary"
    with pytest.raises(NameTaken, match="Acme"):
        add_organisation("Acme")
    with pytest.raises(DomainTaken, match=r"acme\.test.*Acme"):
        add_organisation("Initech", domains=["initech.test", "ACME.test"])
    for domain in ("localhost", "a..test", "-bad.test", "two words.test", "x@y.test"):
        with pytest.raises(DirectoryError, match="not a mail domain"):
            add_organisation("Initech", domains=[domain])
    with pytest.raises(DirectoryError, match="sharing"):
        add_organisation("Initech", sharing="everyone")
    assert [o.name for o in list_organisations()] == ["Acme"]
    assert organisation_by_name("Initech") is None


def test_edit_organisation_changes_all_or_nothing(db):
    acme = add_organisation("Acme", domains=["acme.test"])
    add_organisation("Initech", domains=["initech.test"])

    edit_organisation(acme, add_domains=["acme.example"], remove_domains=["acme.test"],
                      sharing="all", rename="Acme Ltd")  # fmt: skip

    fresh = organisation_by_name("Acme Ltd")
    assert (fresh.id, fresh.sharing, acme.name) == (acme.id, "all", "Acme Ltd")
    assert organisation_domains(fresh) == ["acme.example"]
    with pytest.raises(DomainTaken, match="initech"):
        edit_organisation(fresh, add_domains=["initech.test"], sharing="off")
    with pytest.raises(NameTaken):
        edit_organisation(fresh, rename="Initech", sharing="off")
    with pytest.raises(DirectoryError, match=r"acme\.test is not a domain"):
        edit_organisation(fresh, remove_domains=["acme.test"], rename="Other")
    fresh = Organisation.get_by_id(acme.id)
    assert (fresh.name, fresh.sharing) == ("Acme Ltd", "all")
    assert organisation_domains(fresh) == ["acme.example"]


def test_users_added_by_hand_join_by_domain_unless_told_otherwise(db):
    acme = add_organisation("Acme", domains=["acme.test"])
    initech = add_organisation("Initech")

    ada = add_user("Ada@Acme.test", name=" Ada ")
    bob = add_user("bob@acme.test", organisation=initech)
    cy = add_user("cy@elsewhere.test")

    assert (ada.email, ada.name, ada.organisation_id) == ("ada@acme.test", "Ada", acme.id)
    assert bob.organisation_id == initech.id and cy.organisation_id is None
    with pytest.raises(DirectoryError, match=r"ada@acme\.test is already a user"):
        add_user("ADA@acme.test")
    with pytest.raises(DirectoryError, match="not an email address"):
        add_user("nobody")
    assert [u.email for u in list_users()] == ["ada@acme.test", "bob@acme.test",
                                               "cy@elsewhere.test"]  # fmt: skip
    assert [u.email for u in list_users(initech)] == ["bob@acme.test"]
    assert member_count(acme) == 1


def test_set_organisation_moves_a_user_and_marks_primary_contacts(db):
    acme = add_organisation("Acme")
    ada, bob = add_user("ada@x.test"), add_user("bob@x.test")

    set_organisation(bob, acme)
    set_organisation(ada, acme, primary=True)

    assert [(u.email, u.primary_contact) for u in organisation_members(acme)] == [
        ("ada@x.test", True), ("bob@x.test", False),
    ]  # fmt: skip
    with pytest.raises(DirectoryError, match="primary"):
        set_organisation(ada, None, primary=True)
    set_organisation(ada, None)
    fresh = user_by_email("ada@x.test")
    assert (fresh.organisation_id, fresh.primary_contact) == (None, False)


def test_requested_tickets_counts_and_lists_the_newest(db):
    ada = user_for("ada@x.test")
    numbers = [ticket_for(ada).number for _ in range(7)]
    ticket_for(user_for("bob@x.test"), ada)

    assert requested_tickets(ada) == (7, numbers[::-1][:5])
    assert requested_tickets(user_for("cy@x.test")) == (0, [])


# -- merging -----------------------------------------------------------------------------


def test_merge_moves_tickets_collaborations_and_entries_and_deletes_the_source(db):
    acme = add_organisation("Acme")
    old = user_for("ada.old@x.test", "Ada Lovelace")
    set_organisation(old, acme, primary=True)
    new = user_for("ada@x.test", "ada")
    bob = user_for("bob@x.test")
    theirs = ticket_for(old, new)  # the target was copied on one of the source's tickets
    also_theirs = ticket_for(old)
    both_copied = ticket_for(bob, old, new)
    target_asks = ticket_for(new, old)
    copied = ticket_for(bob, old)
    add_entry(theirs, kind="message", text="hello", author=old.id, author_name="Ada Lovelace")
    add_entry(copied, kind="message", text="me too", author=old.id)
    add_entry(copied, kind="message", text="bob here", author=bob.id)

    merged = merge_users(old, new)

    assert (merged.tickets, merged.collaborations, merged.entries) == (2, 1, 2)
    assert merged.duplicates == 3  # on both_copied, target_asks, and the target's on theirs
    assert user_by_email("ada.old@x.test") is None
    for ticket in (theirs, also_theirs, target_asks):
        assert Ticket.get_by_id(ticket.id).requester_id == new.id
    people = {
        t.number: sorted(
            c.user.email for c in Collaborator.select().where(Collaborator.ticket == t)
        )
        for t in (theirs, both_copied, target_asks, copied)
    }
    assert people == {theirs.number: [], both_copied.number: ["ada@x.test"],
                      target_asks.number: [], copied.number: ["ada@x.test"]}  # fmt: skip
    authors = [
        e.author_id for e in Entry.select().where(Entry.kind == "message").order_by(Entry.id)
    ]
    assert authors == [new.id, new.id, bob.id]
    fresh = user_by_email("ada@x.test")
    assert (fresh.name, fresh.organisation_id, fresh.primary_contact) == (
        "Ada Lovelace", acme.id, True,
    )  # fmt: skip


def test_merge_keeps_the_targets_real_name_and_organisation_and_refuses_itself(db):
    acme, initech = add_organisation("Acme"), add_organisation("Initech")
    old, new = user_for("old@x.test", "Someone"), user_for("new@x.test", "Ada Lovelace")
    set_organisation(old, acme)
    set_organisation(new, initech)

    with pytest.raises(DirectoryError, match=r"new@x\.test into itself"):
        merge_users(new, user_by_email("new@x.test"))
    merge_users(old, new)

    fresh = user_by_email("new@x.test")
    assert (fresh.name, fresh.organisation_id) == ("Ada Lovelace", initech.id)


# -- who sees which ticket ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("sharing", "expected"),
    [
        ("off", {"ada": {"ada"}, "bob": {"bob", "cy-with-bob"}, "cy": {"cy-with-bob"}}),
        ("primary", {"ada": {"ada", "bob"}, "bob": {"bob", "cy-with-bob"}, "cy": {"cy-with-bob"}}),
        ("all", {"ada": {"ada", "bob"}, "bob": {"ada", "bob", "cy-with-bob"},
                 "cy": {"cy-with-bob"}}),
    ],
)  # fmt: skip
def test_sharing_decides_which_of_the_organisations_tickets_a_member_sees(db, sharing, expected):
    acme = add_organisation("Acme", sharing=sharing)
    ada, bob, cy = user_for("ada@acme.test"), user_for("bob@acme.test"), user_for("cy@x.test")
    set_organisation(ada, acme, primary=True)
    set_organisation(bob, acme)
    tickets = {"ada": ticket_for(ada), "bob": ticket_for(bob), "cy-with-bob": ticket_for(cy, bob)}

    def seen(user: User) -> set[str]:
        numbers = {t.number for t in tickets_visible_to_user(user)}
        return {name for name, ticket in tickets.items() if ticket.number in numbers}

    assert {"ada": seen(ada), "bob": seen(bob), "cy": seen(cy)} == expected
    # The query refines like any other, and reads the flags when it runs.
    assert tickets_visible_to_user(bob).where(Ticket.requester == bob.id).count() == 1
    set_organisation(ada, acme, primary=False)
    assert seen(ada) == ({"ada", "bob"} if sharing == "all" else {"ada"})


# -- the command line --------------------------------------------------------------------


def maild(config: Path, *args: str) -> subprocess.CompletedProcess:
    return run_maild(config, *args)


def ok(config: Path, *args: str) -> str:
    result = maild(config, *args)
    assert result.returncode == 0, result.stderr.decode()
    assert result.stderr == b""
    return result.stdout.decode()


def refused(config: Path, *args: str) -> str:
    result = maild(config, *args)
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


def test_user_and_org_commands_from_add_to_merge(tmp_path, db_url):
    config = write_config(tmp_path, db_url=db_url, relay_port=1)

    added = ok(config, "org", "add", "Acme", "--domain", "ACME.test", "--sharing", "primary")
    assert "Acme" in added and "acme.test" in added and len(added.splitlines()) == 1
    assert "Acme" in ok(config, "user", "add", "Ada@acme.test", "--name", "Ada Lovelace")
    ok(config, "user", "add", "bob@bob.test", "--org", "Acme")
    ok(config, "user", "add", "ada@home.test")
    assert ok(config, "user", "set-org", "ada@acme.test", "Acme", "--primary").count("\n") == 1

    rows = [line.split("\t")[1:] for line in ok(config, "user", "list").splitlines()]
    assert rows == [
        ["ada@acme.test", "Ada Lovelace", "Acme", "primary"],
        ["ada@home.test", "-", "-", "-"],
        ["bob@bob.test", "-", "Acme", "-"],
    ]
    assert len(ok(config, "user", "list", "--org", "Acme").splitlines()) == 2
    shown = ok(config, "org", "show", "Acme")
    assert field(shown, "sharing").startswith("primary")
    assert field(shown, "domains") == "acme.test"
    assert field(shown, "members") == "2"
    assert "  ada@acme.test\tAda Lovelace\tprimary contact" in shown.splitlines()
    assert "  bob@bob.test\t-\tmember" in shown.splitlines()

    ok(config, "org", "edit", "Acme", "--add-domain", "acme.example", "--remove-domain",
       "acme.test", "--sharing", "all", "--rename", "Acme Ltd")  # fmt: skip
    assert ok(config, "org", "list") == "Acme Ltd\tall\t2 members\tacme.example\n"

    open_database(db_url)
    ticket_for(user_for("ada@home.test"))
    close_database()
    merged = ok(config, "user", "merge", "ada@home.test", "ADA@acme.test")
    assert "1 ticket" in merged and len(merged.splitlines()) == 1
    shown = ok(config, "user", "show", "ada@acme.test")
    assert field(shown, "organisation") == "Acme Ltd"
    assert field(shown, "primary contact") == "yes"
    assert field(shown, "tickets").startswith("1 (newest: ")
    assert "ada@home.test" in refused(config, "user", "show", "ada@home.test")
    assert "no organisation" in ok(config, "user", "set-org", "bob@bob.test", "--none")
    assert field(ok(config, "user", "show", "bob@bob.test"), "organisation") == "-"


def test_refusals_are_one_line_and_exit_1(tmp_path):
    config = write_config(tmp_path, db_url=f"sqlite:///{tmp_path}/maild.db", relay_port=1)
    ok(config, "org", "add", "Acme", "--domain", "acme.test")
    ok(config, "user", "add", "ada@acme.test")

    cases = [
        (("user", "show", "nobody@x.test"), "nobody@x.test"),
        (("user", "add", "bob@x.test", "--org", "Initech"), "Initech"),
        (("user", "add", "ADA@acme.test"), "already a user"),
        (("user", "list", "--org", "Initech"), "Initech"),
        (("user", "merge", "ada@acme.test", "Ada@Acme.test"), "into itself"),
        (("user", "merge", "nobody@x.test", "ada@acme.test"), "nobody@x.test"),
        (("user", "set-org", "ada@acme.test"), "--none"),
        (("user", "set-org", "ada@acme.test", "Acme", "--none"), "--none"),
        (("user", "set-org", "ada@acme.test", "--none", "--primary"), "--primary"),
        (("org", "add", "Acme"), "already exists"),
        (("org", "add", "Initech", "--domain", "ACME.test"), "acme.test"),
        (("org", "add", "Initech", "--domain", "localhost"), "not a mail domain"),
        (("org", "show", "Initech"), "Initech"),
        (("org", "edit", "Acme"), "nothing to change"),
        (("org", "edit", "Acme", "--remove-domain", "other.test"), "other.test"),
    ]
    for args, expected in cases:
        message = refused(config, *args)
        assert message.startswith(f"maild {args[0]} {args[1]}: "), message
        assert expected in message, message
    assert ok(config, "org", "list").startswith("Acme\toff\t1 member\tacme.test")

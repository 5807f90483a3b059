"""Ticket actions: status, transfer, assignment, responses and notes, with their SLA effects,
notices and permission checks — the same whichever channel calls them."""

from __future__ import annotations

import shutil
from datetime import timedelta

import pytest

from maild.actions import ActionRefused, TicketActions
from maild.sweep import sweep
from store import tickets as ticket_queries
from store.agents import add_agent, agent_by_email
from store.clock import now
from store.db import transaction
from store.models import Entry, Outbound, Ticket
from tests.helpers import AGENT_ROLES, REPO, ingest, make_message, queued, run_maild

BILLING = "support+billing@helpdesk.test"
ORG = {
    "role": AGENT_ROLES,
    "sla": [
        {"name": "billing", "first_response_hours": 2, "resolution_hours": 8},
        {"name": "sales", "resolution_hours": 24},
    ],
    "department": [
        {"name": "Billing", "addresses": [BILLING], "sla": "billing",
         "manager": "boss@helpdesk.test", "signature": "The Billing team\nExample Ltd"},
        {"name": "Sales", "sla": "sales", "manager": "sales-boss@helpdesk.test"},
    ],
}  # fmt: skip


@pytest.fixture
def desk(pipeline_for, db_url):
    pipeline = pipeline_for(db_url, **ORG)
    add_agent("Alice Agent", ["alice@helpdesk.test"], "Billing", "agent", {})
    add_agent("Bob Lead", ["bob@helpdesk.test"], "Billing", "lead", {})
    add_agent("Carol Sales", ["carol@helpdesk.test"], "Sales", "agent", {})
    return pipeline


def agent(address: str):
    return agent_by_email(address)


def new_ticket(pipeline) -> Ticket:
    return ingest(
        pipeline,
        make_message(to=BILLING, subject="Invoice wrong", message_id="<first@customer.test>"),
        rcpt=(BILLING,),
    )


def fresh(ticket: Ticket) -> Ticket:
    return Ticket.get_by_id(ticket.id)


def test_pending_pauses_the_clock_and_the_customers_reply_resumes_it(desk):
    ticket = new_ticket(desk)
    due, first_due = ticket.due, ticket.first_response_due
    with transaction():
        assert TicketActions(desk).set_status(ticket, "pending", by=agent("alice@helpdesk.test"))

    paused = fresh(ticket)
    assert (paused.status, paused.due, paused.first_response_due) == ("pending", None, None)

    ingest(desk, make_message(subject=f"Re: [#{ticket.number}] Invoice wrong", to=BILLING))
    resumed = fresh(ticket)
    assert resumed.status == "open"
    # The pause is added back: the targets move later, never earlier.
    assert resumed.due > due and resumed.first_response_due > first_due
    assert resumed.due - due < timedelta(minutes=1)


def test_closing_clears_the_due_times_and_the_sweep_leaves_it_alone(desk):
    ticket = new_ticket(desk)
    with transaction():
        TicketActions(desk).set_status(ticket, "closed")

    closed = fresh(ticket)
    assert (closed.due, closed.first_response_due) == (None, None)
    assert closed.closed is not None
    result = sweep(desk, now=now() + timedelta(days=3))
    assert (result.first_response, result.resolution) == (0, 0)
    events = [e.text for e in ticket_queries.thread(ticket) if e.kind == "event"]
    assert "Status set to closed (administrator)" in events


def test_unknown_status_is_refused_and_nothing_changes(desk):
    ticket = new_ticket(desk)
    with pytest.raises(ActionRefused, match="unknown status 'done'"):
        TicketActions(desk).set_status(ticket, "done")
    assert fresh(ticket).status == "open"


def test_transfer_alerts_the_new_department_and_takes_its_sla(desk):
    ticket = new_ticket(desk)
    with transaction():
        assert TicketActions(desk).transfer(ticket, "Sales", by=agent("bob@helpdesk.test"))

    moved = fresh(ticket)
    assert (moved.department, moved.sla, moved.first_response_due) == ("Sales", "sales", None)
    assert moved.due == moved.created + timedelta(hours=24)
    alerts = queued("transfer_alert")
    assert [to for to, _ in alerts] == [["carol@helpdesk.test"], ["sales-boss@helpdesk.test"]]
    carol, boss = (message for _, message in alerts)
    assert "transferred from Billing to Sales" in carol.get_body(("plain",)).get_content()
    assert carol["Auto-Submitted"] == "auto-generated"
    # Carol is an agent: her copy's Reply-To is signed for her; the manager is no agent.
    assert carol["Reply-To"].addresses[0].addr_spec.startswith(f"support+{moved.number}.a")
    assert boss["Reply-To"] is None


def test_an_agent_without_the_permission_is_refused(desk):
    ticket = new_ticket(desk)
    actions = TicketActions(desk)
    with pytest.raises(ActionRefused, match=r"alice@helpdesk\.test may not do ticket\.transfer"):
        actions.transfer(ticket, "Sales", by=agent("alice@helpdesk.test"))
    # Carol is in Sales: a Billing ticket is not hers to see, let alone answer.
    with pytest.raises(ActionRefused, match=r"carol@helpdesk\.test may not do ticket\.reply"):
        actions.respond(ticket, agent=agent("carol@helpdesk.test"), text="Hi")
    assert (fresh(ticket).department, Outbound.select().where(
        Outbound.kind == "agent_response").count()) == ("Billing", 0)  # fmt: skip


def test_assignment_alerts_the_assignee_but_taking_a_ticket_does_not(desk):
    ticket = new_ticket(desk)
    actions = TicketActions(desk)
    with transaction():
        actions.assign(ticket, agent("alice@helpdesk.test"), by=agent("bob@helpdesk.test"))
    assert [to for to, _ in queued("assignment_alert")] == [["alice@helpdesk.test"]]
    assert fresh(ticket).assignee.name == "Alice Agent"

    with transaction():
        actions.assign(ticket, agent("bob@helpdesk.test"), by=agent("bob@helpdesk.test"))
        actions.assign(ticket, None)
    assert len(queued("assignment_alert")) == 1
    assert fresh(ticket).assignee is None


def test_a_response_reaches_the_requester_and_collaborators_and_meets_the_first_target(desk):
    raw = make_message(to=BILLING, subject="Invoice wrong", message_id="<first@customer.test>",
                       headers={"Cc": "Grace <grace@customer.test>"})  # fmt: skip
    ticket = ingest(desk, raw, rcpt=(BILLING,))
    assert ticket.first_response_due is not None
    alice = agent("alice@helpdesk.test")
    with transaction():
        TicketActions(desk).respond(ticket, agent=alice, text="We have refunded you.\n")

    answered = fresh(ticket)
    assert answered.first_response_at is not None and answered.first_response_due is None
    assert answered.due == ticket.due  # the resolution target is untouched
    [(recipients, message)] = queued("agent_response")
    assert recipients == ["ada@customer.test", "grace@customer.test"]
    assert message["From"].addresses[0].display_name == "Alice Agent"
    assert message["From"].addresses[0].addr_spec == "support@helpdesk.test"
    assert "grace@customer.test" in message["Cc"]
    assert f"[#{ticket.number}]" in message["Subject"]
    assert message["In-Reply-To"] == "<first@customer.test>"
    text = message.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert "We have refunded you." in text and "The Billing team\nExample Ltd" in text
    html = message.get_body(("html",)).get_content()
    assert "The Billing team<br>Example Ltd" in html
    entry = Entry.get((Entry.ticket == ticket.id) & (Entry.kind == "response"))
    assert (entry.agent.name, entry.author_name) == ("Alice Agent", "Alice Agent")

    first_at = answered.first_response_at
    with transaction():
        TicketActions(desk).respond(answered, agent=alice, text="And again.\n")
    assert fresh(ticket).first_response_at == first_at


def test_a_late_first_response_does_not_announce_the_resolution_breach_twice(desk):
    ticket = new_ticket(desk)
    later = now() + timedelta(hours=9)
    assert sweep(desk, now=later).resolution == 1
    with transaction():
        TicketActions(desk).respond(fresh(ticket), agent=agent("bob@helpdesk.test"), text="Sorry")

    assert fresh(ticket).overdue  # the due time did not change: the breach stands, announced
    result = sweep(desk, now=later + timedelta(minutes=1))
    assert (result.first_response, result.resolution) == (0, 0)


def test_a_note_is_kept_and_mailed_to_nobody(desk):
    ticket = new_ticket(desk)
    before = Outbound.select().count()
    with transaction():
        TicketActions(desk).note(ticket, agent=agent("alice@helpdesk.test"), text="Called her.")
    notes = [e for e in ticket_queries.thread(ticket) if e.kind == "note"]
    assert [(n.text, n.author_name) for n in notes] == [("Called her.", "Alice Agent")]
    assert Outbound.select().count() == before


def test_the_ticket_commands_change_tickets_like_any_other_channel(desk):
    ticket = new_ticket(desk)
    path = desk.config.path

    changes = ("--department", "Sales", "--assign", "carol@helpdesk.test", "--priority", "high")
    moved = run_maild(path, "ticket", "set", ticket.number, *changes, text=True)
    assert moved.returncode == 0, moved.stderr
    assert moved.stdout.strip() == (
        f"ticket {ticket.number}: department Sales, priority high, assign carol@helpdesk.test"
    )
    answered = run_maild(path, "ticket", "reply", ticket.number, "--agent", "carol@helpdesk.test",
                         "--status", "pending", stdin=b"Which invoice number?\n")  # fmt: skip
    assert answered.returncode == 0, answered.stderr
    noted = run_maild(path, "ticket", "note", ticket.number, stdin=b"VIP, be quick")
    assert noted.returncode == 0, noted.stderr

    after = fresh(ticket)
    assert (after.department, after.priority, after.assignee.name, after.status) == (
        "Sales", "high", "Carol Sales", "pending")  # fmt: skip
    assert after.first_response_at is not None and after.due is None  # pending: paused
    assert [to for to, _ in queued("agent_response")] == [["ada@customer.test"]]
    assert [to for to, _ in queued("transfer_alert")] == [
        ["carol@helpdesk.test"],
        ["sales-boss@helpdesk.test"],
    ]
    shown = run_maild(path, "ticket", "show", ticket.number, text=True).stdout
    for line in ("Transferred from Billing to Sales (administrator)",
                 "Assigned to carol@helpdesk.test by an administrator (administrator)",
                 "Which invoice number?", "VIP, be quick",
                 "Status set to pending (carol@helpdesk.test)"):  # fmt: skip
        assert line in shown


def test_the_ticket_commands_refuse_bad_input_and_change_nothing(desk):
    ticket = new_ticket(desk)
    path = desk.config.path
    cases = [
        (("set", ticket.number, "--priority", "high", "--status", "done"), b"", "unknown status"),
        (("set", ticket.number, "--department", "Nowhere"), b"", "unknown department"),
        (("set", "000000", "--status", "closed"), b"", "no ticket 000000"),
        (("set", ticket.number), b"", "nothing to change"),
        (("reply", ticket.number, "--agent", "nobody@x.test"), b"hi", "no agent nobody@x.test"),
        (("reply", ticket.number, "--agent", "alice@helpdesk.test"), b"  \n", "was empty"),
    ]
    for args, stdin, message in cases:
        result = run_maild(path, "ticket", *args, stdin=stdin)
        assert result.returncode == 1, args
        assert message in result.stderr.decode(), (args, result.stderr)
    unchanged = fresh(ticket)
    assert (unchanged.priority, unchanged.status, unchanged.department) == (
        "normal", "open", "Billing")  # fmt: skip


def test_a_departments_own_template_replaces_the_common_one(pipeline_for, db_url, tmp_path):
    folder = tmp_path / "templates"
    shutil.copytree(REPO / "templates", folder)
    (folder / "Billing").mkdir()
    (folder / "Billing" / "new_ticket_autoresponse.j2").write_text(
        "{% block subject %}{{ token }} Billing got it{% endblock %}"
        "{% block text %}Billing will answer.\n{{ signature }}{% endblock %}"
    )
    pipeline = pipeline_for(db_url, paths={"templates": str(folder)}, **ORG)

    ingest(pipeline, make_message(to=BILLING), rcpt=(BILLING,))
    ingest(pipeline, make_message(subject="Not billing"))

    billing, common = (m for _, m in queued("new_ticket_autoresponse"))
    assert billing["Subject"].endswith("Billing got it")
    assert billing.get_body(("plain",)).get_content().replace("\r\n", "\n").strip() == (
        "Billing will answer.\nThe Billing team\nExample Ltd"
    )
    assert "Thank you for contacting Test Support" in common.get_body(("plain",)).get_content()

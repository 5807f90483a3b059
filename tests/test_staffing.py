"""New tickets are assigned as the department says, and agents (only agents) are told."""

from __future__ import annotations

import pytest

from store.agents import add_agent
from store.models import Outbound, Ticket
from tests.helpers import ingest as ingest_message
from tests.helpers import make_message
from tests.helpers import queued as sent

BILLING = "support+billing@helpdesk.test"


def org(strategy: str = "round-robin", **department) -> dict:
    return {
        "role": [{"name": "agent", "permissions": ["ticket.view", "ticket.reply"]}],
        "department": [
            {"name": "Billing", "addresses": [BILLING], "auto_assign": strategy,
             "manager": "boss@helpdesk.test", **department},
        ],
    }  # fmt: skip


def ingest(pipeline, raw: bytes, rcpt=(BILLING,)) -> Ticket:
    return ingest_message(pipeline, raw, rcpt)


@pytest.fixture
def staffed(pipeline_for, db_url):
    def make(strategy: str = "round-robin", **department):
        pipeline = pipeline_for(db_url, **org(strategy, **department))
        add_agent("Alice", ["alice@helpdesk.test"], "Billing", "agent", {})
        add_agent("Bob", ["bob@helpdesk.test"], "Billing", "agent", {})
        return pipeline

    return make


def test_round_robin_takes_turns_and_tells_the_assignee(staffed):
    pipeline = staffed()
    assignees = [
        ingest(pipeline, make_message(to=BILLING, subject=f"Invoice {n}")).assignee.name
        for n in range(3)
    ]
    assert assignees == ["Alice", "Bob", "Alice"]
    alerts = sent("assignment_alert")
    assert [to for to, _ in alerts] == [["alice@helpdesk.test"], ["bob@helpdesk.test"],
                                       ["alice@helpdesk.test"]]  # fmt: skip
    assert all(m["Auto-Submitted"] == "auto-generated" for _, m in alerts)


def test_least_open_picks_the_least_busy(staffed):
    pipeline = staffed("least-open")
    first = ingest(pipeline, make_message(to=BILLING, subject="one"))
    second = ingest(pipeline, make_message(to=BILLING, subject="two"))
    assert (first.assignee.name, second.assignee.name) == ("Alice", "Bob")
    Ticket.update(status="closed").where(Ticket.id == first.id).execute()
    third = ingest(pipeline, make_message(to=BILLING, subject="three"))
    assert third.assignee.name == "Alice"


def test_new_ticket_alert_goes_to_department_members_not_the_customer(staffed):
    pipeline = staffed()
    ingest(pipeline, make_message(to=BILLING, subject="Refund please"))

    alerts = sent("new_ticket_alert")  # one copy each, with a reply address of their own
    assert [to for to, _ in alerts] == [["alice@helpdesk.test"], ["bob@helpdesk.test"]]
    assert len({m["Reply-To"] for _, m in alerts}) == 2
    message = alerts[0][1]
    assert "Refund please" in message["Subject"]
    assert "ada@customer.test" in message.get_body(("plain",)).get_content()
    customer_mail = [r for r in Outbound.select() if "ada@customer.test" in r.recipients]
    assert [r.kind for r in customer_mail] == ["new_ticket_autoresponse"]


def test_follow_up_alerts_the_assignee_only(staffed):
    pipeline = staffed()
    ticket = ingest(pipeline, make_message(to=BILLING, subject="Invoice"))
    ingest(pipeline, make_message(subject=f"Re: [#{ticket.number}] more", body="Any news?"))

    ((to, message),) = sent("new_message_alert")
    assert to == [ticket.assignee.addresses[0].email]
    assert "Any news?" in message.get_body(("plain",)).get_content()


def test_alerts_can_be_switched_off_per_department_and_globally(staffed, pipeline_for, db_url):
    pipeline = staffed(new_ticket_alert=False)
    ingest(pipeline, make_message(to=BILLING))
    assert sent("new_ticket_alert") == []

    quiet = pipeline_for(db_url, notices={"new_ticket_alert": False, "assignment_alert": False},
                         **org())  # fmt: skip
    ingest(quiet, make_message(to=BILLING, subject="again"))
    assert sent("new_ticket_alert") == [] and len(sent("assignment_alert")) == 1


def test_no_members_means_no_assignment_and_a_recorded_reason(pipeline_for, db_url):
    pipeline = pipeline_for(db_url, **org())
    ticket = ingest(pipeline, make_message(to=BILLING))

    assert ticket.assignee is None
    from store.tickets import thread

    assert any("Not assigned: no active agents in 'Billing'" in e.text for e in thread(ticket))

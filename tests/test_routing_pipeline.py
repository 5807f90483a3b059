"""Routing and the SLA clock applied to mail as it arrives, on both back-ends."""

from __future__ import annotations

from datetime import datetime

import pytest

from store import tickets as ticket_queries
from store.models import Ticket
from tests.helpers import ingest, make_message

ORG = {
    "tickets": {"default_department": "Support", "default_sla": "round the clock"},
    "schedule": [{"name": "office", "timezone": "Europe/Berlin",
                  **{day: ["09:00-17:00"] for day in
                     ("monday", "tuesday", "wednesday", "thursday", "friday")}}],
    "sla": [
        {"name": "round the clock", "schedule": "24x7", "first_response_hours": 2,
         "resolution_hours": 8},
        {"name": "billing", "schedule": "office", "first_response_hours": 4,
         "resolution_hours": 16},
    ],
    "department": [
        {"name": "Support"},
        {"name": "Billing", "addresses": ["support+billing@helpdesk.test"], "sla": "billing"},
    ],
}  # fmt: skip


@pytest.fixture
def pipeline(pipeline_for, db_url):
    return pipeline_for(db_url, **ORG)


def test_plain_mail_goes_to_the_default_department_with_a_24x7_clock(pipeline):
    ticket = ingest(pipeline, make_message())

    assert (ticket.department, ticket.sla, ticket.priority) == (
        "Support",
        "round the clock",
        "normal",
    )
    assert (ticket.first_response_due - ticket.created).total_seconds() == 2 * 3600
    assert (ticket.due - ticket.created).total_seconds() == 8 * 3600
    (event,) = [e for e in ticket_queries.thread(ticket) if e.kind == "event"]
    assert "department 'Support': the default" in event.text
    assert "SLA plan 'round the clock': the default" in event.text


def test_plus_address_routes_to_billing_with_business_hours(pipeline):
    billing = "support+billing@helpdesk.test"
    ticket = ingest(pipeline, make_message(to=billing), rcpt=(billing,))

    assert (ticket.department, ticket.sla) == ("Billing", "billing")
    first = ticket.first_response_due
    office = pipeline.org.plans["billing"].schedule
    # 4 business hours after arrival, counted in Berlin office hours: never outside them.
    assert office.between(ticket.created.replace(tzinfo=_utc()),
                          first.replace(tzinfo=_utc())) == pytest.approx(240)  # fmt: skip
    assert office.is_open(first.replace(tzinfo=_utc())) or _closing_edge(office, first)


def test_reopening_a_closed_ticket_recomputes_its_due_time(pipeline):
    ticket = ingest(pipeline, make_message())
    ticket_queries.touch(ticket, status="closed")
    ticket_queries.set_due(ticket, due=None, first_response_due=None)

    ingest(pipeline, make_message(subject=f"Re: [#{ticket.number}] again"))

    reopened = Ticket.get_by_id(ticket.id)
    assert reopened.status == "open"
    assert reopened.due is not None and reopened.due > ticket.created
    statuses = [status for _, status in ticket_queries.status_history(reopened)]
    assert statuses == ["open", "closed", "open"]


def _utc():
    from datetime import UTC

    return UTC


def _closing_edge(schedule, moment: datetime) -> bool:
    from datetime import timedelta

    aware = moment.replace(tzinfo=_utc())
    return schedule.is_open(aware - timedelta(seconds=1))


def test_sequential_numbering_fills_the_pattern_in_order_and_skips_taken_ones(pipeline_for, db_url):
    sequential = pipeline_for(db_url, tickets={"numbering": "sequential", "number_format": "T-###"})
    taken = ticket_queries.create_ticket(number="T-002", subject="from before",
                                         requester=ticket_queries.user_for("x@y.test"),
                                         source="email")  # fmt: skip
    numbers = [ingest(sequential, make_message(subject=f"n{n}")).number for n in range(3)]
    assert numbers == ["T-001", "T-003", "T-004"]
    assert taken.number == "T-002"


def test_a_sequential_number_keeps_its_digits_together_and_grows_past_the_pattern():
    from maild.tokens import sequential_ticket_number

    assert sequential_ticket_number("T-###-X", 7) == "T-007-X"
    assert sequential_ticket_number("##", 1234) == "1234"
    assert sequential_ticket_number("#-#", 5) == "05-"


def test_priority_from_headers_only_when_switched_on(pipeline_for, db_url):
    urgent = make_message(subject="urgent", headers={"X-Priority": "1 (Highest)"})
    low = make_message(subject="whenever", headers={"Importance": "low"})

    off = pipeline_for(db_url)
    assert ingest(off, urgent).priority == "normal"

    on = pipeline_for(db_url, tickets={"priority_from_headers": True})
    assert (
        ingest(on, make_message(subject="urgent", headers={"X-Priority": "1 (Highest)"})).priority
        == "high"
    )
    ticket = ingest(on, low)
    assert ticket.priority == "low"
    routing = next(e.text for e in ticket_queries.thread(ticket) if e.kind == "event")
    assert "priority 'low'" in routing and "Importance" in routing


def test_mail_fetched_from_a_mailbox_goes_to_the_mailboxs_department(pipeline_for, db_url):
    from maild.worker import process_batch
    from store.inbound import NewInbound, add_inbound

    pipeline = pipeline_for(
        db_url,
        department=[{"name": "Sales"}, {"name": "Support"}],
        tickets={"default_department": "Support"},
        mailbox=[{"name": "sales", "host": "127.0.0.1", "username": "u", "password": "p",
                  "department": "Sales", "enabled": False}],
    )  # fmt: skip
    add_inbound([NewInbound(raw=make_message(), source="imap:sales",
                            rcpt_to=["support@helpdesk.test"])])  # fmt: skip
    while process_batch(pipeline):
        pass

    ticket = Ticket.select().get()
    assert ticket.department == "Sales"
    routing = next(e.text for e in ticket_queries.thread(ticket) if e.kind == "event")
    assert "fetched from mailbox 'sales'" in routing

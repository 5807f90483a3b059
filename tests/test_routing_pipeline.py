"""Routing and the SLA clock applied to mail as it arrives, on both back-ends."""

from __future__ import annotations

from datetime import datetime

import pytest

from maild.worker import process_batch
from store import tickets as ticket_queries
from store.inbound import NewInbound, add_inbound
from store.models import Ticket
from tests.helpers import HELPDESK, make_message

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


def ingest(pipeline, raw: bytes, rcpt=(HELPDESK,)) -> Ticket:
    add_inbound([NewInbound(raw=raw, source="smtp", mail_from="ada@customer.test", rcpt_to=rcpt)])
    while process_batch(pipeline):
        pass
    return Ticket.select().order_by(Ticket.id.desc()).first()


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

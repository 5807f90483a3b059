"""Who joins a ticket from a customer's new message, and what a late reply to a closed
ticket does."""

from __future__ import annotations

from datetime import timedelta

from store import tickets as ticket_queries
from store.models import Ticket
from tests.helpers import ingest, make_message, queued


def participants(ticket) -> list[str]:
    return [u.email for u in ticket_queries.participants(ticket)]


def copied_message() -> bytes:
    return make_message(
        to="support@helpdesk.test, Carl <carl@customer.test>",
        headers={"Cc": "Dora <dora@customer.test>, eve@elsewhere.test"},
    )


def test_everyone_in_to_and_cc_joins_by_default_and_the_sender_is_the_requester(
    pipeline_for, db_url
):
    ticket = ingest(pipeline_for(db_url), copied_message())
    everyone = ["ada@customer.test", "carl@customer.test", "dora@customer.test"]
    assert participants(ticket) == [*everyone, "eve@elsewhere.test"]


def test_same_organisation_keeps_outsiders_out(pipeline_for, db_url):
    pipeline = pipeline_for(db_url, tickets={"collaborators": "same-organisation"})
    ticket = ingest(pipeline, copied_message())
    assert participants(ticket) == ["ada@customer.test", "carl@customer.test",
                                    "dora@customer.test"]  # fmt: skip


def test_never_adds_nobody(pipeline_for, db_url):
    pipeline = pipeline_for(db_url, tickets={"collaborators": "never"})
    assert participants(ingest(pipeline, copied_message())) == ["ada@customer.test"]


def test_a_bcc_to_the_helpdesk_never_makes_the_copied_person_the_requester(pipeline_for, db_url):
    # Ada wrote to Carl and put the helpdesk in Bcc: only the envelope names us.
    raw = make_message(to="Carl <carl@customer.test>")
    ticket = ingest(pipeline_for(db_url), raw, rcpt=("support@helpdesk.test",))
    assert ticket.requester.email == "ada@customer.test"
    assert [to for to, _ in queued("new_ticket_autoresponse")] == [["ada@customer.test"]]


def _closed_days_ago(pipeline_for, db_url, days: int):
    """(pipeline, ticket): a ticket of a department reopening replies for 7 days, closed
    `days` ago."""
    pipeline = pipeline_for(db_url, department=[{"name": "Support", "reopen_days": 7}],
                            tickets={"default_department": "Support"})  # fmt: skip
    old = ingest(pipeline, make_message(subject="Printer on fire"))
    Ticket.update(status="closed", closed=old.created - timedelta(days=days)).where(
        Ticket.id == old.id
    ).execute()
    return pipeline, old


def test_a_reply_long_after_closing_opens_a_linked_ticket_and_says_so(pipeline_for, db_url):
    pipeline, old = _closed_days_ago(pipeline_for, db_url, 30)

    new = ingest(pipeline, make_message(subject=f"Re: [#{old.number}] Printer on fire",
                                        body="It burns again."))  # fmt: skip

    assert new.id != old.id and Ticket.get_by_id(old.id).status == "closed"
    log = [e.text for e in ticket_queries.thread(new) if e.kind == "event"]
    assert f"Follow-up to ticket {old.number}, closed before" in log
    old_log = [e.text for e in ticket_queries.thread(old) if e.kind == "event"]
    assert f"A later reply opened ticket {new.number}" in old_log
    _, answer = queued("new_ticket_autoresponse")[-1]
    assert f"Ticket {old.number}, which you replied to" in answer.get_body(("plain",)).get_content()


def test_a_reply_soon_after_closing_reopens_the_ticket(pipeline_for, db_url):
    pipeline, old = _closed_days_ago(pipeline_for, db_url, 2)
    ingest(pipeline, make_message(subject=f"Re: [#{old.number}] Printer on fire"))
    assert Ticket.select().count() == 1 and Ticket.get_by_id(old.id).status == "open"


def test_a_copied_colleagues_reply_threads_into_the_ticket(pipeline_for, db_url):
    pipeline = pipeline_for(db_url)
    ticket = ingest(pipeline, copied_message())
    reply = make_message(sender="Dora <dora@customer.test>", body="Same here on floor 2.",
                         subject=f"Re: [#{ticket.number}] Printer on fire")  # fmt: skip
    ingest(pipeline, reply, mail_from="dora@customer.test")

    assert Ticket.select().count() == 1
    thread = [e for e in ticket_queries.thread(ticket) if e.kind == "message"]
    assert [e.author.email for e in thread] == ["ada@customer.test", "dora@customer.test"]

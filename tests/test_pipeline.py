"""The processing pipeline in-process, on SQLite and PostgreSQL: threading, dedupe,
machine mail, bounces, attachments, retries and quarantine."""

from __future__ import annotations

import email
import email.policy
import json
import time
from email.message import EmailMessage

import pytest

from maild.worker import process_batch
from store import tickets as ticket_queries
from store.inbound import NewInbound, add_inbound, inbound_by_id, requeue
from store.models import Blob, Entry, Inbound, Outbound, Ticket
from tests.helpers import HELPDESK, make_message


def ingest(pipeline, raw: bytes, *, mail_from="ada@customer.test", rcpt=(HELPDESK,)) -> Inbound:
    (row_id,) = add_inbound([NewInbound(raw=raw, source="smtp", mail_from=mail_from, rcpt_to=rcpt)])
    while process_batch(pipeline):
        pass
    return inbound_by_id(row_id)


def notices() -> list[EmailMessage]:
    rows = Outbound.select().order_by(Outbound.id)
    return [email.message_from_bytes(bytes(r.raw), policy=email.policy.default) for r in rows]


def messages(ticket: Ticket):
    """The thread without the events the system records (routing, bounces)."""
    return [e for e in ticket_queries.thread(ticket) if e.kind != "event"]


def only_ticket() -> Ticket:
    (ticket,) = Ticket.select()
    return ticket


@pytest.fixture
def pipeline(pipeline_for, db_url):
    return pipeline_for(db_url)


def test_new_message_opens_ticket_and_queues_signed_autoresponse(pipeline):
    row = ingest(pipeline, make_message(subject="Printer on fire"))

    ticket = only_ticket()
    assert row.state == "done" and row.ticket_id == ticket.id
    assert ticket.requester.email == "ada@customer.test"
    assert ticket.requester.name == "Ada Lovelace"
    assert ticket.status == "open" and ticket.source == "smtp"
    (entry,) = messages(ticket)
    assert entry.kind == "message" and "room 4 is on fire" in entry.text
    (notice,) = notices()
    assert notice["Subject"] == f"[#{ticket.number}] Printer on fire"
    assert notice["Auto-Submitted"] == "auto-replied"
    assert notice["In-Reply-To"] == f"<{row.message_id}>"
    assert pipeline.signer.ticket_of_message_id(notice["Message-ID"].strip("<>")) == ticket.number
    assert notice["Reply-To"].addresses[0].addr_spec.startswith(f"support+{ticket.number}-")


def test_follow_up_by_in_reply_to_threads(pipeline):
    ingest(pipeline, make_message())
    (notice,) = notices()
    reply = make_message(subject="what about it", headers={"In-Reply-To": notice["Message-ID"]})

    row = ingest(pipeline, reply)

    assert len(messages(only_ticket())) == 2
    assert "follow-up via references" in row.outcome


def test_reply_to_customers_own_message_id_threads(pipeline):
    ingest(pipeline, make_message(message_id="<first@customer.test>",
                                  headers={"Cc": "Bob <bob@customer.test>"}))  # fmt: skip
    reply = make_message(sender="bob@customer.test", subject="Re: Printer",
                         headers={"References": "<first@customer.test>"})  # fmt: skip

    ingest(pipeline, reply, mail_from="bob@customer.test")

    ticket = only_ticket()
    assert [e.author.email for e in messages(ticket)] == [
        "ada@customer.test",
        "bob@customer.test",
    ]


def test_subject_token_threads_for_participants_only(pipeline):
    ingest(pipeline, make_message(headers={"Cc": "bob@customer.test"}))
    token = f"[#{only_ticket().number}]"

    ingest(pipeline, make_message(subject=f"Re: {token} hello", body="from ada"))
    ingest(pipeline, make_message(sender="bob@customer.test", subject=f"Re: {token}",
                                  body="from bob"), mail_from="bob@customer.test")  # fmt: skip
    ingest(pipeline, make_message(sender="eve@evil.test", subject=f"Re: {token}",
                                  body="from eve"), mail_from="eve@evil.test")  # fmt: skip

    tickets = list(Ticket.select().order_by(Ticket.id))
    assert len(tickets) == 2
    texts = [e.text for e in messages(tickets[0])]
    assert any("from ada" in t for t in texts) and any("from bob" in t for t in texts)
    assert not any("from eve" in t for t in texts)
    assert tickets[1].requester.email == "eve@evil.test"


def test_signed_reply_address_threads_and_forged_one_does_not(pipeline):
    ingest(pipeline, make_message())
    number = only_ticket().number
    signed = pipeline.signer.reply_address(HELPDESK, number)
    forged = f"support+{number}-0000000000000000@helpdesk.test"

    ingest(pipeline, make_message(subject="no token", to=signed), rcpt=(signed,))
    ingest(pipeline, make_message(subject="no token either", to=forged), rcpt=(forged,))

    assert Ticket.select().count() == 2
    assert len(messages(ticket_queries.ticket_by_number(number))) == 2


def test_same_message_twice_is_one_ticket(pipeline):
    raw = make_message(message_id="<once@customer.test>")
    first = ingest(pipeline, raw)
    second = ingest(pipeline, raw)

    assert first.state == "done" and second.state == "duplicate"
    assert Ticket.select().count() == 1 and Outbound.select().count() == 1


def test_duplicate_without_message_id_is_caught_by_content(pipeline):
    raw = b"From: ada@customer.test\r\nTo: support@helpdesk.test\r\nSubject: x\r\n\r\nhello\r\n"
    ingest(pipeline, raw)
    second = ingest(pipeline, raw)

    assert second.state == "duplicate"
    assert Ticket.select().count() == 1


def test_reply_to_closed_ticket_reopens_it(pipeline):
    ingest(pipeline, make_message())
    ticket = only_ticket()
    ticket_queries.touch(ticket, status="closed")

    ingest(pipeline, make_message(subject=f"Re: [#{ticket.number}] again"))

    assert only_ticket().status == "open"


@pytest.mark.parametrize(
    "headers",
    [
        {"Auto-Submitted": "auto-replied"},
        {"Precedence": "bulk"},
        {"X-Autoreply": "yes"},
        {"List-Id": "<announce.lists.customer.test>"},
    ],
)
def test_machine_mail_is_kept_but_never_answered(pipeline, headers):
    row = ingest(pipeline, make_message(headers=headers))

    assert row.state == "done"
    assert Ticket.select().count() == 1
    assert Outbound.select().count() == 0
    assert "not answered" in row.outcome


def test_null_sender_is_not_answered(pipeline):
    row = ingest(pipeline, make_message(), mail_from="")
    assert Outbound.select().count() == 0 and "not answered" in row.outcome


def test_our_own_notice_coming_back_is_a_loop(pipeline):
    ingest(pipeline, make_message())
    (notice,) = notices()
    bounced_back = notice.as_bytes(policy=email.policy.SMTP)

    row = ingest(pipeline, bounced_back, mail_from=HELPDESK)

    assert row.state == "ignored" and "loop" in row.outcome
    assert len(messages(only_ticket())) == 1


def dsn_for(notice: EmailMessage) -> bytes:
    original = notice.as_string(policy=email.policy.SMTP)
    headers = original.split("\r\n\r\n", 1)[0]
    return (
        "From: Mail Delivery System <MAILER-DAEMON@mx.customer.test>\r\n"
        "To: support@helpdesk.test\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        "Message-ID: <dsn1@mx.customer.test>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        "--B\r\nContent-Type: text/plain\r\n\r\nThe mailbox is full.\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.customer.test\r\n\r\nFinal-Recipient: rfc822; ada@customer.test\r\n"
        "Action: failed\r\nStatus: 5.2.2\r\n"
        f"--B\r\nContent-Type: text/rfc822-headers\r\n\r\n{headers}\r\n--B--\r\n"
    ).encode()


def test_bounce_is_recorded_on_its_ticket_and_never_answered(pipeline):
    ingest(pipeline, make_message())
    (notice,) = notices()

    row = ingest(pipeline, dsn_for(notice), mail_from="")

    assert row.state == "done" and "bounce" in row.outcome
    assert Ticket.select().count() == 1 and Outbound.select().count() == 1
    kinds = [e.kind for e in ticket_queries.thread(only_ticket())]
    assert kinds == ["event", "message", "event"]
    assert ticket_queries.thread(only_ticket())[-1].text.startswith("Delivery problem")


def test_bounce_for_unknown_mail_opens_nothing(pipeline):
    row = ingest(pipeline, dsn_for(email.message_from_bytes(make_message(),
                                                            policy=email.policy.default)),
                 mail_from="")  # fmt: skip
    assert row.state == "ignored"
    assert Ticket.select().count() == 0 and Outbound.select().count() == 0


def naive_helpdesk_reply(ours: EmailMessage, n: int, *, polite: bool) -> bytes:
    """Another helpdesk's autoresponse to our mail; a polite one marks itself."""
    headers = {"In-Reply-To": ours["Message-ID"]}
    if polite:
        headers = {"Auto-Submitted": "auto-replied"}
    return make_message(sender="help@other-desk.test", subject=f"Re: {ours['Subject']} [REQ-{n}]",
                        body="We got your message.", headers=headers)  # fmt: skip


@pytest.mark.parametrize("polite", [True, False])
def test_two_helpdesks_answering_each_other_stop_after_one_autoresponse(pipeline, polite):
    ingest(pipeline, make_message(sender="help@other-desk.test", subject="Order 1"),
           mail_from="help@other-desk.test")  # fmt: skip
    for n in range(10):
        newest = notices()[-1]
        ingest(pipeline, naive_helpdesk_reply(newest, n, polite=polite),
               mail_from="help@other-desk.test")  # fmt: skip

    assert Outbound.select().count() == 1
    assert Ticket.select().count() <= 2


def test_autoresponses_are_rate_limited_per_sender(pipeline_for, db_url):
    pipeline = pipeline_for(db_url, notices={"autoresponse_limit": 3})
    for n in range(5):
        ingest(pipeline, make_message(subject=f"Problem {n}"))

    assert Ticket.select().count() == 5
    assert Outbound.select().count() == 3


def test_attachments_are_stored_once_and_html_is_sanitised(pipeline):
    def with_attachment(subject: str) -> bytes:
        msg = EmailMessage()
        msg["From"] = "ada@customer.test"
        msg["To"] = HELPDESK
        msg["Subject"] = subject
        msg.set_content("see attached")
        msg.add_alternative('<p>see <b>attached</b></p><script>alert("x")</script>', subtype="html")
        msg.add_attachment(b"%PDF-1.4 invoice", maintype="application", subtype="pdf",
                           filename="invoice.pdf")  # fmt: skip
        return msg.as_bytes(policy=email.policy.SMTP)

    ingest(pipeline, with_attachment("one"))
    ingest(pipeline, with_attachment("two"))

    entries = list(Entry.select().where(Entry.kind == "message"))
    assert all("<script>" not in e.html and "<b>attached</b>" in e.html for e in entries)
    names = [a.name for e in entries for a in ticket_queries.attachments_of(e)]
    assert names == ["invoice.pdf", "invoice.pdf"]
    assert Blob.select().count() == 1


def test_message_without_sender_goes_to_quarantine_with_reason(pipeline):
    row = ingest(pipeline, b"To: support@helpdesk.test\r\nSubject: who am I\r\n\r\nhi\r\n")

    assert row.state == "quarantined"
    assert "no sender" in row.last_error
    assert Ticket.select().count() == 0


def test_failing_message_is_retried_then_quarantined_then_replayable(
    pipeline_for, db_url, tmp_path
):
    import shutil

    from tests.helpers import REPO

    templates = tmp_path / "templates"
    shutil.copytree(REPO / "templates", templates)
    broken = templates / "new_ticket_autoresponse.j2"
    good = broken.read_text()
    broken.write_text(good.replace("{{ ticket.number }}", "{{ ticket.nonexistent.deeper }}"))
    pipeline = pipeline_for(db_url, processing={"max_attempts": 3, "retry_delay": 0.05},
                            paths={"templates": str(templates)})  # fmt: skip

    row = ingest(pipeline, make_message())
    deadline = time.monotonic() + 10
    while row.state == "pending" and time.monotonic() < deadline:
        time.sleep(0.05)
        process_batch(pipeline)
        row = inbound_by_id(row.id)

    assert row.state == "quarantined"
    assert row.attempts == 3
    assert "UndefinedError" in row.last_error
    assert Ticket.select().count() == 0  # everything of the failed tries was rolled back

    broken.write_text(good)
    pipeline.notifier.notices = type(pipeline.notifier.notices)(templates)
    assert requeue(row.id)
    while process_batch(pipeline):
        pass
    assert inbound_by_id(row.id).state == "done"
    assert Ticket.select().count() == 1 and Outbound.select().count() == 1


def test_kept_headers_and_recipients_are_recorded(pipeline):
    ingest(pipeline, make_message(headers={"Cc": "bob@customer.test"}))
    (entry,) = Entry.select().where(Entry.kind == "message")
    headers = json.loads(entry.headers)
    assert headers["Cc"] == "bob@customer.test"
    assert [u.email for u in ticket_queries.participants(only_ticket())] == [
        "ada@customer.test",
        "bob@customer.test",
    ]


def test_a_reply_is_stored_without_its_quoted_history_and_the_full_text_is_kept(pipeline):
    ingest(pipeline, make_message(subject="Printer on fire"))
    ticket = only_ticket()
    body = (
        "It is out now, thanks.\n\n"
        "On Sat, 28 Nov 2026 at 11:00, Test Support <support@helpdesk.test> wrote:\n"
        "> Please unplug the printer.\n"
        "> Test Support\n"
    )
    ingest(pipeline, make_message(subject=f"Re: [#{ticket.number}] Printer on fire", body=body))

    reply = messages(ticket)[-1]
    assert reply.text.strip() == "It is out now, thanks."
    assert "Please unplug the printer." in reply.full_text

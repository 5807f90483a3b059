"""Polling a real Dovecot over IMAP, on SQLite and PostgreSQL: messages become tickets
exactly once, oldest first, never marked \\Seen, then kept, moved or deleted."""

from __future__ import annotations

import json

import pytest

from maild.fetch import poll
from store.mailboxes import state_of
from store.models import Inbound, MailboxMessage, Ticket
from tests.dovecot import (
    dovecot_fixture,  # noqa: F401
    mailbox,
    numbered,
    process_all,
    ticket_subjects,
)
from tests.helpers import HELPDESK, make_message


def poll_until_empty(pipeline, name: str = "support", limit: int = 100) -> int:
    """Poll (forced, as `maild fetch` does) until nothing is left; the number of polls."""
    config = pipeline.config
    box = next(m for m in config.mailboxes if m.name == name)
    for count in range(1, limit + 1):
        result = poll(config, box, force=True)
        assert not result.error, result.error
        if not result.waiting:
            return count
    raise AssertionError("the mailbox never emptied")


def test_new_messages_become_tickets_and_stay_unread(pipeline_for, db_url, dovecot):
    dovecot.append(numbered(3))
    pipeline = pipeline_for(db_url, mailbox=[mailbox(dovecot)])

    result = poll(pipeline.config, pipeline.config.mailboxes[0], force=True)
    process_all(pipeline)

    assert [uid for uid, _, _ in result.stored] == ["1", "2", "3"]
    assert ticket_subjects() == ["Message 000", "Message 001", "Message 002"]
    row = Inbound.get(Inbound.id == result.stored[0][1])
    assert row.source == "imap:support" and row.mail_from is None
    assert json.loads(row.rcpt_to) == [HELPDESK]
    assert Ticket.get().source == "imap:support"
    assert dovecot.seen() == [] and dovecot.uids() == [1, 2, 3]  # keep: left as they were
    again = poll(pipeline.config, pipeline.config.mailboxes[0], force=True)
    assert again.stored == [] and not again.error
    assert Inbound.select().count() == 3


def test_only_new_messages_are_fetched_on_later_polls(pipeline_for, db_url, dovecot):
    pipeline = pipeline_for(db_url, mailbox=[mailbox(dovecot)])
    box = pipeline.config.mailboxes[0]
    dovecot.append(numbered(2))
    assert len(poll(pipeline.config, box, force=True).stored) == 2
    dovecot.append(numbered(2, start=2))

    result = poll(pipeline.config, box, force=True)

    assert [uid for uid, _, _ in result.stored] == ["3", "4"]
    process_all(pipeline)
    assert ticket_subjects() == [f"Message {n:03}" for n in range(4)]


def test_after_move_moves_stored_messages_to_the_folder(pipeline_for, db_url, dovecot):
    dovecot.append(numbered(3))
    table = mailbox(dovecot, after="move", move_to="Archive")
    pipeline = pipeline_for(db_url, mailbox=[table])

    result = poll(pipeline.config, pipeline.config.mailboxes[0], force=True)

    assert len(result.stored) == 3
    assert dovecot.uids() == []
    assert len(dovecot.uids(folder="Archive")) == 3
    assert dovecot.seen(folder="Archive") == []


def test_after_delete_deletes_stored_messages(pipeline_for, db_url, dovecot):
    dovecot.append(numbered(2))
    pipeline = pipeline_for(db_url, mailbox=[mailbox(dovecot, after="delete")])

    result = poll(pipeline.config, pipeline.config.mailboxes[0], force=True)

    assert len(result.stored) == 2 and dovecot.uids() == []
    process_all(pipeline)
    assert len(ticket_subjects()) == 2


@pytest.mark.slow
@pytest.mark.parametrize("after", ["keep", "move"])
def test_backlog_of_500_is_drained_in_order_none_twice(pipeline_for, db_url, dovecot, after):
    dovecot.append(numbered(500, prefix="Backlog"))
    extra = {"move_to": "Archive"} if after == "move" else {}
    pipeline = pipeline_for(
        db_url, mailbox=[mailbox(dovecot, after=after, max_per_poll=30, **extra)]
    )

    polls = poll_until_empty(pipeline)
    process_all(pipeline)

    assert polls == 17  # ceil(500 / 30): no poll takes more, none skips any
    assert ticket_subjects() == [f"Backlog {n:03}" for n in range(500)]
    assert MailboxMessage.select().where(MailboxMessage.state == "stored").count() == 500
    assert state_of("support").stored == 500
    assert dovecot.seen(folder="Archive" if after == "move" else "INBOX") == []


def test_mailbox_department_routes_through_its_address(pipeline_for, db_url, dovecot):
    dovecot.append([make_message(subject="Invoice wrong")])
    pipeline = pipeline_for(
        db_url,
        department=[{"name": "Billing", "addresses": ["billing@helpdesk.test"]}],
        mailbox=[mailbox(dovecot, department="Billing")],
    )

    result = poll(pipeline.config, pipeline.config.mailboxes[0], force=True)
    process_all(pipeline)

    row = Inbound.get(Inbound.id == result.stored[0][1])
    assert json.loads(row.rcpt_to) == ["billing@helpdesk.test"]
    assert Ticket.get().department == "Billing"


@pytest.mark.parametrize("tls", ["implicit", "starttls"])
def test_tls_with_a_private_ca(pipeline_for, db_url, dovecot, tls):
    dovecot.append(numbered(1))
    table = mailbox(dovecot, tls=tls, ca_file=str(dovecot.ca_file))
    pipeline = pipeline_for(db_url, mailbox=[table])

    result = poll(pipeline.config, pipeline.config.mailboxes[0], force=True)

    assert not result.error and len(result.stored) == 1


def test_untrusted_certificate_is_a_clear_error(pipeline_for, db_url, dovecot):
    dovecot.append(numbered(1))
    pipeline = pipeline_for(db_url, mailbox=[mailbox(dovecot, tls="implicit")])

    result = poll(pipeline.config, pipeline.config.mailboxes[0], force=True)

    assert result.error.startswith("TLS certificate not trusted")
    assert result.stored == [] and state_of("support").failures == 1


def test_too_large_message_is_recorded_and_the_rest_stored(pipeline_for, db_url, dovecot):
    big = make_message(subject="Huge", body="x" * 5000 + "\n")
    dovecot.append([*numbered(1), big, *numbered(1, start=1)])
    table = mailbox(dovecot, after="move", move_to="Archive")
    pipeline = pipeline_for(db_url, smtp={"max_message_size": 4000}, mailbox=[table])

    result = poll(pipeline.config, pipeline.config.mailboxes[0], force=True)
    process_all(pipeline)

    assert [uid for uid, _, _ in result.stored] == ["1", "3"]
    (line,) = result.rejected
    assert line.startswith("UID 2: too_large:") and "max_message_size (4000)" in line
    assert ticket_subjects() == ["Message 000", "Message 001"]
    assert dovecot.uids() == [2]  # left for a person to look at, not lost
    assert state_of("support").rejected == 1
    again = poll(pipeline.config, pipeline.config.mailboxes[0], force=True)
    assert again.rejected == [] and again.stored == [] and not again.error

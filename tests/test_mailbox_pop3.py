"""Polling a real Dovecot over POP3, on SQLite and PostgreSQL: UIDLs remembered with
"keep", deleted only after commit with "delete", a backlog drained in order, a cut
connection survived."""

from __future__ import annotations

import pytest

from maild.fetch import poll
from store.models import Inbound, MailboxMessage
from tests.dovecot import (
    TruncatingProxy,
    dovecot_fixture,  # noqa: F401
    mailbox,
    numbered,
    process_all,
    ticket_subjects,
)
from tests.helpers import make_message


def test_keep_remembers_uidls_and_fetches_only_new_ones(pipeline_for, db_url, dovecot):
    dovecot.append(numbered(2))
    pipeline = pipeline_for(db_url, mailbox=[mailbox(dovecot, "pop3")])
    box = pipeline.config.mailboxes[0]

    first = poll(pipeline.config, box, force=True)
    dovecot.append(numbered(1, start=2))
    second = poll(pipeline.config, box, force=True)
    process_all(pipeline)

    assert len(first.stored) == 2 and len(second.stored) == 1
    assert ticket_subjects() == ["Message 000", "Message 001", "Message 002"]
    assert dovecot.uids() == [1, 2, 3]
    row = Inbound.get(Inbound.id == first.stored[0][1])
    assert row.source == "pop3:support"
    uids = [m.uid for m in MailboxMessage.select().order_by(MailboxMessage.id)]
    assert uids == [uid for uid, _, _ in first.stored + second.stored]
    assert all(m.uidvalidity == 0 and m.number == 0 for m in MailboxMessage.select())


def test_delete_removes_messages_once_stored(pipeline_for, db_url, dovecot):
    dovecot.append(numbered(3))
    pipeline = pipeline_for(db_url, mailbox=[mailbox(dovecot, "pop3", after="delete")])

    result = poll(pipeline.config, pipeline.config.mailboxes[0], force=True)

    assert len(result.stored) == 3 and dovecot.uids() == []


@pytest.mark.parametrize("tls", ["implicit", "starttls"])
def test_tls_with_a_private_ca(pipeline_for, db_url, dovecot, tls):
    dovecot.append(numbered(1))
    table = mailbox(dovecot, "pop3", tls=tls, ca_file=str(dovecot.ca_file))
    pipeline = pipeline_for(db_url, mailbox=[table])

    result = poll(pipeline.config, pipeline.config.mailboxes[0], force=True)

    assert not result.error and len(result.stored) == 1


@pytest.mark.slow
@pytest.mark.parametrize("after", ["keep", "delete"])
def test_backlog_of_500_is_drained_in_order_none_twice(pipeline_for, db_url, dovecot, after):
    dovecot.append(numbered(500, prefix="Backlog"))
    table = mailbox(dovecot, "pop3", after=after, max_per_poll=30)
    pipeline = pipeline_for(db_url, mailbox=[table])
    box = pipeline.config.mailboxes[0]

    polls = 0
    while True:
        polls += 1
        result = poll(pipeline.config, box, force=True)
        assert not result.error, result.error
        if not result.waiting:
            break
    process_all(pipeline)

    assert polls == 17
    assert ticket_subjects() == [f"Backlog {n:03}" for n in range(500)]
    assert Inbound.select().count() == 500
    assert dovecot.uids() == ([] if after == "delete" else list(range(1, 501)))


def test_connection_cut_mid_retr_loses_nothing_and_doubles_nothing(pipeline_for, db_url, dovecot):
    body = ("Line of a long message. " * 30 + "\n") * 30
    dovecot.append(
        [make_message(subject=f"Long {n:03}", message_id=f"<l{n}@c.test>", body=body)
         for n in range(6)]
    )  # fmt: skip
    proxy = TruncatingProxy(dovecot.pop3_port, limit=60_000)
    try:
        table = mailbox(dovecot, "pop3", port=proxy.port, after="delete")
        pipeline = pipeline_for(db_url, mailbox=[table])
        box = pipeline.config.mailboxes[0]
        first = poll(pipeline.config, box, force=True)
        proxy.limit = None
        second = poll(pipeline.config, box, force=True)
    finally:
        proxy.close()
    process_all(pipeline)

    assert proxy.cuts == 1 and first.error.startswith("UID ")
    assert len(first.stored) + len(second.stored) == 6 and not second.error
    # The first session never reached QUIT: its deletions were undone, then redone.
    assert second.finished == len(first.stored)
    assert ticket_subjects() == [f"Long {n:03}" for n in range(6)]
    assert dovecot.uids() == []

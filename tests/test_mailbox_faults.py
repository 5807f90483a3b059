"""Polling when things go wrong, against a real Dovecot on SQLite and PostgreSQL: a
connection cut mid-fetch, `kill -9` between commit and move, a changed UIDVALIDITY, a
message the server cannot deliver, a wrong password, two pollers at once.
No message is lost, none is stored twice."""

from __future__ import annotations

import subprocess
import sys
import threading
from datetime import timedelta

import pytest

from maild.fetch import GIVE_UP_AFTER, poll
from store import mailboxes
from store.clock import now
from store.mailboxes import LeaseLost, Seen, state_of
from store.models import Inbound, MailboxState, database
from tests.dovecot import (
    PASSWORD,
    USERS,
    TruncatingProxy,
    dovecot_fixture,  # noqa: F401
    mailbox,
    numbered,
    process_all,
    ticket_subjects,
)
from tests.helpers import REPO, make_message, run_maild


def subjects(count: int, prefix: str = "Message") -> list[str]:
    return [f"{prefix} {n:03}" for n in range(count)]


def test_connection_cut_mid_fetch_loses_nothing_and_doubles_nothing(pipeline_for, db_url, dovecot):
    dovecot.append(_long_messages(6))
    proxy = TruncatingProxy(dovecot.imap_port, limit=60_000)
    try:
        table = mailbox(dovecot, port=proxy.port, after="move", move_to="Archive")
        pipeline = pipeline_for(db_url, mailbox=[table])
        box = pipeline.config.mailboxes[0]

        first = poll(pipeline.config, box, force=True)
        proxy.limit = None
        second = poll(pipeline.config, box, force=True)
    finally:
        proxy.close()
    process_all(pipeline)

    assert proxy.cuts == 1
    assert first.error.startswith("UID ") and "try 1 of" in first.error
    assert 0 < len(first.stored) < 6 and not second.error
    assert len(first.stored) + len(second.stored) == 6
    assert ticket_subjects() == subjects(6, "Long")
    assert dovecot.uids() == [] and len(dovecot.uids(folder="Archive")) == 6


def _long_messages(count: int) -> list[bytes]:
    body = ("All work and no play. " * 40 + "\n") * 25
    return [
        make_message(subject=f"Long {n:03}", message_id=f"<long-{n}@customer.test>", body=body)
        for n in range(count)
    ]


KILL_AFTER_COMMIT = """
import os, signal, sys
from maild import mailbox_imap, mailbox_pop3

def die(self, uids):
    if uids:  # the messages are committed; the move or delete never happens
        os.kill(os.getpid(), signal.SIGKILL)

mailbox_imap.ImapSource.finish = die
mailbox_pop3.Pop3Source.finish = die
from maild.cli import main
sys.exit(main(["--config", sys.argv[1], "fetch"]))
"""


@pytest.mark.parametrize(
    "table", [{"after": "move", "move_to": "Archive"}, {"after": "delete"},
              {"protocol": "pop3", "after": "delete"}],
    ids=["imap-move", "imap-delete", "pop3-delete"],
)  # fmt: skip
def test_kill_between_commit_and_move_ends_in_a_skip(pipeline_for, db_url, dovecot, table):
    dovecot.append(numbered(5))
    protocol = table.pop("protocol", "imap")
    pipeline = pipeline_for(db_url, mailbox=[mailbox(dovecot, protocol, **table)])

    killed = subprocess.run(
        [sys.executable, "-c", KILL_AFTER_COMMIT, str(pipeline.config.path)],
        cwd=REPO, capture_output=True, timeout=60,
    )  # fmt: skip
    assert killed.returncode == -9, killed.stderr.decode()
    assert Inbound.select().count() == 5 and dovecot.uids() == [1, 2, 3, 4, 5]

    # The next poll takes the dead process's lease over at once and finishes its work.
    after = poll(pipeline.config, pipeline.config.mailboxes[0], force=True)
    process_all(pipeline)

    assert not after.error and after.stored == [] and after.finished == 5
    assert Inbound.select().count() == 5
    assert ticket_subjects() == subjects(5)
    assert dovecot.uids() == []


def test_uidvalidity_change_stores_only_what_is_new(pipeline_for, db_url, dovecot):
    dovecot.append(numbered(3))
    pipeline = pipeline_for(db_url, mailbox=[mailbox(dovecot)])
    box = pipeline.config.mailboxes[0]
    assert len(poll(pipeline.config, box, force=True).stored) == 3
    dovecot.doveadm("mailbox", "update", "-u", USERS[0], "--uid-validity", "4242", "INBOX")
    dovecot.append(numbered(2, start=3))

    result = poll(pipeline.config, box, force=True)
    process_all(pipeline)

    assert result.duplicates == 3 and [u for u, _, _ in result.stored] == ["4", "5"]
    assert ticket_subjects() == subjects(5)
    assert state_of("support").uidvalidity == 4242


def test_recreated_folder_is_recognised_by_message_id_and_content(pipeline_for, db_url, dovecot):
    no_id = b"From: ada@customer.test\r\nTo: support@helpdesk.test\r\nSubject: No id\r\n\r\nhi\r\n"
    old = [*numbered(2), no_id]
    with dovecot.client() as imap:
        imap.create_folder("Support")
    dovecot.append(old, folder="Support")
    pipeline = pipeline_for(db_url, mailbox=[mailbox(dovecot, folder="Support")])
    box = pipeline.config.mailboxes[0]
    assert len(poll(pipeline.config, box, force=True).stored) == 3
    with dovecot.client() as imap:  # restored from a backup, say: new UIDVALIDITY
        imap.delete_folder("Support")
        imap.create_folder("Support")
    dovecot.append([*old, *numbered(1, start=2)], folder="Support")

    result = poll(pipeline.config, box, force=True)
    process_all(pipeline)

    assert result.duplicates == 3 and [u for u, _, _ in result.stored] == ["4"]
    assert sorted(ticket_subjects()) == sorted([*subjects(3), "No id"])


@pytest.mark.parametrize("protocol", ["imap", "pop3"])
def test_message_the_server_cannot_deliver_is_recorded_after_retries(
    pipeline_for, db_url, dovecot, protocol
):
    dovecot.append(numbered(3))
    (broken,) = [p for p in dovecot.maildir().rglob("*,S=*") if b"Message 001" in p.read_bytes()]
    broken.chmod(0)
    after = {"after": "move", "move_to": "Archive"} if protocol == "imap" else {}
    pipeline = pipeline_for(db_url, mailbox=[mailbox(dovecot, protocol, **after)])
    box = pipeline.config.mailboxes[0]

    results = [poll(pipeline.config, box, force=True) for _ in range(GIVE_UP_AFTER + 1)]
    process_all(pipeline)

    assert [len(r.stored) for r in results] == [1, 0, 0, 1]
    assert "try 1 of 3" in results[0].error and "try 2 of 3" in results[1].error
    assert "recorded as failed after 3 tries" in results[2].error
    assert not results[3].error
    assert ticket_subjects() == ["Message 000", "Message 002"]
    (problem,) = mailboxes.problems("support")
    assert problem.uid == ("2" if protocol == "imap" else problem.uid) and problem.state == "failed"
    if protocol == "imap":  # still on the server for a person to look at
        assert dovecot.uids() == [2]
    status = run_maild(pipeline.config.path, "mailbox", "status", text=True)
    assert f"UID {problem.uid}: failed:" in status.stdout


def test_wrong_password_backs_off_and_other_mailbox_keeps_working(pipeline_for, db_url, dovecot):
    dovecot.append(numbered(2), user=USERS[1])
    wrong = mailbox(dovecot, password="not-the-password", interval=60)
    billing = mailbox(dovecot, name="billing", username=USERS[1], interval=60)
    pipeline = pipeline_for(db_url, mailbox=[wrong, billing])
    support_box, billing_box = pipeline.config.mailboxes

    first = poll(pipeline.config, support_box)
    stored = poll(pipeline.config, billing_box)
    not_due = poll(pipeline.config, support_box)
    second = poll(pipeline.config, support_box, force=True)

    assert first.error.startswith("login failed:") and "AUTHENTICATIONFAILED" in first.error
    assert "not-the-password" not in first.error and PASSWORD not in first.error
    assert not_due.busy == "not due" and not not_due.error
    assert len(stored.stored) == 2 and not stored.error
    state = state_of("support")
    assert state.failures == 2 and state.last_error == second.error
    assert 110 <= (state.next_poll - state.last_poll).total_seconds() <= 121  # 2 x interval
    assert state_of("billing").failures == 0
    status = run_maild(pipeline.config.path, "mailbox", "status", text=True).stdout
    assert "\terror\t" in status and "2 failed polls in a row" in status
    assert "not-the-password" not in status


def test_one_poller_at_a_time_and_an_expired_lease_is_taken_over(pipeline_for, db_url, dovecot):
    dovecot.append(numbered(2))
    pipeline = pipeline_for(db_url, mailbox=[mailbox(dovecot)])
    box = pipeline.config.mailboxes[0]
    assert mailboxes.claim("support", "other-host/boot/1") is not None

    busy = poll(pipeline.config, box, owner="this-host/boot/2", force=True)
    MailboxState.update(lease_until=now() - timedelta(seconds=1)).execute()
    taken = poll(pipeline.config, box, owner="this-host/boot/2", force=True)

    assert busy.busy == "polled by other-host/boot/1" and busy.stored == []
    assert len(taken.stored) == 2


def test_a_poller_that_lost_its_lease_stores_nothing(pipeline_for, db_url):
    pipeline_for(db_url)
    assert mailboxes.claim("support", "slow/boot/1") is not None
    MailboxState.update(lease_until=now() - timedelta(seconds=1)).execute()
    assert mailboxes.claim("support", "fast/boot/2", force=True) is not None

    with pytest.raises(LeaseLost):
        mailboxes.record("support", "slow/boot/1", 1, [Seen("1", 1, 5, "k", b"x")],
                         source="imap:support", rcpt_to=[])  # fmt: skip
    assert Inbound.select().count() == 0


@pytest.mark.slow
def test_two_pollers_racing_store_each_message_once(pipeline_for, db_url, dovecot):
    dovecot.append(numbered(200, prefix="Race"))
    table = mailbox(dovecot, after="move", move_to="Archive", max_per_poll=15)
    pipeline = pipeline_for(db_url, mailbox=[table])
    box = pipeline.config.mailboxes[0]
    errors: list[str] = []

    def poller(owner: str) -> None:
        try:
            for _ in range(200):
                result = poll(pipeline.config, box, owner=owner, force=True)
                errors.extend([result.error] if result.error else [])
                if not result.busy and not result.waiting and not result.error:
                    return
        finally:
            database.close()  # this thread's connection

    threads = [threading.Thread(target=poller, args=(f"daemon-{n}/b/{n}",)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    process_all(pipeline)

    assert not errors
    assert Inbound.select().count() == 200
    assert ticket_subjects() == subjects(200, "Race")

"""Mailbox polling as an operator runs it: inside `maild run` (its own threads, IDLE, a hung
server that blocks nobody), `maild fetch` and `maild mailbox status`."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time

import pytest

from store.db import close_database, open_database
from store.models import Ticket
from tests.dovecot import (
    PASSWORD,
    USERS,
    dovecot_fixture,  # noqa: F401
    mailbox,
    numbered,
)
from tests.helpers import make_message, run_maild, send, wait_until


@pytest.fixture
def tickets_in(db_url):
    """`tickets_in()`: subjects of the tickets in the daemon's database, oldest first."""
    opened = []

    def subjects() -> list[str]:
        if not opened:
            opened.append(open_database(db_url, migrate=False))
        return [t.subject for t in Ticket.select(Ticket.subject).order_by(Ticket.id)]

    yield subjects
    close_database()


@pytest.fixture
def hung_server():
    """A port that accepts connections and never says a word."""
    server = socket.create_server(("127.0.0.1", 0), backlog=16)
    yield server.getsockname()[1]
    server.close()


def test_daemon_polls_its_mailboxes_and_a_hung_one_blocks_nobody(
    daemon_for, db_url, dovecot, tickets_in, hung_server
):
    dovecot.append(numbered(2))
    dovecot.append(numbered(1, prefix="Pop"), user=USERS[1])
    daemon = daemon_for(
        db_url,
        mailbox=[
            mailbox(dovecot, name="hung", port=hung_server, timeout=60.0),
            mailbox(dovecot),
            mailbox(dovecot, "pop3", name="billing", username=USERS[1], after="delete"),
        ],
    )
    send(daemon.smtp_port, make_message(subject="By SMTP"))

    wait_until(lambda: len(tickets_in()) == 4, timeout=30, what="four tickets")
    dovecot.append(numbered(1, start=2))
    wait_until(lambda: len(tickets_in()) == 5, timeout=30, what="the later message")

    assert sorted(tickets_in()) == ["By SMTP", "Message 000", "Message 001", "Message 002",
                                    "Pop 000"]  # fmt: skip
    assert dovecot.uids(user=USERS[1]) == []
    status = run_maild(daemon.config_path, "mailbox", "status", text=True).stdout
    lines = {line.split("\t")[0]: line.split("\t") for line in status.splitlines()}
    assert lines["support"][3] == "ok" and lines["support"][5] == "3"
    assert lines["billing"][1] == "pop3" and lines["billing"][3] == "ok"
    assert lines["hung"][3] == "never polled"  # still waiting for a greeting


def test_idle_brings_new_mail_in_at_once(daemon_for, db_url, dovecot, tickets_in):
    daemon = daemon_for(db_url, mailbox=[mailbox(dovecot, idle=True, interval=600)])
    wait_until(lambda: tickets_in() == [] and _polled(dovecot), what="the first poll")

    dovecot.append(numbered(1))

    with _logs_on_failure(daemon, dovecot):
        wait_until(lambda: tickets_in() == ["Message 000"], timeout=15, what="ticket via IDLE")


def test_mail_that_came_while_the_idle_connection_hung_is_fetched_when_it_breaks(
    daemon_for, db_url, dovecot, tickets_in
):
    """A connection that hangs (a dead route) announces nothing; when it finally breaks,
    the daemon polls at once instead of waiting for the next interval."""
    daemon = daemon_for(db_url, mailbox=[mailbox(dovecot, idle=True, interval=600)])
    wait_until(lambda: tickets_in() == [] and _polled(dovecot), what="the first poll")
    (watcher,) = wait_until(lambda: len(p := _imap_pids(dovecot)) == 1 and p, what="one IDLE")

    os.kill(watcher, signal.SIGSTOP)  # the server side of the IDLE connection hangs
    try:
        dovecot.append(numbered(1))
        time.sleep(1.0)
        assert tickets_in() == []  # nobody announced it, and the next poll is 10 minutes away
    finally:
        os.kill(watcher, signal.SIGKILL)  # ... and then the connection breaks

    with _logs_on_failure(daemon, dovecot):
        wait_until(lambda: tickets_in() == ["Message 000"], timeout=20, what="the poll after")


@contextlib.contextmanager
def _logs_on_failure(daemon, dovecot):
    """Re-raise a failed wait with what the daemon and Dovecot logged."""
    try:
        yield
    except AssertionError as exc:
        raise AssertionError(
            f"{exc}\n--- daemon log\n{daemon.log.read_text()[-4000:]}"
            f"\n--- dovecot log\n{(dovecot.dir / 'dovecot.log').read_text()[-4000:]}"
        ) from None


def _imap_pids(dovecot) -> list[int]:
    """The processes serving IMAP connections of the test's first user now."""
    lines = dovecot.doveadm("who", "-1", USERS[0]).splitlines()[1:]
    return [int(pid) for line in lines for pid in line.split()[2].strip("()").split()]


def _polled(dovecot) -> bool:
    """Whether someone other than this test has logged in to the mailbox yet."""
    log = (dovecot.dir / "dovecot.log").read_text()
    return "imap-login: Info: Login: user=<support@helpdesk.test>" in log


def test_wrong_password_in_the_daemon_shows_in_status(daemon_for, db_url, dovecot, tickets_in):
    dovecot.append(numbered(1), user=USERS[1])
    daemon = daemon_for(
        db_url,
        mailbox=[
            mailbox(dovecot, password="wrong-wrong"),
            mailbox(dovecot, name="billing", username=USERS[1]),
        ],
    )

    wait_until(lambda: tickets_in() == ["Message 000"], what="the good mailbox's ticket")

    def status() -> str:
        return run_maild(daemon.config_path, "mailbox", "status", text=True).stdout

    text = wait_until(lambda: "\terror\t" in (s := status()) and s, what="an error state")
    (line,) = [line for line in text.splitlines() if line.startswith("support\t")]
    assert "login failed: [AUTHENTICATIONFAILED]" in line
    assert "wrong-wrong" not in text and PASSWORD not in text


def test_fetch_command_polls_now_prints_and_processes(config_for, db_url, dovecot, tickets_in):
    dovecot.append(numbered(2))
    config = config_for(db_url, mailbox=[mailbox(dovecot, after="move", move_to="Archive")])

    done = run_maild(config.path, "fetch", text=True)

    assert done.returncode == 0, done.stderr
    first, *stored = done.stdout.splitlines()
    assert first == "support: stored 2"
    assert stored[0].startswith("  UID 1: stored as inbound ")
    assert stored[0].endswith("<message-0@customer.test>")
    assert tickets_in() == ["Message 000", "Message 001"]  # no daemon: processed here
    assert dovecot.uids(folder="Archive") == [1, 2]
    again = run_maild(config.path, "fetch", "--mailbox", "support", text=True)
    assert again.stdout == "support: stored 0\n"
    unknown = run_maild(config.path, "fetch", "--mailbox", "nope", text=True)
    assert unknown.returncode == 1 and "no mailbox 'nope'" in unknown.stderr


def test_fetch_command_reports_an_error_and_fails(config_for, db_url, dovecot):
    config = config_for(db_url, mailbox=[mailbox(dovecot, password="bad")])

    done = run_maild(config.path, "fetch", text=True)

    assert done.returncode == 1
    assert done.stdout.startswith("support: stored 0; error: login failed:")
    assert "bad" not in done.stdout.replace("login failed", "")

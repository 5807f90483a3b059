"""`kill -9` under load: every message that got `250` is exactly one ticket, none twice.

Four clients send 500 messages to `maild run`; the daemon is killed with SIGKILL midway and
restarted. Like an MTA, a client resends whatever did not get a `250`, so a message stored
just before the kill is offered again and must be deduplicated, not doubled.
"""

from __future__ import annotations

import smtplib
import threading
import time
from collections import Counter

from peewee import fn

from store.db import close_database, open_database
from store.models import Entry, Inbound, Ticket
from tests.helpers import HELPDESK, make_message

TOTAL = 500
CLIENTS = 4


class Client(threading.Thread):
    def __init__(self, port: int, ids: list[str]) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.pending = list(ids)
        self.accepted: list[str] = []
        self.smtp: smtplib.SMTP | None = None

    def run(self) -> None:
        deadline = time.monotonic() + 120
        while self.pending and time.monotonic() < deadline:
            message_id = self.pending[0]
            raw = make_message(subject=f"Crash test {message_id}", message_id=f"<{message_id}>")
            try:
                if self.smtp is None:
                    self.smtp = smtplib.SMTP("127.0.0.1", self.port, timeout=10)
                self.smtp.sendmail("ada@customer.test", [HELPDESK], raw)
            except (OSError, smtplib.SMTPException):
                self.smtp = None
                time.sleep(0.05)
                continue
            self.accepted.append(message_id)
            self.pending.pop(0)
        if self.smtp is not None:
            self.smtp.quit()


def run_crash_scenario(daemon) -> None:
    ids = [f"crash-{n}@customer.test" for n in range(TOTAL)]
    clients = [Client(daemon.smtp_port, ids[i::CLIENTS]) for i in range(CLIENTS)]
    for client in clients:
        client.start()
    while sum(len(c.accepted) for c in clients) < TOTAL // 3:
        time.sleep(0.01)
    daemon.kill()
    accepted_at_kill = sum(len(c.accepted) for c in clients)
    time.sleep(0.5)
    daemon.start()
    for client in clients:
        client.join(timeout=150)
    accepted = [m for c in clients for m in c.accepted]
    assert accepted_at_kill < TOTAL, "the kill came too late to test anything"
    assert sorted(accepted) == sorted(ids)

    open_database(_url(daemon), migrate=False)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if not Inbound.select().where(Inbound.state == "pending").exists():
                break
            time.sleep(0.2)
        per_message = Counter(
            dict(
                Entry.select(Entry.message_id, fn.COUNT(Entry.id))
                .where(Entry.kind == "message")
                .group_by(Entry.message_id)
                .tuples()
            )
        )
        assert set(per_message) == set(ids)
        assert max(per_message.values()) == 1
        assert Ticket.select().count() == TOTAL
        states = Counter(state for (state,) in Inbound.select(Inbound.state).tuples())
        assert set(states) <= {"done", "duplicate"}, states
    finally:
        close_database()


def _url(daemon) -> str:
    from maild.config import load

    return load(daemon.config_path).store.url


def test_kill_9_under_load_loses_and_doubles_nothing(daemon_for, db_url):
    daemon = daemon_for(db_url, notices={"new_ticket_autoresponse": False})
    run_crash_scenario(daemon)

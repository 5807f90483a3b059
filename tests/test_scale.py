"""Several daemons sharing one PostgreSQL database: every message once, every notice once."""

from __future__ import annotations

import threading
import time
from collections import Counter

from peewee import fn

from store.db import close_database, open_database
from store.models import Entry, Inbound, Outbound
from tests.helpers import make_message, send

MESSAGES = 200


def test_two_daemons_on_one_postgresql_share_the_work_exactly_once(daemon_for, pg_database, sink):
    from tests.conftest import _reset_pg

    _reset_pg(pg_database)
    generous = {"autoresponse_limit": MESSAGES * 2}
    daemons = [daemon_for(pg_database, notices=generous) for _ in range(2)]
    ids = [f"shared-{n}@customer.test" for n in range(MESSAGES)]

    def client(port: int, mine: list[str]) -> None:
        for message_id in mine:
            send(port, make_message(subject=f"Shared {message_id}", message_id=f"<{message_id}>"))

    threads = [
        threading.Thread(target=client, args=(d.smtp_port, ids[i::2]))
        for i, d in enumerate(daemons)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    sink.wait_for(MESSAGES, timeout=60)
    time.sleep(1.0)  # a duplicate notice would arrive after the last one
    recipients = Counter(tuple(rcpts) for _, rcpts, _ in sink.messages)
    assert len(sink.messages) == MESSAGES
    assert recipients == {("ada@customer.test",): MESSAGES}

    open_database(pg_database, migrate=False)
    try:
        per_message = dict(
            Entry.select(Entry.message_id, fn.COUNT(Entry.id))
            .where(Entry.kind == "message")
            .group_by(Entry.message_id)
            .tuples()
        )
        assert set(per_message) == set(ids) and set(per_message.values()) == {1}
        assert not Inbound.select().where(Inbound.state != "done").exists()
        assert Outbound.select().where(Outbound.state == "sent").count() == MESSAGES
    finally:
        close_database()

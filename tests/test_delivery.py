"""Outbound delivery against real SMTP servers on loopback that answer what each test says."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

from maild.config import load
from maild.delivery import Deliverer, run_sender
from store import outbound
from store.clock import now
from store.models import database
from tests.helpers import HELPDESK, free_port, make_message, write_config

CUSTOMER = "ada@customer.test"


class _CountingSMTP(SMTP):
    """An SMTP session that tells its relay when the client hangs up."""

    def __init__(self, relay: ScriptedRelay, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.relay = relay

    def connection_lost(self, error) -> None:
        session = self.session
        super().connection_lost(error)
        with self.relay.lock:
            self.relay.live.discard(id(session))


class _Script:
    def __init__(self, relay: ScriptedRelay) -> None:
        self.relay = relay

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        with self.relay.lock:
            self.relay.connections += 1
            self.relay.live.add(id(session))
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        answer = self.relay.answers.get(("RCPT", address))
        if answer:
            return answer
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.relay.lock:
            self.relay.data_attempts += 1
        for address in envelope.rcpt_tos:
            answer = self.relay.answers.get(("DATA", address))
            if answer:
                return answer
        with self.relay.lock:
            self.relay.messages.append(
                (envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content)
            )
        return "250 OK"


class ScriptedRelay(Controller):
    """A relay whose answer to RCPT or DATA, per recipient, the test chooses.

    `answers[("DATA", "ada@customer.test")] = "451 4.3.0 try later"`; counts the
    connections that said EHLO and keeps the ones still open in `live`.
    """

    def __init__(self, port: int | None = None, *, smtputf8: bool = True) -> None:
        self.answers: dict[tuple[str, str], str] = {}
        self.messages: list[tuple[str, list[str], bytes]] = []
        self.connections = 0
        self.data_attempts = 0
        self.live: set[int] = set()
        self.lock = threading.Lock()
        super().__init__(
            _Script(self),
            hostname="127.0.0.1",
            port=port or free_port(),
            enable_SMTPUTF8=smtputf8,
        )

    def factory(self) -> SMTP:
        return _CountingSMTP(self, self.handler, **self.SMTP_kwargs)

    def wait_idle(self, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while self.live and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not self.live, "the client kept its connection open"


@pytest.fixture
def relay() -> Iterator[ScriptedRelay]:
    server = ScriptedRelay()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def deliverer_for(tmp_path):
    """`deliverer_for(db_url, relay_port, **sections)`: a Deliverer on an open database."""
    made: list[Deliverer] = []

    def make(db_url: str, relay_port: int, **sections) -> Deliverer:
        from store.db import open_database

        config = load(write_config(tmp_path, db_url=db_url, relay_port=relay_port, **sections))
        open_database(config.store.url)
        made.append(Deliverer(config))
        return made[-1]

    yield make
    from store.db import close_database

    for deliverer in made:
        deliverer.close()
    close_database()


def queue(n: int = 1, *, to: tuple[str, ...] = (CUSTOMER,)) -> list[tuple[int, bytes]]:
    """Queue `n` notices; their (id, raw bytes)."""
    rows = []
    for i in range(n):
        message_id = f"<notice.{time.monotonic_ns()}.{i}@helpdesk.test>"
        raw = make_message(
            sender=HELPDESK, to=", ".join(to), subject=f"Notice {i}", message_id=message_id
        )
        row_id = outbound.enqueue(
            kind="test", mail_from=HELPDESK, recipients=to, message_id=message_id, raw=raw
        )
        rows.append((row_id, raw))
    return rows


def state(row_id: int):
    return outbound.outbound_by_id(row_id)


def pass_when_due(deliverer: Deliverer, timeout: float = 5.0) -> int:
    """Run delivery passes until one finds something due; how many it attempted."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        attempted = deliverer.deliver_due()
        if attempted:
            return attempted
        time.sleep(0.02)
    raise AssertionError("nothing became due")


# -- success ----------------------------------------------------------------------------


def test_queued_message_reaches_relay_unchanged_and_is_marked_sent(db_url, relay, deliverer_for):
    deliverer = deliverer_for(db_url, relay.port)
    ((row_id, raw),) = queue()

    assert deliverer.deliver_due() == 1

    assert relay.messages == [(HELPDESK, [CUSTOMER], raw)]
    row = state(row_id)
    assert row.state == "sent"
    assert row.sent is not None
    assert row.last_error == ""
    assert deliverer.deliver_due() == 0


def test_one_connection_carries_many_messages_and_is_closed_when_idle(db_url, relay, deliverer_for):
    deliverer = deliverer_for(db_url, relay.port)
    queue(5)
    assert deliverer.deliver_due() == 5
    queue(3)
    assert deliverer.deliver_due() == 3

    assert len(relay.messages) == 8
    assert relay.connections == 1

    queue(4)
    stop, wake = threading.Event(), threading.Event()

    def body() -> None:
        try:
            run_sender(deliverer, stop, wake)
        finally:
            database.close()  # the thread's own connection, as the daemon does

    sender = threading.Thread(target=body, daemon=True)
    sender.start()
    try:
        deadline = time.monotonic() + 5
        while len(relay.messages) < 12 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(relay.messages) == 12
        relay.wait_idle()
        assert sender.is_alive()
        assert relay.connections == 1
    finally:
        stop.set()
        wake.set()
        sender.join(timeout=5)
    assert not sender.is_alive()


def test_without_relay_host_mail_is_written_to_the_outbox_maildir(db_url, deliverer_for):
    deliverer = deliverer_for(db_url, free_port(), relay={"host": ""})
    rows = queue(2)

    assert deliverer.deliver_due() == 2

    new = deliverer.config.paths.data / "outbox" / "new"
    files = sorted(new.iterdir())
    assert sorted(f.read_bytes() for f in files) == sorted(raw for _, raw in rows)
    assert all(state(row_id).state == "sent" for row_id, _ in rows)


# -- temporary failures -----------------------------------------------------------------


@pytest.mark.parametrize("stage", ["RCPT", "DATA"])
def test_4xx_keeps_message_pending_then_a_later_pass_delivers_it(
    db_url, relay, deliverer_for, stage
):
    deliverer = deliverer_for(db_url, relay.port)
    relay.answers[(stage, CUSTOMER)] = "451 4.3.0 try later"
    ((row_id, raw),) = queue()

    assert deliverer.deliver_due() == 1

    row = state(row_id)
    assert row.state == "pending"
    assert "451" in row.last_error
    assert "try later" in row.last_error
    assert row.next_try > now()
    assert relay.messages == []
    assert deliverer.deliver_due() == 0, "retried before its delay"

    del relay.answers[(stage, CUSTOMER)]
    assert pass_when_due(deliverer) == 1

    assert relay.messages == [(HELPDESK, [CUSTOMER], raw)]
    row = state(row_id)
    assert row.state == "sent"
    assert row.last_error == ""


def test_relay_down_is_retried_until_it_comes_back(db_url, deliverer_for):
    down = ScriptedRelay()
    deliverer = deliverer_for(db_url, down.port)
    ((row_id, raw),) = queue()

    assert deliverer.deliver_due() == 1
    row = state(row_id)
    assert row.state == "pending"
    assert "127.0.0.1" in row.last_error
    assert row.next_try > now()

    assert pass_when_due(deliverer) == 1
    assert state(row_id).state == "pending"

    down.start()
    try:
        assert pass_when_due(deliverer) == 1
        assert state(row_id).state == "sent"
        assert down.messages == [(HELPDESK, [CUSTOMER], raw)]
    finally:
        deliverer.close()
        down.stop()


def test_gives_up_after_max_attempts(db_url, deliverer_for):
    deliverer = deliverer_for(
        db_url, free_port(), outbound={"max_attempts": 2, "retry_delay": 0.05}
    )
    ((row_id, _),) = queue()

    deadline = time.monotonic() + 10
    while state(row_id).state == "pending" and time.monotonic() < deadline:
        deliverer.deliver_due()
        time.sleep(0.02)

    row = state(row_id)
    assert row.state == "failed"
    assert row.last_error.startswith("gave up")
    assert "127.0.0.1" in row.last_error
    time.sleep(0.15)  # longer than any retry delay: a failed row is never due again
    assert deliverer.deliver_due() == 0


def test_max_attempts_is_the_number_of_delivery_attempts(db_url, relay, deliverer_for):
    deliverer = deliverer_for(db_url, relay.port, outbound={"max_attempts": 3, "retry_delay": 0.05})
    relay.answers[("DATA", CUSTOMER)] = "451 4.3.0 try later"
    ((row_id, _),) = queue()

    deadline = time.monotonic() + 10
    while state(row_id).state == "pending" and time.monotonic() < deadline:
        deliverer.deliver_due()
        time.sleep(0.02)

    assert state(row_id).state == "failed"
    assert relay.data_attempts == 3
    assert state(row_id).last_error.startswith("gave up after 3 attempts")


def test_first_retry_waits_retry_delay(db_url, relay, deliverer_for):
    deliverer = deliverer_for(db_url, relay.port, outbound={"retry_delay": 40.0})
    relay.answers[("DATA", CUSTOMER)] = "451 4.3.0 try later"
    ((row_id, _),) = queue()
    before = now()

    deliverer.deliver_due()

    wait = (state(row_id).next_try - before).total_seconds()
    assert 39 <= wait <= 45


# -- permanent failures -----------------------------------------------------------------


@pytest.mark.parametrize("stage", ["RCPT", "DATA"])
def test_5xx_fails_message_with_the_servers_reason(db_url, relay, deliverer_for, stage):
    deliverer = deliverer_for(db_url, relay.port, outbound={"retry_delay": 0.05})
    relay.answers[(stage, CUSTOMER)] = "550 5.7.1 no"
    ((row_id, _),) = queue()

    assert deliverer.deliver_due() == 1

    row = state(row_id)
    assert row.state == "failed"
    assert "550" in row.last_error
    assert "5.7.1 no" in row.last_error
    assert relay.messages == []
    time.sleep(0.15)
    assert deliverer.deliver_due() == 0


def test_one_refused_message_does_not_hold_up_the_others(db_url, relay, deliverer_for):
    deliverer = deliverer_for(db_url, relay.port)
    relay.answers[("RCPT", "gone@customer.test")] = "550 5.1.1 no such user"
    relay.answers[("DATA", "busy@customer.test")] = "451 4.3.0 try later"
    (first, _), (gone, _), (busy, _), (last, _) = (
        *queue(),
        *queue(to=("gone@customer.test",)),
        *queue(to=("busy@customer.test",)),
        *queue(),
    )

    assert deliverer.deliver_due() == 4

    assert [state(i).state for i in (first, gone, busy, last)] == [
        "sent",
        "failed",
        "pending",
        "sent",
    ]
    assert "no such user" in state(gone).last_error
    assert len(relay.messages) == 2


def test_recipient_deferred_while_another_accepts_gets_the_message_later(
    db_url, relay, deliverer_for
):
    deliverer = deliverer_for(db_url, relay.port, outbound={"retry_delay": 0.05})
    relay.answers[("RCPT", "bob@customer.test")] = "451 4.2.1 mailbox busy"
    queue(to=(CUSTOMER, "bob@customer.test"))

    deliverer.deliver_due()
    del relay.answers[("RCPT", "bob@customer.test")]
    deadline = time.monotonic() + 0.6
    while time.monotonic() < deadline:
        deliverer.deliver_due()
        time.sleep(0.02)

    delivered_to = {rcpt for _, rcpts, _ in relay.messages for rcpt in rcpts}
    assert delivered_to == {CUSTOMER, "bob@customer.test"}


def test_non_ascii_recipient_is_sent_with_smtputf8_when_the_relay_offers_it(
    db_url, relay, deliverer_for
):
    deliverer = deliverer_for(db_url, relay.port)
    ((first, raw),) = queue()
    ((eai, eai_raw),) = queue(to=("jösé@customer.test",))

    deliverer.deliver_due()

    assert state(first).state == "sent" and state(eai).state == "sent"
    assert relay.messages == [
        (HELPDESK, [CUSTOMER], raw),
        (HELPDESK, ["jösé@customer.test"], eai_raw),
    ]


def test_non_ascii_recipient_fails_alone_when_the_relay_lacks_smtputf8(db_url, deliverer_for):
    plain = ScriptedRelay(smtputf8=False)
    plain.start()
    try:
        deliverer = deliverer_for(db_url, plain.port)
        ((eai, _),) = queue(to=("jösé@customer.test",))
        ((after, raw),) = queue()

        deliverer.deliver_due()

        row = state(eai)
        assert row.state == "failed" and "SMTPUTF8" in row.last_error
        assert state(after).state == "sent"
        assert plain.messages == [(HELPDESK, [CUSTOMER], raw)]
    finally:
        plain.stop()

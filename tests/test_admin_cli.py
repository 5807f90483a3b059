"""The admin commands, run as an operator runs them: `python -m maild --config PATH ...`."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from tests.helpers import HELPDESK, free_port, make_message, run_maild, write_config

REPO = Path(__file__).resolve().parent.parent

NO_SENDER = (
    b"To: support@helpdesk.test\r\n"
    b"Subject: Who am I\r\n"
    b"Date: Sat, 28 Nov 2026 10:00:00 +0000\r\n"
    b"Message-ID: <nobody.1@customer.test>\r\n"
    b"\r\n"
    b"There is no From header in this message.\r\n"
)


def maild(config: Path, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return run_maild(config, *args, stdin=stdin)


def ok(config: Path, *args: str, stdin: bytes | None = None) -> str:
    result = maild(config, *args, stdin=stdin)
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout.decode()


def rows(output: str) -> list[list[str]]:
    return [line.split("\t") for line in output.splitlines()]


def field(output: str, name: str) -> str:
    """The value of `name:` in `show` output."""
    for line in output.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() == name:
            return value.strip()
    raise AssertionError(f"no {name!r} in {output!r}")


class _Answering:
    def __init__(self) -> None:
        self.answer = "550 5.7.1 relaying denied"
        self.received: list[bytes] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        if self.answer.startswith("250"):
            with self.lock:
                self.received.append(envelope.original_content)
        return self.answer


@pytest.fixture
def relay() -> Iterator[tuple[int, _Answering]]:
    """A real relay on loopback that refuses every message until told otherwise."""
    handler = _Answering()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller.port, handler
    controller.stop()


@pytest.fixture
def config(tmp_path) -> Path:
    """A pipe-only set-up on SQLite whose notices go to the outbox maildir."""
    return write_config(
        tmp_path,
        db_url=f"sqlite:///{tmp_path}/maild.db",
        relay_port=free_port(),
        relay={"host": ""},
    )


# -- quarantine -------------------------------------------------------------------------


def test_message_without_sender_is_quarantined_with_its_reason(config, tmp_path):
    ok(config, "pipe", "-f", "someone@customer.test", HELPDESK, stdin=NO_SENDER)

    (row,) = rows(ok(config, "quarantine", "list"))
    message_id, reason = row[0], row[-1]
    assert "pipe" in row
    assert "From" in reason

    shown = ok(config, "quarantine", "show", message_id)
    assert field(shown, "state") == "quarantined"
    assert field(shown, "subject") == "Who am I"
    assert "nobody.1@customer.test" in field(shown, "message-id")
    assert "From" in field(shown, "reason")
    assert "someone@customer.test" in field(shown, "envelope")
    assert field(shown, "size") == f"{len(NO_SENDER)} bytes"

    exported = tmp_path / "exported.eml"
    ok(config, "quarantine", "export", message_id, "-o", str(exported))
    assert exported.read_bytes() == NO_SENDER

    to_stdout = maild(config, "quarantine", "export", message_id)
    assert to_stdout.returncode == 0
    assert to_stdout.stdout == NO_SENDER

    assert rows(ok(config, "ticket", "list")) == []


def test_retry_requeues_and_processing_again_quarantines_it_again(config):
    ok(config, "pipe", stdin=NO_SENDER)
    ((message_id, *_),) = rows(ok(config, "quarantine", "list"))

    assert "queued" in ok(config, "quarantine", "retry", message_id)

    shown = ok(config, "quarantine", "show", message_id)
    assert field(shown, "state") == "pending"
    assert field(shown, "attempts") == "0"
    assert "empty" in ok(config, "quarantine", "list")

    # The next pipe processes the backlog too: the unfixed message goes back, with its reason.
    ok(config, "pipe", stdin=make_message(subject="Unrelated"))

    (row,) = rows(ok(config, "quarantine", "list"))
    assert row[0] == message_id
    assert "From" in row[-1]
    assert field(ok(config, "quarantine", "show", message_id), "state") == "quarantined"
    (ticket,) = rows(ok(config, "ticket", "list"))
    assert ticket[-1] == "Unrelated"


def test_retry_of_a_message_that_is_not_quarantined_is_refused(config):
    ok(config, "pipe", stdin=make_message())

    result = maild(config, "quarantine", "retry", "1")

    assert result.returncode == 1
    assert b"1" in result.stderr
    assert rows(ok(config, "ticket", "list")) != []


# -- outbound ---------------------------------------------------------------------------


def test_failed_notice_is_listed_and_retry_sends_it_once_the_relay_accepts(tmp_path, relay):
    port, handler = relay
    config = write_config(tmp_path, db_url=f"sqlite:///{tmp_path}/maild.db", relay_port=port)
    ok(config, "pipe", stdin=make_message(sender="ada@customer.test"))

    (row,) = rows(ok(config, "outbound", "list"))
    notice_id = row[0]
    assert row[1] == "failed"
    assert "ada@customer.test" in row
    assert "5.7.1 relaying denied" in row[-1]
    assert rows(ok(config, "outbound", "list", "--state", "failed")) == [row]
    assert ok(config, "outbound", "list", "--state", "sent") == ""

    assert "queued" in ok(config, "outbound", "retry", notice_id)
    (row,) = rows(ok(config, "outbound", "list", "--state", "pending"))
    assert row[0] == notice_id
    assert "attempts=0" in row

    # Cause fixed: the next pipe delivers what is due, the retried notice included.
    handler.answer = "250 OK"
    ok(config, "pipe", stdin=make_message(sender="bob@customer.test", subject="Second"))

    sent = rows(ok(config, "outbound", "list", "--state", "sent"))
    assert sorted(r[0] for r in sent) == sorted([notice_id, str(int(notice_id) + 1)])
    assert len(handler.received) == 2

    refused = maild(config, "outbound", "retry", notice_id)
    assert refused.returncode == 1
    assert notice_id.encode() in refused.stderr


# -- tickets ----------------------------------------------------------------------------


def test_ticket_list_and_show(config):
    ok(config, "pipe", stdin=make_message(sender="Ada <ada@customer.test>", subject="Printer"))
    ok(
        config,
        "pipe",
        stdin=make_message(
            sender="Bob <bob@customer.test>", subject="Scanner", body="The scanner hums.\n"
        ),
    )

    newest, oldest = rows(ok(config, "ticket", "list"))
    assert newest[1:] == ["open", "bob@customer.test", "Scanner"]
    assert oldest[1:] == ["open", "ada@customer.test", "Printer"]
    assert rows(ok(config, "ticket", "list", "--limit", "1")) == [newest]
    assert ok(config, "ticket", "list", "--status", "closed") == ""

    shown = ok(config, "ticket", "show", newest[0])
    assert newest[0] in field(shown, "ticket")
    assert field(shown, "subject") == "Scanner"
    assert "bob@customer.test" in field(shown, "people")
    assert "The scanner hums." in shown
    assert "The printer in room 4" not in shown


# -- mistakes ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ("quarantine", "show", "4242"),
        ("quarantine", "retry", "4242"),
        ("quarantine", "export", "4242"),
        ("outbound", "retry", "4242"),
        ("ticket", "show", "4242"),
    ],
)
def test_unknown_id_exits_1_naming_it(config, args):
    result = maild(config, *args)
    assert result.returncode == 1
    assert b"4242" in result.stderr
    assert result.stdout == b""


def test_id_that_is_not_a_number_is_a_usage_error(config):
    result = maild(config, "quarantine", "show", "latest")
    assert result.returncode not in (0, 1)
    assert b"latest" in result.stderr

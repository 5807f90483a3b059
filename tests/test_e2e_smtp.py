"""A running `maild run`, real SMTP in, a real relay sink out: the spine end to end."""

from __future__ import annotations

import time

import pytest

from tests.helpers import HELPDESK, make_message, reply_to, run_maild, send, wait_until


def maild(daemon, *args: str) -> str:
    result = run_maild(daemon.config_path, *args, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout


def tickets(daemon) -> list[list[str]]:
    return [line.split("\t") for line in maild(daemon, "ticket", "list").splitlines()]


@pytest.fixture
def daemon(daemon_for, tmp_path):
    return daemon_for(f"sqlite:///{tmp_path}/maild.db")


def test_message_becomes_ticket_and_autoresponse_reaches_relay(daemon, sink):
    send(daemon.smtp_port, make_message(subject="Printer on fire"))

    (notice,) = sink.wait_for(1)
    (ticket,) = tickets(daemon)
    number = ticket[0]
    assert ticket[2] == "ada@customer.test"
    assert notice["Subject"] == f"[#{number}] Printer on fire"
    assert notice["Auto-Submitted"] == "auto-replied"
    assert notice["Message-ID"].startswith(f"<maild.{number}.")
    assert notice["Message-ID"].endswith("@helpdesk.test>")
    assert notice["To"] == "Ada Lovelace <ada@customer.test>"
    assert sink.messages[0][1] == ["ada@customer.test"]
    assert number in notice.get_body(("plain",)).get_content()


def test_reply_with_token_lands_in_same_ticket_without_quoted_history(daemon, sink):
    send(daemon.smtp_port, make_message())
    (notice,) = sink.wait_for(1)
    (ticket,) = tickets(daemon)

    answer = reply_to(notice, sender="Ada <ada@customer.test>", body="It is out now.",
                      in_reply_to=False)  # fmt: skip
    send(daemon.smtp_port, answer)

    thread = wait_until(
        lambda: (t := maild(daemon, "ticket", "show", ticket[0])).count("--- message") == 2 and t
    )
    assert "It is out now." in thread
    assert "Please reply above this line" not in thread
    assert len(tickets(daemon)) == 1


def test_reply_with_only_in_reply_to_lands_in_same_ticket(daemon, sink):
    send(daemon.smtp_port, make_message())
    (notice,) = sink.wait_for(1)
    (ticket,) = tickets(daemon)

    answer = reply_to(notice, sender="ada@customer.test", body="Still burning.", keep_token=False)
    send(daemon.smtp_port, answer)

    wait_until(lambda: "Still burning." in maild(daemon, "ticket", "show", ticket[0]))
    assert len(tickets(daemon)) == 1


def test_reply_to_signed_address_lands_in_same_ticket(daemon, sink):
    send(daemon.smtp_port, make_message())
    (notice,) = sink.wait_for(1)
    (ticket,) = tickets(daemon)
    signed = notice["Reply-To"].addresses[0].addr_spec
    assert signed.startswith("support+") and signed.endswith("@helpdesk.test")

    answer = make_message(sender="ada@customer.test", to=signed, subject="no token here",
                          body="Via the reply address.")  # fmt: skip
    send(daemon.smtp_port, answer, to=[signed])

    wait_until(lambda: "Via the reply address." in maild(daemon, "ticket", "show", ticket[0]))
    assert len(tickets(daemon)) == 1


def test_stranger_quoting_token_gets_own_ticket(daemon, sink):
    send(daemon.smtp_port, make_message())
    (notice,) = sink.wait_for(1)
    (original,) = tickets(daemon)

    intruder = make_message(sender="mallory@elsewhere.test", subject=notice["Subject"],
                            body="Let me in.")  # fmt: skip
    send(daemon.smtp_port, intruder, sender="mallory@elsewhere.test")

    sink.wait_for(2)
    rows = tickets(daemon)
    assert len(rows) == 2
    theirs = next(r for r in rows if r[0] != original[0])
    assert theirs[2] == "mallory@elsewhere.test"
    assert "Let me in." not in maild(daemon, "ticket", "show", original[0])


def test_same_message_delivered_twice_is_one_ticket(daemon, sink):
    raw = make_message(message_id="<twice@customer.test>")
    send(daemon.smtp_port, raw)
    send(daemon.smtp_port, raw)

    sink.wait_for(1)
    time.sleep(0.5)
    assert len(tickets(daemon)) == 1
    assert len(sink.messages) == 1


def test_recipient_that_is_not_ours_is_refused(daemon):
    import smtplib

    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        send(daemon.smtp_port, make_message(to="nobody@elsewhere.test"),
             to=["nobody@elsewhere.test"])  # fmt: skip
    assert refused.value.recipients["nobody@elsewhere.test"][0] == 550


def test_plus_address_and_alias_are_accepted(daemon_for, tmp_path, sink):
    daemon = daemon_for(
        f"sqlite:///{tmp_path}/maild.db", helpdesk={"aliases": ["help@helpdesk.test"]}
    )
    send(daemon.smtp_port, make_message(to="help@helpdesk.test"), to=["help@helpdesk.test"])
    send(daemon.smtp_port, make_message(to="support+billing@helpdesk.test"),
         to=["support+billing@helpdesk.test"])  # fmt: skip
    sink.wait_for(2)
    assert len(tickets(daemon)) == 2


def test_sigterm_stops_gracefully(daemon, sink):
    send(daemon.smtp_port, make_message())
    sink.wait_for(1)
    assert daemon.stop() == 0
    assert HELPDESK in daemon.config_path.read_text()

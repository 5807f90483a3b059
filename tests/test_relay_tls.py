"""Delivery through a relay that demands STARTTLS and AUTH, as most submission servers do."""

from __future__ import annotations

import ssl
import threading

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from maild.delivery import Deliverer
from store import outbound
from store.db import close_database, open_database
from tests.helpers import HELPDESK, free_port, make_message, write_config

USER, PASSWORD = "maild", "s3cret pass"


class _Keep:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str]]] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.messages.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 OK"


def _authenticate(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and (
        auth_data.login.decode(),
        auth_data.password.decode(),
    ) == (USER, PASSWORD)
    # handled=False: aiosmtpd then answers the refusal (535) itself.
    return AuthResult(success=ok, handled=False)


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def secure_relay(ca):
    """An SMTP server on loopback that requires STARTTLS before AUTH, and AUTH before mail."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    keep = _Keep()
    controller = Controller(
        keep,
        hostname="127.0.0.1",
        port=free_port(),
        tls_context=context,
        require_starttls=True,
        authenticator=_authenticate,
        auth_required=True,
    )
    controller.start()
    yield controller, keep
    controller.stop()


@pytest.fixture
def deliver(tmp_path, ca):
    opened = []

    def make(port: int, **relay) -> Deliverer:
        ca_file = tmp_path / "ca.pem"
        ca.cert_pem.write_to_path(str(ca_file))
        settings = {"port": port, "starttls": True, "ca_file": str(ca_file), **relay}
        from maild.config import load

        config = load(write_config(tmp_path, db_url=f"sqlite:///{tmp_path}/m.db",
                                   relay_port=port, relay=settings))  # fmt: skip
        open_database(config.store.url)
        deliverer = Deliverer(config)
        opened.append(deliverer)
        return deliverer

    yield make
    for deliverer in opened:
        deliverer.close()
    close_database()


def _queue() -> int:
    raw = make_message(sender=HELPDESK, to="ada@customer.test")
    return outbound.enqueue(kind="test", mail_from=HELPDESK, recipients=["ada@customer.test"],
                            message_id="n1@helpdesk.test", raw=raw)  # fmt: skip


def test_starttls_and_login_deliver(secure_relay, deliver):
    controller, keep = secure_relay
    deliverer = deliver(controller.port, username=USER, password=PASSWORD)
    row_id = _queue()

    deliverer.deliver_due()

    assert outbound.outbound_by_id(row_id).state == "sent"
    assert keep.messages == [(HELPDESK, ["ada@customer.test"])]


def test_password_from_environment(secure_relay, deliver, monkeypatch):
    controller, keep = secure_relay
    monkeypatch.setenv("MAILD_TEST_RELAY_PASSWORD", PASSWORD)
    deliverer = deliver(controller.port, username=USER, password_env="MAILD_TEST_RELAY_PASSWORD")
    _queue()

    deliverer.deliver_due()

    assert len(keep.messages) == 1


def test_wrong_password_is_retried_with_a_reason_and_no_secret(secure_relay, deliver):
    controller, keep = secure_relay
    deliverer = deliver(controller.port, username=USER, password="wrong horse")
    row_id = _queue()

    deliverer.deliver_due()

    row = outbound.outbound_by_id(row_id)
    assert row.state == "pending"
    assert "refused our login" in row.last_error
    assert "wrong horse" not in row.last_error
    assert keep.messages == []


def test_untrusted_certificate_is_not_accepted(secure_relay, deliver, tmp_path):
    controller, keep = secure_relay
    stranger = trustme.CA()
    deliverer = deliver(controller.port, username=USER, password=PASSWORD)
    stranger.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    row_id = _queue()

    deliverer.deliver_due()

    row = outbound.outbound_by_id(row_id)
    assert row.state == "pending"
    assert "CERTIFICATE_VERIFY_FAILED" in row.last_error
    assert keep.messages == []

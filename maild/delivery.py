"""Delivering queued outbound mail: through the `[relay]` SMTP server, or into a maildir.

With a relay host configured, one SMTP connection is kept open while there is work and
closed when idle. A 4xx answer or a connection problem means "try again later" with
exponential back-off; a 5xx answer fails the message with the server's reason. With no
relay host, mail is written to `<data>/outbox` (a maildir), so a first run needs no server.
"""

from __future__ import annotations

import contextlib
import json
import logging
import mailbox
import smtplib
import ssl
import threading
from pathlib import Path

from maild.config import Config
from store import outbound
from store.models import Outbound

__all__ = ["Deliverer", "run_sender"]

log = logging.getLogger(__name__)

MAX_DELAY = 6 * 3600.0


def _notifier(config: Config):
    """A Notifier for composing drafts: the templates and signing secret the daemon uses."""
    from maild.notices import Notices
    from maild.notify import Notifier
    from maild.tokens import Signer
    from store.db import signing_secret

    signer = Signer(signing_secret(), config.domain)
    return Notifier(config, signer=signer, notices=Notices(config.paths.templates))


class _Temporary(Exception):
    pass


class _Permanent(Exception):
    pass


class Deliverer:
    def __init__(self, config: Config, *, owner: str = "") -> None:
        self.config = config
        self.owner = owner
        self._smtp: smtplib.SMTP | None = None
        self._maildir: mailbox.Maildir | None = None
        self._notifier = None  # made when the first draft is composed

    @property
    def outbox(self) -> Path:
        return self.config.paths.data / "outbox"

    def deliver_due(self) -> int:
        """Try every due message once; return how many were attempted."""
        rows = outbound.claim_due(self.config.outbound.batch_size, owner=self.owner)
        sent: dict[int, str] = {}
        try:
            for row in rows:
                done, note = self._attempt(row)
                if done:
                    sent[row.id] = note
        finally:
            # Whatever went wrong later in the batch, what the relay took is not sent twice.
            outbound.mark_sent(sent)
        return len(rows)

    def _attempt(self, row: Outbound) -> tuple[bool, str]:
        """One delivery attempt: (delivered, a note on recipients refused for good)."""
        try:
            if row.draft:
                self._compose(row)
            deferred, rejected = self._send(row)
        except _Permanent as exc:
            outbound.mark_failed(row.id, str(exc))
            log.warning("outbound %s <%s> failed: %s", row.id, row.message_id, exc)
            return False, ""
        except _Temporary as exc:
            self._retry(row, str(exc))
            return False, ""
        except Exception as exc:
            # Not a known relay answer: retry like a temporary failure, so the attempt
            # limit still ends it and one bad message never blocks the queue.
            log.exception("outbound %s <%s>: unexpected error", row.id, row.message_id)
            self.close()
            self._retry(row, f"{type(exc).__name__}: {exc}")
            return False, ""
        if deferred:
            self._retry(row, _describe(deferred), recipients=list(deferred))
            return False, ""
        log.info("outbound %s <%s> sent to %s", row.id, row.message_id, row.recipients)
        return True, _describe(rejected)

    def close(self) -> None:
        if self._smtp is not None:
            # The connection is being dropped either way; a dead one cannot say goodbye.
            with contextlib.suppress(smtplib.SMTPException, OSError):
                self._smtp.quit()
            self._smtp = None

    def _compose(self, row: Outbound) -> None:
        """Make the message of a row queued as a draft, and keep it (a retry sends the same
        bytes). A draft that cannot be composed fails the message with the reason."""
        from maild.notify import Draft

        if self._notifier is None:
            self._notifier = _notifier(self.config)
        try:
            draft = Draft.from_json(row.draft)
            message_id = self._notifier.signer.message_id(draft.number)
            raw = self._notifier.compose_draft(draft, message_id)
        except Exception as exc:
            raise _Permanent(f"cannot compose the message: {type(exc).__name__}: {exc}") from exc
        outbound.store_composed(row.id, raw, message_id)
        row.raw, row.draft, row.message_id = raw, "", message_id

    def _retry(self, row: Outbound, reason: str, recipients: list[str] | None = None) -> None:
        settings = self.config.outbound
        if row.attempts >= settings.max_attempts:
            outbound.mark_failed(row.id, f"gave up after {row.attempts} attempts: {reason}")
            log.warning("outbound %s <%s> gave up: %s", row.id, row.message_id, reason)
            return
        delay = min(settings.retry_delay * 2 ** (row.attempts - 1), MAX_DELAY)
        outbound.mark_retry(row.id, reason, delay, recipients=recipients)
        log.info("outbound %s <%s> deferred %.0fs: %s", row.id, row.message_id, delay, reason)

    def _send(self, row: Outbound) -> tuple[dict, dict]:
        """Hand the message over; return the recipients the relay (deferred, rejected)."""
        recipients = json.loads(row.recipients)
        raw = bytes(row.raw)
        if not self.config.relay.host:
            self._to_maildir(raw)
            return {}, {}
        try:
            connection = self._connection()
            options = self._mail_options(connection, row.mail_from, recipients)
            refused = connection.sendmail(row.mail_from, recipients, raw, mail_options=options)
        except smtplib.SMTPRecipientsRefused as exc:
            refused = exc.recipients
            if all(code >= 500 for code, _ in refused.values()):
                raise _Permanent(_describe(refused)) from exc
            raise _Temporary(_describe(refused)) from exc
        except smtplib.SMTPResponseException as exc:
            self.close()
            reason = f"{exc.smtp_code} {exc.smtp_error.decode(errors='replace')}"
            raise (_Permanent if exc.smtp_code >= 500 else _Temporary)(reason) from exc
        except (smtplib.SMTPException, OSError) as exc:
            self.close()
            raise _Temporary(f"relay {self.config.relay.host}: {exc}") from exc
        rejected = {r: v for r, v in refused.items() if v[0] >= 500}
        if rejected:
            log.warning("outbound %s: recipients refused: %s", row.id, _describe(rejected))
        return {r: v for r, v in refused.items() if v[0] < 500}, rejected

    @staticmethod
    def _mail_options(connection: smtplib.SMTP, sender: str, recipients: list[str]) -> list[str]:
        if sender.isascii() and all(r.isascii() for r in recipients):
            return []
        connection.ehlo_or_helo_if_needed()
        if not connection.has_extn("smtputf8"):
            raise _Permanent("non-ASCII address, and the relay does not offer SMTPUTF8")
        return ["SMTPUTF8"]

    def _connection(self) -> smtplib.SMTP:
        if self._smtp is not None:
            return self._smtp
        relay = self.config.relay
        smtp = smtplib.SMTP(relay.host, relay.port, timeout=relay.timeout)
        try:
            if relay.starttls:
                context = ssl.create_default_context(cafile=relay.ca_file or None)
                smtp.starttls(context=context)
            if relay.username:
                smtp.login(relay.username, self.config.relay_password())
        except smtplib.SMTPAuthenticationError as exc:
            smtp.close()
            # A wrong password is fixed by an admin, not by the message: keep retrying.
            raise _Temporary(
                f"relay refused our login ({exc.smtp_code}): check [relay] username and password"
            ) from exc
        except BaseException:
            smtp.close()
            raise
        self._smtp = smtp
        return smtp

    def _to_maildir(self, raw: bytes) -> None:
        try:
            if self._maildir is None:
                self.outbox.parent.mkdir(parents=True, exist_ok=True)
                self._maildir = mailbox.Maildir(self.outbox, create=True)
            self._maildir.add(raw)
        except OSError as exc:
            raise _Temporary(f"writing {self.outbox}: {exc}") from exc


def _describe(refused: dict) -> str:
    return "; ".join(
        f"{rcpt}: {code} {text.decode(errors='replace') if isinstance(text, bytes) else text}"
        for rcpt, (code, text) in refused.items()
    )


def run_sender(deliverer: Deliverer, stop: threading.Event, wake: threading.Event) -> None:
    """Deliver until `stop` is set; when idle, close the relay connection and wait."""
    while not stop.is_set():
        try:
            busy = deliverer.deliver_due()
        except Exception:
            log.exception("outbound worker: pass failed; retrying shortly")
            busy = 0
        if not busy:
            deliverer.close()
            wake.wait(0.5)
            wake.clear()
    deliverer.close()

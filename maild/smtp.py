"""The SMTP intake: aiosmtpd answering `250` only once the message is committed.

Recipients are checked as they come (`550` for addresses that are not ours, `452` past the
recipient limit); aiosmtpd enforces the size limit (`552`) and speaks SMTPUTF8 and
8BITMIME. Each message's bytes go to `IntakeWriter`, a thread that commits everything
waiting in one transaction — one fsync for many messages — and only then does the session
answer `250`. A failed commit answers `451` so the client retries; nothing is half-taken.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable

from aiosmtpd.smtp import SMTP, Envelope, Session

from maild.config import Config
from store.inbound import NewInbound, add_inbound
from store.models import database

__all__ = ["Handler", "IntakeWriter", "make_server"]

log = logging.getLogger(__name__)

_BATCH = 256


class IntakeWriter:
    """Group commit: one thread writes every waiting message in one transaction."""

    def __init__(self, on_commit: Callable[[], None]) -> None:
        self._queue: queue.Queue = queue.Queue()
        self._on_commit = on_commit
        self._thread = threading.Thread(target=self._run, name="intake-writer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=30)

    async def write(self, message: NewInbound) -> int:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._queue.put((message, future, loop))
        return await future

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                break
            batch = [first]
            while len(batch) < _BATCH:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._queue.put(None)
                    break
                batch.append(item)
            self._commit(batch)
        database.close()

    def _commit(self, batch) -> None:
        try:
            ids = add_inbound(m for m, _, _ in batch)
        except Exception:
            if len(batch) == 1:
                log.exception("intake: could not store a message from %s", batch[0][0].mail_from)
                _, future, loop = batch[0]
                loop.call_soon_threadsafe(_settle, future, None, RuntimeError("not stored"))
                return
            # One bad message must not cost its neighbours their 250: try them one by one.
            for item in batch:
                self._commit([item])
            return
        for (_, future, loop), row_id in zip(batch, ids, strict=True):
            loop.call_soon_threadsafe(_settle, future, row_id, None)
        self._on_commit()


def _storable(address: str) -> bool:
    """Text a database can keep: valid Unicode (no undecodable bytes), no control characters."""
    try:
        address.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return not any(ord(ch) < 32 or ord(ch) == 127 for ch in address)


def _settle(future: asyncio.Future, result, error) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


class Handler:
    def __init__(self, config: Config, writer: IntakeWriter) -> None:
        self.config = config
        self.writer = writer

    async def handle_MAIL(self, server, session: Session, envelope: Envelope, address, options):
        if not _storable(address):
            return "553 5.1.7 The sender address is not a valid address"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(self, server, session: Session, envelope: Envelope, address, options):
        if len(envelope.rcpt_tos) >= self.config.smtp.max_recipients:
            return "452 4.5.3 Too many recipients"
        if not self.config.is_ours(address):
            return f"550 5.1.1 <{address}>: no such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session: Session, envelope: Envelope):
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        message = NewInbound(
            raw=raw, source="smtp", mail_from=envelope.mail_from, rcpt_to=tuple(envelope.rcpt_tos)
        )
        try:
            row_id = await self.writer.write(message)
        except Exception as exc:
            log.warning("intake: 451 for a message from %s: %s", envelope.mail_from, exc)
            return "451 4.3.0 Temporary failure storing the message; please try again"
        return f"250 2.0.0 OK queued as {row_id}"


async def make_server(config: Config, writer: IntakeWriter) -> asyncio.AbstractServer:
    host, _, port = config.smtp.listen.rpartition(":")
    handler = Handler(config, writer)
    hostname = config.smtp.hostname or config.domain

    def factory() -> SMTP:
        return SMTP(
            handler,
            data_size_limit=config.smtp.max_message_size,
            enable_SMTPUTF8=True,
            hostname=hostname,
            ident="maild ESMTP",
        )

    loop = asyncio.get_running_loop()
    return await loop.create_server(factory, host=host.strip("[]"), port=int(port))

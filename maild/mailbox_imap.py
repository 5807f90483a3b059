"""IMAP, for polling: one folder read by UID, oldest first, never marked \\Seen.

Messages are fetched with `BODY.PEEK[]` (`RFC822` would set \\Seen on the server), one
UID per FETCH so a message the server cannot deliver is known by its UID. With
`after = "keep"` the folder is opened read-only (EXAMINE) and only UIDs above the highest
one handled are asked for; with "move" or "delete" the whole folder is listed, since what
is left in it is either new or a stored message whose move was interrupted. `ImapWatcher`
is a second connection that sits in IDLE and says when new mail arrives.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Sequence

from imapclient import IMAPClient

from maild.mailbox_config import Mailbox
from maild.mailbox_source import FetchError, tls_context

__all__ = ["ImapSource", "ImapWatcher"]

log = logging.getLogger(__name__)

_SIZES_PER_FETCH = 500
# Seconds in IDLE before a NOOP; RFC 2177 asks for less than 29 minutes.
IDLE_CYCLE = 120
# Seconds before watching again after the IDLE connection broke.
RECONNECT_PAUSE = 5


def _connect(mailbox: Mailbox, password: str, *, readonly: bool) -> tuple[IMAPClient, int]:
    """Connected, logged in and the folder selected; (client, UIDVALIDITY)."""
    context = tls_context(mailbox) if mailbox.tls != "none" else None
    client = IMAPClient(
        mailbox.host,
        port=mailbox.server_port,
        ssl=mailbox.tls == "implicit",
        ssl_context=context,
        timeout=mailbox.timeout,
    )
    try:
        if mailbox.tls == "starttls":
            client.starttls(context)
        client.login(mailbox.username, password)
        info = client.select_folder(mailbox.folder, readonly=readonly)
    except BaseException:
        _drop(client)
        raise
    return client, int(info[b"UIDVALIDITY"])


def _drop(client: IMAPClient | None) -> None:
    if client is None:
        return
    try:
        client.logout()
    except Exception:
        with contextlib.suppress(Exception):
            client.shutdown()


class ImapSource:
    numbered = True

    def __init__(self, mailbox: Mailbox, password: str) -> None:
        self.mailbox = mailbox
        self._password = password
        self.client: IMAPClient | None = None

    def open(self) -> int:
        readonly = self.mailbox.after == "keep"
        self.client, uidvalidity = _connect(self.mailbox, self._password, readonly=readonly)
        return uidvalidity

    def listing(self, above: int) -> list[str]:
        if self.mailbox.after == "keep":
            # "n:*" always matches the highest UID, even when it is below n.
            found = [u for u in self.client.search(["UID", f"{above + 1}:*"]) if u > above]
        else:
            found = self.client.search(["ALL"])
        return [str(uid) for uid in sorted(found)]

    def sizes(self, uids: Sequence[str]) -> dict[str, int]:
        sizes = {}
        for start in range(0, len(uids), _SIZES_PER_FETCH):
            chunk = [int(u) for u in uids[start : start + _SIZES_PER_FETCH]]
            for uid, data in self.client.fetch(chunk, ["RFC822.SIZE"]).items():
                if b"RFC822.SIZE" in data:
                    sizes[str(uid)] = int(data[b"RFC822.SIZE"])
        return sizes

    def fetch(self, uid: str) -> bytes | None:
        """The message's bytes; None when it is gone (expunged by someone else)."""
        found = self.client.fetch([int(uid)], ["RFC822.SIZE", "BODY.PEEK[]"]).get(int(uid))
        if not found:
            return None
        body, size = found.get(b"BODY[]"), found.get(b"RFC822.SIZE")
        if body is None:
            raise FetchError("the server answered without the message's content")
        if size is not None and len(body) < int(size):
            raise FetchError(f"the server sent {len(body)} of the message's {size} bytes")
        return bytes(body)

    def finish(self, uids: Sequence[str]) -> None:
        after = self.mailbox.after
        if after == "keep" or not uids:
            return
        numbers = [int(u) for u in uids]
        client = self.client
        if after == "move" and client.has_capability("MOVE"):
            client.move(numbers, self.mailbox.move_to)
            return
        if after == "move":
            client.copy(numbers, self.mailbox.move_to)
        client.delete_messages(numbers)
        if client.has_capability("UIDPLUS"):
            client.uid_expunge(numbers)
        else:
            client.expunge()

    def close(self) -> None:
        _drop(self.client)
        self.client = None


class ImapWatcher:
    """A connection of its own, idling on the folder. Call `ready` before each poll and
    `wait` after it: mail that arrives in between is announced when IDLE starts, so
    nothing slips through the gap. `wait` returns True when the server announced new
    mail (or the connection broke, so mail may have come unannounced), False when the time
    is up (or IDLE is not possible: then it just sleeps)."""

    def __init__(self, mailbox: Mailbox) -> None:
        self.mailbox = mailbox
        self.client: IMAPClient | None = None

    def ready(self) -> None:
        if self.client is not None:
            return
        try:
            self.client, _ = _connect(self.mailbox, self.mailbox.secret(), readonly=True)
        except Exception as exc:
            log.warning("mailbox %s: no IDLE connection (%s); polling on the interval",
                        self.mailbox.name, type(exc).__name__)  # fmt: skip
            return
        if not self.client.has_capability("IDLE"):
            log.warning("mailbox %s: the server has no IDLE; polling on the interval",
                        self.mailbox.name)  # fmt: skip
            self.close()

    def wait(self, seconds: float, stop: threading.Event) -> bool:
        if self.client is None:
            stop.wait(seconds)
            return False
        try:
            return self._idle(seconds, stop)
        except Exception as exc:
            log.warning("mailbox %s: IDLE stopped (%s); watching again in %ds",
                        self.mailbox.name, type(exc).__name__, RECONNECT_PAUSE)  # fmt: skip
            self.close()
            # No connection watched for a while: mail may have come meanwhile, which the
            # next connection's IDLE will not announce. Poll after it connects, as if
            # announced; the pause keeps a server that drops every IDLE from a busy loop.
            stop.wait(min(seconds, RECONNECT_PAUSE))
            return True

    def _idle(self, seconds: float, stop: threading.Event) -> bool:
        deadline = time.monotonic() + seconds
        while not stop.is_set() and time.monotonic() < deadline:
            # Mail that arrived before IDLE starts is not announced during it: NOOP asks.
            if _new_mail(self.client.noop()[1]):
                return True
            if self._idle_once(min(deadline, time.monotonic() + IDLE_CYCLE), stop):
                return True
        return False

    def _idle_once(self, until: float, stop: threading.Event) -> bool:
        self.client.idle()
        announced = False
        while not stop.is_set() and not announced and time.monotonic() < until:
            responses = self.client.idle_check(timeout=min(until - time.monotonic(), 1.0))
            # imapclient reports a connection the server closed as "no news", at once and
            # forever after: without this check the loop would spin until the cycle ends.
            if not responses and _closed_by_server(self.client):
                raise ConnectionError("the server closed the IDLE connection")
            announced = _new_mail(responses)
        return _new_mail(self.client.idle_done()[1]) or announced

    def close(self) -> None:
        _drop(self.client)
        self.client = None


def _closed_by_server(client: IMAPClient) -> bool:
    """Whether the server has closed the connection: the socket reads as at its end. The
    peek goes to a duplicate of the raw socket, beneath TLS, and takes nothing from it."""
    with socket.socket(fileno=os.dup(client.socket().fileno())) as raw:
        try:
            return raw.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:
            return True


def _new_mail(responses) -> bool:
    return any(len(r) > 1 and r[1] in (b"EXISTS", b"RECENT") for r in responses)

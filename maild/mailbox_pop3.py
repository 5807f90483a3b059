"""POP3, for polling: messages known by their UIDL, read with RETR, deleted only after commit.

POP3 has no folders and no flags, so `after` is "keep" (the UIDLs stored are remembered,
and the messages left alone) or "delete". A DELE takes effect only when the session
ends with QUIT; a connection lost before that leaves the messages on the server, and the
next poll, finding their UIDLs recorded, deletes them without storing them again.
"""

from __future__ import annotations

import poplib
from collections.abc import Sequence

from maild.mailbox_config import Mailbox
from maild.mailbox_source import FetchError, tls_context

__all__ = ["Pop3Source"]

# poplib refuses lines over 2048 bytes; RFC 5322 allows 998, and real mail has longer ones.
poplib._MAXLINE = max(poplib._MAXLINE, 1 << 20)


class Pop3Source:
    numbered = False

    def __init__(self, mailbox: Mailbox, password: str) -> None:
        self.mailbox = mailbox
        self._password = password
        self.client: poplib.POP3 | None = None
        self._numbers: dict[str, int] = {}
        self._sizes: dict[str, int] = {}

    def open(self) -> int:
        mailbox = self.mailbox
        host, port, timeout = mailbox.host, mailbox.server_port, mailbox.timeout
        if mailbox.tls == "implicit":
            self.client = poplib.POP3_SSL(host, port, timeout=timeout, context=tls_context(mailbox))
        else:
            self.client = poplib.POP3(host, port, timeout=timeout)
        if mailbox.tls == "starttls":
            self.client.stls(tls_context(mailbox))
        self.client.user(mailbox.username)
        self.client.pass_(self._password)
        return 0

    def listing(self, above: int) -> list[str]:
        numbers = {}
        for line in self.client.uidl()[1]:
            number, _, uidl = line.decode("ascii", "replace").partition(" ")
            numbers[uidl.strip()] = int(number)
        sizes = {}
        for line in self.client.list()[1]:
            number, _, size = line.decode("ascii", "replace").partition(" ")
            sizes[int(number)] = int(size.split()[0])
        self._numbers = numbers
        self._sizes = {uidl: sizes[n] for uidl, n in numbers.items() if n in sizes}
        return sorted(numbers, key=numbers.__getitem__)

    def sizes(self, uids: Sequence[str]) -> dict[str, int]:
        return {uid: self._sizes[uid] for uid in uids if uid in self._sizes}

    def fetch(self, uid: str) -> bytes | None:
        number = self._numbers.get(uid)
        if number is None:
            return None
        lines = self.client.retr(number)[1]
        raw = b"\r\n".join(lines) + b"\r\n"
        size = self._sizes.get(uid)
        # LIST counts CRLF line ends, as the joined lines do; a missing final one is fine.
        if size is not None and len(raw) < size - 2:
            raise FetchError(f"the server sent {len(raw)} of the message's {size} bytes")
        return raw

    def finish(self, uids: Sequence[str]) -> None:
        if self.mailbox.after != "delete":
            return
        for uid in uids:
            if uid in self._numbers:
                self.client.dele(self._numbers[uid])

    def close(self) -> None:
        """QUIT, which makes the deletions happen; a broken connection just closes."""
        if self.client is None:
            return
        try:
            self.client.quit()
        except Exception:
            self.client.close()
        self.client = None

"""What polling needs from a mail server, whatever the protocol, and the pieces both share.

A `Source` is one connection to one mailbox: `open` logs in and returns the folder's
UIDVALIDITY (0 for POP3, whose UIDLs never change meaning); `listing` gives the message
ids (IMAP UIDs as text, POP3 UIDLs) oldest first; `fetch` returns one message's bytes
without changing it on the server, or raises `FetchError` when the server does not
deliver it in full; `finish` moves or deletes messages that are safely stored.
`describe` turns whatever went wrong into one line for the mailbox's error state —
it never contains the password.
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import re
import socket
import ssl
from collections.abc import Sequence
from email.parser import BytesHeaderParser
from email.policy import compat32
from typing import Protocol

from maild.errors import MaildError
from maild.mailbox_config import Mailbox, PasswordUnavailable

__all__ = ["FetchError", "Source", "describe", "message_identity", "open_source", "tls_context"]

_HEADER_END = re.compile(rb"\r?\n\r?\n")
_ANGLE = re.compile(r"<([^<>]+)>")


class FetchError(MaildError, OSError):
    """The server did not deliver a message in full (an error, or fewer bytes than it said)."""


class Source(Protocol):
    numbered: bool  # ids are IMAP UIDs: ascending numbers

    def open(self) -> int: ...
    def listing(self, above: int) -> list[str]: ...
    def sizes(self, uids: Sequence[str]) -> dict[str, int]: ...
    def fetch(self, uid: str) -> bytes | None: ...
    def finish(self, uids: Sequence[str]) -> None: ...
    def close(self) -> None: ...


def open_source(mailbox: Mailbox) -> Source:
    """A Source for `mailbox`, not yet connected (its `open` connects)."""
    password = mailbox.secret()
    if mailbox.protocol == "pop3":
        from maild.mailbox_pop3 import Pop3Source

        return Pop3Source(mailbox, password)
    from maild.mailbox_imap import ImapSource

    return ImapSource(mailbox, password)


def tls_context(mailbox: Mailbox) -> ssl.SSLContext:
    """Certificate and host name verified, against `ca_file` when one is set."""
    return ssl.create_default_context(cafile=mailbox.ca_file or None)


def message_identity(raw: bytes) -> tuple[str, str]:
    """(Message-ID without brackets or "", key): the key recognises the message when it
    shows up again under another UID — by its Message-ID, else by a hash of its bytes."""
    found = _HEADER_END.search(raw)
    head = raw[: found.end()] if found else raw
    value = BytesHeaderParser(policy=compat32).parsebytes(head).get("Message-ID")
    text = str(value or "").strip()
    match = _ANGLE.search(text)
    message_id = (match.group(1) if match else text).strip()
    if message_id:
        digest = hashlib.sha256(message_id.encode("utf-8", "surrogateescape")).hexdigest()
        return message_id, f"id:{digest}"
    return "", f"raw:{hashlib.sha256(raw).hexdigest()}"


def describe(exc: BaseException) -> str:
    """One line saying what went wrong, for logs and `maild mailbox status`."""
    import imaplib
    import poplib

    from imapclient.exceptions import LoginError

    if isinstance(exc, PasswordUnavailable):
        return f"no password: {exc}"
    if isinstance(exc, LoginError):
        return f"login failed: {_text(exc)}"
    if isinstance(exc, poplib.error_proto):
        text = _text(exc)
        return f"login failed: {text}" if "auth" in text.lower() else f"server said: {text}"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate not trusted: {exc.verify_message}"
    if isinstance(exc, ssl.SSLError):
        return f"TLS error: {exc.reason or exc}"
    if isinstance(exc, socket.gaierror):
        return f"unknown host: {exc.strerror}"
    if isinstance(exc, TimeoutError):
        return "timed out waiting for the server"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, imaplib.IMAP4.abort):
        return f"connection lost: {_text(exc)}"
    if isinstance(exc, imaplib.IMAP4.error):
        return f"server said: {_text(exc)}"
    if isinstance(exc, FetchError):
        return str(exc)
    if isinstance(exc, OSError):
        return f"connection error: {exc.strerror or exc}"
    return f"{type(exc).__name__}: {exc}"


def _text(exc: BaseException) -> str:
    """The server's words: imaplib and poplib often hand them over as a bytes repr."""
    first = exc.args[0] if exc.args else str(exc)
    text = first.decode("utf-8", "replace") if isinstance(first, bytes) else str(first)
    if text[:2] in ("b'", 'b"'):
        with contextlib.suppress(ValueError, SyntaxError, AttributeError):
            text = ast.literal_eval(text).decode("utf-8", "replace")
    return text.strip() or type(exc).__name__

"""Building the bytes of an outbound message: headers that thread, sign and stop loops.

Every message we send carries our own signed Message-ID, a Date, In-Reply-To/References
to the thread, the ticket token in the subject, `Auto-Submitted` for anything a machine
decided to send (RFC 3834), and an `X-Maild-Loop` header so our own mail coming back is
recognised and never answered.

The bytes are assembled directly (RFC 2047 words for non-ASCII headers, quoted-printable
bodies, CRLF) rather than through `email.message.EmailMessage`, whose header objects cost
~1.5 ms a message — more than parsing the customer's mail. Values that came from a
customer (names, subjects) are flattened to one line first, so they cannot inject headers.
"""

from __future__ import annotations

import quopri
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.header import Header
from email.utils import format_datetime, localtime

from maild.classify import LOOP_HEADER
from maild.notices import Rendered

__all__ = ["Envelope", "compose"]


@dataclass(frozen=True, slots=True)
class Envelope:
    sender_name: str
    sender: str
    to: Sequence[tuple[str, str]]
    message_id: str
    loop_token: str
    cc: Sequence[tuple[str, str]] = ()
    reply_to: str = ""
    in_reply_to: str = ""
    references: Sequence[str] = field(default_factory=tuple)
    auto_submitted: str = ""

    @property
    def recipients(self) -> list[str]:
        return [address for _, address in (*self.to, *self.cc)]


def _one_line(value: str) -> str:
    return " ".join(value.split())


def _encoded(value: str, name: str) -> str:
    value = _one_line(value)
    if value.isascii() and len(value) < 900:
        return value
    charset = "us-ascii" if value.isascii() else "utf-8"
    return Header(value, charset, header_name=name).encode(linesep="\r\n")


def _mailbox(name: str, address: str) -> str:
    name = _one_line(name).replace("\\", "").replace('"', "")
    if not name:
        return f"<{address}>"
    if name.isascii():
        return f'"{name}" <{address}>'
    return f"{Header(name, 'utf-8').encode()} <{address}>"


def _fold_list(name: str, items: Sequence[str], separator: str = ",") -> str:
    return f"{name}: " + f"{separator}\r\n ".join(items)


_last_date: tuple[int, str] = (0, "")


def _date() -> str:
    """The Date header's value for now. Formatting it costs more than the rest of the
    headers together, and a batch of notices is composed within the same second."""
    global _last_date
    second = int(time.time())
    if _last_date[0] != second:
        _last_date = (second, format_datetime(localtime()))
    return _last_date[1]


def _part(content_type: str, text: str) -> bytes:
    body = quopri.encodestring(text.replace("\r\n", "\n").encode("utf-8")).replace(b"\n", b"\r\n")
    head = (
        f"Content-Type: {content_type}; charset=utf-8\r\n"
        "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
    )
    # The CRLF before a boundary belongs to the boundary, so a body's own last line
    # break needs one more.
    return head.encode() + body + b"\r\n"


def compose(envelope: Envelope, rendered: Rendered) -> bytes:
    headers = [
        f"From: {_mailbox(envelope.sender_name, envelope.sender)}",
        _fold_list("To", [_mailbox(n, a) for n, a in envelope.to]),
    ]
    if envelope.cc:
        headers.append(_fold_list("Cc", [_mailbox(n, a) for n, a in envelope.cc]))
    if envelope.reply_to:
        headers.append(f"Reply-To: {_mailbox(envelope.sender_name, envelope.reply_to)}")
    headers += [
        f"Subject: {_encoded(rendered.subject, 'Subject')}",
        f"Date: {_date()}",
        f"Message-ID: <{envelope.message_id}>",
    ]
    if envelope.in_reply_to:
        headers.append(f"In-Reply-To: <{envelope.in_reply_to}>")
    if envelope.references:
        headers.append(_fold_list("References", [f"<{m}>" for m in envelope.references[-20:]], ""))
    if envelope.auto_submitted:
        headers += [f"Auto-Submitted: {envelope.auto_submitted}", "X-Auto-Response-Suppress: All"]
    headers += [f"{LOOP_HEADER}: {envelope.loop_token}", "MIME-Version: 1.0"]
    text = _part("text/plain", rendered.text)
    if not rendered.html:
        return ("\r\n".join(headers) + "\r\n").encode() + text
    boundary = f"=_maild_{secrets.token_hex(12)}"
    headers.append(f'Content-Type: multipart/alternative; boundary="{boundary}"')
    delimiter = f"--{boundary}\r\n".encode()
    return b"".join(
        (
            ("\r\n".join(headers) + "\r\n\r\n").encode(),
            delimiter,
            text,
            delimiter,
            _part("text/html", rendered.html),
            f"--{boundary}--\r\n".encode(),
        )
    )

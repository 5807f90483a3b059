"""Building the bytes of an outbound message: headers that thread, sign and stop loops.

Every message we send carries our own signed Message-ID, a Date, In-Reply-To/References
to the thread, the ticket token in the subject, `Auto-Submitted` for anything a machine
decided to send (RFC 3834), and an `X-Maild-Loop` header so our own mail coming back is
recognised and never answered.
"""

from __future__ import annotations

import email.policy
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, localtime

from maild.notices import Rendered

__all__ = ["LOOP_HEADER", "Envelope", "compose"]

LOOP_HEADER = "X-Maild-Loop"


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


def _address(name: str, address: str) -> Address:
    local, _, domain = address.rpartition("@")
    return Address(display_name=name, username=local, domain=domain)


def compose(envelope: Envelope, rendered: Rendered) -> bytes:
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["From"] = _address(envelope.sender_name, envelope.sender)
    msg["To"] = [_address(n, a) for n, a in envelope.to]
    if envelope.cc:
        msg["Cc"] = [_address(n, a) for n, a in envelope.cc]
    if envelope.reply_to:
        msg["Reply-To"] = _address(envelope.sender_name, envelope.reply_to)
    msg["Subject"] = rendered.subject
    msg["Date"] = format_datetime(localtime())
    msg["Message-ID"] = f"<{envelope.message_id}>"
    if envelope.in_reply_to:
        msg["In-Reply-To"] = f"<{envelope.in_reply_to}>"
    if envelope.references:
        msg["References"] = " ".join(f"<{m}>" for m in envelope.references[-20:])
    if envelope.auto_submitted:
        msg["Auto-Submitted"] = envelope.auto_submitted
        msg["X-Auto-Response-Suppress"] = "All"
    msg[LOOP_HEADER] = envelope.loop_token
    msg.set_content(rendered.text)
    if rendered.html:
        msg.add_alternative(rendered.html, subtype="html")
    return msg.as_bytes()

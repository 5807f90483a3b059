"""The facts the TOML rules see about one message, built from what the pipeline knows.

The rule engine (`rules`) takes plain values only; this is the one place that turns a
parsed message, its classification and its envelope into them, so `maild rules test`
shows the rules exactly what the daemon would.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from maild.classify import Classification, Kind
from maild.parse import ParsedMessage
from rules import Facts, header_map

__all__ = ["message_facts"]


def message_facts(
    msg: ParsedMessage,
    verdict: Classification,
    *,
    rcpt_to: Sequence[str],
    is_ours: Callable[[str], bool],
    size: int,
    organisation: str | None = None,
    topic: str | None = None,
    fields: Mapping[str, str] | None = None,
    priority: str | None = None,
) -> Facts:
    """`rcpt_to` is the envelope; the first of our addresses in it (else in To/Cc) is the
    `recipient` field: which helpdesk address, or plus-address, the mail was sent to."""
    to = tuple(a for _, a in msg.to if a)
    cc = tuple(a for _, a in msg.cc if a)
    candidates = [*rcpt_to, *to, *cc]
    recipient = next((a.lower() for a in candidates if a and is_ours(a)), None)
    return Facts(
        sender=msg.from_addr or None,
        sender_name=msg.from_name or None,
        sender_domain=msg.from_addr.rpartition("@")[2].lower() or None,
        to=to,
        cc=cc,
        reply_to=next((a for _, a in msg.reply_to if a), None),
        subject=msg.subject,
        body=msg.text,
        headers=header_map(msg.headers),
        recipient=recipient,
        topic=topic,
        organisation=organisation,
        attachment_name=tuple(a.filename for a in msg.attachments if a.filename),
        attachment_type=tuple(a.content_type for a in msg.attachments if a.content_type),
        size=size,
        auto_reply=verdict.kind is Kind.AUTO_REPLY,
        bounce=verdict.kind is Kind.BOUNCE,
        mailing_list=verdict.kind is Kind.LIST,
        fields=dict(fields or {}),
        priority=priority,
    )

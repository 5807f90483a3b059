"""Which ticket a message belongs to, decided in the order DESIGN.md fixes.

1. It was sent to a signed reply address (`support+<number>-<hmac>@domain`).
2. Its In-Reply-To/References name a Message-ID we sent (signed) or stored.
3. Its subject carries the ticket token *and* the sender takes part in that ticket.
Otherwise it opens a new ticket: a stranger quoting someone else's token gets their own.

`clues()` is pure; the pipeline looks the clues up in the store and calls `choose()`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from maild.parse import ParsedMessage
from maild.tokens import Signer, find_subject_token

__all__ = ["Clues", "Match", "choose", "clues"]


@dataclass(frozen=True, slots=True)
class Clues:
    reply_address_number: str | None
    referenced_numbers: tuple[str, ...]
    referenced_ids: tuple[str, ...]
    subject_number: str | None


@dataclass(frozen=True, slots=True)
class Match:
    number: str
    via: str  # "reply address", "references", "subject token"


def clues(
    msg: ParsedMessage,
    rcpt_to: Sequence[str],
    *,
    signer: Signer,
    our_locals: frozenset[str],
    token_format: str,
) -> Clues:
    addresses = [*rcpt_to, *(a for _, a in msg.to), *(a for _, a in msg.cc)]
    reply_number = next(
        (n for a in addresses if (n := signer.ticket_of_reply_address(a, our_locals))), None
    )
    # In-Reply-To is the most direct parent; References lists ancestors oldest first.
    ids = tuple(dict.fromkeys((*msg.in_reply_to, *reversed(msg.references))))
    signed = tuple(n for m in ids if (n := signer.ticket_of_message_id(m)))
    return Clues(
        reply_address_number=reply_number,
        referenced_numbers=tuple(dict.fromkeys(signed)),
        referenced_ids=ids,
        subject_number=find_subject_token(token_format, msg.subject),
    )


def choose(
    found: Clues,
    *,
    exists: Callable[[str], bool],
    number_of_stored_reference: Callable[[Sequence[str]], str | None],
    sender_takes_part: Callable[[str], bool],
) -> Match | None:
    """The ticket this message threads into, or None for a new ticket."""
    if found.reply_address_number and exists(found.reply_address_number):
        return Match(found.reply_address_number, "reply address")
    for number in found.referenced_numbers:
        if exists(number):
            return Match(number, "references")
    stored = number_of_stored_reference(found.referenced_ids)
    if stored:
        return Match(stored, "references")
    number = found.subject_number
    if number and exists(number) and sender_takes_part(number):
        return Match(number, "subject token")
    return None

"""What processing one message came to: an `Outcome`, or `Unprocessable` for quarantine."""

from __future__ import annotations

from dataclasses import dataclass

from maild.errors import MaildError
from store.models import Ticket

__all__ = ["Outcome", "Unprocessable"]


class Unprocessable(MaildError, ValueError):
    """The message can never become a ticket (e.g. no sender): quarantine it with this reason."""


@dataclass(frozen=True, slots=True)
class Outcome:
    state: str  # "done", "duplicate" or "ignored"
    note: str
    ticket: Ticket | None = None
    message_id: str = ""

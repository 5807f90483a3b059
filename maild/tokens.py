"""Signed identifiers that let our own mail prove where a reply belongs.

Every Message-ID we send and every signed reply address carries an HMAC over the ticket
number, so a reply's In-Reply-To or its envelope recipient names its ticket in a way no
outsider can forge. Pure functions: the secret comes in as bytes.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

__all__ = [
    "Signer",
    "find_subject_token",
    "new_ticket_number",
    "subject_token",
]

_SIG_LEN = 16


class Signer:
    def __init__(self, secret: bytes, domain: str) -> None:
        self._secret = secret
        self.domain = domain.lower()

    def _sign(self, text: str) -> str:
        return hmac.new(self._secret, text.encode(), hashlib.sha256).hexdigest()[:_SIG_LEN]

    def loop_token(self) -> str:
        """The value of our X-Maild-Loop header: our mail, recognised when it comes back."""
        return self._sign("loop")

    def message_id(self, number: str) -> str:
        """A fresh Message-ID (without <>) for a message about ticket `number`."""
        nonce = secrets.token_hex(6)
        return f"maild.{number}.{nonce}.{self._sign(f'{number}.{nonce}')}@{self.domain}"

    def ticket_of_message_id(self, message_id: str) -> str | None:
        """The ticket number a Message-ID of ours names, or None if it isn't ours."""
        local, _, domain = message_id.rpartition("@")
        parts = local.split(".")
        if domain.lower() != self.domain or len(parts) != 4 or parts[0] != "maild":
            return None
        _, number, nonce, sig = parts
        if not hmac.compare_digest(sig, self._sign(f"{number}.{nonce}")):
            return None
        return number

    def is_own_message_id(self, message_id: str) -> bool:
        return self.ticket_of_message_id(message_id) is not None

    def reply_address(self, address: str, number: str) -> str:
        """`support+<number>-<hmac>@domain`: replies to it belong to ticket `number`."""
        local, _, domain = address.partition("@")
        return f"{local}+{number}-{self._sign(f'reply.{number}')}@{domain}"

    def ticket_of_reply_address(self, address: str, base_locals: frozenset[str]) -> str | None:
        """The ticket number of a signed reply address to one of our mailboxes, or None."""
        detail = _detail(address, base_locals)
        number, dash, sig = detail.rpartition("-")
        if not dash or not number or "." in number:
            return None
        if not hmac.compare_digest(sig.lower(), self._sign(f"reply.{number}")):
            return None
        return number

    def agent_reply_address(self, address: str, number: str, agent_id: int) -> str:
        """`support+<number>.a<agent id>-<hmac>@domain`: the Reply-To of an alert to one agent.

        Only mail that comes back through it (from that agent's address) is taken as the
        agent's reply to ticket `number`.
        """
        local, _, domain = address.partition("@")
        sig = self._sign(f"agent.{number}.{agent_id}")
        return f"{local}+{number}.a{agent_id}-{sig}@{domain}"

    def agent_of_reply_address(
        self, address: str, base_locals: frozenset[str]
    ) -> tuple[str, int] | None:
        """(ticket number, agent id) of a signed agent reply address, or None."""
        detail = _detail(address, base_locals)
        rest, dash, sig = detail.rpartition("-")
        number, dot, agent = rest.rpartition(".a")
        if not (dash and dot and number and agent.isdigit()):
            return None
        if not hmac.compare_digest(sig.lower(), self._sign(f"agent.{number}.{agent}")):
            return None
        return number, int(agent)


def _detail(address: str, base_locals: frozenset[str]) -> str:
    """What follows the + of a plus-address to one of our mailboxes ("" if none).

    The base is compared without case; the detail keeps its case, as ticket numbers do.
    """
    local = address.partition("@")[0]
    base, plus, detail = local.partition("+")
    return detail if plus and base.lower() in base_locals else ""


def subject_token(token_format: str, number: str) -> str:
    return token_format.replace("{number}", number)


def _token_pattern(token_format: str) -> re.Pattern[str]:
    before, _, after = token_format.partition("{number}")
    return re.compile(re.escape(before) + r"([A-Za-z0-9-]{1,32})" + re.escape(after))


_patterns: dict[str, re.Pattern[str]] = {}


def find_subject_token(token_format: str, subject: str) -> str | None:
    """The ticket number in the first token of `subject`, e.g. "[#123456]" → "123456"."""
    pattern = _patterns.get(token_format)
    if pattern is None:
        pattern = _patterns[token_format] = _token_pattern(token_format)
    found = pattern.search(subject)
    return found.group(1) if found else None


def sequential_ticket_number(number_format: str, n: int) -> str:
    """The `n`th number in the shape of `number_format`: the '#'s hold `n`, zero-padded.

    The digits stay together at the first '#' (other characters are kept as they are);
    past the width the '#'s give, the number simply grows longer.
    """
    width = number_format.count("#")
    first = number_format.index("#")
    rest = number_format[first:].replace("#", "")
    return f"{number_format[:first]}{n:0{width}d}{rest}"


def new_ticket_number(number_format: str) -> str:
    """A number in the shape of `number_format`: each '#' becomes a random digit."""
    digits = iter(str(secrets.randbelow(10)) for _ in range(number_format.count("#")))
    number = "".join(next(digits) if ch == "#" else ch for ch in number_format)
    # A leading zero reads like a typo to customers quoting their ticket number.
    if number_format.startswith("#") and number.startswith("0"):
        number = str(secrets.randbelow(9) + 1) + number[1:]
    return number

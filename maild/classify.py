"""Tell ordinary mail from machine mail before anything answers it.

maild answers incoming mail on its own (acknowledgements, ticket notices). Answering an
auto-reply, a bounce, a mailing list or our own echo is how helpdesks end up in mail loops
and ticket storms, so every incoming message is classified here first, and only
``Kind.NORMAL`` may ever be answered automatically.

Pure: takes a parsed message and plain values, does no I/O. First hit wins, in the order
loop, bounce, auto-reply, list; ``Classification.reason`` names the header that decided.
"""

from __future__ import annotations

import contextlib
import email
import enum
import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.message import Message
from email.policy import compat32

from maild.parse import ParsedMessage, normalise_message_id, split_message_ids

__all__ = ["LOOP_HEADER", "Classification", "Identity", "Kind", "bounce_references", "classify"]

LOOP_HEADER = "X-Maild-Loop"


class Kind(enum.StrEnum):
    NORMAL = "normal"
    AUTO_REPLY = "auto_reply"
    BOUNCE = "bounce"
    LIST = "list"
    LOOP = "loop"


@dataclass(frozen=True, slots=True)
class Classification:
    kind: Kind
    reason: str  # names the header/value that decided; "" for NORMAL

    @property
    def answerable(self) -> bool:
        """Only ordinary mail may get an automatic response."""
        return self.kind is Kind.NORMAL


@dataclass(frozen=True, slots=True)
class Identity:
    """Who "we" are: anything carrying these marks came from us."""

    addresses: frozenset[str]  # lower-case; local+tag@domain of these counts as ours too
    loop_token: str  # value of our X-Maild-Loop header on every outbound message
    is_own_message_id: Callable[[str], bool]  # HMAC check of Message-IDs we generated


def _token(value: str) -> str:
    """First word of a header value, lower-case, without ";params" or "(comments)"."""
    words = value.split(";", 1)[0].replace("(", " ").split()
    return words[0].lower() if words else ""


def _present(_value: str) -> bool:
    return True


def _set(value: str) -> bool:
    # Exchange puts "All"/"OOF"/"DR, RN, ..." on mail it generated itself; "none" opts out.
    return _token(value) not in ("", "none", "no", "false")


_Check = tuple[str, Callable[[str], bool]]

# Header name -> predicate on one of its values. Checked in order; the first hit decides.
_AUTO_REPLY_HEADERS: tuple[_Check, ...] = (
    ("Auto-Submitted", lambda v: _token(v) != "no"),  # RFC 3834: anything but "no" is a machine
    ("X-Autoreply", _set),
    ("X-Autorespond", _set),
    ("X-Autoresponder", _set),
    ("X-Auto-Response-Suppress", _set),
    ("X-AutoReply-From", _present),
    ("X-Mail-Autoreply", _present),
    ("X-FC-MachineGenerated", lambda v: _token(v) == "true"),
    ("X-Loop", _present),  # someone's loop guard already fired on this message
    ("Precedence", lambda v: _token(v) == "auto_reply"),
)
_LIST_HEADERS: tuple[_Check, ...] = (
    ("Precedence", lambda v: _token(v) in ("bulk", "junk", "list")),
    ("List-Id", _present),
    ("List-Unsubscribe", _present),
    ("List-Post", _present),
    ("X-Mailing-List", _present),
)

_DAEMON_LOCAL_PARTS = ("mailer-daemon", "postmaster")
_DAEMON_NAMES = ("mail delivery subsystem", "mail delivery system")
# Only trusted together with a null sender: a human may well write "Returned mail?".
_BOUNCE_SUBJECTS = (
    "undeliverable",
    "undelivered mail",
    "delivery status notification",
    "mail delivery failed",
    "returned mail",
    "failure notice",
)
# Last resort for responders that set no header at all.
_AUTO_SUBJECT_PREFIXES = (
    "auto:",
    "automatic reply",
    "out of office",
    "autoreply",
    "auto-reply",
    "abwesenheitsnotiz",
    "automatische antwort",
    "réponse automatique",
)
_NULL_PATH = re.compile(r"<\s*>")


def _fold(text: str) -> str:
    return unicodedata.normalize("NFC", text).strip().casefold()


def _show(value: str, limit: int = 100) -> str:
    """A header value made fit for a one-line reason."""
    value = " ".join(value.split())
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _header_hit(msg: ParsedMessage, checks: tuple[_Check, ...]) -> str:
    for name, matches in checks:
        for value in msg.header_all(name):
            if matches(value):
                return f"{name}: {_show(value)}"
    return ""


def _local_part(addr: str) -> str:
    local, at, _domain = addr.rpartition("@")
    return local if at else addr  # bare "MAILER-DAEMON" from local delivery has no domain


def _is_ours(addr: str, ours: frozenset[str]) -> bool:
    addr = addr.strip().lower()
    if not addr:
        return False
    if addr in ours:
        return True
    local, at, domain = addr.rpartition("@")  # support+anything@ is still support@
    return bool(at) and "+" in local and f"{local.split('+', 1)[0]}@{domain}" in ours


def _loop_reason(msg: ParsedMessage, identity: Identity) -> str:
    token = identity.loop_token.strip()
    if token and any(token in v.replace(",", " ").split() for v in msg.header_all(LOOP_HEADER)):
        return f"{LOOP_HEADER}: our loop token"
    if msg.message_id and identity.is_own_message_id(msg.message_id):
        return f"Message-ID: <{msg.message_id}> is one of ours"
    if _is_ours(msg.from_addr, identity.addresses):
        return f"From: {msg.from_addr} is our own address"
    return ""


def _null_sender(msg: ParsedMessage, mail_from: str | None) -> str:
    """Why the reverse-path is null (RFC 5321: only notifications use it), or ""."""
    if mail_from is not None and not mail_from.strip().strip("<>").strip():
        return "null envelope sender (MAIL FROM:<>)"
    if any(_NULL_PATH.fullmatch(v.strip()) for v in msg.header_all("Return-Path")):
        return "Return-Path: <>"
    return ""


def classify(msg: ParsedMessage, *, mail_from: str | None, identity: Identity) -> Classification:
    """Classify one incoming message; only a NORMAL result may be answered."""
    if reason := _loop_reason(msg, identity):
        return Classification(Kind.LOOP, reason)

    is_report = msg.content_type == "multipart/report"
    if is_report and msg.report_type == "delivery-status":
        return Classification(Kind.BOUNCE, "multipart/report; report-type=delivery-status")
    if is_report and msg.report_type == "disposition-notification":
        return Classification(Kind.AUTO_REPLY, "read receipt (disposition-notification)")
    if _local_part(msg.from_addr) in _DAEMON_LOCAL_PARTS:
        return Classification(Kind.BOUNCE, f"From: {msg.from_addr}")
    null = _null_sender(msg, mail_from)
    if null and any(name in _fold(msg.from_name) for name in _DAEMON_NAMES):
        return Classification(Kind.BOUNCE, f"{null} and From: {_show(msg.from_name)}")
    if null and any(marker in _fold(msg.subject) for marker in _BOUNCE_SUBJECTS):
        return Classification(Kind.BOUNCE, f"{null} and Subject: {_show(msg.subject)}")

    if reason := _header_hit(msg, _AUTO_REPLY_HEADERS):
        return Classification(Kind.AUTO_REPLY, reason)
    if is_report:  # any other report (ARF, TLS-RPT, ...) is machine mail too
        return Classification(Kind.AUTO_REPLY, f"multipart/report; report-type={msg.report_type}")
    if null:
        return Classification(Kind.AUTO_REPLY, null)
    if _fold(msg.subject).startswith(_AUTO_SUBJECT_PREFIXES):
        return Classification(Kind.AUTO_REPLY, f"Subject: {_show(msg.subject)}")

    if reason := _header_hit(msg, _LIST_HEADERS):
        return Classification(Kind.LIST, reason)
    return Classification(Kind.NORMAL, "")


# --- which of our messages a bounce is about ---------------------------------------------

_EMBEDDED_MESSAGES = ("message/rfc822", "message/global")
_EMBEDDED_HEADERS = ("text/rfc822-headers", "message/rfc822-headers", "message/global-headers")
_INLINE_MSG_ID = re.compile(r"^[ \t>]*Message-ID:[ \t]*<([^<>\s]+)>", re.IGNORECASE | re.MULTILINE)


def _ids(value: object) -> list[str]:
    """Message-IDs in a header value, normalised the way parse() does it."""
    return [] if value is None else list(split_message_ids(str(value)))


def _embedded_originals(part: Message) -> Iterator[Message]:
    """The returned messages (or their headers) a report carries; never looks inside them."""
    ctype = part.get_content_type()
    if ctype in _EMBEDDED_MESSAGES and isinstance(payload := part.get_payload(), list):
        yield from (p for p in payload[:1] if isinstance(p, Message))
    elif ctype in _EMBEDDED_MESSAGES or ctype in _EMBEDDED_HEADERS:
        body = part.get_payload(decode=True)
        if isinstance(body, bytes):
            yield email.message_from_bytes(body, policy=compat32)
    elif part.is_multipart():
        for sub in part.get_payload():
            yield from _embedded_originals(sub)


def bounce_references(msg: ParsedMessage, raw: bytes) -> tuple[str, ...]:
    """Message-IDs a bounce refers to, best first, deduplicated; never raises."""
    found: list[str] = []
    # Rare path, so the stdlib re-parse is fine; compat32 is the most forgiving policy.
    with contextlib.suppress(Exception):  # garbage in: keep whatever was found so far
        for original in _embedded_originals(email.message_from_bytes(raw, policy=compat32)):
            found.append(normalise_message_id(str(original.get("Message-ID", ""))))
            found += _ids(original.get("In-Reply-To"))
            found += reversed(_ids(original.get("References")))  # nearest ancestor first
    found += msg.in_reply_to
    found += reversed(msg.references)
    # Non-MIME bounces (qmail "failure notice", old Exim) quote the original inline.
    found += _INLINE_MSG_ID.findall(msg.text)
    return tuple(dict.fromkeys(i.strip() for i in found if i.strip()))

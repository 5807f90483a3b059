"""Raw message bytes in, ParsedMessage out: the first step of processing an inbound mail.

`parse()` turns whatever arrived over SMTP or a pipe into a frozen, plain value the
rest of the pipeline works with, and never raises: anything that was wrong or had to
be guessed is noted in `ParsedMessage.defects`. mail-parser does the MIME parse and
reads the Date; headers, addresses, body and attachments are then read here from the
message tree it built, because mail-parser drops 8-bit header bytes it cannot decode
and pours the text of attached messages into the body. When mail-parser fails, the
stdlib parser is tried, then a headers-only parse, then the bytes are kept as text.
"""

from __future__ import annotations

import email
import email.parser
import email.utils
import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email.message import Message
from email.policy import compat32
from urllib.parse import unquote

import mailparser

from maild.mimetext import (
    addresses,
    decode_bytes,
    decode_words,
    fix_8bit,
    guess_extension,
    html_to_text,
    part_filename,
    transfer_decode,
)

__all__ = ["Attachment", "ParsedMessage", "normalise_message_id", "parse", "split_message_ids"]

MAX_DEFECTS = 50
MAX_MESSAGE_ID = 998  # RFC 5322 line length; also the size of the message-id columns
HUGE_HEADERS = 64 * 1024


@dataclass(frozen=True, slots=True)
class Attachment:
    filename: str  # never empty: "attachment-N" + an extension guessed from the type
    content_type: str  # lower-case "type/subtype"
    payload: bytes  # decoded bytes
    content_id: str  # without <>; "" when none
    inline: bool  # Content-Disposition inline, or referenced from the HTML as cid:


@dataclass(frozen=True, slots=True)
class ParsedMessage:
    message_id: str
    subject: str
    from_name: str
    from_addr: str
    to: tuple[tuple[str, str], ...]
    cc: tuple[tuple[str, str], ...]
    reply_to: tuple[tuple[str, str], ...]
    date: datetime | None
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    headers: tuple[tuple[str, str], ...]
    text: str
    html: str
    attachments: tuple[Attachment, ...]
    content_type: str
    report_type: str
    size: int
    defects: tuple[str, ...]

    def header(self, name: str) -> str:
        """First value of a top-level header (case-insensitive), "" when absent."""
        key = name.lower()
        return next((value for n, value in self.headers if n.lower() == key), "")

    def header_all(self, name: str) -> tuple[str, ...]:
        key = name.lower()
        return tuple(value for n, value in self.headers if n.lower() == key)


def parse(raw: bytes) -> ParsedMessage:
    """Parse raw message bytes; never raises."""
    if not isinstance(raw, bytes):
        raw = raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else bytes(raw)
    notes: list[str] = []
    header_size = _header_size(raw)
    if header_size > HUGE_HEADERS:
        # mail-parser's header decoding is quadratic: 660 KB of encoded words cost 4 s.
        notes.append(f"{header_size // 1024} KB of headers; read with the stdlib parser")
    else:
        try:
            parsed = mailparser.parse_from_bytes(raw)
            return _build(raw, parsed.message, notes, parsed)
        except Exception as exc:
            notes.append(f"mail-parser failed ({_describe(exc)}); read with the stdlib parser")
    try:
        return _build(raw, email.message_from_bytes(raw, policy=compat32), notes)
    except Exception as exc:
        notes.append(f"stdlib parser failed ({_describe(exc)}); body kept unparsed")
    try:
        # Headers only: the body stays one text payload, so no nesting can break this.
        headers_only = email.parser.BytesParser(policy=compat32).parsebytes(raw, True)
        return _build(raw, headers_only, notes)
    except Exception as exc:
        notes.append(f"headers unreadable ({_describe(exc)}); message kept as text")
    text = _newlines(raw.decode("utf-8", "replace").replace("\x00", ""))
    return replace(_UNPARSED, text=text, size=len(raw), defects=_capped(notes))


_UNPARSED = ParsedMessage(
    "", "", "", "", (), (), (), None, (), (), (), "", "", (), "text/plain", "", 0, ()
)


def normalise_message_id(value: str) -> str:
    """'<a@b>' -> 'a@b'; the first bracketed id wins, whitespace is dropped, and the id is
    cut to MAX_MESSAGE_ID characters."""
    match = _BRACKETED.search(value)
    found = match.group(1) if match else value.strip().strip("<>")
    if "\x00" in found:
        found = found.replace("\x00", "")
    return "".join(found.split())[:MAX_MESSAGE_ID]


def split_message_ids(value: str) -> tuple[str, ...]:
    """'<a@b> <c@d>' -> ('a@b', 'c@d'); bare ids are kept only when they hold an '@';
    each is cut to MAX_MESSAGE_ID characters."""
    if "\x00" in value:
        value = value.replace("\x00", "")
    ids = []
    for bracketed, bare in _ID_TOKEN.findall(value):
        found = "".join(bracketed.split()) if bracketed else bare if "@" in bare else ""
        if found:
            ids.append(found[:MAX_MESSAGE_ID])
    return tuple(ids)


_BRACKETED = re.compile(r"<([^<>]*)>")
_ID_TOKEN = re.compile(r"<([^<>]*)>|([^\s,<>]+)")
_CID_REF = re.compile(r"""cid:([^"'\s<>)]+)""", re.I)
_CONTENT_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9!#$&^_.+-]+")


def _build(
    raw: bytes, msg: Message, notes: list[str], parsed: mailparser.MailParser | None = None
) -> ParsedMessage:
    defects = [*notes, *_mailparser_defects(parsed)] if parsed else list(notes)
    if not raw.strip():
        defects.append("message is empty")
    unfolded = [(name, fix_8bit(str(value), defects, name)) for name, value in msg.raw_items()]
    headers = tuple((name, decode_words(value, defects, name).strip()) for name, value in unfolded)
    first: dict[str, str] = {}
    for name, value in headers:
        first.setdefault(name.lower(), value)
    if not headers and raw.strip():
        defects.append("no headers")
    senders = addresses(unfolded, "from", defects)
    body = _Body(raw, defects)
    body.walk(msg)
    html_part = "\n\n".join(body.html)
    if any(part.strip() for part in body.plain):
        text = "\n\n".join(body.plain)
    else:
        text = "\n\n".join(html_to_text(part) for part in body.html)
    return ParsedMessage(
        message_id=normalise_message_id(first.get("message-id", "")),
        subject=" ".join(first.get("subject", "").split()),
        from_name=senders[0][0] if senders else "",
        from_addr=senders[0][1] if senders else "",
        to=addresses(unfolded, "to", defects),
        cc=addresses(unfolded, "cc", defects),
        reply_to=addresses(unfolded, "reply-to", defects),
        date=_date(parsed, first.get("date", ""), defects),
        in_reply_to=split_message_ids(first.get("in-reply-to", "")),
        references=split_message_ids(first.get("references", "")),
        headers=headers,
        text=_newlines(text),
        html=_newlines(html_part),
        attachments=body.attachments(html_part),
        content_type=_content_type(msg),
        report_type=body.report_type,
        size=len(raw),
        defects=_capped(defects),
    )


class _Body:
    """Walks a message tree (iteratively: nesting depth is sender-controlled)."""

    def __init__(self, raw: bytes, defects: list[str]) -> None:
        self.plain: list[str] = []
        self.html: list[str] = []
        self.leaves: list[tuple[str, str, bytes, str, bool]] = []
        self.report_type = ""
        self.defects = defects
        self.linesep = "\r\n" if b"\r\n" in raw[:4096] else "\n"

    def walk(self, msg: Message) -> None:
        stack = [msg]
        while stack:
            part = stack.pop()
            if not isinstance(part, Message):
                continue
            ctype = _content_type(part)
            for defect in part.defects:
                doc = str(defect) or (type(defect).__doc__ or "").strip().split("\n")[0]
                self.defects.append(f"{ctype}: {type(defect).__name__}: {doc}")
            try:
                if part.is_multipart() and not ctype.startswith("message/"):
                    if ctype == "multipart/report" and not self.report_type:
                        report = part.get_param("report-type") or ""
                        report = email.utils.collapse_rfc2231_value(report)
                        self.report_type = fix_8bit(report).strip().lower()
                    stack.extend(reversed(part.get_payload()))
                else:
                    self._leaf(part, ctype)
            except Exception as exc:
                self.defects.append(f"{ctype} part skipped: {_describe(exc)}")

    def _leaf(self, part: Message, ctype: str) -> None:
        disposition = part.get_content_disposition()
        filename = part_filename(part, self.defects)
        if part.is_multipart():
            payload = b"".join(self._flatten(sub) for sub in part.get_payload())
            encoding = str(part.get("content-transfer-encoding", "")).strip().lower()
            if encoding in ("base64", "quoted-printable"):
                # Not allowed on message/* (RFC 2046 5.2.1), but sent: the stdlib then
                # parsed the encoded text as a message without headers.
                payload = transfer_decode(payload, encoding, self.defects)
        else:
            payload = part.get_payload(decode=True) or b""
        if ctype.startswith("multipart/"):
            # A multipart whose boundary never shows up: the stdlib kept its body as text.
            ctype = "text/plain"
        if ctype in ("text/plain", "text/html") and disposition != "attachment" and not filename:
            text = decode_bytes(payload, part.get_content_charset(), self.defects, ctype)
            (self.plain if ctype == "text/plain" else self.html).append(text.replace("\x00", ""))
            return
        if filename.lower() == "winmail.dat" and ctype == "application/octet-stream":
            ctype = "application/ms-tnef"
        raw_id = next((str(v) for k, v in part.raw_items() if k.lower() == "content-id"), "")
        content_id = normalise_message_id(fix_8bit(raw_id))
        self.leaves.append((filename, ctype, payload, content_id, disposition == "inline"))

    def _flatten(self, sub: object) -> bytes:
        if not isinstance(sub, Message):
            return str(sub).encode("utf-8", "surrogateescape")
        try:
            return sub.as_bytes(policy=compat32.clone(linesep=self.linesep))
        except Exception:
            try:
                return sub.as_string().encode("utf-8", "surrogateescape")
            except Exception as exc:
                self.defects.append(f"attached message unreadable: {_describe(exc)}")
                return b""

    def attachments(self, html_part: str) -> tuple[Attachment, ...]:
        cids = {unquote(ref).lower() for ref in _CID_REF.findall(html_part)}
        return tuple(
            Attachment(
                filename=filename or f"attachment-{n}{guess_extension(ctype)}",
                content_type=ctype,
                payload=payload,
                content_id=cid,
                inline=inline or (bool(cid) and cid.lower() in cids),
            )
            for n, (filename, ctype, payload, cid, inline) in enumerate(self.leaves, 1)
        )


def _header_size(raw: bytes) -> int:
    ends = [i for i in (raw.find(b"\r\n\r\n"), raw.find(b"\n\n")) if i >= 0]
    return min(ends) if ends else len(raw)


def _content_type(part: Message) -> str:
    ctype = part.get_content_type()
    if _CONTENT_TYPE.fullmatch(ctype):
        return ctype
    return part.get_default_type()


def _date(parsed: mailparser.MailParser | None, value: str, defects: list[str]) -> datetime | None:
    if parsed is not None:
        # mail-parser reads more date formats than the stdlib and notes its own failures.
        return _utc(parsed.date) if parsed.date else None
    if not value:
        return None
    try:
        return _utc(email.utils.parsedate_to_datetime(value))
    except Exception:
        defects.append(f"date: unreadable {value[:80]!r}")
        return None


def _utc(date: datetime) -> datetime:
    return date.replace(tzinfo=UTC) if date.tzinfo is None else date.astimezone(UTC)


def _mailparser_defects(parsed: mailparser.MailParser) -> list[str]:
    # Part-level defects are collected during our own walk; keep only mail-parser's
    # own findings on dates and addresses.
    found = [*parsed.date_header_defects, *parsed.address_header_defects]
    return [f"{d.get('header', '?')}: {d.get('reason', '?')}" for d in found]


def _newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


def _capped(defects: list[str]) -> tuple[str, ...]:
    # Notes may quote the input: make them storable text (no raw bytes, no NUL), short.
    unique = list(dict.fromkeys(fix_8bit(note)[:300] for note in defects))
    if len(unique) <= MAX_DEFECTS:
        return tuple(unique)
    return (*unique[:MAX_DEFECTS], f"... and {len(unique) - MAX_DEFECTS} more")


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc)[:160]}"

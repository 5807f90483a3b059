"""Turning the bytes and words found in MIME messages into text.

Helpers for maild.parse: decoding a payload in a declared (or wrong, or unknown)
charset; raw 8-bit header values, RFC 2047 encoded words, attachment filenames and
address lists; and rendering an HTML body as plain text. None of them raise on any
input; when they have to guess, they append a human-readable note to the `defects`
list they are given.
"""

from __future__ import annotations

import binascii
import codecs
import email.utils
import functools
import html
import mimetypes
import re
from email.message import Message

# Labels that name no charset at all: the bytes are decoded by guessing.
_NO_CHARSET = frozenset({"x-unknown", "unknown", "unknown-8bit", "x-user-defined", "default"})

# What senders label gb2312, euc-kr or shift_jis is in practice the vendor superset,
# and iso-8859-1 text routinely carries windows-1252 punctuation (browsers assume so too).
_SUPERSET = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "euc_kr": "cp949",
    "shift_jis": "cp932",
    "iso8859-1": "cp1252",
}

# Single-byte charsets whose text is practically never valid UTF-8 by accident, so
# valid non-ASCII UTF-8 under one of these labels means the label is wrong.
_SINGLE_BYTE = re.compile(r"ascii|iso8859-|cp125|koi8-|mac-").match

__all__ = [
    "addresses",
    "decode_bytes",
    "decode_words",
    "fix_8bit",
    "guess_extension",
    "html_to_text",
    "part_filename",
    "transfer_decode",
]


_EXTENSIONS = {
    "message/rfc822": ".eml",
    "message/global": ".eml",
    "message/delivery-status": ".txt",
    "message/disposition-notification": ".txt",
    "text/rfc822-headers": ".txt",
    "text/calendar": ".ics",
    "application/ms-tnef": ".dat",
    "application/vnd.ms-tnef": ".dat",
}
_NAMED_IN = ("content-disposition", "content-type")
_NOT_ASCII_BASED = ("utf-16", "utf-32", "utf-7", "iso2022")
_GUESSES = ("utf-8", "cp1252")
_FOLD = re.compile(r"\r?\n(?=[ \t])")
# Column sizes: RFC 5321 caps an address at 64 + 1 + 255 characters; names are cut.
MAX_ADDRESS = 320
MAX_NAME = 200


@functools.lru_cache(maxsize=256)
def _codec(label: str) -> str | None:
    name = label.strip().strip("\"'").lower()
    if not name or name in _NO_CHARSET:
        return None
    try:
        info = codecs.lookup(name)
    except Exception:
        return None
    # Non-text codecs (base64, rot13, zlib...) exist under charset-like names.
    if not getattr(info, "_is_text_encoding", True):
        return None
    return _SUPERSET.get(info.name, info.name)


def _guess(data: bytes) -> str:
    for codec in _GUESSES:
        try:
            return data.decode(codec)
        except UnicodeDecodeError:
            pass
    return data.decode("latin-1")


def decode_bytes(
    data: bytes, charset: str | None, defects: list[str] | None = None, where: str = "body"
) -> str:
    """Decode `data` labelled `charset`; fall back to UTF-8, then windows-1252/latin-1."""
    codec = _codec(charset) if charset else None
    if codec is None and charset and charset.strip():
        _note(defects, f"{where}: unknown charset {charset[:60]!r}, decoded by guessing")
    # Only the UTF-16/32, UTF-7 and ISO-2022 codecs read plain ASCII differently.
    if data.isascii() and (codec is None or not codec.startswith(_NOT_ASCII_BASED)):
        return data.decode("ascii")
    if codec is not None and codec != "utf-8" and _SINGLE_BYTE(codec):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            _note(defects, f"{where}: labelled {charset!r} but is UTF-8")
            return text
    if codec is not None:
        try:
            text = data.decode(codec)
            # Some codecs yield lone surrogates, which no database or JSON encoder accepts.
            text.encode("utf-8")
            return text
        except Exception:
            _note(defects, f"{where}: not valid {charset!r}, decoded by guessing")
    return _guess(data)


def _note(defects: list[str] | None, text: str) -> None:
    if defects is not None:
        defects.append(text)


def fix_8bit(value: str, defects: list[str] | None = None, where: str = "header") -> str:
    """Header text as the stdlib holds it (raw bytes as surrogates) -> real text.

    Unfolds continuation lines and drops NULs, which no store accepts.
    """
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raw = value.encode("utf-8", "surrogateescape")
        try:
            value = raw.decode("utf-8")
        except UnicodeDecodeError:
            value = _guess(raw)
            _note(defects, f"{where}: raw 8-bit bytes that are not UTF-8")
    if "\n" in value or "\r" in value:
        value = _FOLD.sub("", value).replace("\r", " ").replace("\n", " ")
    if "\x00" in value:
        value = value.replace("\x00", "")
    return value


# Lenient on purpose: words glued to text or holding spaces are decoded as mail
# clients do. The RFC 2231 language suffix (charset*lang) is allowed and ignored.
_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([qQbB])\?([^?]*)\?=")
_BASE64 = re.compile(rb"[A-Za-z0-9+/]*")


def decode_words(value: str, defects: list[str] | None = None, where: str = "header") -> str:
    """Decode RFC 2047 encoded words; broken ones are left as written and noted.

    NULs are dropped, also those hidden in an encoded word (=00): no store accepts them.
    """
    if "=?" not in value:
        return value.replace("\x00", "") if "\x00" in value else value
    out: list[str] = []
    pending: list = []  # [charset, bytearray] of adjacent words, joined before decoding
    pos = 0

    def flush() -> None:
        if pending:
            out.append(decode_bytes(bytes(pending[1]), pending[0], defects, where))
            pending.clear()

    for match in _ENCODED_WORD.finditer(value):
        between = value[pos : match.start()]
        # Whitespace between adjacent encoded words is not part of the text (RFC 2047 §6.2).
        if not (pending and not between.strip()):
            flush()
            out.append(between)
        pos = match.end()
        charset, kind, text = match.groups()
        charset = charset.split("*", 1)[0]
        data = _decode_word(kind, text)
        if data is None:
            flush()
            out.append(match.group(0))
            _note(defects, f"{where}: broken encoded word {match.group(0)[:80]!r}")
        elif pending and pending[0].lower() == charset.lower():
            pending[1] += data
        else:
            flush()
            pending.extend((charset, bytearray(data)))
    flush()
    out.append(value[pos:])
    decoded = "".join(out)
    return decoded.replace("\x00", "") if "\x00" in decoded else decoded


def _decode_word(kind: str, text: str) -> bytes | None:
    data = text.encode("utf-8", "surrogateescape")
    try:
        if kind in "qQ":
            return binascii.a2b_qp(data, header=True)
        data = b"".join(data.split()).rstrip(b"=")
        if not _BASE64.fullmatch(data):
            return None
        return binascii.a2b_base64(data + b"=" * (-len(data) % 4))
    except (binascii.Error, ValueError):
        return None


def part_filename(part: Message, defects: list[str]) -> str:
    """A part's filename (RFC 2231, RFC 2047 or raw 8-bit), without directories; or ""."""
    params = [(k, v) for k, v in part.raw_items() if k.lower() in _NAMED_IN]
    if not all(str(v).isascii() for _, v in params):
        # The stdlib turns raw 8-bit parameter bytes into U+FFFD: read them as text first.
        part = Message()
        for key, value in params:
            part[key] = fix_8bit(str(value), defects, "filename")
    try:
        name = part.get_filename() or ""
    except Exception as exc:
        defects.append(f"unreadable attachment filename: {type(exc).__name__}")
        return ""
    name = decode_words(fix_8bit(str(name), defects, "filename"), defects, "filename")
    # Only the last path component: a filename is not a place to write to.
    name = re.split(r"[/\\]", name)[-1]
    name = "".join(ch for ch in name if ch.isprintable()).strip()
    return "" if name in (".", "..") else name


def addresses(
    unfolded: list[tuple[str, str]], field: str, defects: list[str]
) -> tuple[tuple[str, str], ...]:
    """(name, lower-cased address) pairs from every `field` header; empty addresses dropped.

    `unfolded` holds (name, value) header pairs after fix_8bit, before decode_words.
    Addresses longer than MAX_ADDRESS are dropped (and noted), names cut to MAX_NAME.
    """
    values = [value for name, value in unfolded if name.lower() == field]
    if not values:
        return ()
    try:
        # Split before decoding encoded words: a decoded name may hold commas or <>.
        pairs = _getaddresses(values)
    except Exception as exc:
        defects.append(f"{field}: unreadable addresses ({type(exc).__name__})")
        return ()
    found = []
    for name, addr in pairs:
        addr = addr.strip().lower().replace("\x00", "")
        if not addr:
            continue
        if len(addr) > MAX_ADDRESS:
            defects.append(f"{field}: address longer than {MAX_ADDRESS} characters dropped")
            continue
        name = " ".join(decode_words(name, defects, field).split())
        found.append((name[:MAX_NAME].rstrip() if len(name) > MAX_NAME else name, addr))
    return tuple(found)


def _getaddresses(values: list[str]) -> list[tuple[str, str]]:
    # Python releases from 3.11.10/3.12.6 on return [("", "")] for a whole header with
    # one malformed entry unless strict=False; a helpdesk wants every address it can
    # read (From is only as trustworthy as the sender anyway), on every release alike.
    try:
        return email.utils.getaddresses(values, strict=False)
    except TypeError:
        return email.utils.getaddresses(values)


def guess_extension(ctype: str) -> str:
    """The ".ext" for a content type ("" when unknown), for naming unnamed attachments."""
    return _EXTENSIONS.get(ctype) or mimetypes.guess_extension(ctype) or ""


def transfer_decode(data: bytes, encoding: str, defects: list[str]) -> bytes:
    try:
        if encoding == "base64":
            return binascii.a2b_base64(data)
        return binascii.a2b_qp(data)
    except (binascii.Error, ValueError):
        defects.append(f"undecodable {encoding} content kept as sent")
        return data


# --- HTML to text -------------------------------------------------------------------
# Regular expressions rather than an HTML parser: they are several times faster and,
# written so that an unclosed construct runs to the end instead of being retried at
# every later position, they stay linear on hostile input.

_INVISIBLE = re.compile(
    r"<!--.*?(?:-->|\Z)|<(script|style|head|title)\b.*?(?:</\1\s*>|\Z)", re.I | re.S
)
_SPACE = re.compile(r"[ \t\r\n\f\v]+")
_BREAK = re.compile(r"<br\b[^>]*>", re.I)
_PARAGRAPH = re.compile(r"</?(?:p|h[1-6]|blockquote|pre|table|ul|ol)\b[^>]*>", re.I)
_BLOCK = re.compile(
    r"</?(?:div|li|tr|hr|dd|dt|dl|section|article|header|footer|address|center)\b[^>]*>",
    re.I,
)
_TAG = re.compile(r"</?[a-zA-Z!?][^>]*(?:>|\Z)")
# Each run starts at a marker, so no position is tried twice (a pattern that could
# start with spaces or markers rescanned the rest of the run from every position in
# it: quadratic). Spaces before a run are left in place; stripping lines drops them.
_PARA_RUN = re.compile(r"\x01[ \x00\x01]*")
_BLOCK_RUN = re.compile(r"\x00[ \x00]*")
_BLANK_RUN = re.compile(r"\n{3,}")


def html_to_text(markup: str) -> str:
    """Render HTML as plain text: tags stripped, entities unescaped, and line breaks
    kept for <br> and block elements (<p>, <div>, <li>, ...)."""
    text = markup.replace("\x00", " ").replace("\x01", " ")
    text = _INVISIBLE.sub(" ", text)
    text = _SPACE.sub(" ", text)
    # Block boundaries are marked first and collapsed later, so that nested blocks
    # (<div><p>) give one break, not a stack of empty lines; <br> always counts.
    text = _BREAK.sub("\n", text)
    text = _PARAGRAPH.sub("\x01", text)
    text = _BLOCK.sub("\x00", text)
    text = _TAG.sub("", text)
    # A run holding a paragraph marker gives at least one blank line (any \x00 before
    # it adds a newline that the final _BLANK_RUN folds away); one of \x00 only, a newline.
    text = _PARA_RUN.sub("\n\n", text)
    text = _BLOCK_RUN.sub("\n", text)
    text = html.unescape(text).replace("\xa0", " ").replace("\x00", "")
    lines = [line.strip(" ") for line in text.split("\n")]
    return _BLANK_RUN.sub("\n\n", "\n".join(lines)).strip()

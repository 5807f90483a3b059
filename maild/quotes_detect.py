"""Where the quoted history of a reply begins, found line by line.

Both the text part and the HTML part of a reply are turned into `Line`s (the HTML side also
says what its markup showed: a cite blockquote, a Gmail attribution, an Outlook header
box …), and `find_cut` names the first line of the trailing history, or None. The rules:

- Our reply-above-this-line marker, an Outlook header block ("From: … Sent: … To: …
  Subject: …", localised), an "-----Original Message-----" line and the `-- ` signature
  separator start history that runs to the end, whatever follows.
- An attribution ("On … wrote:", "Am … schrieb …:", "Le … a écrit :", "El … escribió:")
  followed by quoted lines, a `>`-quoted block and a mobile signature ("Sent from my
  iPhone") start history only when nothing but more history follows: an answer written
  between or below quotes is never cut.
- A cut that would leave nothing of the sender's own is not made, and nothing before a
  forwarded message ("---------- Forwarded message ---------") is cut: a forward is content.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from maild.notices import MARKER
from maild.quotes_words import (
    ATTRIBUTION_GENERIC,
    ATTRIBUTION_LEADING,
    FORWARD,
    FORWARD_SUBJECT,
    MOBILE_SIGNATURE,
    SEPARATOR,
    WROTE,
    header_label,
)

__all__ = ["ATTRIBUTION", "HISTORY", "SIGNATURE", "Line", "find_cut", "is_blank", "is_quoted"]

# Hints the HTML side gives (the text side gives none).
HISTORY = "history"  # a container that holds only history: Outlook header box, yahoo_quoted
ATTRIBUTION = "attribution"  # gmail_attr, moz-cite-prefix
SIGNATURE = "signature"  # gmail_signature, moz-signature, a mobile signature box

MAX_SIGNATURE_LINES = 12  # a longer "-- " block is more likely text than a signature
_INVISIBLE = " \t\xa0\ufeff\u200b\u200c\u200d\u2060"
_QUOTED = re.compile(r"^[ \t]*>")
_UNDERSCORES = re.compile(r"^\s*_{10,}\s*$")
_LINK = re.compile(r"<(?:https?|mailto):[^>]*>")
_VERB = re.compile(WROTE, re.I)

# Kinds of line.
_BLANK, _TEXT, _QUOTE, _FORWARD = "blank", "text", "quote", "forward"
_ENDS = ("marker", "separator", "header", "rule", "sigdash", "box")  # history to the end
_TRAILING = ("attribution", "mobile", "sigbox")  # history only when the rest is history


@dataclass(frozen=True, slots=True)
class Line:
    text: str  # the line as written (plain) or rendered (HTML), quote prefix included
    quoted: bool = False  # a `>` line, or inside a cite blockquote
    hint: str = ""  # HISTORY, ATTRIBUTION, SIGNATURE or ""


def is_quoted(text: str) -> bool:
    return bool(_QUOTED.match(text))


def is_blank(text: str) -> bool:
    """Nothing visible: spaces, no-break spaces, zero-width characters, a byte order mark."""
    return not text.strip(_INVISIBLE)


def find_cut(lines: Sequence[Line]) -> int | None:
    """Index of the first line of trailing history (blank lines above it included), or None
    when there is none or cutting there would leave nothing of the sender's own."""
    kinds, spans = _classify(lines)
    tail = _tail_is_history(kinds, spans)
    previous = _BLANK  # the kind of the last non-blank line before i
    for i, kind in enumerate(kinds):
        if kind == _FORWARD:
            return None  # what follows a forward header is content, not history
        starts_block = kind == _QUOTE and previous != _QUOTE
        if kind != _BLANK:
            previous = kind
        if not (kind in _ENDS or kind in _TRAILING or starts_block) or not tail[i]:
            continue
        start = _absorb_attribution(lines, kinds, i) if kind == "marker" else i
        while start > 0 and kinds[start - 1] == _BLANK:
            start -= 1
        own = any(k not in (_BLANK, _QUOTE) for k in kinds[:start])
        return start if own else None
    return None


def _classify(lines: Sequence[Line]) -> tuple[list[str], list[int]]:
    """A kind per line, and for attributions the number of lines they span."""
    kinds = [_kind(line) for line in lines]
    spans = [1] * len(lines)
    for i, line in enumerate(lines):
        if kinds[i] == _TEXT:
            span = _attribution_span(lines, i)
            if span and _next_kind(kinds, i + span) in (_QUOTE, "marker"):
                kinds[i], spans[i] = "attribution", span
            elif block := _header_block(lines, i):
                kinds[i] = block
        if line.hint == ATTRIBUTION and kinds[i] in (_TEXT, "attribution"):
            kinds[i] = "attribution"
    for i, kind in enumerate(kinds):
        if kind == "rule" and _next_kind(kinds, i + 1) not in ("header", "forward"):
            kinds[i] = _TEXT
    return kinds, spans


def _kind(line: Line) -> str:
    text = line.text
    bare = text.strip(_INVISIBLE)
    if line.quoted or is_quoted(text):
        return _QUOTE if bare.lstrip(">").strip(_INVISIBLE) else _BLANK
    if not bare:
        return _BLANK
    if line.hint == HISTORY:
        return "box"
    if MARKER in text:
        return "marker"
    if FORWARD.match(bare):
        return _FORWARD
    if SEPARATOR.match(bare):
        return "separator"
    if text.rstrip("\n") == "-- " or (bare == "--" and line.hint == SIGNATURE):
        return "sigdash"
    if _UNDERSCORES.match(bare):
        return "rule"
    if len(bare) < 160 and MOBILE_SIGNATURE.match(" ".join(_LINK.sub(" ", bare).split())):
        return "mobile"
    if line.hint == SIGNATURE:
        return "sigbox"
    return _TEXT


def _attribution_span(lines: Sequence[Line], i: int) -> int:
    """How many lines (1-3) the attribution starting at line i spans; 0 when it is none.
    Clients wrap a long "On … wrote:" line, so joined continuations are tried too."""
    if not _VERB.search(" ".join(line.text for line in lines[i : i + 3])):
        return 0
    parts: list[str] = []
    for span in range(1, 4):
        if i + span > len(lines):
            return 0
        line = lines[i + span - 1]
        if line.quoted or is_quoted(line.text) or not line.text.strip(_INVISIBLE):
            return 0
        parts.append(line.text.strip(_INVISIBLE))
        joined = " ".join(parts)
        if ATTRIBUTION_LEADING.match(joined) or ATTRIBUTION_GENERIC.match(joined):
            return span
    return 0


def _header_block(lines: Sequence[Line], i: int) -> str:
    """What line i starts: "header" for an Outlook-style block naming sender, date and
    subject, "forward" when that subject says FW:/WG:/TR:/RV:, else ""."""
    if ":" not in lines[i].text or not header_label(lines[i].text):
        return ""
    if i > 0 and ":" in lines[i - 1].text and header_label(lines[i - 1].text):
        return ""
    roles: dict[str, str] = {}
    wrapped = 0  # Outlook wraps a long To: or Cc: list onto the next lines
    for line in lines[i : i + 12]:
        found = header_label(line.text)
        if line.quoted or not line.text.strip(_INVISIBLE) or (found is None and wrapped == 2):
            break
        if found is None:
            wrapped += 1
            continue
        roles.setdefault(*found)
    if not {"from", "sent", "subject"} <= roles.keys():
        return ""
    return "forward" if FORWARD_SUBJECT.match(roles["subject"]) else "header"


def _tail_is_history(kinds: list[str], spans: list[int]) -> list[bool]:
    """tail[i]: every line from i to the end is history (or blank)."""
    n = len(kinds)
    tail = [False] * (n + 1)
    tail[n] = True
    own_after = [0] * (n + 1)  # lines of the sender's own text from i to the end
    forward_after = False
    history_from = n  # the first line after i from which everything is history
    for i in reversed(range(n)):
        kind = kinds[i]
        own_after[i] = own_after[i + 1] + (kind == _TEXT)
        forward_after = forward_after or kind == _FORWARD
        if forward_after:
            continue
        if kind == "sigdash":
            tail[i] = own_after[i + 1] - own_after[history_from] <= MAX_SIGNATURE_LINES
        elif kind in _ENDS:
            tail[i] = True
        elif kind in (_BLANK, _QUOTE, "mobile", "sigbox"):
            tail[i] = tail[i + 1]
        elif kind == "attribution":
            tail[i] = tail[min(i + spans[i], n)]
        if tail[i]:
            history_from = i
    return tail


def _absorb_attribution(lines: Sequence[Line], kinds: list[str], i: int) -> int:
    """Our marker is often preceded by the client's "On … wrote:" (when it does not quote
    with `>`): that line goes too."""
    j = i
    while j > 0 and kinds[j - 1] == _BLANK:
        j -= 1
    for span in (3, 2, 1):
        if j - span >= 0 and _attribution_span(lines, j - span) == span:
            return j - span
    return i


def _next_kind(kinds: list[str], i: int) -> str:
    """The kind of the first non-blank line from i on."""
    while i < len(kinds) and kinds[i] == _BLANK:
        i += 1
    return kinds[i] if i < len(kinds) else _BLANK

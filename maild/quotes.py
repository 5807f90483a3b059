"""Cutting quoted history and signatures from a reply before it is stored.

A reply's own words are what the ticket thread shows; the history below them is already
in the thread (our outbound mail carries a reply-above-this-line marker) and the full
message stays with the caller. `trim_reply` cuts the text part and the HTML part alike:
at our marker first, then at what the common clients put above the history they quote
(Gmail, Outlook desktop, web and mobile, Apple Mail and iOS, Thunderbird, Yahoo, Samsung
Email, GMX; English, German, French and Spanish) and at signatures (`-- `, "Sent from my
iPhone"). It is conservative: it never cuts everything, never cuts an answer written
between quotes, and leaves a forwarded message alone (see `maild.quotes_detect`).
"""

from __future__ import annotations

from dataclasses import dataclass

from maild.mimetext import html_to_text
from maild.quotes_detect import Line, find_cut, is_blank, is_quoted
from maild.quotes_html import cut_html, read_html

__all__ = ["Trimmed", "strip_reply", "trim_reply"]


@dataclass(frozen=True, slots=True)
class Trimmed:
    text: str  # the text part without history and signature; unchanged when nothing was cut
    html: str  # the HTML part cut the same way, its open elements closed; "" stays ""
    trimmed: bool  # whether anything was cut from either part


def trim_reply(text: str, html: str = "") -> Trimmed:
    """The sender's own words of a reply, from its text part and its HTML part."""
    new_text = _trim_text(text)
    new_html = _trim_html(html)
    if new_text == text and new_html != html and text.strip() == html_to_text(html).strip():
        # A message without a text part: its text was rendered from the HTML, where the
        # quote marks are gone, so render it again from the cut HTML.
        new_text = html_to_text(new_html) + "\n"
    return Trimmed(new_text, new_html, new_text != text or new_html != html)


def strip_reply(text: str) -> str:
    """`text` without quoted history and signature; unchanged when there is none."""
    return _trim_text(text)


def _trim_text(text: str) -> str:
    rows = text.split("\n")
    cut = find_cut([Line(row, is_quoted(row)) for row in rows])
    if cut is None:
        return text
    kept = rows[:cut]
    while kept and is_blank(kept[-1]):
        kept.pop()
    return "\n".join(kept) + "\n"


def _trim_html(html: str) -> str:
    if not html:
        return html
    lines = read_html(html)
    cut = find_cut([line.line for line in lines])
    return html if cut is None else cut_html(html, lines[cut])

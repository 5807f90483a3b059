"""The HTML part of a reply as `Line`s, and cutting it at one of them.

`read_html` renders the body the way a reader sees it — one line per paragraph, `<br>`
or block — and notes for each line what the markup says about it: inside a cite
blockquote (Apple Mail, Thunderbird, iOS, Gmail's `blockquote.gmail_quote`), an
attribution (`gmail_attr`, `moz-cite-prefix`), an Outlook header box (`divRplyFwdMsg`,
the `border-top:solid #E1E1E1` / `#B5C4DF` divider), Yahoo's `yahoo_quoted`, GMX's
`div name="quote"`, or a signature box. Each line also records where a cut before it
would go: at the first element opened since the previous visible text, at the outermost
level reached in between, so the blank paragraphs, `<hr>` and wrappers that lead into the
history go with it. `cut_html` keeps the source up to there and closes the elements still
open, so the result stays well-formed for nh3.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import NamedTuple

from maild.quotes_detect import ATTRIBUTION, HISTORY, SIGNATURE, Line

__all__ = ["HtmlLine", "cut_html", "read_html"]

_VOID = frozenset(("area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
                   "param", "source", "track", "wbr"))  # fmt: skip
# Elements that end a line; and those that, opened inside a <p>, end it (as in a browser).
_BLOCKS = ("address", "article", "aside", "blockquote", "details", "div", "dl", "fieldset",
           "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr",
           "main", "nav", "ol", "p", "pre", "section", "table", "ul")  # fmt: skip
_CLOSES_P = frozenset(_BLOCKS)
_BREAKS = frozenset((*_BLOCKS, "body", "br", "center", "dd", "dt", "html", "li", "tbody", "td",
                     "th", "thead", "tfoot", "tr"))  # fmt: skip
# Elements whose text is not shown, and how each ends.
_RAW = {tag: re.compile(rf"</{tag}\s*>", re.I) for tag in ("style", "script", "title", "textarea")}
_HINTED = frozenset(("div", "blockquote", "span"))  # where clients mark quotes and signatures
# Possessive quantifiers and no "<" inside a tag keep hostile markup ("<a<a<a…") linear.
_TOKEN = re.compile(
    r"<!--.*?(?:-->|\Z)|<![^<>]*+>|<\?[^<>]*+>"
    r"|<(?P<end>/)?(?P<name>[a-zA-Z][^\s/<>]*+)(?P<attrs>(?:[^<>\"']++|\"[^\"]*+\"|'[^']*+')*+)>",
    re.S,
)
_ATTRIBUTE = re.compile(r"""([^\s=/>"']+)(?:\s*=\s*("[^"]*"|'[^']*'|[^\s>]+))?""")
_END_SEARCH = 64  # how far down the open elements an end tag looks for its start tag
_SPACE = re.compile(r"[ \t\r\n\f]+")
_BLANK = " \t\r\n\f\xa0\ufeff\u200b\u200c\u200d\u2060"
_OUTLOOK_DIVIDER = re.compile(r"border-top\s*:\s*solid\s+#(?:E1E1E1|B5C4DF)\b", re.I)
_SIGNATURE_BOXES = frozenset(
    ("gmail_signature", "gmail_signature_prefix", "moz-signature", "ymail_android_signature",
     "ms-outlook-mobile-signature", "applemailsignature")
)  # fmt: skip


class _Open(NamedTuple):
    """An open element. The hint and quote flag are what it and its ancestors say (the
    innermost hint wins), and the parent link lets a line keep the open elements at its cut
    without copying the stack: markup can nest a hundred thousand levels deep."""

    tag: str
    hint: str
    quote: bool
    parent: _Open | None


@dataclass(frozen=True, slots=True)
class HtmlLine:
    line: Line
    cut: int  # offset in the source where a cut before this line goes
    opened: _Open | None  # the innermost element still open there

    @property
    def open_tags(self) -> tuple[str, ...]:
        """The elements still open at the cut, outermost first."""
        tags = []
        node = self.opened
        while node is not None:
            tags.append(node.tag)
            node = node.parent
        return tuple(reversed(tags))


def read_html(markup: str) -> list[HtmlLine]:
    reader = _Reader()
    position = 0
    for token in _TOKEN.finditer(markup):
        if token.start() < position:
            continue  # inside a <style> or <script> already skipped
        if token.start() > position:
            reader.data(markup[position : token.start()], position)
        position = token.end()
        name = token.group("name")
        if not name:
            continue  # a comment, doctype, Outlook's <![if …]> or a processing instruction
        tag = name.lower()
        if token.group("end"):
            reader.end(tag)
            continue
        attrs = token.group("attrs")
        reader.start(tag, token.start(), _attributes(attrs) if attrs and tag in _HINTED else {})
        if tag in _RAW and not attrs.endswith("/"):
            close = _RAW[tag].search(markup, position)
            position = close.end() if close else len(markup)
            reader.end(tag)
    if position < len(markup):
        reader.data(markup[position:], position)
    reader.end_line()
    return reader.lines


def cut_html(markup: str, at: HtmlLine) -> str:
    return markup[: at.cut] + "".join(f"</{tag}>" for tag in reversed(at.open_tags))


def _hint(tag: str, attrs: dict[str, str]) -> tuple[str, bool]:
    """(hint, quote) for an element: what it says about the lines inside it."""
    classes = set(attrs.get("class", "").lower().split())
    ident = attrs.get("id", "").lower()
    if tag == "blockquote" and (
        attrs.get("type", "").lower() == "cite" or classes & {"gmail_quote", "protonmail_quote"}
    ):
        return "", True
    if (
        ident == "divrplyfwdmsg"
        or "yahoo_quoted" in classes
        or ident.startswith("yahoo_quoted")
        or (tag == "div" and attrs.get("name", "").lower() == "quote")
        or (tag == "div" and _OUTLOOK_DIVIDER.search(attrs.get("style", "")))
    ):
        return HISTORY, False
    if classes & {"gmail_attr", "moz-cite-prefix"}:
        return ATTRIBUTION, False
    if classes & _SIGNATURE_BOXES or ident in _SIGNATURE_BOXES:
        return SIGNATURE, False
    return "", False


class _Reader:
    def __init__(self) -> None:
        self.stack: list[_Open] = []
        self.lines: list[HtmlLine] = []
        self.parts: list[str] = []
        self.current: tuple[int, _Open | None, _Open | None] | None = None
        # Where the next line's cut goes: the first element opened at the outermost
        # level reached since the last visible text.
        self.floor = 0
        self.pending: tuple[int, _Open | None] | None = None

    def top(self) -> _Open | None:
        return self.stack[-1] if self.stack else None

    def start(self, tag: str, at: int, attrs: dict[str, str]) -> None:
        if tag in _BREAKS:
            self.end_line()
        if tag in _CLOSES_P and self.stack and self.stack[-1].tag == "p":
            self._pop_to(len(self.stack) - 1)  # as in a browser: a block ends an open <p>
        if self.pending is None and len(self.stack) <= self.floor:
            self.pending = (at, self.top())
        if tag in _VOID:
            if tag == "img":
                self.content("[image]", at)
            return
        parent = self.top()
        hint, quote = _hint(tag, attrs) if attrs else ("", False)
        if parent is not None:
            hint, quote = hint or parent.hint, quote or parent.quote
        self.stack.append(_Open(tag, hint, quote, parent))

    def end(self, tag: str) -> None:
        if tag in _BREAKS:
            self.end_line()
        # A stray end tag is looked for only near the top, so deep nesting stays linear.
        for depth in range(len(self.stack) - 1, max(-1, len(self.stack) - 1 - _END_SEARCH), -1):
            if self.stack[depth].tag == tag:
                self._pop_to(depth)
                break

    def data(self, raw: str, at: int) -> None:
        text = _SPACE.sub(" ", html.unescape(raw) if "&" in raw else raw).replace("\xa0", " ")
        if text.strip(_BLANK):
            self.content(text, at)
        elif self.current is not None and text:
            self.parts.append(" ")

    def content(self, text: str, at: int) -> None:
        if self.current is None:
            cut, opened = self.pending or (at, self.top())
            self.current = (cut, opened, self.top())
        self.parts.append(text)
        self.floor = len(self.stack)
        self.pending = None

    def end_line(self) -> None:
        if self.current is None:
            return
        cut, opened, inside = self.current
        joined = "".join(self.parts)
        text = joined.strip(" ")
        if text == "--" and joined.endswith("-- "):
            text = "-- "  # the signature separator keeps its space
        hint, quote = (inside.hint, inside.quote) if inside else ("", False)
        self.lines.append(HtmlLine(Line(text, quote, hint), cut, opened))
        self.current = None
        self.parts = []

    def _pop_to(self, depth: int) -> None:
        del self.stack[depth:]
        if len(self.stack) < self.floor:
            self.floor = len(self.stack)
            self.pending = None


def _attributes(text: str) -> dict[str, str]:
    found = {}
    for name, value in _ATTRIBUTE.findall(text):
        if value[:1] in ("'", '"'):
            value = value[1:-1]
        found.setdefault(name.lower(), html.unescape(value) if "&" in value else value)
    return found

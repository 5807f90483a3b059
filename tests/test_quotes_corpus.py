"""Quote stripping on a corpus of replies shaped as real mail clients send them.

Each case in tests/data/replies is `NAME.eml` (the whole message), `NAME.expected.txt`
(the text a ticket should store) and, when the reply quotes history that must go,
`NAME.quoted.txt` (a phrase of that history, which neither trimmed part may contain).
"""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import pytest

from maild.mimetext import html_to_text
from maild.parse import parse
from maild.quotes import trim_reply
from maild.sanitize import sanitize_html

CORPUS = Path(__file__).parent / "data" / "replies"
CASES = sorted(p.name.removesuffix(".eml") for p in CORPUS.glob("*.eml"))
WITH_HISTORY = [name for name in CASES if (CORPUS / f"{name}.quoted.txt").exists()]
WITH_HTML = [name for name in CASES if b"text/html" in (CORPUS / f"{name}.eml").read_bytes()]


def normalise(text: str) -> str:
    """Only trailing whitespace is forgiven: at line ends and at the end."""
    return "\n".join(line.rstrip() for line in text.rstrip().split("\n"))


def flat(text: str) -> str:
    return " ".join(text.split())


def expected(name: str) -> str:
    return (CORPUS / f"{name}.expected.txt").read_text(encoding="utf-8")


def trimmed(name: str):
    msg = parse((CORPUS / f"{name}.eml").read_bytes())
    return msg, trim_reply(msg.text, msg.html)


def test_the_corpus_is_large_and_complete():
    assert len(CASES) >= 40 and len(WITH_HISTORY) >= 40 and len(WITH_HTML) >= 30
    for name in CASES:
        assert (CORPUS / f"{name}.expected.txt").is_file(), name


@pytest.mark.parametrize("name", CASES)
def test_text_is_exactly_what_the_sender_wrote(name):
    _, result = trimmed(name)
    assert normalise(result.text) == normalise(expected(name))


@pytest.mark.parametrize("name", WITH_HISTORY)
def test_neither_part_keeps_the_quoted_history(name):
    phrase = (CORPUS / f"{name}.quoted.txt").read_text(encoding="utf-8").strip()
    msg, result = trimmed(name)
    assert phrase in msg.text or phrase in html_to_text(msg.html)
    assert phrase not in result.text
    assert phrase not in flat(html_to_text(sanitize_html(result.html)))
    assert result.trimmed


@pytest.mark.parametrize("name", WITH_HTML)
def test_html_keeps_what_the_sender_wrote(name):
    msg, result = trimmed(name)
    assert msg.html
    first = next((line for line in expected(name).splitlines() if line.strip()), "")
    assert flat(first) in flat(html_to_text(sanitize_html(result.html)))
    assert unbalanced(result.html) <= unbalanced(msg.html)


class _Balance(HTMLParser):
    VOID = {"br", "hr", "img", "meta", "link", "input", "wbr", "area", "base", "col"}

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.stray = 0

    def handle_starttag(self, tag, attrs):
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if tag in self.stack:
            while self.stack.pop() != tag:
                self.stray += 1
        else:
            self.stray += 1


def unbalanced(html: str) -> int:
    """End tags that close nothing, plus elements left open: a cut may not add any."""
    checker = _Balance()
    checker.feed(html)
    checker.close()
    return checker.stray + len(checker.stack)


def test_exact_match_rate_on_the_corpus():
    matches = [normalise(trimmed(name)[1].text) == normalise(expected(name)) for name in CASES]
    rate = sum(matches) / len(matches)
    print(f"\nquote stripping: {sum(matches)}/{len(matches)} replies exactly right ({rate:.0%})")
    assert rate == 1.0

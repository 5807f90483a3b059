"""Quote stripping on the reply corpus (tests/data/replies): maild.quotes against the
libraries that do the same job, whichever of them are installed.

    python bench/quotes.py

For each candidate it prints the exact-match rate of the text part (the tests' measure:
only trailing whitespace forgiven), how often the quoted history is gone with the
first line of the sender's own words still there ("no history, nothing lost"), how
often the HTML part loses its history, where the candidate handles HTML at all, and the
time per reply. Candidates that are not installed are listed as such; `-v` names the
replies each candidate gets wrong.
"""

from __future__ import annotations

import contextlib
import importlib.util
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from maild.mimetext import html_to_text  # noqa: E402
from maild.parse import parse  # noqa: E402
from maild.quotes import trim_reply  # noqa: E402

CORPUS = ROOT / "tests" / "data" / "replies"
LANGUAGES = ["en", "de", "fr", "es"]


def normalise(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.rstrip().split("\n"))


def flat(text: str) -> str:
    return " ".join(text.split())


def load() -> list[tuple[str, str, str, str, str]]:
    cases = []
    for eml in sorted(CORPUS.glob("*.eml")):
        name = eml.name.removesuffix(".eml")
        msg = parse(eml.read_bytes())
        expected = (CORPUS / f"{name}.expected.txt").read_text(encoding="utf-8")
        quoted = CORPUS / f"{name}.quoted.txt"
        phrase = quoted.read_text(encoding="utf-8").strip() if quoted.exists() else ""
        cases.append((name, msg.text, msg.html, expected, phrase))
    return cases


def candidates() -> dict[str, tuple[Callable[[str], str], Callable[[str], str] | None] | None]:
    found: dict[str, tuple[Callable[[str], str], Callable[[str], str] | None] | None] = {
        "maild.quotes": (lambda t: trim_reply(t, "").text, lambda h: trim_reply("", h).html),
    }
    if importlib.util.find_spec("mailparser_reply"):
        from mailparser_reply import EmailReplyParser as Multi

        multi = Multi(languages=LANGUAGES)
        found["mail-parser-reply"] = (lambda t: multi.parse_reply(t) or "", None)
    else:
        found["mail-parser-reply"] = None
    if importlib.util.find_spec("email_reply_parser"):
        from email_reply_parser import EmailReplyParser as Zapier

        found["email-reply-parser"] = (lambda t: Zapier.parse_reply(t) or "", None)
    else:
        found["email-reply-parser"] = None
    if importlib.util.find_spec("quotequail"):
        import quotequail

        # unwrap() separates the reply on top from the quoted message and its header;
        # quote() is the fallback it documents for a reply it cannot unwrap.
        def top(text: str) -> str:
            unwrapped = quotequail.unwrap(text)
            if unwrapped and "text_top" in unwrapped:
                return unwrapped["text_top"]
            return "".join(part for show, part in quotequail.quote(text) if show)

        def top_html(html: str) -> str:
            unwrapped = quotequail.unwrap_html(html)
            return unwrapped.get("html_top", html) if unwrapped else html

        found["quotequail"] = (top, top_html)
    else:
        found["quotequail"] = None
    if importlib.util.find_spec("talon"):
        import talon
        from talon import quotations
        from talon.signature.bruteforce import extract_signature

        talon.init()
        found["talon"] = (
            lambda t: extract_signature(quotations.extract_from_plain(t))[0],
            quotations.extract_from_html,
        )
    else:
        found["talon"] = None
    return found


def measure(name, functions, cases, verbose: bool = False) -> str:
    plain, html_cut = functions
    exact = kept_clean = html_clean = html_total = 0
    started = time.perf_counter()
    for _case, text, html, expected, phrase in cases:
        try:
            result = plain(text)
        except Exception:
            result = text
        exact += normalise(result) == normalise(expected)
        if verbose and normalise(result) != normalise(expected):
            print(f"  {name} differs on {_case}: {normalise(result)[-60:]!r}", file=sys.stderr)
        first = next((line for line in expected.splitlines() if line.strip()), "")
        kept_clean += (not phrase or phrase not in result) and flat(first) in flat(result)
        if html_cut is not None and html and phrase:
            html_total += 1
            with contextlib.suppress(Exception):
                html_clean += phrase not in flat(html_to_text(html_cut(html)))
    per = (time.perf_counter() - started) / len(cases) * 1e6
    n = len(cases)
    html_note = f"{html_clean}/{html_total}" if html_cut is not None else "no HTML"
    return (
        f"| {name} | {exact}/{n} ({exact / n:.0%}) | {kept_clean}/{n} ({kept_clean / n:.0%}) "
        f"| {html_note} | {per:,.0f} µs |"
    )


def main() -> None:
    cases = load()
    print(f"{len(cases)} replies in {CORPUS.relative_to(ROOT)}\n")
    print("| candidate | exact text | no history, nothing lost | HTML history gone | time/reply |")
    print("|---|---:|---:|---:|---:|")
    for name, functions in candidates().items():
        if functions:
            print(measure(name, functions, cases, verbose="-v" in sys.argv))
        else:
            print(f"| {name} | not installed | | | |")


if __name__ == "__main__":
    main()

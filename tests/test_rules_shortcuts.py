"""The shortcuts that make many rules cheap never change an answer: the text a pattern needs,
the one-pass search for many texts, and rules found by lookup or scan instead of tested."""

from __future__ import annotations

import dataclasses
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rules.scan
from rules import Facts, evaluate, load_rule_text
from rules.literals import required_text
from rules.scan import TextScan


@pytest.mark.parametrize(
    ("pattern", "flags", "required"),
    [
        (r"\b(?P<ref>INV-\d{4})\b", 0, "INV-"),
        (r"\b(?P<ref>INV-\d{4})\b", re.IGNORECASE, "nv-"),  # "i" is left out when folding
        ("(?i)ORDER", 0, "order"),
        ("(abc)+d", 0, "abc"),
        ("x*abcd", 0, "abcd"),
        ("(?:abc)?defg", 0, "defg"),
        ("(?x) a b c d", 0, "abcd"),
        ("(?>abcd)", 0, "abcd"),
        ("a|b", 0, None),  # either branch will do: nothing is required
        ("ab(?i:cd)ef", 0, None),  # a group with its own flags is not looked into
        ("abc{0}", 0, None),
        (r"\d+-[a-z]+", 0, None),
    ],
)
def test_required_text_of_a_pattern(pattern, flags, required):
    assert required_text(re.compile(pattern, flags)) == required


# The characters whose case rules differ between `re` and str.casefold, or nearly so.
DOTLESS_I, DOTTED_I, KELVIN, LONG_S = "\u0131", "\u0130", "\u212a", "\u017f"
PATTERN_PARTS = [
    "a",
    "b",
    "ab",
    "i",
    "s",
    "k",
    "ß",
    DOTLESS_I,
    DOTTED_I,
    KELVIN,
    ".",
    r"\d",
    "x?",
    "(?:ab)+",
]
TEXT_ALPHABET = f"abiIkKsSß0123456789 -.{DOTLESS_I}{DOTTED_I}{KELVIN}{LONG_S}"


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from(PATTERN_PARTS), min_size=1, max_size=6),
    st.sampled_from([0, re.IGNORECASE]),
    st.text(alphabet=TEXT_ALPHABET, max_size=20),
)
def test_a_match_always_contains_the_required_text(parts, flags, text):
    pattern = re.compile("".join(parts), flags)
    required = required_text(pattern)
    if required is not None and pattern.search(text):
        assert required in (text.casefold() if flags else text)


@pytest.mark.parametrize(
    "subject",
    [f"{DOTLESS_I}nvo{DOTLESS_I}ce 42", f"{DOTTED_I}NVO{DOTTED_I}CE 42", "INVOICE 42"],
)
def test_patterns_ignoring_case_still_match_turkish_i(subject):
    text = '[[rule]]\nname = "r"\nif = [{ field = "subject", matches = "invoice \\\\d+" }]\n'
    ruleset, problems = load_rule_text(text, "t.toml")
    assert problems == []
    assert evaluate(ruleset, Facts(subject=subject), channel="email").matched


# 1: every text goes into the one-pass pattern; 10**9: every text is tested by itself.
@pytest.mark.parametrize("pattern_minimum", [1, 10**9])
def test_text_scan_finds_exactly_the_texts_that_occur(pattern_minimum):
    @settings(max_examples=200, deadline=None)
    @given(
        needles=st.lists(st.text(alphabet="abc ", min_size=1, max_size=5), min_size=1, max_size=40),
        value=st.text(alphabet="abcd ", max_size=40),
    )
    def check(needles, value):
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(rules.scan, "MIN_FOR_PATTERN", pattern_minimum)
            scan = TextScan((needle, number) for number, needle in enumerate(needles))
        expected = {number for number, needle in enumerate(needles) if needle in value}
        assert set(scan.positions(value)) == expected

    check()


KEYWORDS = "".join(
    f'[[rule]]\nname = "k{n}"\nif = [{{ field = "subject", contains = "word{n}x" }}]\n'
    f'then = {{ tags = ["k{n}"] }}\n'
    f'[[rule]]\nname = "b{n}"\nif = [{{ field = "body", not_contains = "word{n}x" }}]\n'
    f'then = {{ tags = ["b{n}"] }}\n'
    for n in range(300)
) + (
    '[[rule]]\nname = "order"\n'
    "if = [{ field = \"subject\", matches = '(?P<n>ORD-\\d+)' },"
    ' { field = "subject", contains = "please" }]\n'
    'then = { fields = { order = "{n}" } }\n'
)


def test_hundreds_of_keyword_rules_give_the_same_answer_found_or_tested():
    ruleset, problems = load_rule_text(KEYWORDS, "t.toml")
    assert problems == []
    facts = Facts(subject="word1x and word12x, please see ORD-7", body="only word5x here")
    fast = evaluate(ruleset, facts, channel="email")
    explained = evaluate(ruleset, facts, channel="email", explain=True)
    assert dataclasses.replace(explained, trace=()) == fast
    assert [tag for tag in fast.tags if tag.startswith("k")] == ["k1", "k12"]
    assert "b5" not in fast.tags and "b4" in fast.tags
    assert fast.field_values == {"order": "ORD-7"}

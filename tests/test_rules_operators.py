"""Conditions: every operator on text, list, number and flag fields, case, missing values."""

from __future__ import annotations

import pytest

from rules import Facts, evaluate, header_map, load_rule_text

INVOICE = Facts(
    sender="Mary.Johnson@Initech.io",
    sender_name="Mary Johnson",
    to=("support@example.com", "billing@example.com"),
    cc=("boss@initech.io",),
    reply_to="accounts@initech.io",
    subject="Invoice ORD-48213 shows wrong amount",
    body="The invoice lists 24 seats but our contract covers only 18.",
    headers=header_map(
        [
            ("X-Priority", "1 (Highest)"),
            ("Received", "from a.example"),
            ("Received", "from b.example"),
            ("X-Spam-Score", "2.5"),
        ]
    ),
    recipient="support+billing@example.com",
    topic="Billing / Refunds",
    organisation="Initech",
    attachment_name=("invoice-48213.pdf", "screenshot.PNG"),
    attachment_type=("application/pdf", "image/png"),
    size=6 * 1024 * 1024,
    fields={"order_number": "ORD-48213", "seats": "24"},
    priority="normal",
)
EMPTY = Facts()


def matches(condition: str, facts: Facts = INVOICE, *, channel: str = "email") -> bool:
    """Whether a rule with this one condition matches; fast and explain mode must agree."""
    ruleset, problems = load_rule_text(f'[[rule]]\nname = "r"\nif = [{condition}]\n', "t.toml")
    assert problems == []
    fast = bool(evaluate(ruleset, facts, channel=channel).matched)
    explained = evaluate(ruleset, facts, channel=channel, explain=True)
    assert bool(explained.matched) == fast
    return fast


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ('{ field = "subject", equals = "invoice ord-48213 shows wrong amount" }', True),
        ('{ field = "subject", equals = "Invoice" }', False),
        (
            '{ field = "subject", equals = "invoice ord-48213 shows wrong amount", '
            "case_sensitive = true }",
            False,
        ),
        ('{ field = "subject", not_equals = "Invoice" }', True),
        ('{ field = "subject", not_equals = "INVOICE ORD-48213 SHOWS WRONG AMOUNT" }', False),
        ('{ field = "subject", contains = "WRONG" }', True),
        ('{ field = "subject", contains = "WRONG", case_sensitive = true }', False),
        ('{ field = "subject", contains = "refund" }', False),
        ('{ field = "subject", not_contains = "refund" }', True),
        ('{ field = "subject", not_contains = "wrong" }', False),
        ('{ field = "subject", starts_with = "invoice" }', True),
        ('{ field = "subject", starts_with = "amount" }', False),
        ('{ field = "subject", ends_with = "AMOUNT" }', True),
        ('{ field = "subject", ends_with = "invoice" }', False),
        ("{ field = \"subject\", matches = '\\bord-\\d{5}\\b' }", True),
        ("{ field = \"subject\", matches = 'ord-\\d{5}', case_sensitive = true }", False),
        ("{ field = \"subject\", matches = '^shows' }", False),
        ("{ field = \"subject\", not_matches = '^re:' }", True),
        ("{ field = \"subject\", not_matches = 'wrong' }", False),
        ('{ field = "sender_domain", in = ["globex.com", "INITECH.IO"] }', True),
        ('{ field = "sender_domain", in = ["INITECH.IO"], case_sensitive = true }', False),
        ('{ field = "sender_domain", not_in = ["globex.com"] }', True),
        ('{ field = "sender_domain", not_in = ["initech.io"] }', False),
    ],
)
def test_text_operators(condition, expected):
    assert matches(condition) is expected


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ('{ field = "size", greater = "5MB" }', True),
        ('{ field = "size", greater = "7 MB" }', False),
        ('{ field = "size", less = "6.5 MB" }', True),
        ('{ field = "size", less = "200KB" }', False),
        ('{ field = "size", greater = 6291455 }', True),
        ('{ field = "size", greater = 6291456 }', False),
        ('{ field = "size", equals = "6MB" }', True),
        ('{ field = "size", not_equals = 6291456 }', False),
        ('{ field = "size", less = "6MiB" }', False),
        ('{ field = "size", greater = "0.001 GB" }', True),
        ('{ field = "header:X-Spam-Score", greater = 2 }', True),
        ('{ field = "header:X-Spam-Score", greater = 2.5 }', False),
        ('{ field = "header:X-Spam-Score", less = 3 }', True),
        ('{ field = "field:seats", greater = 20 }', True),
        ('{ field = "subject", greater = 1 }', False),  # not a number: never matches
    ],
)
def test_number_operators(condition, expected):
    assert matches(condition) is expected


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ('{ field = "to", equals = "BILLING@example.com" }', True),
        ('{ field = "to", equals = "boss@initech.io" }', False),  # that one is in cc
        ('{ field = "cc", equals = "boss@initech.io" }', True),
        ('{ field = "recipients", equals = "boss@initech.io" }', True),
        ('{ field = "recipients", in = ["nobody@x.example", "support@example.com"] }', True),
        ('{ field = "to", not_contains = "initech" }', True),  # no element contains it
        ('{ field = "recipients", not_contains = "initech" }', False),  # one element does
        ('{ field = "to", not_equals = "support@example.com" }', False),
        ('{ field = "to", not_in = ["x@example.com"] }', True),
        ('{ field = "attachment_name", ends_with = ".png" }', True),
        ('{ field = "attachment_name", ends_with = ".png", case_sensitive = true }', False),
        ('{ field = "attachment_type", starts_with = "image/" }', True),
        ("{ field = \"attachment_name\", matches = '^invoice-\\d+\\.pdf$' }", True),
        ("{ field = \"attachment_name\", not_matches = '\\.exe$' }", True),
        ('{ field = "header:received", contains = "b.example" }', True),  # second value
        ('{ field = "header:RECEIVED", equals = "from c.example" }', False),
        ('{ field = "header:X-Priority", starts_with = "1" }', True),
    ],
)
def test_list_fields_match_when_any_element_does(condition, expected):
    assert matches(condition) is expected


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ('{ field = "subject", exists = true }', True),
        ('{ field = "subject", exists = false }', False),
        ('{ field = "header:X-Priority", exists = true }', True),
        ('{ field = "header:X-Spam-Flag", exists = true }', False),
        ('{ field = "header:X-Spam-Flag", exists = false }', True),
        ('{ field = "size", exists = true }', True),
        ('{ field = "field:order_number", exists = true }', True),
        ('{ field = "field:colour", exists = false }', True),
    ],
)
def test_exists(condition, expected):
    assert matches(condition) is expected


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ('{ field = "subject", equals = "x" }', False),
        ('{ field = "subject", contains = "x" }', False),
        ('{ field = "subject", starts_with = "x" }', False),
        ('{ field = "subject", ends_with = "x" }', False),
        ("{ field = \"subject\", matches = '.*' }", False),
        ('{ field = "subject", in = ["x"] }', False),
        ('{ field = "size", greater = 0 }', False),
        ('{ field = "size", less = 10 }', False),
        ('{ field = "subject", exists = false }', True),
        ('{ field = "subject", not_equals = "x" }', True),
        ('{ field = "subject", not_contains = "x" }', True),
        ("{ field = \"subject\", not_matches = 'x' }", True),
        ('{ field = "subject", not_in = ["x"] }', True),
        ('{ field = "to", not_contains = "x" }', True),
        ('{ field = "to", contains = "x" }', False),
        ('{ field = "header:X-Anything", not_equals = "x" }', True),
        ('{ field = "sender_domain", exists = false }', True),
    ],
)
def test_missing_values_match_only_exists_false_and_negations(condition, expected):
    assert matches(condition, EMPTY) is expected


def test_an_empty_subject_counts_as_missing():
    assert matches('{ field = "subject", exists = false }', Facts(subject=""))


@pytest.mark.parametrize("field", ["auto_reply", "bounce", "list"])
def test_flags(field):
    attribute = "mailing_list" if field == "list" else field
    on = Facts(**{attribute: True})
    assert matches(f'{{ field = "{field}", equals = true }}', on)
    assert not matches(f'{{ field = "{field}", equals = true }}', EMPTY)
    assert matches(f'{{ field = "{field}", equals = false }}', EMPTY)
    assert matches(f'{{ field = "{field}", not_equals = true }}', EMPTY)


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ('{ field = "sender", equals = "mary.johnson@initech.io" }', True),
        ('{ field = "sender_name", starts_with = "mary" }', True),
        ('{ field = "sender_domain", equals = "initech.io" }', True),  # taken from sender
        ('{ field = "reply_to", ends_with = "@initech.io" }', True),
        ('{ field = "recipient", equals = "support+billing@example.com" }', True),
        ('{ field = "topic", equals = "billing / refunds" }', True),
        ('{ field = "organisation", equals = "initech" }', True),
        ('{ field = "priority", equals = "normal" }', True),
        ('{ field = "body", contains = "24 SEATS" }', True),
        ('{ field = "field:order_number", equals = "ord-48213" }', True),
        ('{ field = "field:Order_Number", exists = true }', False),  # custom names are exact
        ('{ field = "channel", equals = "email" }', True),
        ('{ field = "channel", in = ["web", "api"] }', False),
    ],
)
def test_every_field_is_read(condition, expected):
    assert matches(condition) is expected


def test_given_sender_domain_wins_over_the_senders():
    facts = Facts(sender="bob@relay.example", sender_domain="bigcorp.example")
    assert matches('{ field = "sender_domain", equals = "bigcorp.example" }', facts)


def test_channel_field_is_the_channel_evaluated_for():
    assert matches('{ field = "channel", equals = "phone" }', EMPTY, channel="phone")
    assert not matches('{ field = "channel", equals = "phone" }', EMPTY, channel="web")


def test_case_folding_handles_more_than_ascii():
    facts = Facts(subject="Rechnung für STRASSE")
    assert matches('{ field = "subject", contains = "straße" }', facts)
    assert matches('{ field = "subject", contains = "FÜR" }', facts)


@pytest.mark.parametrize(
    ("written", "size"),
    [
        ("5MB", 5 * 1024**2),
        ("200KB", 200 * 1024),
        ("1.5 MB", 1536 * 1024),
        ("300", 300),
        ("2 gb", 2 * 1024**3),
        ("10 B", 10),
        ("4KiB", 4096),
        ("1M", 1024**2),
    ],
)
def test_size_strings(written, size):
    facts = Facts(size=size)
    assert matches(f'{{ field = "size", equals = "{written}" }}', facts)
    assert not matches(f'{{ field = "size", greater = "{written}" }}', facts)


def test_headers_given_as_a_bare_string_are_one_value():
    facts = Facts(headers={"x-spam-flag": "YES"})  # type: ignore[dict-item]
    assert matches('{ field = "header:X-Spam-Flag", equals = "yes" }', facts)

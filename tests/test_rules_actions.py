"""Actions: each one reaches the decision; scalars replace, lists add up, fields merge;
regex captures fill `{name}` placeholders."""

from __future__ import annotations

import pytest

from rules import Decision, Facts, Send, evaluate, load_rule_text

FACTS = Facts(
    sender="mary@initech.io",
    subject="Invoice ORD-48213 for Team Blue",
    body="Please check order ORD-48213 and ticket REF-7.",
)


def decide(text: str, facts: Facts = FACTS) -> Decision:
    ruleset, problems = load_rule_text(text, "t.toml")
    assert problems == [], [str(p) for p in problems]
    return evaluate(ruleset, facts, channel="email")


def one_rule(then: str, conditions: str = "") -> str:
    return f'[[rule]]\nname = "r"\nif = [{conditions}]\n[rule.then]\n{then}\n'


@pytest.mark.parametrize(
    ("then", "attribute", "value"),
    [
        ('department = "Billing"', "department", "Billing"),
        ('topic = "Refunds"', "topic", "Refunds"),
        ('priority = "high"', "priority", "high"),
        ('sla = "gold"', "sla", "gold"),
        ('status = "pending"', "status", "pending"),
        ('assign = "alice@example.com"', "assign", "alice@example.com"),
        ('team = "VIP"', "team", "VIP"),
        (
            'collaborators = ["a@example.com", "b@example.com"]',
            "collaborators",
            ("a@example.com", "b@example.com"),
        ),
        ('tags = ["vip", "billing"]', "tags", ("vip", "billing")),
        ('autoresponse = "password_reset"', "autoresponse", "password_reset"),
        ("autoresponse = false", "autoresponse", False),
        (
            'send = [{ to = "boss@example.com", template = "vip_alert" }]',
            "send",
            (Send("boss@example.com", "vip_alert"),),
        ),
        (
            'fields = { order_number = "ORD-1", seats = 24, urgent = true }',
            "fields",
            (("order_number", "ORD-1"), ("seats", 24), ("urgent", True)),
        ),
        ('quarantine = "spam score 9"', "quarantine", "spam score 9"),
        ("discard = true", "discard", True),
        ("reject = true", "reject", True),
        (
            'reject = "We do not accept mail from you."',
            "reject_message",
            "We do not accept mail from you.",
        ),
    ],
)
def test_each_action_reaches_the_decision(then, attribute, value):
    decision = decide(one_rule(then))
    assert getattr(decision, attribute) == value
    assert decision.matched[0].actions[0][0] == then.partition(" =")[0]


def test_an_untouched_decision_keeps_the_defaults():
    decision = decide(one_rule('tags = ["x"]'))
    assert decision.department is None
    assert decision.autoresponse is None
    assert (decision.reject, decision.discard, decision.quarantine) == (False, False, None)


ACCUMULATING = """
[[rule]]
name = "one"
[rule.then]
department = "Support"
priority = "low"
tags = ["a", "b"]
collaborators = ["x@example.com"]
send = [{ to = "boss@example.com", template = "t1" }]
fields = { one = "1", shared = "first" }
autoresponse = false

[[rule]]
name = "two"
[rule.then]
department = "Billing"
tags = ["b", "c"]
collaborators = ["y@example.com", "x@example.com"]
send = [{ to = "boss@example.com", template = "t1" }, { to = "boss@example.com", template = "t2" }]
fields = { two = "2", shared = "second" }
autoresponse = "custom"
"""


def test_scalars_replace_lists_accumulate_without_duplicates_and_fields_merge():
    decision = decide(ACCUMULATING)
    assert decision.department == "Billing"
    assert decision.priority == "low"
    assert decision.autoresponse == "custom"
    assert decision.tags == ("a", "b", "c")
    assert decision.collaborators == ("x@example.com", "y@example.com")
    assert decision.send == (Send("boss@example.com", "t1"), Send("boss@example.com", "t2"))
    assert decision.fields == (("one", "1"), ("shared", "second"), ("two", "2"))
    assert decision.field_values == {"one": "1", "shared": "second", "two": "2"}
    assert [hit.rule for hit in decision.matched] == ["one", "two"]


CAPTURING = """
[[rule]]
name = "order"
if = [
  { field = "subject", matches = '(?P<order>ORD-\\d+) for Team (?P<team>\\w+)' },
  { field = "body", matches = '(?P<ref>REF-\\d+)' },
]
[rule.then]
team = "Team {team}"
tags = ["order-{order}", "{ref}"]
fields = { order_number = "{order}", note = "{{literal}} {order}" }
collaborators = ["{team}@example.com"]
send = [{ to = "orders+{order}@example.com", template = "order_alert" }]
quarantine = "held for {ref}"
"""


def test_captures_fill_placeholders_in_every_string_action():
    decision = decide(CAPTURING)
    assert decision.team == "Team Blue"
    assert decision.tags == ("order-ORD-48213", "REF-7")
    assert decision.field_values == {"order_number": "ORD-48213", "note": "{literal} ORD-48213"}
    assert decision.collaborators == ("Blue@example.com",)
    assert decision.send == (Send("orders+ORD-48213@example.com", "order_alert"),)
    assert decision.quarantine == "held for REF-7"
    assert decision.matched[0].actions[0] == ("team", "Team Blue")


def test_captures_keep_the_messages_case_even_when_matching_ignores_it():
    text = one_rule(
        'fields = { code = "{code}" }', "{ field = \"subject\", matches = '(?P<code>ord-\\d+)' }"
    )
    assert decide(text).field_values == {"code": "ORD-48213"}


def test_captures_come_from_the_branch_that_matched_and_default_to_empty():
    text = """
[[rule]]
name = "either"
match = "any"
if = [
  { field = "subject", matches = '(?P<order>XYZ-\\d+)' },
  { field = "body", matches = '(?P<order>ORD-\\d+)(?P<never>zzz)?' },
]
then = { fields = { order = "{order}", never = "[{never}]" } }

[[rule]]
name = "fresh captures per rule"
if = [{ field = "subject", matches = '(?P<order>Team)' }]
then = { tags = ["{order}"] }
"""
    decision = decide(text)
    assert decision.field_values == {"order": "ORD-48213", "never": "[]"}
    assert decision.tags == ("Team",)


def test_a_capture_on_a_list_field_comes_from_the_matching_element():
    facts = Facts(attachment_name=("notes.txt", "invoice-991.pdf"))
    text = one_rule(
        'fields = { invoice = "{n}" }',
        "{ field = \"attachment_name\", matches = '^invoice-(?P<n>\\d+)' }",
    )
    assert decide(text, facts).field_values == {"invoice": "991"}

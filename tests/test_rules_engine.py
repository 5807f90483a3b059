"""Evaluation: order within and across files, stop, channels, moments, groups, explain mode."""

from __future__ import annotations

import dataclasses
import os

import pytest

import rules
from rules import Decision, Facts, RuleSet, evaluate, load_rule_text, load_rules, signature
from rules.conditions import Group, Leaf


def load(text: str, file: str = "t.toml") -> RuleSet:
    ruleset, problems = load_rule_text(text, file)
    assert problems == [], [str(p) for p in problems]
    return ruleset


def names(decision: Decision) -> list[str]:
    return [hit.rule for hit in decision.matched]


BILLING = Facts(sender="mary@initech.io", subject="Invoice ORD-48213", to=("support@example.com",))

THREE = """
[[rule]]
name = "first"
if = [{ field = "subject", contains = "invoice" }]
then = { priority = "low", tags = ["a"] }

[[rule]]
name = "second"
if = [{ field = "subject", contains = "nothing like this" }]
then = { priority = "emergency" }

[[rule]]
name = "third"
if = [{ field = "sender_domain", equals = "initech.io" }]
then = { priority = "high", tags = ["b"] }
"""


def test_rules_run_in_file_order_and_later_scalars_win():
    decision = evaluate(load(THREE), BILLING, channel="email")
    assert names(decision) == ["first", "third"]
    assert decision.priority == "high"
    assert decision.tags == ("a", "b")


def test_files_run_in_name_order_and_only_toml_files_directly_in_the_directory(tmp_path):
    for file, priority in [("20-b.toml", "high"), ("10-a.toml", "low"), ("9-c.toml", "normal")]:
        (tmp_path / file).write_text(
            f'[[rule]]\nname = "{file}"\nthen = {{ priority = "{priority}" }}\n'
        )
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "00-nested.toml").write_text('[[rule]]\nname = "nested"\n')
    (tmp_path / "README.md").write_text("not rules")
    (tmp_path / ".#10-a.toml").write_text("editor lock file, not TOML")
    ruleset, problems = load_rules(tmp_path)
    assert problems == []
    assert [os.path.basename(file) for file in ruleset.files] == [
        "10-a.toml",
        "20-b.toml",
        "9-c.toml",
    ]
    decision = evaluate(ruleset, Facts(), channel="email")
    assert names(decision) == ["10-a.toml", "20-b.toml", "9-c.toml"]
    assert decision.priority == "normal"
    assert decision.matched[0].file == str(tmp_path / "10-a.toml")


def test_stop_ends_evaluation_only_when_the_rule_matches():
    text = THREE.replace('name = "first"', 'name = "first"\nstop = true')
    decision = evaluate(load(text), BILLING, channel="email")
    assert names(decision) == ["first"]
    assert decision.stopped_by == "first"
    assert decision.priority == "low"
    miss = evaluate(load(text), Facts(sender="x@initech.io"), channel="email")
    assert names(miss) == ["third"]
    assert miss.stopped_by is None


@pytest.mark.parametrize(
    ("action", "check"),
    [
        ("reject = true", lambda d: d.reject and d.reject_message is None),
        ('reject = "No."', lambda d: d.reject and d.reject_message == "No."),
        ("discard = true", lambda d: d.discard),
        ('quarantine = "spam"', lambda d: d.quarantine == "spam"),
    ],
)
def test_reject_discard_and_quarantine_end_evaluation(action, check):
    text = THREE.replace('then = { priority = "low", tags = ["a"] }', f"then = {{ {action} }}")
    decision = evaluate(load(text), BILLING, channel="email")
    assert names(decision) == ["first"]
    assert decision.stopped_by == "first"
    assert check(decision)


CHANNELS_AND_MOMENTS = """
[[rule]]
name = "web only"
channels = ["web"]
then = { tags = ["web"] }

[[rule]]
name = "default"
then = { tags = ["default"] }

[[rule]]
name = "replies only"
on = ["reply"]
then = { tags = ["reply"] }

[[rule]]
name = "both moments by phone or api"
channels = ["phone", "api"]
on = ["create", "reply"]
then = { tags = ["both"] }

[[rule]]
name = "disabled"
enabled = false
then = { tags = ["disabled"] }
"""


@pytest.mark.parametrize(
    ("channel", "moment", "tags"),
    [
        ("email", "create", ("default",)),
        ("web", "create", ("web", "default")),
        ("email", "reply", ("reply",)),
        ("web", "reply", ("reply",)),  # "web only" runs on create, the default
        ("phone", "reply", ("reply", "both")),
        ("api", "create", ("default", "both")),
    ],
)
def test_rules_apply_only_to_their_channels_and_moments(channel, moment, tags):
    decision = evaluate(load(CHANNELS_AND_MOMENTS), Facts(), channel=channel, moment=moment)
    assert decision.tags == tags


def test_an_unknown_channel_or_moment_is_the_callers_mistake():
    with pytest.raises(ValueError, match="channel must be one of"):
        evaluate(load(THREE), BILLING, channel="fax")
    with pytest.raises(ValueError, match="moment one of"):
        evaluate(load(THREE), BILLING, channel="email", moment="close")


NESTED = """
[[rule]]
name = "nested"
if = [
  { field = "subject", contains = "invoice" },
  { any = [
    { field = "sender_domain", in = ["bigcorp.example", "vip.example"] },
    { all = [
      { field = "header:X-Priority", equals = "1" },
      { field = "to", contains = "billing" },
    ] },
  ] },
]
"""


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        (Facts(subject="Invoice", sender="a@vip.example"), True),
        (Facts(subject="Invoice", sender="a@other.example"), False),
        (Facts(subject="Invoice", headers={"x-priority": ("1",)}, to=("billing@x",)), True),
        (Facts(subject="Invoice", headers={"x-priority": ("1",)}, to=("sales@x",)), False),
        (Facts(subject="Hello", sender="a@vip.example"), False),
    ],
)
def test_nested_groups(facts, expected):
    assert bool(evaluate(load(NESTED), facts, channel="email").matched) is expected


def test_match_any_needs_one_condition_and_empty_conditions_always_match():
    text = """
[[rule]]
name = "any"
match = "any"
if = [{ field = "subject", contains = "x" }, { field = "subject", contains = "invoice" }]
[[rule]]
name = "always"
match = "any"
"""
    assert names(evaluate(load(text), BILLING, channel="email")) == ["any", "always"]
    assert names(evaluate(load(text), Facts(), channel="email")) == ["always"]


def test_hit_names_the_deciding_conditions_and_the_actions():
    text = """
[[rule]]
name = "vip invoice"
if = [
  { field = "subject", contains = "invoice" },
  { field = "sender_domain", in = ["initech.io", "vip.example", "a.example", "b.example"] },
  { any = [{ field = "to", equals = "nobody@x" }, { field = "to", ends_with = "example.com" }] },
]
[rule.then]
department = "Billing"
tags = ["vip"]
"""
    (hit,) = evaluate(load(text, "rules/20-vip.toml"), BILLING, channel="email").matched
    assert hit.rule == "vip invoice"
    assert hit.file == "rules/20-vip.toml"
    assert hit.reasons == (
        "subject 'Invoice ORD-48213' contains 'invoice'",
        "sender_domain 'initech.io' in ['initech.io', 'vip.example', 'a.example', ...]",
        "to 'support@example.com' ends with 'example.com'",
    )
    assert hit.actions == (("department", "Billing"), ("tags", ("vip",)))
    assert str(hit) == (
        "rule 'vip invoice' (rules/20-vip.toml): "
        + "; ".join(hit.reasons)
        + " => department = 'Billing'; tags += ['vip']"
    )


EXPLAINED = """
[[rule]]
name = "hello"
if = [{ field = "subject", contains = "invoice" }]
[[rule]]
name = "email only"
channels = ["email"]
[[rule]]
name = "replies"
on = ["reply"]
[[rule]]
name = "off"
enabled = false
[[rule]]
name = "lists"
match = "any"
if = [{ field = "to", contains = "billing" }, { field = "size", greater = "1MB" }]
[[rule]]
name = "xyz"
if = [{ field = "header:X-Flag", exists = false }]
stop = true
[[rule]]
name = "after"
"""


def test_explain_gives_every_rules_outcome_and_reason():
    facts = Facts(subject="Hello", to=("a@example.com", "b@example.com"), size=1000)
    decision = evaluate(load(EXPLAINED, "r.toml"), facts, channel="web", explain=True)
    assert [str(step) for step in decision.trace] == [
        "rule 'hello' (r.toml): miss: subject 'Hello' does not contain 'invoice'",
        "rule 'email only' (r.toml): skipped: channel web not in [email]",
        "rule 'replies' (r.toml): skipped: not run on create",
        "rule 'off' (r.toml): skipped: disabled",
        "rule 'lists' (r.toml): miss: none of (to ['a@example.com', 'b@example.com'] does not "
        "contain 'billing'; size 1000 is not greater than 1MB)",
        "rule 'xyz' (r.toml): hit: header:X-Flag is missing",
        "rule 'after' (r.toml): not reached: stopped by 'xyz'",
    ]
    assert [step.outcome for step in decision.trace][-2:] == ["hit", "not reached"]
    assert names(decision) == ["xyz"]


def test_explain_words_for_missing_values_and_negations():
    text = """
[[rule]]
name = "a"
if = [{ field = "subject", not_contains = "hello" }]
[[rule]]
name = "b"
if = [{ field = "header:X-Score", greater = 5 }]
[[rule]]
name = "c"
if = [{ field = "sender", exists = true }]
"""
    facts = Facts(subject="Hello there", headers={"x-score": ("high",)})
    trace = evaluate(load(text), facts, channel="email", explain=True).trace
    assert [step.reason for step in trace] == [
        "subject 'Hello there' contains 'hello'",
        "header:X-Score ['high'] is not a number",
        "sender is missing",
    ]
    always = evaluate(load('[[rule]]\nname = "x"\n'), facts, channel="email", explain=True)
    assert always.trace[0].reason == "no conditions: always matches"


def test_explain_and_fast_mode_decide_the_same():
    ruleset = load(EXPLAINED + THREE + NESTED)
    for facts in [BILLING, Facts(), Facts(subject="Invoice", sender="a@vip.example")]:
        for channel in ("email", "web"):
            fast = evaluate(ruleset, facts, channel=channel)
            explained = evaluate(ruleset, facts, channel=channel, explain=True)
            assert dataclasses.replace(explained, trace=()) == fast


def test_conditions_describe_themselves():
    (rule,) = load(NESTED).rules
    assert rule.condition.describe() == (
        "all of (subject contains 'invoice'; any of (sender_domain in ['bigcorp.example', "
        "'vip.example']; all of (header:X-Priority equals '1'; to contains 'billing')))"
    )


def test_fast_mode_builds_no_words_for_misses(monkeypatch):
    def refuse(self, view):
        raise AssertionError("explained a condition in fast mode")

    monkeypatch.setattr(Group, "explain", refuse)
    monkeypatch.setattr(Leaf, "explain", refuse)
    decision = evaluate(load(THREE + NESTED), Facts(subject="nothing"), channel="email")
    assert decision.matched == ()


INDEXED = "".join(
    f"""
[[rule]]
name = "domain {n}"
if = [{{ field = "sender_domain", in = ["d{n}.example", "shared.example"] }},
      {{ field = "subject", not_contains = "skip{n}" }}]
then = {{ tags = ["d{n}"] }}
[[rule]]
name = "header {n}"
if = [{{ field = "header:X-Customer", equals = "C{n}" }}]
then = {{ tags = ["c{n}"] }}
[[rule]]
name = "keyword {n}"
if = [{{ field = "subject", contains = "word{n}" }}]
then = {{ tags = ["w{n}"] }}
"""
    for n in range(30)
)


@pytest.mark.parametrize(
    ("facts", "tags"),
    [
        (Facts(sender="a@d7.example"), ("d7",)),
        (Facts(sender="a@D7.EXAMPLE", subject="skip7"), ()),
        (
            Facts(sender="a@shared.example", subject="word3 skip1"),
            ("d0", "d2", "d3", "w3", *(f"d{n}" for n in range(4, 30))),
        ),
        # "word12" contains "word1" too; rule order decides, not the index.
        (Facts(headers={"x-customer": ("c4", "C9")}, subject="word12"), ("w1", "c4", "c9", "w12")),
        (Facts(sender="a@d2.example", headers={"x-customer": ("c2",)}), ("d2", "c2")),
    ],
)
def test_indexed_rules_keep_their_order_and_meaning(facts, tags):
    ruleset = load(INDEXED)
    fast = evaluate(ruleset, facts, channel="email")
    explained = evaluate(ruleset, facts, channel="email", explain=True)
    assert fast.tags == tags
    assert dataclasses.replace(explained, trace=()) == fast


def test_decision_is_immutable():
    decision = evaluate(load(THREE), BILLING, channel="email")
    with pytest.raises(dataclasses.FrozenInstanceError):
        decision.priority = "low"  # type: ignore[misc]
    assert isinstance(decision.tags, tuple)
    assert isinstance(decision.matched, tuple)
    assert evaluate(load(THREE), Facts(), channel="email") == Decision()


def test_signature_changes_when_a_rule_file_does(tmp_path):
    (tmp_path / "10-a.toml").write_text("")
    first = signature(tmp_path)
    assert first == signature(tmp_path)
    assert load_rules(tmp_path)[0].signature == first
    (tmp_path / "notes.txt").write_text("ignored")
    assert signature(tmp_path) == first
    (tmp_path / "10-a.toml").write_text('[[rule]]\nname = "x"\n')
    second = signature(tmp_path)
    assert second != first
    (tmp_path / "20-b.toml").write_text("")
    assert signature(tmp_path) != second
    assert signature(tmp_path / "missing") == ()


def test_public_names():
    assert sorted(rules.__all__) == [
        "Decision",
        "Facts",
        "Hit",
        "Known",
        "Problem",
        "Rule",
        "RuleSet",
        "Send",
        "Step",
        "evaluate",
        "header_map",
        "load_rule_text",
        "load_rules",
        "signature",
    ]
    for name in rules.__all__:
        assert getattr(rules, name) is not None

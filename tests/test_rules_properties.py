"""Property-based: any rule file loads or reports problems naming it, never raises; any facts
evaluate without crashing, and fast and explain mode always agree."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules import Facts, Known, RuleSet, evaluate, load_rule_text, load_rules
from rules.actions import ACTIONS
from rules.fields import CHANNELS, MOMENTS, View
from rules.loader import RULE_KEYS
from rules.operators import OPERATORS

FILE = "rules/99-random.toml"
EXAMPLES = Path(__file__).resolve().parent.parent / "rules" / "examples"
SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --- a tiny TOML writer: everything inline, so any nesting fits on one line per key ---


def toml_string(text: str) -> str:
    escaped = []
    for char in text:
        if char in '"\\':
            escaped.append("\\" + char)
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            escaped.append(f"\\u{ord(char):04x}")
        else:
            escaped.append(char)
    return '"' + "".join(escaped) + '"'


def toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    assert isinstance(value, dict)
    pairs = ", ".join(f"{toml_string(key)} = {toml_value(item)}" for key, item in value.items())
    return "{ " + pairs + " }"


def toml_document(data: dict) -> str:
    return "".join(f"{toml_string(key)} = {toml_value(value)}\n" for key, value in data.items())


# --- random rule files: mostly well-formed, with every kind of mistake mixed in ---

FIELDS = [
    "subject",
    "body",
    "sender",
    "sender_domain",
    "to",
    "recipients",
    "size",
    "auto_reply",
    "list",
    "header:X-Priority",
    "header:x-spam-score",
    "field:order",
    "channel",
    "priority",
    "attachment_name",
]
SAMPLES = [
    "invoice",
    "5MB",
    "1.5 MB",
    "(?P<order>ORD-\\d+)",
    "(?P<x>a)|(?P<y>b)",
    "(",
    "email",
    "web",
    "create",
    "reply",
    "{order}",
    "{x}",
    "{{",
    "a@b.example",
    "Billing",
    "all",
    "any",
    "",
]
scalars = st.one_of(
    st.sampled_from(SAMPLES),
    st.text(max_size=12),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(),
    st.booleans(),
)
values = st.one_of(scalars, st.lists(scalars, max_size=3))
random_key = st.text(max_size=6)

well_formed_leaf = st.builds(
    lambda field, operator, operand, case: {"field": field, operator: operand, **case},
    st.sampled_from(FIELDS),
    st.sampled_from(list(OPERATORS)),
    values,
    st.sampled_from([{}, {"case_sensitive": True}]),
)
random_leaf = st.dictionaries(
    st.one_of(st.sampled_from(["field", "case_sensitive", *OPERATORS]), random_key),
    st.one_of(st.sampled_from(FIELDS), values),
    max_size=4,
)
conditions = st.recursive(
    st.one_of(well_formed_leaf, random_leaf, scalars),
    lambda inner: st.dictionaries(
        st.sampled_from(["any", "all", "field"]),
        st.lists(inner, max_size=3),
        min_size=1,
        max_size=2,
    ),
    max_leaves=8,
)
sends = st.lists(
    st.dictionaries(st.sampled_from(["to", "template", "cc"]), scalars, max_size=3), max_size=2
)
actions = st.dictionaries(
    st.one_of(st.sampled_from(ACTIONS), random_key),
    st.one_of(values, sends, st.dictionaries(random_key, values, max_size=2)),
    max_size=4,
)
rule_values = {
    "name": st.one_of(st.text(max_size=8), scalars),
    "description": scalars,
    "enabled": st.one_of(st.booleans(), scalars),
    "stop": st.one_of(st.booleans(), scalars),
    "match": st.one_of(st.sampled_from(["all", "any"]), scalars),
    "channels": st.one_of(st.lists(st.sampled_from([*CHANNELS, "fax"]), max_size=3), scalars),
    "on": st.one_of(st.lists(st.sampled_from([*MOMENTS, "close"]), max_size=2), scalars),
    "if": st.one_of(st.lists(conditions, max_size=4), conditions),
    "then": st.one_of(actions, scalars),
}
assert set(rule_values) == set(RULE_KEYS)
rules = st.builds(
    lambda known, extra: {**known, **extra},
    st.fixed_dictionaries({}, optional=rule_values),
    st.dictionaries(random_key, values, max_size=1),
)
# Rules that load, so that evaluation is exercised on many shapes too.
TEXT_FIELDS = [f for f in FIELDS if f not in ("size", "auto_reply", "list", "channel")]
# A small vocabulary shared with the facts below, so that rules match often.
words = st.one_of(
    st.sampled_from(["a", "B", "ab", "a b", "x@b.example", "ORD-12", "1", "2.5"]),
    st.text(alphabet="abAB-@. 12", min_size=1, max_size=5).filter(str.strip),
)
valid_leaves = st.one_of(
    st.builds(
        lambda field, operator, word: {"field": field, operator: word},
        st.sampled_from(TEXT_FIELDS),
        st.sampled_from(["equals", "not_equals", "contains", "not_contains", "starts_with"]),
        words,
    ),
    st.builds(
        lambda field, operator, items: {"field": field, operator: items},
        st.sampled_from(TEXT_FIELDS),
        st.sampled_from(["in", "not_in"]),
        st.lists(words, min_size=1, max_size=3),
    ),
    st.builds(
        lambda field, operator, pattern: {"field": field, operator: pattern},
        st.sampled_from(TEXT_FIELDS),
        st.sampled_from(["matches", "not_matches"]),
        st.sampled_from(["(?P<order>ORD-\\d+)", "a|b", "^x", "(?P<x>a)|(?P<y>b)", "1$"]),
    ),
    st.builds(
        lambda operator, size: {"field": "size", operator: size},
        st.sampled_from(["greater", "less", "equals"]),
        st.one_of(st.integers(0, 2**40), st.sampled_from(["5MB", "1.5 MB", "200KB"])),
    ),
    st.builds(
        lambda field, value: {"field": field, "equals": value},
        st.sampled_from(["auto_reply", "list", "bounce"]),
        st.booleans(),
    ),
    st.builds(
        lambda field, value: {"field": field, "exists": value},
        st.sampled_from(TEXT_FIELDS),
        st.booleans(),
    ),
)
valid_conditions = st.recursive(
    valid_leaves,
    lambda inner: st.builds(
        lambda kind, items: {kind: items},
        st.sampled_from(["any", "all"]),
        st.lists(inner, min_size=1, max_size=3),
    ),
    max_leaves=6,
)
valid_actions = st.fixed_dictionaries(
    {},
    optional={
        "department": st.just("Billing"),
        "priority": words,
        "tags": st.lists(words, min_size=1, max_size=2),
        "fields": st.dictionaries(words, st.one_of(words, st.integers(0, 9)), min_size=1),
        "autoresponse": st.one_of(st.just(False), words),
        "discard": st.just(True),
        "quarantine": words,
        "send": st.lists(
            st.fixed_dictionaries({"to": st.just("a@b.example"), "template": words}),
            min_size=1,
            max_size=2,
        ),
    },
).filter(lambda then: ("discard" in then) + ("quarantine" in then) < 2)
valid_rules = st.fixed_dictionaries(
    {
        "name": st.integers(0, 10**9).map(lambda n: f"rule {n}"),
        "if": st.lists(valid_conditions, max_size=3),
        "then": valid_actions,
    },
    optional={
        "match": st.sampled_from(["all", "any"]),
        "stop": st.booleans(),
        "enabled": st.booleans(),
        "channels": st.lists(st.sampled_from(CHANNELS), min_size=1, max_size=3, unique=True),
        "on": st.lists(st.sampled_from(MOMENTS), min_size=1, max_size=2, unique=True),
    },
)
documents = st.builds(
    lambda entries, extra: {"rule": entries, **extra},
    st.lists(
        st.one_of(valid_rules, valid_rules, valid_rules, rules, scalars), min_size=1, max_size=6
    ),
    st.one_of(
        st.just({}), st.dictionaries(st.sampled_from(["rules"]) | random_key, values, max_size=1)
    ),
)

texts = st.one_of(st.none(), st.text(max_size=30), st.sampled_from(SAMPLES), words)
text_lists = st.lists(
    st.one_of(st.text(max_size=12), st.sampled_from(SAMPLES), words), max_size=3
).map(tuple)
facts = st.builds(
    Facts,
    sender=texts,
    sender_name=texts,
    sender_domain=texts,
    to=text_lists,
    cc=text_lists,
    reply_to=texts,
    subject=texts,
    body=texts,
    headers=st.dictionaries(
        st.sampled_from(["x-priority", "x-spam-score", "x-spam-flag"]) | random_key, text_lists
    ),
    recipient=texts,
    topic=texts,
    organisation=texts,
    attachment_name=text_lists,
    attachment_type=text_lists,
    size=st.one_of(st.none(), st.integers(0, 2**40)),
    auto_reply=st.booleans(),
    bounce=st.booleans(),
    mailing_list=st.booleans(),
    fields=st.dictionaries(st.sampled_from(["order"]) | random_key, st.text(max_size=10)),
    priority=texts,
)
channels = st.sampled_from(CHANNELS)
moments = st.sampled_from(MOMENTS)


def check_problems(data: dict, found: list) -> None:
    entries = data.get("rule") if isinstance(data.get("rule"), list) else []
    named = {e.get("name") for e in entries if isinstance(e, dict)}
    for problem in found:
        assert problem.file == FILE
        assert str(problem).startswith(FILE)
        if problem.rule is not None:
            assert problem.rule in named
            assert f"rule {problem.rule!r}: " in str(problem)
        elif problem.position is not None:
            entry = entries[problem.position - 1]
            assert (
                not isinstance(entry, dict)
                or not isinstance(entry.get("name"), str)
                or (not entry["name"].strip())
            )


def fast_equals_explained(ruleset: RuleSet, message: Facts, channel: str, moment: str) -> None:
    for rule in ruleset.rules:
        # The compiled closures and the explanations are separate code: they must agree.
        verdict = bool(rule.condition.test(View(message, channel)))
        assert rule.condition.explain(View(message, channel))[0] is verdict
    fast = evaluate(ruleset, message, channel=channel, moment=moment)
    explained = evaluate(ruleset, message, channel=channel, moment=moment, explain=True)
    assert dataclasses.replace(explained, trace=()) == fast
    assert len(explained.trace) == len(ruleset.rules)
    assert [hit.rule for hit in fast.matched] == [
        step.rule for step in explained.trace if step.outcome == "hit"
    ]


@SETTINGS
@given(documents, st.data())
def test_random_rule_files_load_or_report_problems_naming_file_and_rule(data, draw):
    text = toml_document(data)
    ruleset, found = load_rule_text(text, FILE, Known(departments={"Billing"}))
    check_problems(data, found)
    loaded = [rule.name for rule in ruleset.rules]
    assert len(loaded) == len(set(loaded))
    fast_equals_explained(ruleset, draw.draw(facts), draw.draw(channels), draw.draw(moments))


@SETTINGS
@given(st.text())
def test_random_text_never_raises(text):
    _, found = load_rule_text(text, FILE)
    assert all(problem.file == FILE for problem in found)
    assert all(str(problem).startswith(FILE) for problem in found)


@SETTINGS
@given(st.text(alphabet='[]{}=",\n rule name if then field contains any all 1.5"\'', max_size=80))
def test_random_toml_like_text_never_raises(text):
    _, found = load_rule_text(text, FILE)
    assert all(problem.file == FILE for problem in found)


_EXAMPLES, _ = load_rules(EXAMPLES)


@SETTINGS
@given(facts, channels, moments)
def test_random_facts_never_crash_the_example_rules(message, channel, moment):
    fast_equals_explained(_EXAMPLES, message, channel, moment)


@SETTINGS
@given(
    st.lists(valid_rules, min_size=1, max_size=8),
    st.lists(facts, min_size=1, max_size=3),
    channels,
    moments,
)
def test_random_valid_rules_evaluate_the_same_fast_and_explained(
    entries, messages, channel, moment
):
    ruleset, found = load_rule_text(toml_document({"rule": entries}), FILE)
    check_problems({"rule": entries}, found)
    for message in messages:
        fast_equals_explained(ruleset, message, channel, moment)

"""The shipped example rules on saved messages: each `tests/data/rules/NAME.eml` has the decision
expected for it in `NAME.expected.toml` (only the values that differ from the defaults, and the
names of the matching rules in order)."""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

import pytest

from maild.classify import Identity, classify
from maild.parse import parse
from maild.rule_facts import message_facts
from rules import Decision, Facts, Known, evaluate, load_rules

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "rules" / "examples"
DATA = REPO / "tests" / "data" / "rules"
HELPDESK_DOMAIN = "@example.com"

# The names the example files use (see the comment at the top of each).
KNOWN = Known(
    departments={"Billing", "Sales", "Support"},
    agents={"alice@example.com"},
    teams={"VIP"},
    templates={"password_reset", "vip_alert"},
    priorities={"low", "normal", "high", "emergency"},
    slas=set(),
    topics=set(),
    statuses=set(),
)


def facts_of(raw: bytes) -> Facts:
    """The facts the daemon would give the rules: maild's own parser, classifier and builder."""
    msg = parse(raw)
    identity = Identity(addresses=frozenset({"support@example.com"}), loop_token="-",
                        is_own_message_id=lambda _: False)  # fmt: skip
    verdict = classify(msg, mail_from=None, identity=identity)
    return message_facts(msg, verdict, rcpt_to=(), size=len(raw), is_ours=_ours)


def _ours(address: str) -> bool:
    return address.lower().endswith(HELPDESK_DOMAIN)


def summary(decision: Decision) -> dict:
    """The decision as the expected files write it."""
    found: dict = {}
    for field in dataclasses.fields(Decision):
        value = getattr(decision, field.name)
        if field.name in ("matched", "trace") or value == field.default:
            continue
        if field.name == "fields":
            value = dict(value)
        elif field.name == "send":
            value = [{"to": send.to, "template": send.template} for send in value]
        elif isinstance(value, tuple):
            value = list(value)
        found[field.name] = value
    found["matched"] = [hit.rule for hit in decision.matched]
    return found


@pytest.fixture(scope="module")
def ruleset():
    loaded, problems = load_rules(EXAMPLES, KNOWN)
    assert [str(p) for p in problems] == []
    return loaded


MESSAGES = sorted(DATA.glob("*.eml"))


@pytest.mark.parametrize("message", MESSAGES, ids=lambda path: path.stem)
def test_example_rules_decide_as_expected(ruleset, message):
    expected = tomllib.loads(message.with_suffix(".expected.toml").read_text())
    facts = facts_of(message.read_bytes())
    decision = evaluate(ruleset, facts, channel="email", moment="create")
    assert summary(decision) == expected
    explained = evaluate(ruleset, facts, channel="email", moment="create", explain=True)
    assert dataclasses.replace(explained, trace=()) == decision
    assert len(explained.trace) == len(ruleset.rules)


def test_every_kind_of_message_has_a_golden_case():
    stems = {path.stem for path in MESSAGES}
    assert {"spam", "auto-reply", "vip", "invoice", "banned", "password-reset", "ordinary"} <= stems
    assert {path.name.removesuffix(".expected.toml") for path in DATA.glob("*.expected.toml")} == (
        stems
    )


def test_example_files_load_cleanly_and_every_rule_is_documented(ruleset):
    assert [Path(file).name for file in ruleset.files] == [
        "10-spam-and-auto-replies.toml",
        "20-vip.toml",
        "30-routing-keywords.toml",
        "40-banned-domain.toml",
        "50-password-reset.toml",
    ]
    assert all(rule.description for rule in ruleset.rules)
    for file in ruleset.files:
        assert Path(file).read_text().startswith("# ")


def test_a_reply_from_a_vip_is_prioritised_but_not_escalated_again(ruleset):
    facts = facts_of((DATA / "vip.eml").read_bytes())
    decision = evaluate(ruleset, facts, channel="email", moment="reply")
    assert [hit.rule for hit in decision.matched] == ["vip customers"]
    assert decision.assign is None

"""Routing a new ticket: department by address, plus-address, topic or default; SLA plan and
priority in their order; every choice explained."""

from __future__ import annotations

from maild.config_org import Department, Topic
from maild.routing import RuleChoices, route

DEPARTMENTS = (
    Department(name="Support", sla="standard"),
    Department(
        name="Billing",
        addresses=("support+billing@example.com", "billing@example.com"),
        sla="billing",
        auto_assign="round-robin",
    ),
    Department(name="Sales", addresses=("sales@example.com",)),
)
TOPICS = (
    Topic(name="Billing / Refunds", department="Billing", sla="refunds", priority="high"),
    Topic(name="Outage", department="Support", priority="emergency", assign_team="Tier 2"),
    Topic(name="General"),
)


def decide(**kwargs):
    kwargs.setdefault("recipients", ["support@example.com"])
    return route(departments=DEPARTMENTS, topics=TOPICS, default_department="Support",
                 default_sla="basic", **kwargs)  # fmt: skip


def test_address_routes_to_its_department():
    decision = decide(recipients=["sales@example.com"])
    assert decision.department == "Sales"
    assert "mail was sent to sales@example.com" in decision.reasons[0]


def test_plus_address_routes_to_its_department_case_insensitively():
    decision = decide(recipients=["Support+Billing@Example.com"])
    assert decision.department == "Billing"
    assert decision.sla == "billing"
    assert decision.auto_assign == "round-robin"


def test_topic_routes_when_the_address_says_nothing():
    decision = decide(topic="Billing / Refunds")
    assert (decision.department, decision.sla, decision.priority) == ("Billing", "refunds", "high")
    assert decision.topic == "Billing / Refunds"


def test_address_wins_over_topic_but_topic_sla_wins_over_department():
    decision = decide(recipients=["sales@example.com"], topic="Billing / Refunds")
    assert decision.department == "Sales"
    assert decision.sla == "refunds"


def test_default_department_and_sla():
    decision = decide(topic="General")
    assert (decision.department, decision.sla, decision.priority) == (
        "Support",
        "standard",
        "normal",
    )
    assert any("the default" in r for r in decision.reasons)


def test_no_default_means_no_department():
    decision = route(recipients=["support@example.com"], departments=DEPARTMENTS, topics=TOPICS)
    assert decision.department is None and decision.sla is None


def test_rule_sla_wins_over_everything():
    decision = decide(topic="Billing / Refunds", rules=RuleChoices(sla="vip"))
    assert decision.sla == "vip"
    assert "SLA plan 'vip': from a rule" in decision.reasons


def test_rule_choices_win_over_address_topic_and_headers():
    by = {"department": "to sales", "priority": "calm", "assign": "ann"}
    choices = RuleChoices(department="Sales", topic="Outage", priority="low", agent="a@x.test",
                          by=by)  # fmt: skip
    decision = decide(recipients=["billing@example.com"], topic="General", rules=choices,
                      priority_headers=("1", ""))  # fmt: skip
    assert (decision.department, decision.topic, decision.priority) == ("Sales", "Outage", "low")
    # Neither Outage nor Sales names a plan: the default; the rule's agent replaces the team.
    assert (decision.sla, decision.assign_agent, decision.assign_team) == (
        "basic",
        "a@x.test",
        None,
    )
    assert decision.auto_assign == "none"
    assert "department 'Sales': from rule 'to sales'" in decision.reasons
    assert "help topic 'Outage' chosen by a rule" in decision.reasons
    assert "priority 'low': from rule 'calm'" in decision.reasons
    assert "assigned to a@x.test: from rule 'ann'" in decision.reasons


def test_a_rules_department_brings_its_sla_plan():
    decision = decide(recipients=["support@example.com"], rules=RuleChoices(department="Billing"))
    assert (decision.department, decision.sla, decision.auto_assign) == (
        "Billing", "billing", "round-robin")  # fmt: skip


def test_topic_assignment_replaces_auto_assignment():
    decision = decide(recipients=["billing@example.com"], topic="Outage")
    assert decision.assign_team == "Tier 2" and decision.auto_assign == "none"
    assert decision.priority == "emergency"


def test_priority_headers_only_when_enabled():
    assert decide().priority == "normal"
    assert decide(priority_headers=("1 (Highest)", "")).priority == "high"
    assert decide(priority_headers=("", "low")).priority == "low"
    assert decide(priority_headers=("3 (Normal)", "")).priority == "normal"
    assert decide(topic="Outage", priority_headers=("5", "")).priority == "emergency"


def test_unknown_topic_is_ignored_with_a_reason():
    decision = decide(topic="Nonsense")
    assert decision.topic is None
    assert "help topic 'Nonsense' is not declared; ignored" in decision.reasons


def test_a_polled_mailbox_routes_to_its_department_when_the_address_does_not():
    decision = decide(topic="Billing / Refunds", mailbox=("sales-inbox", "Sales"))
    assert decision.department == "Sales"
    assert "department 'Sales': fetched from mailbox 'sales-inbox'" in decision.reasons
    by_address = decide(recipients=["billing@example.com"], mailbox=("sales-inbox", "Sales"))
    assert by_address.department == "Billing"

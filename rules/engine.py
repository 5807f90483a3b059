"""Evaluate a rule set on one message: one loop over the rules, in order.

A matching rule applies its actions; a rule that stops (`stop = true`, or an action that
ends evaluation: reject, discard, quarantine) is the last one run. The fast path tests only
the rules the rule set's plan names for the channel and moment and builds words only for
rules that match; explain mode walks every rule and says why each one matched, missed, was
skipped or was not reached.
"""

from __future__ import annotations

from rules.decision import NO_DECISION, Decision, DecisionBuilder, Hit, Step
from rules.facts import Facts
from rules.fields import View
from rules.ruleset import Rule, RuleSet

__all__ = ["evaluate"]


def evaluate(
    ruleset: RuleSet,
    facts: Facts,
    *,
    channel: str,
    moment: str = "create",
    explain: bool = False,
) -> Decision:
    """The decision of `ruleset` for a message arriving by `channel` at `moment`.

    `channel` is one of email, web, api, phone; `moment` is "create" for a message that
    opens a ticket and "reply" for a follow-up to an existing one. Raises ValueError for
    any other channel or moment (a caller's mistake, not bad input). With `explain`, the
    decision's `trace` has a `Step` for every rule.
    """
    plan = ruleset.plan(channel, moment)
    view = View(facts, channel)
    if explain:
        return _explain(ruleset, view, moment)
    rules, tests = ruleset.rules, ruleset.fast_tests
    builder = None
    for position in plan.candidates(view):
        if not tests[position](view):
            continue
        rule = rules[position]
        if builder is None:
            builder = DecisionBuilder()
        builder.apply(_hit(rule, view))
        if rule.ends:
            builder.stopped_by = rule.name
            break
    return NO_DECISION if builder is None else builder.build()


def _hit(rule: Rule, view: View) -> Hit:
    _, reasons = rule.condition.explain(view)
    return Hit(rule.name, rule.file, tuple(reasons), rule.actions.render(view.captures))


def _explain(ruleset: RuleSet, view: View, moment: str) -> Decision:
    builder = DecisionBuilder()
    steps = []
    for rule in ruleset.rules:
        if builder.stopped_by is not None:
            outcome, reason = "not reached", f"stopped by {builder.stopped_by!r}"
        elif not rule.enabled:
            outcome, reason = "skipped", "disabled"
        elif view.channel not in rule.channels:
            channels = ", ".join(rule.channels)
            outcome, reason = "skipped", f"channel {view.channel} not in [{channels}]"
        elif moment not in rule.moments:
            outcome, reason = "skipped", f"not run on {moment}"
        else:
            view.captures = None
            if rule.condition.test(view):
                hit = _hit(rule, view)
                builder.apply(hit)
                outcome, reason = "hit", "; ".join(hit.reasons)
                if rule.ends:
                    builder.stopped_by = rule.name
            else:
                outcome, reason = "miss", "; ".join(rule.condition.explain(view)[1])
        steps.append(Step(rule.name, rule.file, outcome, reason))
    return builder.build(tuple(steps))

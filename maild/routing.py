"""Where a new ticket goes: department, help topic, SLA plan, priority and assignment.

A pure decision over plain values, returning what it chose *and why*: the reasons are
recorded as the ticket's first event, and filter rules (`rules/`) can later override any
choice. Order, as the organisation is declared in config.toml:

- department: the address the mail was sent to, else the help topic's, else the default;
- SLA plan: a rule's, else the topic's, else the department's, else the default;
- priority: the topic's, else (when enabled) the sender's X-Priority/Importance header,
  else the default;
- assignment: the topic's agent or team, else the department's auto-assignment strategy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from maild.config_org import Department, Topic

__all__ = ["Routing", "RuleChoices", "route"]


@dataclass(frozen=True, slots=True)
class RuleChoices:
    """What the TOML rules chose for a new ticket; each wins over every other source.

    `by` names the rules, for the reasons (e.g. "rule 'vip customers'").
    """

    department: str | None = None
    topic: str | None = None
    sla: str | None = None
    priority: str | None = None
    agent: str | None = None
    team: str | None = None
    by: dict[str, str] | None = None  # choice name -> the rule that made it

    def why(self, choice: str) -> str:
        rule = (self.by or {}).get(choice)
        return f"rule {rule!r}" if rule else "a rule"


@dataclass(frozen=True, slots=True)
class Routing:
    department: str | None
    topic: str | None
    sla: str | None
    priority: str
    assign_agent: str | None
    assign_team: str | None
    auto_assign: str  # the department's strategy when nobody is named: none, round-robin, ...
    reasons: tuple[str, ...]


# X-Priority 1-2 is urgent-ish, 4-5 is low; Importance is high/normal/low.
_HEADER_PRIORITY = {"1": "high", "2": "high", "4": "low", "5": "low", "high": "high", "low": "low"}


def route(
    *,
    recipients: Sequence[str],
    departments: Sequence[Department],
    topics: Sequence[Topic],
    topic: str | None = None,
    default_department: str = "",
    default_sla: str = "",
    default_priority: str = "normal",
    priorities: Sequence[str] = ("low", "normal", "high", "emergency"),
    priority_headers: tuple[str, str] | None = None,
    rules: RuleChoices | None = None,
    mailbox: tuple[str, str] | None = None,
) -> Routing:
    """Decide for a new ticket. `priority_headers` is (X-Priority, Importance) when enabled;
    `rules` are the rules' choices, which win over everything else; `mailbox` is
    (mailbox name, its department) for mail fetched from a polled mailbox."""
    rules = rules or RuleChoices()
    reasons: list[str] = []
    if rules.topic:
        topic, topic_source = rules.topic, f"chosen by {rules.why('topic')}"
    else:
        topic_source = "chosen by the sender"
    chosen_topic = next((t for t in topics if t.name == topic), None) if topic else None
    if topic and chosen_topic is None:
        reasons.append(f"help topic {topic!r} is not declared; ignored")
    elif chosen_topic:
        reasons.append(f"help topic {chosen_topic.name!r} {topic_source}")

    department, address = _by_address(recipients, departments)
    ruled = _named(departments, rules.department) if rules.department else None
    if ruled:
        department = ruled
        reasons.append(f"department {ruled.name!r}: from {rules.why('department')}")
    elif department:
        reasons.append(f"department {department.name!r}: mail was sent to {address}")
    elif mailbox and _named(departments, mailbox[1]):
        department = _named(departments, mailbox[1])
        reasons.append(f"department {mailbox[1]!r}: fetched from mailbox {mailbox[0]!r}")
    elif chosen_topic and chosen_topic.department:
        department = _named(departments, chosen_topic.department)
        reasons.append(f"department {chosen_topic.department!r}: from help topic")
    elif default_department:
        department = _named(departments, default_department)
        reasons.append(f"department {default_department!r}: the default")
    else:
        reasons.append("no department: none matched and no default is set")

    if rules.sla:
        sla, why = rules.sla, f"from {rules.why('sla')}"
    elif chosen_topic and chosen_topic.sla:
        sla, why = chosen_topic.sla, "from help topic"
    elif department and department.sla:
        sla, why = department.sla, "from department"
    elif default_sla:
        sla, why = default_sla, "the default"
    else:
        sla, why = None, ""
    reasons.append(f"SLA plan {sla!r}: {why}" if sla else "no SLA plan")

    priority, why = default_priority, "the default"
    if rules.priority:
        priority, why = rules.priority, f"from {rules.why('priority')}"
    elif chosen_topic and chosen_topic.priority:
        priority, why = chosen_topic.priority, "from help topic"
    elif priority_headers:
        found = _header_priority(priority_headers, priorities)
        if found:
            priority, why = found
    reasons.append(f"priority {priority!r}: {why}")

    agent = (chosen_topic.assign_agent or None) if chosen_topic else None
    team = (chosen_topic.assign_team or None) if chosen_topic else None
    source = "help topic"
    if rules.agent or rules.team:
        agent, team = rules.agent, rules.team
        source = rules.why("assign" if rules.agent else "team")
    strategy = department.auto_assign if department and not (agent or team) else "none"
    if agent or team:
        who = " and ".join(x for x in (agent, f"team {team!r}" if team else "") if x)
        reasons.append(f"assigned to {who}: from {source}")
    elif strategy != "none":
        reasons.append(f"auto-assignment: {strategy} in {department.name!r}")
    return Routing(
        department=department.name if department else None,
        topic=chosen_topic.name if chosen_topic else None,
        sla=sla,
        priority=priority,
        assign_agent=agent,
        assign_team=team,
        auto_assign=strategy,
        reasons=tuple(reasons),
    )


def _by_address(recipients: Sequence[str], departments: Sequence[Department]):
    """The first department one of `recipients` belongs to, and that address."""
    for recipient in recipients:
        address = recipient.lower()
        for department in departments:
            if address in (a.lower() for a in department.addresses):
                return department, address
    return None, ""


def _named(departments: Sequence[Department], name: str):
    return next((d for d in departments if d.name == name), None)


def _header_priority(headers: tuple[str, str], priorities: Sequence[str]):
    x_priority, importance = headers
    for name, value in (("X-Priority", x_priority), ("Importance", importance)):
        key = value.strip().split()[0].lower() if value.strip() else ""
        level = _HEADER_PRIORITY.get(key)
        if level and level in priorities:
            return level, f"from the {name} header ({value.strip()})"
    return None

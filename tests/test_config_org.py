"""The organisation declared in config.toml, and `maild check` catching what does not fit."""

from __future__ import annotations

import pytest

from maild.config import load
from maild.errors import ConfigError
from tests.helpers import run_maild

VALID = """
[helpdesk]
address = "support@example.com"
[tickets]
default_department = "Support"
default_sla = "standard"

[[schedule]]
name = "office"
timezone = "Europe/Berlin"
monday = ["09:00-12:00", "13:00-17:00"]
friday = ["09:00-15:00"]
holidays = ["2026-12-25", "2026-12-24 12:00-17:00"]

[[sla]]
name = "standard"
schedule = "office"
first_response_hours = 4
resolution_hours = 24

[[department]]
name = "Support"
sla = "standard"

[[department]]
name = "Billing"
addresses = ["support+billing@example.com", "billing@example.com"]
auto_assign = "round-robin"

[[team]]
name = "Tier 2"
members = ["erin@example.com"]

[[topic]]
name = "Billing / Refunds"
department = "Billing"
priority = "high"
assign_team = "Tier 2"
[[topic.field]]
name = "order"
required = true

[[status]]
name = "waiting on vendor"
state = "pending"

[[role]]
name = "agent"
permissions = ["ticket.view", "ticket.reply"]
"""


def write(tmp_path, text: str):
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def problems_of(tmp_path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        load(write(tmp_path, text))
    return raised.value.problems


def test_a_whole_organisation_loads(tmp_path):
    config = load(write(tmp_path, VALID))

    assert [d.name for d in config.departments] == ["Support", "Billing"]
    (topic,) = config.topics
    assert topic.fields[0].name == "order" and topic.fields[0].required
    (schedule,) = config.schedules
    hours = schedule.business_hours([], "")
    assert hours.timezone == "Europe/Berlin" and len(hours.closures) == 2
    assert config.statuses[0].state == "pending"


def test_department_addresses_are_ours(tmp_path):
    config = load(write(tmp_path, VALID))
    assert config.is_ours("billing@example.com")
    assert config.is_ours("support+billing@example.com")
    assert not config.is_ours("sales@example.com")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (('department = "Billing"\npriority', 'department = "Nowhere"\npriority'),
         "[[topic]] 'Billing / Refunds': department 'Nowhere' is not declared"),
        (('schedule = "office"', 'schedule = "nights"'),
         "[[sla]] 'standard': schedule 'nights' is not declared"),
        (('monday = ["09:00-12:00", "13:00-17:00"]', 'monday = ["09:00-12:00", "11:00-17:00"]'),
         "Monday: spans 09:00-12:00 and 11:00-17:00 overlap"),
        (('timezone = "Europe/Berlin"', 'timezone = "Europe/Atlantis"'),
         "unknown time zone 'Europe/Atlantis'"),
        (('"ticket.reply"]', '"ticket.teleport"]'),
         "[[role]] 'agent': unknown permission 'ticket.teleport'"),
        (('priority = "high"', 'priority = "urgent"'),
         "[[topic]] 'Billing / Refunds': priority 'urgent' is not declared"),
        (('auto_assign = "round-robin"', 'auto_assign = "lottery"'),
         "[[department]] 'Billing': auto_assign must be one of"),
        (('friday = ["09:00-15:00"]', 'friday = ["nine to three"]'),
         "friday: 'nine to three' is not a span"),
        (('default_sla = "standard"', 'default_sla = "gold"'),
         "[tickets] default_sla 'gold' is not declared"),
        (('state = "pending"', 'state = "limbo"'),
         "[[status]] 'waiting on vendor': state must be one of"),
    ],
)  # fmt: skip
def test_check_names_the_file_and_the_offending_declaration(tmp_path, change, expected):
    old, new = change
    assert old in VALID
    problems = problems_of(tmp_path, VALID.replace(old, new, 1))
    assert any(expected in p and str(tmp_path / "config.toml") in p for p in problems), problems


def test_every_problem_is_listed_at_once_and_check_exits_non_zero(tmp_path):
    broken = (
        VALID.replace('department = "Billing"\npriority', 'department = "Nowhere"\npriority')
        .replace('"ticket.reply"]', '"ticket.teleport"]')
        .replace('timezone = "Europe/Berlin"', 'timezone = "Europe/Atlantis"')
    )
    result = run_maild(write(tmp_path, broken), "check", text=True)

    assert result.returncode != 0
    for expected in ("'Nowhere'", "'ticket.teleport'", "'Europe/Atlantis'"):
        assert expected in result.stderr


def test_duplicate_names_and_missing_names_are_errors(tmp_path):
    text = VALID + '\n[[department]]\nname = "Support"\n\n[[team]]\nlead = "x@example.com"\n'
    problems = problems_of(tmp_path, text)
    assert any("[[department]] 'Support' is declared twice" in p for p in problems)
    assert any("[[team]] #2: missing key 'name'" in p for p in problems)


def test_unknown_keys_in_a_declaration_are_errors(tmp_path):
    problems = problems_of(tmp_path, VALID.replace('name = "Tier 2"', 'name = "Tier 2"\nboss = 1'))
    assert any("[[team]] #1 'Tier 2': unknown key 'boss'" in p for p in problems)

"""The TOML rules applied to real mail: routing, rejection, discarding, quarantine, canned
responses, tags and custom fields, reply-time rules, and the events that explain them."""

from __future__ import annotations

import json

import pytest

from store import labels
from store import tickets as ticket_queries
from store.inbound import list_by_state
from store.models import Inbound, Ticket
from tests.helpers import ingest, make_message, queued

ORG = {
    "department": [{"name": "Billing", "sla": "billing"}, {"name": "Support"}],
    "sla": [{"name": "billing", "resolution_hours": 8}, {"name": "vip", "resolution_hours": 1}],
    "team": [{"name": "VIP", "members": ["vip-desk@helpdesk.test"]}],
    "tickets": {"default_department": "Support"},
}

RULES = r"""
[[rule]]
name = "banned domain"
if = [ { field = "sender_domain", equals = "spammy.test" } ]
[rule.then]
reject = "We do not accept mail from spammy.test."

[[rule]]
name = "drop spam"
if = [ { field = "header:X-Spam-Flag", equals = "YES" } ]
[rule.then]
discard = true

[[rule]]
name = "hold suspicious"
if = [ { field = "attachment_name", ends_with = ".exe" } ]
[rule.then]
quarantine = "executable attachment"

[[rule]]
name = "invoices"
match = "any"
if = [ { field = "subject", contains = "invoice" }, { field = "body", contains = "refund" } ]
[rule.then]
department = "Billing"
priority = "high"
tags = ["money"]

[[rule]]
name = "order numbers"
if = [ { field = "subject", matches = '(?P<order>ORD-\d{4})' } ]
[rule.then]
fields = { order = "{order}" }
collaborators = ["accounts@customer.test"]

[[rule]]
name = "vip"
if = [ { field = "sender_domain", in = ["bigcorp.test"] } ]
[rule.then]
sla = "vip"
team = "VIP"
send = [ { to = "vip-desk@helpdesk.test", template = "new_ticket_alert" } ]
autoresponse = "vip_welcome"

[[rule]]
name = "no autoresponse for newsletters"
if = [ { field = "subject", starts_with = "Newsletter" } ]
[rule.then]
autoresponse = false
status = "resolved"

[[rule]]
name = "urgent follow-ups"
on = ["reply"]
if = [ { field = "body", contains = "urgent" } ]
[rule.then]
priority = "emergency"
tags = ["escalated"]
"""

VIP_WELCOME = """{% block subject %}Welcome, valued customer{% endblock %}
{% block text %}Our VIP desk has ticket {{ ticket.number }}.{% endblock %}
"""


@pytest.fixture
def desk(pipeline_for, db_url, tmp_path):
    import shutil

    from tests.helpers import REPO

    templates = tmp_path / "templates"
    shutil.copytree(REPO / "templates", templates)
    (templates / "vip_welcome.j2").write_text(VIP_WELCOME)
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "10-main.toml").write_text(RULES)
    paths = {"rules": str(rules), "templates": str(templates)}
    return pipeline_for(db_url, paths=paths, **ORG)


def events(ticket: Ticket) -> list[str]:
    return [e.text for e in ticket_queries.thread(ticket) if e.kind == "event"]


def last_inbound() -> Inbound:
    return Inbound.select().order_by(Inbound.id.desc()).first()


def test_a_matching_rule_routes_tags_and_explains_itself(desk):
    ticket = ingest(desk, make_message(subject="Your invoice ORD-1234 is wrong"))

    assert (ticket.department, ticket.priority, ticket.sla) == ("Billing", "high", "billing")
    assert labels.tags_of(ticket) == ["money"]
    assert labels.fields_of(ticket) == {"order": "ORD-1234"}
    assert [u.email for u in ticket_queries.participants(ticket)] == [
        "ada@customer.test", "accounts@customer.test"]  # fmt: skip
    log = events(ticket)
    assert "department 'Billing': from rule 'invoices'" in log[0]
    assert any(e.startswith("Rule rule 'invoices'") and "contains 'invoice'" in e for e in log)
    assert any("rule 'order numbers'" in e and "fields.order = 'ORD-1234'" in e for e in log)


def test_a_rejected_message_opens_nothing_and_its_sender_is_told_once(desk):
    raw = make_message(sender="Spammer <bob@spammy.test>", subject="Buy now")
    assert ingest(desk, raw, mail_from="bob@spammy.test") is None
    assert ingest(desk, raw, mail_from="bob@spammy.test") is None  # the same message again

    assert Ticket.select().count() == 0
    [(recipients, message)] = queued("rejection")
    assert recipients == ["bob@spammy.test"]
    assert "We do not accept mail from spammy.test." in message.get_body(("plain",)).get_content()
    assert message["Auto-Submitted"] == "auto-replied"
    assert "[#" not in message["Subject"]
    outcomes = [row.outcome for row in Inbound.select().order_by(Inbound.id)]
    assert outcomes[0].startswith("rejected by rule 'banned domain'; explanation sent")
    assert outcomes[1].startswith("duplicate of")


def test_an_auto_reply_that_is_rejected_gets_no_explanation(desk):
    raw = make_message(sender="bob@spammy.test", subject="Out of office",
                       headers={"Auto-Submitted": "auto-replied"})  # fmt: skip
    ingest(desk, raw, mail_from="bob@spammy.test")
    assert queued("rejection") == []
    assert "no explanation sent (auto_reply" in last_inbound().outcome


def test_spam_is_discarded_silently(desk):
    ingest(desk, make_message(subject="Cheap pills", headers={"X-Spam-Flag": "YES"}))
    assert Ticket.select().count() == 0
    assert queued("new_ticket_autoresponse") == [] and queued("rejection") == []
    assert last_inbound().outcome == "discarded by rule 'drop spam'"


def test_a_held_message_waits_in_quarantine_with_the_reason(desk):
    from email.message import EmailMessage

    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "ada@customer.test", "support@helpdesk.test", "Hi"
    msg["Message-ID"] = "<exe@customer.test>"
    msg.set_content("see attached")
    msg.add_attachment(b"MZ\x90\x00", maintype="application", subtype="octet-stream",
                       filename="invoice.exe")  # fmt: skip
    ingest(desk, msg.as_bytes())

    assert Ticket.select().count() == 0
    [held] = list_by_state("quarantined")
    assert held.last_error == "held by rule 'hold suspicious': executable attachment"


def test_canned_autoresponse_templated_mail_and_team(desk):
    ticket = ingest(desk, make_message(sender="cto@bigcorp.test", subject="Hello"),
                    mail_from="cto@bigcorp.test")  # fmt: skip

    assert (ticket.sla, ticket.team) == ("vip", "VIP")
    assert queued("new_ticket_autoresponse") == []
    [(to, welcome)] = queued("vip_welcome")
    assert to == ["cto@bigcorp.test"] and welcome["Subject"].endswith("Welcome, valued customer")
    assert [to for to, _ in queued("new_ticket_alert")] == [["vip-desk@helpdesk.test"]]


def test_a_rule_can_suppress_the_autoresponse_and_set_the_status(desk):
    ticket = ingest(desk, make_message(subject="Newsletter: November"))
    assert queued("new_ticket_autoresponse") == []
    assert ticket_queries.ticket_by_number(ticket.number).status == "resolved"
    assert "Status set to resolved (rule 'no autoresponse for newsletters')" in events(ticket)


def test_reply_time_rules_run_on_follow_ups_only(desk):
    ticket = ingest(desk, make_message(subject="Printer", body="It is urgent!"))
    assert ticket.priority == "normal"  # 'urgent follow-ups' runs on replies only

    ingest(desk, make_message(subject=f"Re: [#{ticket.number}] Printer", body="Still urgent."))
    after = ticket_queries.ticket_by_number(ticket.number)
    assert after.priority == "emergency"
    assert labels.tags_of(after) == ["escalated"]
    assert "Priority set to emergency (rule 'urgent follow-ups')" in events(after)
    # A follow-up does not open a ticket or run creation rules.
    assert Ticket.select().count() == 1
    assert json.loads(last_inbound().rcpt_to) == ["support@helpdesk.test"]

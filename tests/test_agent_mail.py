"""Agents working from their mail client: replies through the signed address of their
alert become responses (or notes), commands at the top are carried out, and anything
forged, stolen or replayed is refused — recorded, explained to the agent, never sent on."""

from __future__ import annotations

import pytest

from store import labels
from store import tickets as ticket_queries
from store.agents import add_agent
from store.models import Outbound, Ticket
from tests.helpers import AGENT_ROLES, ingest, make_message, queued, reply_to

ORG = {
    "role": AGENT_ROLES,
    "department": [{"name": "Support"}, {"name": "Billing"}],
    "tickets": {"default_department": "Support"},
    "agent_mail": {"trusted_authserv_ids": ["mx.helpdesk.test"]},
}  # fmt: skip
ALICE = "Alice Agent <alice@helpdesk.test>"


@pytest.fixture
def desk(pipeline_for, db_url):
    pipeline = pipeline_for(db_url, **ORG)
    add_agent("Alice Agent", ["alice@helpdesk.test"], "Support", "agent", {})
    add_agent("Bob Lead", ["bob@helpdesk.test"], "Support", "lead", {})
    return pipeline


def opened(desk) -> tuple[Ticket, dict]:
    """A customer's new ticket, and each agent's copy of the new-ticket alert."""
    ticket = ingest(desk, make_message(subject="Printer on fire",
                                       message_id="<first@customer.test>"))  # fmt: skip
    alerts = {to[0]: message for to, message in queued("new_ticket_alert")}
    return ticket, alerts


def agent_reply(alert, body: str, *, sender: str = ALICE, headers=None) -> bytes:
    raw = reply_to(alert, sender=sender, body=body, to=str(alert["Reply-To"]))
    if headers:
        head, _, rest = raw.partition(b"\r\n\r\n")
        extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items()).encode()
        raw = head + b"\r\n" + extra.rstrip(b"\r\n") + b"\r\n\r\n" + rest
    return raw


def events(ticket) -> list[str]:
    return [e.text for e in ticket_queries.thread(ticket) if e.kind == "event"]


def test_a_reply_to_the_alert_reaches_the_customer_as_the_agents_response(desk):
    ticket, alerts = opened(desk)
    ingest(desk, agent_reply(alerts["alice@helpdesk.test"], "Please unplug it at once."),
           mail_from="alice@helpdesk.test")  # fmt: skip

    [(to, response)] = queued("agent_response")
    assert to == ["ada@customer.test"]
    assert response["From"].addresses[0].display_name == "Alice Agent"
    assert response["From"].addresses[0].addr_spec == "support@helpdesk.test"
    assert f"[#{ticket.number}]" in response["Subject"]
    assert response["In-Reply-To"] == "<first@customer.test>"
    text = response.get_body(("plain",)).get_content()
    assert "Please unplug it at once." in text
    assert "wrote:" not in text and "> " not in text  # the alert she quoted stays behind
    stored = [e for e in ticket_queries.thread(ticket) if e.kind == "response"]
    assert [e.text.strip() for e in stored] == ["Please unplug it at once."]
    assert Ticket.get_by_id(ticket.id).first_response_at is not None


def test_a_note_reaches_no_customer_and_commands_are_carried_out(desk):
    ticket, alerts = opened(desk)
    body = "#note\n#pending\n#tag printer fire\nCalled her; waiting for the photos."
    ingest(desk, agent_reply(alerts["alice@helpdesk.test"], body),
           mail_from="alice@helpdesk.test")  # fmt: skip

    assert queued("agent_response") == [] and queued("agent_mail_result") == []
    after = Ticket.get_by_id(ticket.id)
    assert after.status == "pending"
    assert labels.tags_of(after) == ["printer", "fire"]
    [note] = [e for e in ticket_queries.thread(ticket) if e.kind == "note"]
    assert note.text.strip() == "Called her; waiting for the photos."
    assert "#note" not in note.text


def test_close_by_mail_and_one_explanation_for_refused_or_unknown_commands(desk):
    ticket, alerts = opened(desk)
    body = "#close\n#assign bob\n#frobnicate\n"
    ingest(desk, agent_reply(alerts["alice@helpdesk.test"], body),
           mail_from="alice@helpdesk.test")  # fmt: skip

    after = Ticket.get_by_id(ticket.id)
    assert after.status == "closed" and after.assignee is None
    assert queued("agent_response") == []  # only commands: nothing to send
    [(to, result)] = queued("agent_mail_result")
    assert to == ["alice@helpdesk.test"]
    text = result.get_body(("plain",)).get_content()
    assert "may not do ticket.assign" in text and "unknown command '#frobnicate'" in text


def test_a_lead_can_assign_by_mail(desk):
    ticket, alerts = opened(desk)
    raw = agent_reply(alerts["bob@helpdesk.test"], "#assign alice\n#priority high",
                      sender="bob@helpdesk.test")  # fmt: skip
    ingest(desk, raw, mail_from="bob@helpdesk.test")
    after = Ticket.get_by_id(ticket.id)
    assert (after.assignee.name, after.priority) == ("Alice Agent", "high")
    assert queued("agent_mail_result") == []


def forged_cases(alerts, ticket):
    customer_notice = queued("new_ticket_autoresponse")[0][1]
    bobs = alerts["bob@helpdesk.test"]
    tampered = str(bobs["Reply-To"]).replace(f"+{ticket.number}.", "+999999.")
    return {
        # From: an agent, to the plain helpdesk address, token in the subject.
        "no signed address": make_message(sender=ALICE, subject=f"Re: [#{ticket.number}] x",
                                          body="Refund granted."),
        # The customer's own signed reply address, used with an agent's From.
        "customer's token": reply_to(customer_notice, sender=ALICE, body="Refund granted.",
                                     to=str(customer_notice["Reply-To"])),
        # Bob's alert address, but the mail says it is from Alice.
        "another agent's address": agent_reply(bobs, "Refund granted."),
        # Alice's address altered to name another ticket: the signature no longer fits.
        "replayed for another ticket": agent_reply(alerts["alice@helpdesk.test"],
                                                   "Refund granted.").replace(
            str(alerts["alice@helpdesk.test"]["Reply-To"]).encode(), tampered.encode()),
        # A pass stamped by a server we do not trust.
        "untrusted vouching": make_message(
            sender=ALICE, subject=f"Re: [#{ticket.number}] x", body="Refund granted.",
            headers={"Authentication-Results":
                     "mx.attacker.test; dkim=pass header.d=helpdesk.test"}),
    }  # fmt: skip


@pytest.mark.parametrize("case", ["no signed address", "customer's token",
                                  "another agent's address", "replayed for another ticket",
                                  "untrusted vouching"])  # fmt: skip
def test_forged_agent_mail_never_reaches_a_customer(desk, case):
    ticket, alerts = opened(desk)
    raw = forged_cases(alerts, ticket)[case]
    before = {r.id for r in Outbound.select()}

    ingest(desk, raw, mail_from="alice@helpdesk.test")

    new = [r for r in Outbound.select() if r.id not in before]
    assert [r.kind for r in new] == ["agent_mail_result"]
    assert "ada@customer.test" not in new[0].recipients
    assert "alice@helpdesk.test" in new[0].recipients
    assert not [e for e in ticket_queries.thread(ticket) if e.kind in ("response", "note")]
    assert Ticket.select().count() == 1  # and no ticket opened by the forgery
    if case != "replayed for another ticket":
        assert any(e.startswith("Refused mail from alice@helpdesk.test") for e in events(ticket))


def test_a_trusted_server_vouching_for_the_agent_is_enough(desk):
    ticket, _ = opened(desk)
    raw = make_message(
        sender=ALICE, subject=f"Re: [#{ticket.number}] Printer on fire", body="On my way.",
        headers={"Authentication-Results":
                 "mx.helpdesk.test; spf=pass smtp.mailfrom=alice@helpdesk.test; dkim=none"},
    )  # fmt: skip
    ingest(desk, raw, mail_from="alice@helpdesk.test")
    [(to, _)] = queued("agent_response")
    assert to == ["ada@customer.test"]


def test_an_agents_out_of_office_is_ignored(desk):
    ticket, alerts = opened(desk)
    raw = agent_reply(alerts["alice@helpdesk.test"], "I am away until Monday.",
                      headers={"Auto-Submitted": "auto-replied"})  # fmt: skip
    ingest(desk, raw, mail_from="alice@helpdesk.test")
    assert queued("agent_response") == [] and queued("agent_mail_result") == []
    assert not [e for e in ticket_queries.thread(ticket) if e.kind in ("response", "note")]


def test_end_to_end_an_agent_answers_from_the_mail_client(daemon_for, sink, tmp_path):
    from tests.helpers import run_maild, send, wait_until

    daemon = daemon_for(f"sqlite:///{tmp_path}/maild.db", **ORG)
    alice = ("alice@helpdesk.test", "--name", "Alice Agent", "--department", "Support")
    added = run_maild(daemon.config_path, "agent", "add", *alice, "--role", "agent")
    assert added.returncode == 0, added.stderr

    send(daemon.smtp_port, make_message(subject="Printer on fire"))
    sink.wait_for(2)  # the autoresponse and Alice's alert

    def alert():
        return next((m for m in sink.parsed() if m["To"] == "alice@helpdesk.test"), None)

    notice = wait_until(alert, what="Alice's alert")
    send(daemon.smtp_port, agent_reply(notice, "Unplug it, please."),
         sender="alice@helpdesk.test", to=(notice["Reply-To"].addresses[0].addr_spec,))  # fmt: skip

    def response():
        return next((m for m in sink.parsed()
                     if "ada@customer.test" in m["To"] and m["X-Maild-Loop"]
                     and m.get_body(("plain",)) and "Unplug" in
                     m.get_body(("plain",)).get_content()), None)  # fmt: skip

    answer = wait_until(response, what="the response at the relay")
    assert answer["From"].addresses[0].display_name == "Alice Agent"
    assert "wrote:" not in answer.get_body(("plain",)).get_content()

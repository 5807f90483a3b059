"""The SLA sweep: after an outage every breached ticket is announced exactly once."""

from __future__ import annotations

import json
import re
import threading
from collections import Counter
from datetime import datetime, timedelta

import pytest

from maild.delivery import Deliverer
from maild.org import naive
from maild.sweep import sweep
from store import tickets as ticket_queries
from store.models import Entry, Outbound, Ticket, database

MANAGER = "boss@helpdesk.test"
ORG = {
    "schedule": [{"name": "office", "timezone": "Europe/Berlin",
                  **{day: ["09:00-17:00"] for day in
                     ("monday", "tuesday", "wednesday", "thursday", "friday")}}],
    "sla": [
        {"name": "fast", "schedule": "24x7", "resolution_hours": 2},
        {"name": "office", "schedule": "office", "resolution_hours": 4, "warning_minutes": 30},
        {"name": "slow", "schedule": "24x7", "resolution_hours": 48},
        {"name": "quiet", "schedule": "24x7", "resolution_hours": 1, "alerts": False},
    ],
    "department": [{"name": "Support", "manager": MANAGER}],
}  # fmt: skip
MONDAY_9_BERLIN = datetime(2026, 11, 23, 8, 0)  # naive UTC, as the store keeps time
OUTAGE_END = MONDAY_9_BERLIN + timedelta(hours=6)


def make_ticket(pipeline, n: int, plan: str, created: datetime, status: str = "open"):
    requester = ticket_queries.user_for(f"customer{n}@customer.test")
    clock = pipeline.org.clock(plan, created=created, history=[(created, status)],
                               first_response_at=None, now=created)  # fmt: skip
    return ticket_queries.create_ticket(
        number=f"{n:06d}", subject=f"Problem {n}", requester=requester, source="email",
        status=status, created=created, department="Support", sla=plan,
        due=naive(clock.resolution_due), first_response_due=naive(clock.first_response_due),
    )  # fmt: skip


@pytest.fixture
def pipeline(pipeline_for, db_url):
    return pipeline_for(db_url, **ORG)


def test_outage_then_one_alert_per_breached_ticket_and_none_on_the_next_sweep(pipeline, sink):
    expected = set()
    for n in range(1000):
        kind = n % 5
        if kind == 0:  # 24x7, 2 h: created over 5 hours; breached by the end of the outage
            created = MONDAY_9_BERLIN + timedelta(minutes=n % 300)
            make_ticket(pipeline, n, "fast", created)
            if created + timedelta(hours=2) <= OUTAGE_END:
                expected.add(f"{n:06d}")
        elif kind == 1:  # office hours, 4 h: due 13:00 Berlin if opened at 9:00, 16:00 if at 12:00
            created = MONDAY_9_BERLIN + timedelta(hours=3 * (n % 2))
            make_ticket(pipeline, n, "office", created)
            if n % 2 == 0:
                expected.add(f"{n:06d}")
        elif kind == 2:  # 48 h: not due yet
            make_ticket(pipeline, n, "slow", MONDAY_9_BERLIN)
        elif kind == 3:  # closed before it was due: never announced
            make_ticket(pipeline, n, "fast", MONDAY_9_BERLIN, status="closed")
        else:  # waiting on the customer: the clock is stopped
            make_ticket(pipeline, n, "fast", MONDAY_9_BERLIN, status="pending")

    result = sweep(pipeline, now=OUTAGE_END)
    deliverer = Deliverer(pipeline.config)
    while deliverer.deliver_due():
        pass
    deliverer.close()

    assert result.resolution == len(expected) > 200
    alerts = sink.wait_for(len(expected))
    numbers = Counter(re.search(r"\[#(\d+)\]", m["Subject"]).group(1) for m in alerts)
    assert set(numbers) == expected and set(numbers.values()) == {1}
    assert all(m["Auto-Submitted"] == "auto-generated" for m in alerts)
    assert {rcpt for _, rcpts, _ in sink.messages for rcpt in rcpts} == {MANAGER}

    again = sweep(pipeline, now=OUTAGE_END + timedelta(minutes=1))
    assert again.resolution == 0 and again.first_response == 0
    assert Outbound.select().count() == len(expected)


def test_two_sweepers_at_once_announce_each_breach_once(pipeline):
    """Two daemons sharing a database sweep at the same moment: every breach is claimed by
    exactly one of them, so each ticket gets one alert and one event."""
    for n in range(250):
        make_ticket(pipeline, n, "fast", MONDAY_9_BERLIN + timedelta(minutes=n % 60))
    start = threading.Barrier(2)
    results, errors = [], []

    def run():
        try:
            start.wait(timeout=10)
            results.append(sweep(pipeline, now=OUTAGE_END))
        except Exception as exc:  # reported below: a sweeper that failed is a failure
            errors.append(exc)
        finally:
            database.close()

    sweepers = [threading.Thread(target=run) for _ in range(2)]
    for thread in sweepers:
        thread.start()
    for thread in sweepers:
        thread.join(timeout=60)

    assert errors == []
    assert sum(r.resolution for r in results) == 250
    alerted = Counter(o.ticket_id for o in Outbound.select(Outbound.ticket))
    assert len(alerted) == 250 and set(alerted.values()) == {1}
    events = Entry.select().where(Entry.kind == "event", Entry.text.contains("missed"))
    assert Counter(e.ticket_id for e in events) == alerted


def test_alerts_are_composed_once_when_first_sent(pipeline, sink):
    """The sweep queues its alerts as drafts; the sender composes each with its own
    Message-ID, Reply-To signed for the agent and the ticket token, keeps the bytes, and
    sends exactly those."""
    from store.agents import add_agent

    add_agent("Alice Agent", ["alice@helpdesk.test"], "Support", "agent", {})
    ticket = make_ticket(pipeline, 7, "fast", MONDAY_9_BERLIN)
    assert sweep(pipeline, now=OUTAGE_END).resolution == 1
    queued = {row.recipients: row for row in Outbound.select()}
    assert set(queued) == {'["alice@helpdesk.test"]', f'["{MANAGER}"]'}
    assert all(bytes(r.raw) == b"" and r.message_id == "" and r.draft for r in queued.values())

    deliverer = Deliverer(pipeline.config)
    assert deliverer.deliver_due() == 2
    deliverer.close()

    mails = {m["To"].addresses[0].addr_spec: m for m in sink.wait_for(2)}
    alice = mails["alice@helpdesk.test"]
    assert alice["Subject"].startswith(f"[#{ticket.number}] Overdue: resolution")
    assert alice["Auto-Submitted"] == "auto-generated"
    assert pipeline.signer.ticket_of_message_id(alice["Message-ID"].strip("<>")) == ticket.number
    reply_to = alice["Reply-To"].split("<")[1].strip(">")
    replier = pipeline.signer.agent_of_reply_address(reply_to, frozenset({"support"}))
    assert replier is not None and replier[0] == ticket.number
    assert "Reply-To" not in mails[MANAGER]  # the manager is no agent: no reply address
    sent = {row.recipients: row for row in Outbound.select()}
    for recipients, row in sent.items():
        assert row.state == "sent" and row.draft == ""
        relayed = next(raw for _, rcpts, raw in sink.messages if json.dumps(rcpts) == recipients)
        assert bytes(row.raw) == relayed and f"<{row.message_id}>".encode() in relayed


def test_a_draft_that_cannot_be_composed_fails_with_its_reason(pipeline, sink):
    make_ticket(pipeline, 8, "fast", MONDAY_9_BERLIN)
    make_ticket(pipeline, 9, "fast", MONDAY_9_BERLIN)
    sweep(pipeline, now=OUTAGE_END)
    first = Outbound.select().order_by(Outbound.id).first()
    Outbound.update(draft=first.draft.replace("overdue_alert", "no_such_notice")).where(
        Outbound.id == first.id
    ).execute()

    deliverer = Deliverer(pipeline.config)
    deliverer.deliver_due()
    deliverer.close()

    failed = Outbound.get_by_id(first.id)
    assert failed.state == "failed"
    assert "cannot compose the message" in failed.last_error
    assert "no_such_notice" in failed.last_error
    assert len(sink.wait_for(1)) == 1  # the other ticket's alert still went out


def test_plan_with_alerts_off_is_marked_without_mail(pipeline):
    ticket = make_ticket(pipeline, 1, "quiet", MONDAY_9_BERLIN)
    result = sweep(pipeline, now=MONDAY_9_BERLIN + timedelta(hours=2))

    assert result.resolution == 1
    assert Ticket.get_by_id(ticket.id).overdue
    assert Outbound.select().count() == 0
    event = ticket_queries.thread(ticket)[-1]
    assert "alerts are off" in event.text


def test_warning_comes_once_and_only_in_business_hours(pipeline):
    # Opened Monday 16:00 Berlin: 4 business hours run out Tuesday 12:00 Berlin.
    ticket = make_ticket(pipeline, 2, "office", MONDAY_9_BERLIN + timedelta(hours=7))
    due = Ticket.get_by_id(ticket.id).due
    assert due == datetime(2026, 11, 24, 11, 0)

    assert sweep(pipeline, now=due - timedelta(minutes=45)).warnings == 0  # too early
    assert sweep(pipeline, now=due - timedelta(minutes=20)).warnings == 1
    assert sweep(pipeline, now=due - timedelta(minutes=10)).warnings == 0  # only once
    (warning,) = Outbound.select()
    assert warning.kind == "sla_warning"


def test_warning_waits_for_opening_time(pipeline):
    # Opened Monday 16:50 Berlin: due Tuesday 12:50; a 30-minute warning window never
    # falls at night, but an early-morning sweep before 09:00 must stay quiet.
    ticket = make_ticket(pipeline, 3, "office", datetime(2026, 11, 23, 15, 50))
    due = Ticket.get_by_id(ticket.id).due
    assert sweep(pipeline, now=datetime(2026, 11, 24, 7, 30)).warnings == 0  # 08:30 Berlin
    assert due == datetime(2026, 11, 24, 11, 50)


def test_reopening_starts_a_new_breach(pipeline):
    ticket = make_ticket(pipeline, 4, "fast", MONDAY_9_BERLIN)
    assert sweep(pipeline, now=MONDAY_9_BERLIN + timedelta(hours=3)).resolution == 1
    ticket_queries.set_due(Ticket.get_by_id(ticket.id), due=MONDAY_9_BERLIN + timedelta(hours=4),
                           first_response_due=None)  # fmt: skip

    assert sweep(pipeline, now=MONDAY_9_BERLIN + timedelta(hours=5)).resolution == 1


def test_sla_commands_sweep_at_a_given_time_and_explain(pipeline, sink):
    from tests.helpers import run_maild

    ticket = make_ticket(pipeline, 5, "office", MONDAY_9_BERLIN)
    config_path = pipeline.config.path

    explained = run_maild(config_path, "sla", "explain", ticket.number, text=True)
    assert explained.returncode == 0, explained.stderr
    assert "SLA plan 'office'" in explained.stdout
    assert "Mon 2026-11-23 09:00" in explained.stdout

    swept = run_maild(config_path, "sla", "sweep", "--now", "2026-11-23T14:00:00+00:00", text=True)
    assert swept.returncode == 0, swept.stderr
    assert "resolution overdue: 1" in swept.stdout
    assert Ticket.get_by_id(ticket.id).overdue

    bad = run_maild(config_path, "sla", "sweep", "--now", "yesterday", text=True)
    assert bad.returncode == 1 and "ISO 8601" in bad.stderr


def test_explain_shows_spans_pauses_and_the_due_time_line_by_line(pipeline):
    start = MONDAY_9_BERLIN
    history = [(start, "open"), (start + timedelta(hours=1), "pending"),
               (start + timedelta(hours=2), "open")]  # fmt: skip

    def explain(history, created=start, at=start + timedelta(hours=3)):
        return pipeline.org.explain("office", created=created, history=history,
                                    first_response_at=None, now=at)  # fmt: skip

    resumed = explain(history)
    still_paused = explain(history[:2])
    evening = start + timedelta(hours=6)
    overnight = explain([(evening, "open")], created=evening, at=evening)

    head = [
        "plan 'office', schedule 'office' (Europe/Berlin)",
        "created Mon 2026-11-23 09:00 CET (2026-11-23 08:00 UTC)",
        "now Mon 2026-11-23 12:00 CET (2026-11-23 11:00 UTC)",
    ]
    assert resumed == [
        *head,
        "pause: pending from Mon 2026-11-23 10:00 CET to Mon 2026-11-23 11:00 CET: "
        "60 business minutes",
        "paused in total: 60 business minutes",
        "first response: no target in plan 'office'",
        "resolution: 240 + 60 business minutes paused = 300 business minutes from created",
        "  Mon 2026-11-23 09:00 CET - 14:00 CET: 300 business minutes",
        "  due Mon 2026-11-23 14:00 CET (2026-11-23 13:00 UTC)",
    ]
    assert still_paused == [
        *head,
        "pause: pending from Mon 2026-11-23 10:00 CET to now (ongoing): 120 business minutes",
        "paused in total: 120 business minutes",
        "status 'pending' pauses the clock: no due time until it resumes",
        "resolution: 60 business minutes used, 180 business minutes left on resuming",
    ]
    assert overnight[-4:] == [
        "resolution: 240 + 0 business minutes paused = 240 business minutes from created",
        "  Mon 2026-11-23 15:00 CET - 17:00 CET: 120 business minutes",
        "  Tue 2026-11-24 09:00 CET - 11:00 CET: 120 business minutes",
        "  due Tue 2026-11-24 11:00 CET (2026-11-24 10:00 UTC)",
    ]
    assert pipeline.org.explain("nonexistent", created=start, history=[], first_response_at=None,
                                now=start) is None  # fmt: skip

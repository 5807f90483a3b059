"""The SLA sweep: announce each missed (or nearly missed) target exactly once.

Run by the daemon's scheduler (every `[processing] sweep_interval` seconds) and by
`maild sla sweep`. It reads only tickets that are due, so its cost follows the number of
due tickets, not of open ones. Each breach is claimed (`store.breaches`) in the same
transaction that queues its alert: two daemons sweeping together, or a sweep after hours
of downtime, still send one alert per ticket and target, never one per missed minute.
Alerts go to agents only (see `maild.recipients`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from maild.pipeline import Pipeline
from maild.recipients import agents_to_alert
from store import breaches, sql, tickets
from store.clock import now as utcnow
from store.db import transaction
from store.models import Ticket

__all__ = ["SweepResult", "sweep"]

CHUNK = 100


@dataclass(frozen=True, slots=True)
class SweepResult:
    first_response: int = 0
    resolution: int = 0
    warnings: int = 0


def sweep(pipeline: Pipeline, *, now: datetime | None = None) -> SweepResult:
    """Mark what is overdue at `now` (naive UTC; default: the clock) and queue the alerts."""
    now = now or utcnow()
    first, resolution = _breaches(pipeline, now)
    return SweepResult(first, resolution, _warnings(pipeline, now))


def _breaches(pipeline: Pipeline, now: datetime) -> tuple[int, int]:
    """Announce missed first-response and resolution targets, a chunk of each at a time,
    in one transaction per round (its alerts and events written together at its end)."""
    counts = dict.fromkeys(breaches.TARGETS, 0)
    cache: dict = {}
    final = list(pipeline.org.statuses.final)
    while True:
        full = False
        with transaction(), sql.deferred_inserts():
            for target in breaches.TARGETS:
                claimed = breaches.claim_due(target, now, final, CHUNK)
                for ticket in claimed:
                    _announce(pipeline, ticket, target, "overdue_alert", cache)
                counts[target] += len(claimed)
                full = full or len(claimed) == CHUNK
        if not full:
            return counts["first response"], counts["resolution"]


def _warnings(pipeline: Pipeline, now: datetime) -> int:
    plans = {p.name: p for p in pipeline.config.slas if p.alerts and p.warning_minutes}
    if not plans:
        return 0
    horizon = now + timedelta(minutes=max(p.warning_minutes for p in plans.values()))
    candidates = (
        Ticket.select()
        .where(
            (Ticket.warned == False)  # noqa: E712
            & (Ticket.due > now)
            & (Ticket.due <= horizon)
            & Ticket.status.not_in(list(pipeline.org.statuses.final))
            & Ticket.sla.in_(list(plans))
        )
        .order_by(Ticket.due)
    )
    ready = []
    for ticket in candidates:
        if ticket.due - now > timedelta(minutes=plans[ticket.sla].warning_minutes):
            continue
        # Outside business hours a warning would only wake people: wait for opening time.
        schedule = pipeline.org.plans[ticket.sla].schedule
        if schedule.is_open(now.replace(tzinfo=UTC)):
            ready.append(ticket)
    if not ready:
        return 0
    cache: dict = {}
    with transaction(), sql.deferred_inserts():
        claimed = breaches.claim(Ticket.warned, [t.id for t in ready])
        for ticket in ready:
            if ticket.id in claimed:
                _announce(pipeline, ticket, "resolution", "sla_warning", cache)
    return len(claimed)


def _announce(pipeline: Pipeline, ticket: Ticket, target: str, notice: str, cache: dict) -> None:
    due = ticket.first_response_due if target == "first response" else ticket.due
    due_text = f"{due:%Y-%m-%d %H:%M} UTC" if due else "-"
    what = "missed" if notice == "overdue_alert" else "is close to"
    if "plans" not in cache:
        cache["plans"] = {p.name: p for p in pipeline.config.slas}
    plan = cache["plans"].get(ticket.sla)
    note = f"SLA: {what} its {target} target (due {due_text})"
    if plan is not None and not plan.alerts:
        tickets.add_event(ticket, f"{note}; alerts are off for this plan")
        return
    breach = {"target": target, "due": due_text, "plan": ticket.sla or "-"}
    to = agents_to_alert(pipeline.config, ticket, cache=cache)
    # Queued as drafts: the sender composes them, so announcing a hundred breaches after
    # an outage costs the sweep's transaction rows, not rendering.
    sent = pipeline.notifier.alert(
        notice, ticket, to=to, extra={"breach": breach}, cache=cache, later=True
    )
    if sent:
        note += f"; alert sent to {', '.join(sent)}"
    else:
        note += "; nobody to alert (no assignee, team, department members or manager)"
    tickets.add_event(ticket, note)

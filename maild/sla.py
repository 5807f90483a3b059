"""The SLA clock: when a ticket's first response and resolution are due, and why.

The processing step computes the due times when a ticket is created, the scheduler's sweep
recomputes them, and ``maild sla explain NUMBER`` prints ``explain()``. Targets are counted
in business minutes of the plan's ``Schedule`` (see ``maild.sla_schedule``), starting at
``created``.

The clock stops while a ticket sits in one of the plan's ``pause_statuses`` and resumes where
it stopped: every business minute spent paused extends both due times by exactly that many
business minutes. A ticket whose latest status is final (resolved, closed) has nothing due.
When it is reopened the clock continues, and the business time it spent in a final status
counts as paused too, so a reopened ticket is not instantly overdue for the time it sat closed.

Pure: plain values in, a frozen ``Clock`` (aware UTC datetimes) or text lines out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from maild.sla_schedule import Closure, Schedule, ScheduleError, Span

__all__ = [
    "FINAL_STATUSES",
    "Clock",
    "Closure",
    "Plan",
    "Schedule",
    "ScheduleError",
    "Span",
    "StatusChange",
    "compute",
    "explain",
]

FINAL_STATUSES = frozenset({"resolved", "closed"})


@dataclass(frozen=True, slots=True)
class Plan:
    name: str
    schedule: Schedule
    first_response_minutes: int | None  # None: no first-response target
    resolution_minutes: int | None  # None: no resolution target
    pause_statuses: frozenset[str] = frozenset({"pending"})


@dataclass(frozen=True, slots=True)
class StatusChange:
    at: datetime  # aware
    status: str


@dataclass(frozen=True, slots=True)
class Clock:
    """Where a ticket's SLA clock stands at ``now``.

    ``paused`` is True only in a pause status; in a final status it is False and both due
    times are None. ``paused_minutes`` counts business minutes spent in pause *and* final
    statuses up to ``now`` (the current stretch included), i.e. by how much the due times
    have been, or will be on resuming, pushed back.
    """

    first_response_due: datetime | None  # None when met, no target, paused or final
    resolution_due: datetime | None  # None when no target, paused or final
    paused: bool
    paused_minutes: float  # business minutes spent paused so far


@dataclass(frozen=True, slots=True)
class _Pause:
    start: datetime
    end: datetime  # `now` while ongoing
    status: str
    ongoing: bool
    minutes: float  # business minutes in [start, end)


@dataclass(frozen=True, slots=True)
class _State:
    pauses: tuple[_Pause, ...]
    status: str | None  # latest status at `now`; None when the history says nothing yet
    paused: bool
    final: bool

    @property
    def paused_minutes(self) -> float:
        return sum(p.minutes for p in self.pauses)


def _aware(at: datetime, what: str) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{what} {at.isoformat()} is naive: SLA times must be time-zone aware")
    return at.astimezone(UTC)


def _state(
    plan: Plan,
    created: datetime,
    history: Sequence[StatusChange],
    now: datetime,
    final_statuses: frozenset[str],
) -> _State:
    """Replay the status history from `created` to `now`, collecting the paused stretches.

    Changes are taken in time order (ties keep their given order); changes before `created`
    set the status the ticket was created in, changes after `now` have not happened yet.
    """
    stopping = plan.pause_statuses | final_statuses
    changes = sorted(
        ((max(_aware(c.at, "status change"), created), c.status) for c in history),
        key=lambda change: change[0],
    )
    pauses: list[_Pause] = []
    status: str | None = None
    since = created
    for at, new in [*(c for c in changes if c[0] <= now), (now, None)]:
        if status in stopping and new != status:
            minutes = plan.schedule.between(since, at)
            pauses.append(_Pause(since, at, status, new is None, minutes))
        if new is None:
            break
        if new != status:
            status, since = new, at
    final = status in final_statuses
    return _State(tuple(pauses), status, status in plan.pause_statuses and not final, final)


def compute(
    plan: Plan,
    *,
    created: datetime,
    history: Sequence[StatusChange],
    first_response_at: datetime | None,
    now: datetime,
    final_statuses: frozenset[str] = FINAL_STATUSES,
) -> Clock:
    """The SLA clock of one ticket at `now` (see the module docstring for the rules)."""
    created, now = _aware(created, "created"), _aware(now, "now")
    state = _state(plan, created, history, now, final_statuses)
    paused = state.paused_minutes
    running = not (state.paused or state.final)

    def due(target: int | None) -> datetime | None:
        if target is None or not running:
            return None
        return plan.schedule.add(created, target + paused)

    return Clock(
        first_response_due=None
        if first_response_at is not None
        else due(plan.first_response_minutes),
        resolution_due=due(plan.resolution_minutes),
        paused=state.paused,
        paused_minutes=paused,
    )


# --- explain -----------------------------------------------------------------------------------


def _local(at: datetime, zone: ZoneInfo) -> str:
    return at.astimezone(zone).strftime("%a %Y-%m-%d %H:%M %Z")


def _both(at: datetime, zone: ZoneInfo) -> str:
    return f"{_local(at, zone)} ({at.astimezone(UTC):%Y-%m-%d %H:%M} UTC)"


def _piece(start: datetime, end: datetime, zone: ZoneInfo) -> str:
    a, b = start.astimezone(zone), end.astimezone(zone)
    tail = f"{b:%H:%M %Z}" if a.date() == b.date() else _local(end, zone)
    return f"{_local(start, zone)} - {tail}"


def _minutes(value: float) -> str:
    return f"{value:.1f} business minutes" if value % 1 else f"{value:.0f} business minutes"


def _closure_line(closure: Closure, zone: ZoneInfo) -> str:
    day = f"{closure.day:%a %Y-%m-%d}"
    if not closure.spans:
        return f"holiday skipped: {day} (closed all day)"
    spans = ", ".join(str(s) for s in closure.spans)
    return f"part-day closure skipped: {day} {spans} ({zone.key})"


def _target_lines(
    label: str, target: int | None, plan: Plan, created: datetime, paused: float, zone: ZoneInfo
) -> list[str]:
    if target is None:
        return [f"{label}: no target in plan {plan.name!r}"]
    total = target + paused
    lines = [f"{label}: {target} + {_minutes(paused)} paused = {_minutes(total)} from created"]
    for start, end in plan.schedule.spans_used(created, total):
        lines.append(f"  {_piece(start, end, zone)}: {_minutes(plan.schedule.between(start, end))}")
    lines.append(f"  due {_both(plan.schedule.add(created, total), zone)}")
    return lines


def explain(
    plan: Plan,
    *,
    created: datetime,
    history: Sequence[StatusChange],
    first_response_at: datetime | None,
    now: datetime,
    final_statuses: frozenset[str] = FINAL_STATUSES,
) -> list[str]:
    """How ``compute`` arrived at its due times, as lines for ``maild sla explain``.

    Names the plan and schedule, every paused stretch with its business minutes, the
    holidays and part-day closures skipped, the open spans each target used (local time with
    the zone's abbreviation) and the resulting due times.
    """
    created, now = _aware(created, "created"), _aware(now, "now")
    clock = compute(
        plan,
        created=created,
        history=history,
        first_response_at=first_response_at,
        now=now,
        final_statuses=final_statuses,
    )
    state = _state(plan, created, history, now, final_statuses)
    schedule = plan.schedule
    zone = ZoneInfo(schedule.timezone)
    lines = [
        f"plan {plan.name!r}, schedule {schedule.name!r} ({schedule.timezone})",
        f"created {_both(created, zone)}",
        f"now {_both(now, zone)}",
    ]
    for pause in state.pauses:
        kind = "pause" if pause.status in plan.pause_statuses else "stopped"
        note = "" if kind == "pause" else ", counted as paused"
        end = "now (ongoing)" if pause.ongoing else _local(pause.end, zone)
        lines.append(
            f"{kind}: {pause.status} from {_local(pause.start, zone)} to {end}{note}:"
            f" {_minutes(pause.minutes)}"
        )
    lines.append(f"paused in total: {_minutes(clock.paused_minutes)}")
    horizon = max([now, *(d for d in (clock.first_response_due, clock.resolution_due) if d)])
    lines += [_closure_line(c, zone) for c in schedule.closures_between(created, horizon)]
    if state.final:
        lines.append(f"status {state.status!r} is final: nothing is due")
        return lines
    if state.paused:
        lines.append(f"status {state.status!r} pauses the clock: no due time until it resumes")
    if first_response_at is not None:
        lines.append(f"first response: met at {_both(_aware(first_response_at, 'response'), zone)}")
    if not state.paused:
        if first_response_at is None:
            lines += _target_lines(
                "first response",
                plan.first_response_minutes,
                plan,
                created,
                state.paused_minutes,
                zone,
            )
        lines += _target_lines(
            "resolution", plan.resolution_minutes, plan, created, state.paused_minutes, zone
        )
        return lines
    used = schedule.between(created, now) - clock.paused_minutes
    targets = [("resolution", plan.resolution_minutes)]
    if first_response_at is None:
        targets.insert(0, ("first response", plan.first_response_minutes))
    for label, target in targets:
        if target is not None:
            left = target - used
            rest = f"{_minutes(left)} left" if left >= 0 else f"{_minutes(-left)} over target"
            lines.append(f"{label}: {_minutes(used)} used, {rest} on resuming")
    return lines

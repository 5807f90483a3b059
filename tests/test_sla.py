"""Behaviour of maild.sla: due times in business time, pauses, DST, holidays and explain()."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from maild.sla import (
    Clock,
    Closure,
    Plan,
    Schedule,
    ScheduleError,
    Span,
    StatusChange,
    compute,
    explain,
)

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
US = timedelta(microseconds=1)
NINE_TO_FIVE = (Span(9 * 60, 17 * 60),)
CLOSED: tuple[Span, ...] = ()


def office(timezone="Europe/Berlin", closures=(), name="office") -> Schedule:
    """Monday to Friday 09:00-17:00 local time."""
    return Schedule(name, timezone, (NINE_TO_FIVE,) * 5 + (CLOSED, CLOSED), tuple(closures))


def at(zone, *fields, fold=0) -> datetime:
    return datetime(*fields, tzinfo=zone, fold=fold)


def utc(*fields) -> datetime:
    return datetime(*fields, tzinfo=UTC)


def plan(schedule=None, first=60, resolution=480) -> Plan:
    return Plan("standard", schedule or office(), first, resolution)


def clock(p, created, history=(), first_response_at=None, now=None) -> Clock:
    return compute(
        p,
        created=created,
        history=history,
        first_response_at=first_response_at,
        now=now or created,
    )


# --- strategies --------------------------------------------------------------------------------

ZONES = [
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Australia/Lord_Howe",  # half-hour DST shift
    "America/Santiago",  # DST changes at local midnight
    "Asia/Kolkata",
    "Europe/Dublin",  # negative DST in the tz data
]
WINDOW_START = datetime(2026, 1, 1)
WINDOW_END = datetime(2026, 12, 31)


@st.composite
def day_spans(draw) -> tuple[Span, ...]:
    edges = sorted(draw(st.lists(st.integers(0, 1440), unique=True, max_size=6)))
    return tuple(Span(a, b) for a, b in zip(edges[::2], edges[1::2], strict=False))


@st.composite
def closures(draw) -> tuple[Closure, ...]:
    days = draw(st.lists(st.dates(date(2026, 1, 1), date(2026, 12, 31)), unique=True, max_size=40))
    return tuple(
        Closure(day, draw(st.sampled_from([(), *[(s,) for s in draw(day_spans())]])))
        for day in days
    )


@st.composite
def schedules(draw) -> Schedule:
    week = tuple(draw(day_spans()) for _ in range(7))
    if not any(week):
        week = (NINE_TO_FIVE, *week[1:])
    return Schedule("random", draw(st.sampled_from(ZONES)), week, draw(closures()))


instants = st.datetimes(WINDOW_START, WINDOW_END).map(lambda d: d.replace(tzinfo=UTC))
minutes = st.one_of(st.integers(1, 15_000), st.floats(0.01, 15_000))
PROPERTY = settings(deadline=None, max_examples=150)


# --- properties --------------------------------------------------------------------------------


@PROPERTY
@given(schedules(), instants, minutes)
def test_due_time_is_reached_inside_an_open_span_or_at_its_closing_edge(schedule, start, m):
    due = schedule.add(start, m)
    # The target is reached within (span start, span end]: the microsecond before it is open.
    assert schedule.is_open(due - US)
    assert schedule.is_open(due) or schedule.between(due - US, due + US) == pytest.approx(1e-6 / 60)
    assert due.tzinfo is UTC


@PROPERTY
@given(schedules(), instants, instants, minutes)
def test_due_time_is_monotone_in_the_start(schedule, s1, s2, m):
    s1, s2 = min(s1, s2), max(s1, s2)
    assert schedule.add(s1, m) <= schedule.add(s2, m)


@PROPERTY
@given(schedules(), instants, minutes)
def test_add_and_between_are_inverse(schedule, start, m):
    assert schedule.between(start, schedule.add(start, m)) == pytest.approx(m, abs=1e-6)


@PROPERTY
@given(schedules(), instants, instants, instants)
def test_between_is_additive_and_zero_backwards(schedule, a, b, c):
    a, b, c = sorted((a, b, c))
    assert schedule.between(a, b) + schedule.between(b, c) == pytest.approx(schedule.between(a, c))
    assert schedule.between(c, a) == 0 or a == c


@PROPERTY
@given(schedules(), instants)
def test_next_open_is_open_and_nothing_earlier_is(schedule, start):
    opens = schedule.next_open(start)
    assert schedule.is_open(opens)
    assert schedule.between(start, opens) == 0


@PROPERTY
@given(
    schedules(),
    instants,
    st.integers(1, 5_000),
    st.integers(0, 30 * 24 * 60),
    st.integers(0, 10 * 24 * 60),
)
def test_a_pause_moves_the_due_time_by_exactly_its_business_minutes(
    schedule, created, target, pause_offset, pause_length
):
    p = plan(schedule, first=target, resolution=target)
    enter = created + timedelta(minutes=pause_offset)
    leave = enter + timedelta(minutes=pause_length)
    now = leave + timedelta(minutes=1)
    history = [
        StatusChange(created, "open"),
        StatusChange(enter, "pending"),
        StatusChange(leave, "open"),
    ]
    plain = clock(p, created, [StatusChange(created, "open")], now=now)
    paused = clock(p, created, history, now=now)
    pause = schedule.between(enter, leave)
    assert paused.paused_minutes == pytest.approx(pause, abs=1e-6)
    assert not paused.paused
    for before, after in [
        (plain.resolution_due, paused.resolution_due),
        (plain.first_response_due, paused.first_response_due),
    ]:
        assert schedule.between(before, after) == pytest.approx(pause, abs=1e-6)


@PROPERTY
@given(st.sampled_from(ZONES), instants, minutes)
def test_a_24x7_schedule_is_wall_clock_arithmetic_in_any_zone(zone, start, m):
    always = Schedule.always(timezone=zone)
    assert always.add(start, m) == start + timedelta(minutes=m)
    end = start + timedelta(minutes=m)
    assert always.between(start, end) == pytest.approx((end - start) / timedelta(minutes=1))


@settings(deadline=None, max_examples=50)
@given(schedules(), st.datetimes(WINDOW_START, WINDOW_END), minutes)
def test_local_and_utc_inputs_give_the_same_answer(schedule, naive, m):
    local = naive.replace(tzinfo=ZoneInfo(schedule.timezone))
    assert schedule.add(local, m) == schedule.add(local.astimezone(UTC), m)
    assert schedule.is_open(local) == schedule.is_open(local.astimezone(UTC))


# --- weekends, evenings, the closing edge ------------------------------------------------------


def test_friday_evening_ticket_is_due_on_monday():
    friday_evening = at(BERLIN, 2026, 6, 5, 18, 30)
    assert office().add(friday_evening, 240) == at(BERLIN, 2026, 6, 8, 13, 0)


def test_weekend_ticket_starts_counting_on_monday_morning():
    saturday = at(BERLIN, 2026, 6, 6, 11, 0)
    assert not office().is_open(saturday)
    assert office().next_open(saturday) == at(BERLIN, 2026, 6, 8, 9, 0)
    assert office().add(saturday, 60) == at(BERLIN, 2026, 6, 8, 10, 0)


def test_target_reached_at_closing_time_is_due_at_closing_time_not_next_morning():
    assert office().add(at(BERLIN, 2026, 6, 5, 16, 0), 60) == at(BERLIN, 2026, 6, 5, 17, 0)
    assert not office().is_open(at(BERLIN, 2026, 6, 5, 17, 0))  # spans are half-open


def test_zero_minutes_is_the_start_itself():
    sunday = at(BERLIN, 2026, 6, 7, 12, 0)
    assert office().add(sunday, 0) == sunday
    assert office().spans_used(sunday, 0) == []


def test_forty_business_hours_is_one_working_week():
    monday = at(BERLIN, 2026, 6, 8, 9, 0)
    assert office().add(monday, 40 * 60) == at(BERLIN, 2026, 6, 12, 17, 0)
    assert office().between(monday, at(BERLIN, 2026, 6, 15, 9, 0)) == 40 * 60


def test_results_are_aware_utc():
    due = office().add(at(BERLIN, 2026, 6, 8, 9, 0), 30)
    assert due.tzinfo is UTC
    assert office().next_open(at(BERLIN, 2026, 6, 6, 9, 0)).tzinfo is UTC


@pytest.mark.parametrize("bad", [-1, float("nan"), float("inf")])
def test_negative_or_non_finite_minutes_are_refused(bad):
    with pytest.raises(ValueError):
        office().add(utc(2026, 6, 8, 9), bad)


def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError, match="naive"):
        office().add(datetime(2026, 6, 8, 9), 10)
    with pytest.raises(ValueError, match="naive"):
        clock(plan(), datetime(2026, 6, 8, 9))


# --- DST ---------------------------------------------------------------------------------------


def test_berlin_spring_forward_weekend_between_friday_and_monday():
    # Friday 2026-03-27 is CET (+01:00), Monday 2026-03-30 is CEST (+02:00).
    due = office().add(at(BERLIN, 2026, 3, 27, 16, 0), 120)
    assert due == at(BERLIN, 2026, 3, 30, 10, 0) == utc(2026, 3, 30, 8, 0)


def test_berlin_fall_back_weekend_between_friday_and_monday():
    due = office().add(at(BERLIN, 2026, 10, 23, 16, 0), 120)
    assert due == at(BERLIN, 2026, 10, 26, 10, 0) == utc(2026, 10, 26, 9, 0)


def test_new_york_office_across_both_transitions():
    ny = office("America/New_York")
    assert ny.add(at(NEW_YORK, 2026, 3, 6, 16, 0), 120) == utc(2026, 3, 9, 14, 0)  # EDT
    assert ny.add(at(NEW_YORK, 2026, 10, 30, 16, 0), 120) == utc(2026, 11, 2, 15, 0)  # EST


NIGHT_SHIFT = (Span(60, 300),)  # 01:00-05:00 every day, across the 02:00-03:00 change


@pytest.mark.parametrize(
    ("timezone", "day", "real_minutes"),
    [
        ("Europe/Berlin", date(2026, 3, 29), 180),
        ("Europe/Berlin", date(2026, 10, 25), 300),
        ("America/New_York", date(2026, 3, 8), 180),
        ("America/New_York", date(2026, 11, 1), 300),
        ("Europe/Berlin", date(2026, 3, 28), 240),
    ],
)
def test_a_span_across_the_change_has_its_real_length(timezone, day, real_minutes):
    zone = ZoneInfo(timezone)
    schedule = Schedule("nights", timezone, (NIGHT_SHIFT,) * 7)
    midnight = datetime(day.year, day.month, day.day, tzinfo=zone)
    noon = midnight + timedelta(hours=12)
    assert schedule.between(midnight, noon) == real_minutes
    [(start, end)] = schedule.spans_used(midnight, real_minutes)
    assert end - start == timedelta(minutes=real_minutes)


def test_span_starting_in_the_spring_forward_gap_opens_at_the_first_existing_instant():
    schedule = Schedule("late", "Europe/Berlin", ((Span(150, 240),),) * 7)  # 02:30-04:00
    sunday = at(BERLIN, 2026, 3, 29, 0, 0)
    assert schedule.next_open(sunday) == at(BERLIN, 2026, 3, 29, 3, 0) == utc(2026, 3, 29, 1, 0)
    assert schedule.between(sunday, sunday + timedelta(hours=12)) == 60


def test_span_wholly_inside_the_gap_is_closed_that_day():
    schedule = Schedule("gap", "America/New_York", ((Span(125, 175),),) * 7)  # 02:05-02:55
    sunday = at(NEW_YORK, 2026, 3, 8, 0, 0)
    assert schedule.between(sunday, sunday + timedelta(hours=12)) == 0
    assert schedule.next_open(sunday) == at(NEW_YORK, 2026, 3, 9, 2, 5)


def test_span_ending_in_the_fall_back_overlap_ends_at_its_first_occurrence():
    schedule = Schedule("early", "Europe/Berlin", ((Span(60, 150),),) * 7)  # 01:00-02:30
    first = at(BERLIN, 2026, 10, 25, 2, 15, fold=0)  # 00:15 UTC, CEST
    second = at(BERLIN, 2026, 10, 25, 2, 15, fold=1)  # 01:15 UTC, CET
    assert schedule.is_open(first)
    assert not schedule.is_open(second)
    assert schedule.add(at(BERLIN, 2026, 10, 25, 0, 0), 90) == utc(2026, 10, 25, 0, 30)


@pytest.mark.parametrize(
    ("timezone", "day", "hours"),
    [
        ("Europe/Berlin", date(2026, 3, 29), 23),
        ("Europe/Berlin", date(2026, 10, 25), 25),
        ("America/New_York", date(2026, 3, 8), 23),
        ("America/New_York", date(2026, 11, 1), 25),
    ],
)
def test_24x7_in_a_local_zone_counts_real_time_across_the_change(timezone, day, hours):
    zone = ZoneInfo(timezone)
    always = Schedule.always(timezone=timezone)
    midnight = datetime(day.year, day.month, day.day, tzinfo=zone)
    next_midnight = datetime.combine(day + timedelta(days=1), midnight.timetz())
    assert always.between(midnight, next_midnight) == hours * 60
    # Aware arithmetic in one zone is wall-clock arithmetic; elapsed time needs UTC.
    assert always.add(midnight, 24 * 60) == midnight.astimezone(UTC) + timedelta(hours=24)
    assert always.add(midnight, hours * 60) == next_midnight


# --- holidays and part-day closures ------------------------------------------------------------

CHRISTMAS = (
    Closure(date(2026, 12, 24), (Span(12 * 60, 17 * 60),)),
    Closure(date(2026, 12, 25)),
    Closure(date(2026, 12, 26)),
)


def test_part_day_closure_leaves_the_morning_open():
    schedule = office(closures=CHRISTMAS)
    eve = at(BERLIN, 2026, 12, 24, 0, 0)
    assert schedule.between(eve, eve + timedelta(days=1)) == 180
    assert schedule.is_open(at(BERLIN, 2026, 12, 24, 11, 59))
    assert not schedule.is_open(at(BERLIN, 2026, 12, 24, 12, 0))


def test_christmas_eve_ticket_skips_the_holidays_and_the_weekend():
    schedule = office(closures=CHRISTMAS)
    due = schedule.add(at(BERLIN, 2026, 12, 24, 11, 0), 120)
    assert due == at(BERLIN, 2026, 12, 28, 10, 0)


def test_whole_day_holiday_on_a_weekday():
    schedule = office(closures=[Closure(date(2026, 5, 1))])  # a Friday
    assert schedule.add(at(BERLIN, 2026, 4, 30, 16, 0), 120) == at(BERLIN, 2026, 5, 4, 10, 0)
    assert not schedule.is_open(at(BERLIN, 2026, 5, 1, 10, 0))


def test_closures_between_names_only_the_closures_that_took_business_hours():
    schedule = office(closures=[*CHRISTMAS, Closure(date(2026, 12, 27)), Closure(date(2027, 1, 1))])
    found = schedule.closures_between(at(BERLIN, 2026, 12, 20), at(BERLIN, 2026, 12, 31))
    assert [c.day for c in found] == [date(2026, 12, 24), date(2026, 12, 25)]  # 26, 27 weekend


# --- the clock: pauses, final statuses, reopening ----------------------------------------------

MONDAY_9 = at(BERLIN, 2026, 6, 8, 9, 0)


def test_new_ticket_gets_both_due_times():
    result = clock(plan(), MONDAY_9)
    assert result == Clock(
        first_response_due=at(BERLIN, 2026, 6, 8, 10, 0),
        resolution_due=at(BERLIN, 2026, 6, 8, 17, 0),
        paused=False,
        paused_minutes=0,
    )
    assert result.resolution_due.tzinfo is UTC


def test_first_response_due_disappears_once_answered():
    result = clock(plan(), MONDAY_9, first_response_at=MONDAY_9 + timedelta(minutes=5))
    assert result.first_response_due is None
    assert result.resolution_due == at(BERLIN, 2026, 6, 8, 17, 0)


def test_plan_without_targets_has_no_due_times():
    result = clock(plan(first=None, resolution=None), MONDAY_9)
    assert (result.first_response_due, result.resolution_due) == (None, None)


def test_while_paused_nothing_is_due_and_the_paused_minutes_keep_counting():
    history = [StatusChange(MONDAY_9 + timedelta(hours=2), "pending")]
    result = clock(plan(), MONDAY_9, history, now=MONDAY_9 + timedelta(hours=3))
    assert result == Clock(None, None, paused=True, paused_minutes=60)


def test_resuming_continues_where_the_clock_stopped():
    history = [
        StatusChange(MONDAY_9 + timedelta(hours=2), "pending"),
        StatusChange(MONDAY_9 + timedelta(days=1, hours=2), "open"),  # Tuesday 11:00
    ]
    result = clock(plan(), MONDAY_9, history, now=MONDAY_9 + timedelta(days=1, hours=3))
    assert result.paused_minutes == 8 * 60  # Monday 11-17 and Tuesday 9-11
    assert result.resolution_due == at(BERLIN, 2026, 6, 9, 17, 0)
    assert not result.paused


def test_final_status_has_nothing_due():
    history = [StatusChange(MONDAY_9 + timedelta(hours=1), "resolved")]
    result = clock(plan(), MONDAY_9, history, now=MONDAY_9 + timedelta(hours=4))
    assert result == Clock(None, None, paused=False, paused_minutes=180)


def test_reopened_ticket_counts_the_closed_time_as_paused():
    history = [
        StatusChange(MONDAY_9 + timedelta(hours=1), "closed"),
        StatusChange(MONDAY_9 + timedelta(days=7), "open"),  # reopened a week later
    ]
    result = clock(
        plan(), MONDAY_9, history, first_response_at=MONDAY_9, now=MONDAY_9 + timedelta(days=7)
    )
    assert result.paused_minutes == 5 * 8 * 60 - 60
    assert result.resolution_due == at(BERLIN, 2026, 6, 15, 16, 0)  # 7 hours of target left


def test_custom_pause_and_final_statuses():
    p = Plan("vendor", office(), None, 480, frozenset({"waiting-on-vendor"}))
    history = [StatusChange(MONDAY_9 + timedelta(hours=1), "waiting-on-vendor")]
    assert compute(
        p,
        created=MONDAY_9,
        history=history,
        first_response_at=None,
        now=MONDAY_9 + timedelta(hours=2),
    ).paused
    done = [StatusChange(MONDAY_9 + timedelta(hours=1), "done")]
    result = compute(
        p,
        created=MONDAY_9,
        history=done,
        first_response_at=None,
        now=MONDAY_9 + timedelta(hours=2),
        final_statuses=frozenset({"done"}),
    )
    assert result.resolution_due is None


def test_history_is_replayed_in_time_order_and_future_changes_are_ignored():
    history = [
        StatusChange(MONDAY_9 + timedelta(hours=3), "open"),
        StatusChange(MONDAY_9 + timedelta(hours=1), "pending"),
        StatusChange(MONDAY_9 + timedelta(hours=9), "pending"),  # after now
    ]
    result = clock(plan(), MONDAY_9, history, now=MONDAY_9 + timedelta(hours=4))
    assert (result.paused, result.paused_minutes) == (False, 120)


def test_ticket_created_in_a_pause_status_is_paused_from_creation():
    history = [StatusChange(MONDAY_9 - timedelta(minutes=1), "pending")]
    result = clock(plan(), MONDAY_9, history, now=MONDAY_9 + timedelta(hours=1))
    assert (result.paused, result.paused_minutes) == (True, 60)


def test_pause_over_a_weekend_costs_no_business_minutes():
    friday_17 = at(BERLIN, 2026, 6, 12, 17, 0)
    history = [
        StatusChange(friday_17, "pending"),
        StatusChange(friday_17 + timedelta(days=2, hours=12), "open"),  # Monday 05:00
    ]
    result = clock(plan(), MONDAY_9, history, now=friday_17 + timedelta(days=3))
    assert result.paused_minutes == 0


# --- explain -----------------------------------------------------------------------------------


def test_explain_names_the_spans_the_pause_the_holiday_and_the_due_times():
    schedule = office(closures=CHRISTMAS)
    created = at(BERLIN, 2026, 12, 23, 15, 0)
    history = [
        StatusChange(created + timedelta(minutes=30), "pending"),
        StatusChange(created + timedelta(hours=1, minutes=15), "open"),
    ]
    lines = explain(
        plan(schedule, first=60, resolution=480),
        created=created,
        history=history,
        first_response_at=None,
        now=created + timedelta(hours=2),
    )
    text = "\n".join(lines)
    assert "plan 'standard', schedule 'office' (Europe/Berlin)" in text
    assert "pause: pending from Wed 2026-12-23 15:30 CET to Wed 2026-12-23 16:15 CET" in text
    assert ": 45 business minutes" in text
    assert "Wed 2026-12-23 15:00 CET - 17:00 CET: 120 business minutes" in text
    assert "part-day closure skipped: Thu 2026-12-24 12:00-17:00" in text
    assert "holiday skipped: Fri 2026-12-25 (closed all day)" in text
    assert "Thu 2026-12-24 09:00 CET - 12:00 CET: 180 business minutes" in text
    assert "Mon 2026-12-28 09:00 CET - 12:45 CET: 225 business minutes" in text
    result = clock(plan(schedule), created, history, now=created + timedelta(hours=2))
    assert f"due {result.resolution_due.astimezone(BERLIN):%a %Y-%m-%d %H:%M %Z}" in text
    assert "due Wed 2026-12-23 16:45 CET (2026-12-23 15:45 UTC)" in text  # first response


def test_explain_while_paused_shows_what_is_left():
    history = [StatusChange(MONDAY_9 + timedelta(hours=2), "pending")]
    lines = explain(
        plan(),
        created=MONDAY_9,
        history=history,
        first_response_at=None,
        now=MONDAY_9 + timedelta(hours=3),
    )
    assert "status 'pending' pauses the clock: no due time until it resumes" in lines
    assert "resolution: 120 business minutes used, 360 business minutes left on resuming" in lines
    assert (
        "first response: 120 business minutes used, 60 business minutes over target on resuming"
        in lines
    )
    assert any("now (ongoing)" in line for line in lines)


def test_explain_final_and_reopened_tickets():
    closed = [StatusChange(MONDAY_9 + timedelta(hours=1), "closed")]
    lines = explain(
        plan(),
        created=MONDAY_9,
        history=closed,
        first_response_at=MONDAY_9,
        now=MONDAY_9 + timedelta(hours=2),
    )
    assert "status 'closed' is final: nothing is due" in lines
    reopened = [*closed, StatusChange(MONDAY_9 + timedelta(hours=2), "open")]
    lines = explain(
        plan(),
        created=MONDAY_9,
        history=reopened,
        first_response_at=MONDAY_9,
        now=MONDAY_9 + timedelta(hours=3),
    )
    assert any(
        line.startswith("stopped: closed from") and "counted as paused" in line for line in lines
    )
    assert any(line.startswith("first response: met at") for line in lines)


# --- problems ----------------------------------------------------------------------------------


def test_a_valid_schedule_has_no_problems():
    assert office(closures=CHRISTMAS).problems() == []
    assert Schedule.always().problems() == []


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        (Schedule("eu", "Mars/Olympus", (NINE_TO_FIVE,) * 7), "unknown time zone 'Mars/Olympus'"),
        (Schedule("eu", "", (NINE_TO_FIVE,) * 7), "unknown time zone ''"),
        (
            Schedule("eu", "UTC", ((Span(540, 720), Span(700, 1020)),) + (NINE_TO_FIVE,) * 6),
            "Monday: spans 09:00-12:00 and 11:40-17:00 overlap",
        ),
        (
            Schedule(
                "eu", "UTC", (NINE_TO_FIVE,) * 2 + ((Span(1020, 540),),) + (NINE_TO_FIVE,) * 4
            ),
            "Wednesday: span 17:00-09:00 starts at or after its end",
        ),
        (
            Schedule("eu", "UTC", (NINE_TO_FIVE,) * 6 + ((Span(1200, 1500),),)),
            "Sunday: span 20:00-25:00 is out of range",
        ),
        (Schedule("eu", "UTC", (NINE_TO_FIVE,) * 5), "week has 5 days"),
        (Schedule("eu", "UTC", (CLOSED,) * 7), "never open"),
        (
            office(
                closures=[
                    Closure(date(2026, 12, 24), (Span(720, 900),)),
                    Closure(date(2026, 12, 24), (Span(840, 1020),)),
                ],
                name="eu",
            ),
            "closure 2026-12-24: spans 12:00-15:00 and 14:00-17:00 overlap",
        ),
        (
            office(closures=[Closure(date(2026, 12, 25)), Closure(date(2026, 12, 25))], name="eu"),
            "closure 2026-12-25: closed all day but listed 2 times",
        ),
    ],
)
def test_problems_name_the_schedule_and_the_day(schedule, expected):
    problems = schedule.problems()
    assert any(p.startswith("schedule 'eu': ") and expected in p for p in problems), problems
    with pytest.raises(ScheduleError) as raised:
        schedule.add(utc(2026, 6, 8, 9), 10)
    assert raised.value.problems == problems

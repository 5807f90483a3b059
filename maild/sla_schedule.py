"""Business hours: which instants count towards an SLA target, and how many minutes lie between.

A ``Schedule`` is a week of local opening hours in one IANA time zone, minus holidays and
part-day closures. Every local span is placed on the time line per local date with
``zoneinfo``: a boundary in a spring-forward gap moves to the first instant that exists after
it, an ambiguous boundary in a fall-back overlap takes its first occurrence (``fold=0``), and a
business minute is a real elapsed minute inside an open span (so 01:00-05:00 on a
spring-forward night is three hours long). Open spans are half-open, ``[start, end)``.

Pure: plain values in, aware UTC datetimes out, no I/O beyond the stdlib reading tz data.
Each schedule's per-date spans are memoised, so walking many days is cheap.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

__all__ = ["Closure", "Schedule", "ScheduleError", "Span"]

_DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
_MAX_CACHED_DAYS = 20_000


class ScheduleError(ValueError):
    """A schedule was used that ``Schedule.problems()`` would reject; ``problems`` lists why."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


@dataclass(frozen=True, slots=True)
class Span:
    """Business hours within one local day, in minutes since local midnight."""

    start: int  # 0..1439
    end: int  # start < end <= 1440 (1440 = midnight at the end of the day)

    def __str__(self) -> str:
        return f"{_hhmm(self.start)}-{_hhmm(self.end)}"


@dataclass(frozen=True, slots=True)
class Closure:
    """A holiday: closed the whole day (``spans=()``) or during these local spans."""

    day: date
    spans: tuple[Span, ...] = ()


@dataclass(frozen=True, slots=True)
class Schedule:
    """Weekly business hours in one time zone, minus closures; validate with ``problems()``."""

    name: str
    timezone: str  # IANA name, e.g. "Europe/Berlin"
    week: tuple[tuple[Span, ...], ...]  # 7 entries, Monday..Sunday; spans sorted, non-overlapping
    closures: tuple[Closure, ...] = ()

    @classmethod
    def always(cls, name: str = "24x7", timezone: str = "UTC") -> Schedule:
        """Open around the clock: business minutes are wall-clock minutes."""
        return cls(name, timezone, ((Span(0, 1440),),) * 7)

    def problems(self) -> list[str]:
        """Everything wrong with this schedule, one message each, naming schedule and day."""
        return _problems(self)

    def is_open(self, at: datetime) -> bool:
        """Whether `at` (aware, any zone) lies inside an open span."""
        return _calendar(self).is_open(_to_us(at))

    def next_open(self, at: datetime) -> datetime:
        """`at` itself when open, else the start of the next open span (aware UTC)."""
        return _from_us(_calendar(self).next_open(_to_us(at)))

    def add(self, start: datetime, minutes: float) -> datetime:
        """The earliest instant by which `minutes` business minutes have passed since `start`.

        For ``minutes > 0`` the result lies in an open span or exactly at its closing edge
        (``start < result <= end``), never at the opening of the next one; ``add(s, 0) == s``.
        """
        return _from_us(_calendar(self).add(_to_us(start), _minutes_to_us(minutes)))

    def between(self, a: datetime, b: datetime) -> float:
        """Business minutes in ``[a, b)``; 0 when ``b <= a``."""
        return _calendar(self).between(_to_us(a), _to_us(b)) / 60_000_000

    def spans_used(self, start: datetime, minutes: float) -> list[tuple[datetime, datetime]]:
        """The pieces of open time ``add(start, minutes)`` consumed, in order (aware UTC)."""
        pieces = _calendar(self).consume(_to_us(start), _minutes_to_us(minutes))
        return [(_from_us(s), _from_us(e)) for s, e in pieces]

    def closures_between(self, a: datetime, b: datetime) -> list[Closure]:
        """Closures on the local dates from `a` to `b` that took away weekly business hours."""
        cal = _calendar(self)
        first, last = cal.local_date(_to_us(a)), cal.local_date(_to_us(b))
        return [
            c
            for c in sorted(self.closures, key=lambda c: c.day)
            if first <= c.day <= last and cal.closure_matters(c.day)
        ]


# --- validation ------------------------------------------------------------------------------


def _hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}" if isinstance(minute, int) else repr(minute)


def _span_problems(spans: tuple[Span, ...], where: str) -> list[str]:
    found = []
    for span in spans:
        start, end = span.start, span.end
        if not (type(start) is int and type(end) is int):
            found.append(f"{where}: span {start!r}-{end!r} must be whole minutes")
        elif not (0 <= start <= 1439 and 1 <= end <= 1440):
            found.append(f"{where}: span {span} is out of range (00:00-24:00)")
        elif start >= end:
            found.append(f"{where}: span {span} starts at or after its end")
    if found:
        return found
    ordered = sorted(spans, key=lambda s: s.start)
    for before, after in itertools.pairwise(ordered):
        if after.start < before.end:
            found.append(f"{where}: spans {before} and {after} overlap")
    return found


def _problems(schedule: Schedule) -> list[str]:
    head = f"schedule {schedule.name!r}"
    found = []
    try:
        ZoneInfo(schedule.timezone)
    except (KeyError, ValueError, TypeError, OSError):
        found.append(f"{head}: unknown time zone {schedule.timezone!r}")
    if len(schedule.week) != 7:
        found.append(f"{head}: week has {len(schedule.week)} days, expected 7 (Monday..Sunday)")
    else:
        for name, spans in zip(_DAY_NAMES, schedule.week, strict=True):
            found += _span_problems(tuple(spans), f"{head}: {name}")
        if not any(schedule.week):
            found.append(f"{head}: never open (no business hours on any day of the week)")
    by_day: dict[date, list[Closure]] = {}
    for closure in schedule.closures:
        by_day.setdefault(closure.day, []).append(closure)
    for day, closures in sorted(by_day.items()):
        where = f"{head}: closure {day.isoformat()}"
        if len(closures) > 1 and not all(c.spans for c in closures):
            found.append(f"{where}: closed all day but listed {len(closures)} times")
            continue
        found += _span_problems(tuple(s for c in closures for s in c.spans), where)
    return found


# --- the calendar: a schedule placed on the UTC time line, in integer microseconds ----------


def _to_us(at: datetime) -> int:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"naive datetime {at.isoformat()}: SLA times must be time-zone aware")
    return (at - _EPOCH) // _US


def _from_us(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def _minutes_to_us(minutes: float) -> int:
    if not minutes >= 0 or minutes == float("inf"):
        raise ValueError(f"business minutes must be a finite number >= 0, not {minutes!r}")
    return timedelta(minutes=minutes) // _US


def _local_to_us(zone: ZoneInfo, naive: datetime) -> int:
    """The instant of a local wall time: gaps move forward to their end, overlaps take fold=0."""
    us = _to_us(naive.replace(tzinfo=zone))
    if _from_us(us).astimezone(zone).replace(tzinfo=None) == naive:
        return us
    # In a gap: fold=1 reads the time with the offset after the jump, landing before the
    # transition; fold=0 lands after it. The transition is the first instant showing a
    # local time later than `naive`.
    other = _to_us(naive.replace(tzinfo=zone, fold=1))
    lo, hi = min(us, other), max(us, other)
    while lo < hi:
        mid = (lo + hi) // 2
        if _from_us(mid).astimezone(zone).replace(tzinfo=None) > naive:
            hi = mid
        else:
            lo = mid + 1
    return lo


def _subtract(spans: list[tuple[int, int]], holes: list[tuple[int, int]]) -> list[tuple[int, int]]:
    for h_start, h_end in holes:
        spans = [
            piece
            for s, e in spans
            for piece in ((s, min(e, h_start)), (max(s, h_end), e))
            if piece[0] < piece[1]
        ]
    return spans


class _Calendar:
    """One valid schedule with its per-date open intervals memoised as UTC microseconds."""

    __slots__ = ("closed", "days", "week", "zone")

    def __init__(self, schedule: Schedule) -> None:
        problems = schedule.problems()
        if problems:
            raise ScheduleError(problems)
        self.zone = ZoneInfo(schedule.timezone)
        self.week = [sorted((s.start, s.end) for s in spans) for spans in schedule.week]
        # date -> closed local spans; None means closed all day.
        self.closed: dict[date, list[tuple[int, int]] | None] = {}
        for closure in schedule.closures:
            known = self.closed.get(closure.day, [])
            if known is None:
                continue  # already closed all day
            spans = [(s.start, s.end) for s in closure.spans]
            self.closed[closure.day] = sorted(known + spans) if spans else None
        self.days: dict[date, tuple[tuple[int, int], ...]] = {}

    def local_date(self, us: int) -> date:
        return _from_us(us).astimezone(self.zone).date()

    def local_spans(self, day: date) -> list[tuple[int, int]]:
        spans = self.week[day.weekday()]
        if day in self.closed:
            holes = self.closed[day]
            spans = [] if holes is None else _subtract(spans, holes)
        return spans

    def closure_matters(self, day: date) -> bool:
        return day in self.closed and self.local_spans(day) != self.week[day.weekday()]

    def day(self, day: date) -> tuple[tuple[int, int], ...]:
        """Open intervals of one local date, merged where they touch."""
        found = self.days.get(day)
        if found is not None:
            return found
        midnight = datetime.combine(day, time())
        merged: list[tuple[int, int]] = []
        for start, end in self.local_spans(day):
            s = _local_to_us(self.zone, midnight + timedelta(minutes=start))
            e = _local_to_us(self.zone, midnight + timedelta(minutes=end))
            if s >= e:
                continue  # wholly inside a spring-forward gap
            if merged and merged[-1][1] == s:
                merged[-1] = (merged[-1][0], e)
            else:
                merged.append((s, e))
        if len(self.days) >= _MAX_CACHED_DAYS:
            self.days.clear()
        self.days[day] = found = tuple(merged)
        return found

    def intervals(self, since: int) -> Iterator[tuple[int, int]]:
        """Every open interval ending after `since`, clipped to start no earlier, forever."""
        day = self.local_date(since) - timedelta(days=1)  # a local date can start before `since`
        one = timedelta(days=1)
        idle = 0
        while True:
            found = self.day(day)
            day += one
            idle = 0 if found else idle + 1
            if idle > 3660:
                raise ScheduleError([f"no business hours within ten years after {day}"])
            for s, e in found:
                if e > since:
                    yield max(s, since), e

    def is_open(self, at: int) -> bool:
        day = self.local_date(at)
        for d in (day - timedelta(days=1), day, day + timedelta(days=1)):
            found = self.day(d)
            i = bisect.bisect_right(found, (at, float("inf"))) - 1
            if i >= 0 and found[i][0] <= at < found[i][1]:
                return True
        return False

    def next_open(self, at: int) -> int:
        return next(self.intervals(at))[0]

    def add(self, start: int, amount: int) -> int:
        pieces = self.consume(start, amount)
        return pieces[-1][1] if pieces else start

    def between(self, a: int, b: int) -> int:
        total = 0
        if b <= a:
            return total
        for s, e in self.intervals(a):
            if s >= b:
                break
            total += min(e, b) - s
        return total

    def consume(self, start: int, amount: int) -> list[tuple[int, int]]:
        pieces: list[tuple[int, int]] = []
        if amount == 0:
            return pieces
        for s, e in self.intervals(start):
            take = min(e - s, amount)
            pieces.append((s, s + take))
            amount -= take
            if amount == 0:
                return pieces
        raise AssertionError("unreachable: intervals() never ends")


_CALENDARS: dict[int, tuple[Schedule, _Calendar]] = {}
_MAX_CALENDARS = 64


def _calendar(schedule: Schedule) -> _Calendar:
    """The memoised calendar of `schedule`, looked up by identity (no hashing of its closures).

    The cache holds the schedule itself, so an id is never reused while its entry lives.
    """
    entry = _CALENDARS.get(id(schedule))
    if entry is not None and entry[0] is schedule:
        return entry[1]
    calendar = _Calendar(schedule)
    if len(_CALENDARS) >= _MAX_CALENDARS:
        _CALENDARS.pop(next(iter(_CALENDARS), None), None)  # the oldest; tolerant of threads
    _CALENDARS[id(schedule)] = (schedule, calendar)
    return calendar

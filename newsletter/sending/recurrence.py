"""Recurring newsletters: a cron expression read as wall-clock time in the marketer's timezone.

Occurrences are computed on the local wall clock (a naive calendar with no daylight-saving jumps)
and only then placed on the real timeline, so a change of clocks neither skips nor doubles one:
- spring forward (Europe/Berlin 2026-03-29 02:00 -> 03:00): an occurrence at 02:30, a time that
  does not exist that day, goes out at 03:30 local (the same instant as 02:30 before the jump);
- fall back (2026-10-25 03:00 -> 02:00): 02:30 happens twice; the occurrence goes out once, at
  the first 02:30 (fold=0).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class RecurrenceError(ValueError):
    """The cron expression or timezone is not valid."""


def timezone(name: str) -> ZoneInfo:
    """The named IANA timezone, or RecurrenceError."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise RecurrenceError(f"unknown timezone {name!r}") from None


WEEKDAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def cron_weekdays(field: str) -> str:
    """Cron's numeric weekdays (0 or 7 = Sunday) as names: APScheduler 3 counts from Monday.

    >>> cron_weekdays("1-5")
    'mon,tue,wed,thu,fri'
    >>> cron_weekdays("0,6")
    'sun,sat'
    """
    if field == "*" or not any(ch.isdigit() for ch in field):
        return field
    days: list[str] = []
    for part in field.split(","):
        span, _, step = part.partition("/")
        if span == "*":
            first, last = 0, 6
        elif "-" in span:
            first, last = (int(x) for x in span.split("-", 1))
        else:
            first = last = int(span)
        if not (0 <= first <= 7 and 0 <= last <= 7 and first <= last):
            raise ValueError(f"weekday out of range in {field!r}")
        for number in range(first, last + 1, int(step or 1)):
            if WEEKDAYS[number] not in days:
                days.append(WEEKDAYS[number])
    return ",".join(days)


def wall_clock_trigger(cron: str) -> CronTrigger:
    """A trigger over the naive local calendar (computed in UTC, which never changes clocks)."""
    fields = cron.split()
    if len(fields) != 5:
        raise RecurrenceError("a cron expression has five fields: minute hour day month weekday")
    try:
        return CronTrigger(minute=fields[0], hour=fields[1], day=fields[2], month=fields[3],
                           day_of_week=cron_weekdays(fields[4]), timezone=UTC, start_date=EPOCH)
    except ValueError as exc:
        raise RecurrenceError(f"invalid cron expression {cron!r}: {exc}") from None


def validate(cron: str, tz_name: str) -> None:
    """Raise RecurrenceError unless both the expression and the timezone are usable."""
    timezone(tz_name)
    wall_clock_trigger(cron)


def next_occurrence(cron: str, tz_name: str, after: datetime) -> datetime | None:
    """The first occurrence strictly after `after` (aware), as an aware UTC datetime."""
    tz = timezone(tz_name)
    trigger = wall_clock_trigger(cron)
    wall_after = after.astimezone(tz).replace(tzinfo=UTC)  # the local wall clock, as if UTC
    wall_next = trigger.get_next_fire_time(None, wall_after + timedelta(microseconds=1))
    if wall_next is None:
        return None
    # fold=0: an ambiguous time is its first instance; a missing one lands after the jump.
    local = wall_next.replace(tzinfo=tz, fold=0)
    return local.astimezone(UTC)


def local_to_utc(local: datetime, tz_name: str) -> datetime:
    """A naive time as the marketer entered it, in their timezone, as aware UTC."""
    try:
        return local.replace(tzinfo=timezone(tz_name), fold=0).astimezone(UTC)
    except OverflowError:
        raise RecurrenceError("that time is out of range") from None


def utc_to_local(moment: datetime, tz_name: str) -> datetime:
    """An aware UTC time on the marketer's wall clock (naive)."""
    return moment.astimezone(timezone(tz_name)).replace(tzinfo=None)


def describe(cron: str) -> str:
    """A cron expression in words, for people who do not read cron (cron-descriptor).

    >>> describe("0 9 * * 1")
    'At 09:00, only on Monday'
    """
    from cron_descriptor import ExpressionDescriptor, Options

    options = Options()
    options.use_24hour_time_format = True
    try:
        return ExpressionDescriptor(cron, options).get_description()
    except Exception:  # noqa: BLE001 - an odd expression is still shown, as written
        return cron

"""Warm windows: when an environment is kept warm whatever its traffic (pure logic, no I/O).

A window is written in one of two forms, each with an IANA time zone:

- ``"Mon-Fri 08:30-19:00 Europe/Paris"``: days (``Mon``..``Sun``, ranges and commas, or ``daily``)
  and a start and end time of day (the end may be ``24:00``; a window does not cross midnight);
- ``"cron(30 8 ? * MON-FRI *) for 10h30m Europe/Paris"``: an EventBridge Scheduler cron
  expression whose minute and hour are single values and whose days are days of the week, and how
  long the window lasts.

Both become a :class:`WarmWindow` (days, local start time, length, zone). From it come the
EventBridge Scheduler expression that wakes the service ``lead`` minutes before the window (so that
a task is healthy when it opens), the keep-warm lease the wake asks for (the lead plus the window)
and, for ``status`` and the twin, the window under way or the next one.

Skip dates (``warm_schedule_skip``: public holidays, a team day out) are ISO dates on which no window
opens. A date is read in each window's own zone: ``2026-12-25`` skips the opening of a Europe/Paris
window on Christmas day in Paris. EventBridge Scheduler's cron cannot leave out dates, so the
schedule still fires on them; the dates travel in its event and the Lambda takes no lease when the
opening falls on one (:func:`warm_window_skipped`). A ``warmkeeper keepalive`` is not a window: it
works on a skipped date as on any other.

Times of day are wall-clock times in the window's zone: a window at 08:30 Europe/Paris opens at
08:30 Paris time in winter and in summer (EventBridge Scheduler evaluates the expression in
``ScheduleExpressionTimezone``). The zone names come from the standard library's ``zoneinfo``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from warmkeeper.core.errors import WarmkeeperError

DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_CRON_DAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")
# EventBridge cron day-of-week numbers: 1 is Sunday, 7 is Saturday.
_CRON_DAY_NUMBERS = {1: 6, 2: 0, 3: 1, 4: 2, 5: 3, 6: 4, 7: 5}
MINUTES_PER_DAY = 24 * 60
# The keep-warm event a warm schedule sends the Lambda: {"warmkeeper": "warm-window", "minutes": N}.
WARM_WINDOW_EVENT = "warm-window"
# Assumed: how late EventBridge Scheduler may deliver an invocation set for a minute (it documents
# at-least-once delivery and retries, not a latency); one minute, on top of the wake itself.
SCHEDULER_DELIVERY_SECONDS = 60.0

_WINDOW = re.compile(r"^(?P<days>\S+)\s+(?P<start>\d{1,2}:\d{2})-(?P<end>\d{1,2}:\d{2})\s+(?P<zone>\S+)$")
_CRON = re.compile(r"^cron\((?P<fields>[^)]*)\)\s+for\s+(?P<length>\S+)\s+(?P<zone>\S+)$", re.IGNORECASE)
_LENGTH = re.compile(r"^(?:(?P<hours>\d+)h)?(?:(?P<minutes>\d+)m)?$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# Our bound, not AWS's: the dates travel in every schedule's input (the stored EventBridge Scheduler
# reference gives no maximum for a target's Input); 100 dates keep it under 2 KB and cover years of
# holidays.
MAX_SKIP_DATES = 100


class ScheduleError(WarmkeeperError, ValueError):
    """A warm window that cannot be read: the message quotes it and says what is wrong."""


@dataclass(frozen=True)
class WarmWindow:
    """One recurring window: on ``days`` (0 = Monday), from ``start`` local time, for ``minutes``."""

    text: str
    days: frozenset[int]
    start: time
    minutes: int
    zone: str

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.zone)

    def opening_on(self, day: date) -> tuple[datetime, datetime]:
        """This window's start and end (UTC) on ``day`` of its zone (whether or not it runs that day)."""
        start = datetime.combine(day, self.start, tzinfo=self.tz).astimezone(UTC)
        return start, start + timedelta(minutes=self.minutes)

    def describe_days(self) -> str:
        return ",".join(DAY_NAMES[day] for day in sorted(self.days))


@dataclass(frozen=True)
class WindowOccurrence:
    window: WarmWindow
    start: datetime  # UTC
    end: datetime  # UTC

    def contains(self, now: datetime) -> bool:
        return self.start <= now < self.end

    def local(self) -> str:
        """``Mon 08:30-19:00 Europe/Paris``: how people read it."""
        tz = self.window.tz
        start, end = self.start.astimezone(tz), self.end.astimezone(tz)
        end_text = "24:00" if end.time() == time(0) and end.date() > start.date() else f"{end:%H:%M}"
        return f"{DAY_NAMES[start.weekday()]} {start:%Y-%m-%d %H:%M}-{end_text} {self.window.zone}"


def _zone(text: str, name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(
            f"{text!r}: unknown time zone {name!r} (use an IANA name such as Europe/Paris)"
        ) from None
    return name


def _time_of_day(text: str, value: str) -> int:
    hours, _, minutes = value.partition(":")
    hour, minute = int(hours), int(minutes)
    if minute > 59 or hour > 24 or (hour == 24 and minute != 0):
        raise ScheduleError(f"{text!r}: {value!r} is not a time of day (00:00 to 24:00)")
    return hour * 60 + minute


def _day(text: str, token: str, names: Sequence[str]) -> int:
    for index, name in enumerate(names):
        if token.lower() == name.lower():
            return index
    raise ScheduleError(f"{text!r}: {token!r} is not a day (use {', '.join(names)})")


def _days(text: str, spec: str, names: Sequence[str]) -> frozenset[int]:
    if spec.lower() in ("daily", "*"):
        return frozenset(range(7))
    days: set[int] = set()
    for part in spec.split(","):
        first, dash, last = part.partition("-")
        if not first or (dash and not last):
            raise ScheduleError(f"{text!r}: {spec!r} is not a list of days such as Mon-Fri or Mon,Wed")
        begin = _day(text, first, names)
        end = _day(text, last, names) if dash else begin
        if end < begin:
            raise ScheduleError(f"{text!r}: the day range {part!r} runs backwards (write it from Mon to Sun)")
        days.update(range(begin, end + 1))
    return frozenset(days)


def _cron_days(text: str, spec: str) -> frozenset[int]:
    if spec in ("*", "?"):
        return frozenset(range(7))
    if spec.replace(",", "").replace("-", "").isdigit():
        days: set[int] = set()
        for part in spec.split(","):
            first, _, last = part.partition("-")
            numbers = range(int(first), int(last or first) + 1)
            if not numbers or any(number not in _CRON_DAY_NUMBERS for number in numbers):
                raise ScheduleError(f"{text!r}: day of week {part!r} must be 1 (Sunday) to 7 (Saturday)")
            days.update(_CRON_DAY_NUMBERS[number] for number in numbers)
        return frozenset(days)
    return _days(text, spec, _CRON_DAYS)


def _parse_cron(text: str, match: re.Match[str]) -> WarmWindow:
    fields = match["fields"].split()
    if len(fields) != 6:
        raise ScheduleError(f"{text!r}: a cron expression has 6 fields (minute hour day month weekday year)")
    minute, hour, day_of_month, month, weekday, year = fields
    if not (minute.isdigit() and hour.isdigit()) or int(minute) > 59 or int(hour) > 23:
        raise ScheduleError(f"{text!r}: the window's minute and hour must be single values (0-59, 0-23)")
    if day_of_month != "?" or month != "*" or year != "*":
        raise ScheduleError(
            f"{text!r}: only day-of-week crons are supported: write `? * <days> *` "
            "(day of month ?, month *, year *)"
        )
    length = _LENGTH.match(match["length"])
    if not length or not (length["hours"] or length["minutes"]):
        raise ScheduleError(
            f"{text!r}: the window's length {match['length']!r} is not like 10h30m, 2h or 45m"
        )
    minutes = int(length["hours"] or 0) * 60 + int(length["minutes"] or 0)
    return _window(
        text, _cron_days(text, weekday), int(hour) * 60 + int(minute), minutes, _zone(text, match["zone"])
    )


def _window(text: str, days: frozenset[int], start: int, minutes: int, zone: str) -> WarmWindow:
    if minutes < 1:
        raise ScheduleError(f"{text!r}: the window must last at least a minute")
    if start + minutes > MINUTES_PER_DAY:
        raise ScheduleError(f"{text!r}: a window must end by midnight (split it into two windows)")
    return WarmWindow(text, days, time(start // 60, start % 60), minutes, zone)


def parse_window(text: str) -> WarmWindow:
    """Read one window (either form); :class:`ScheduleError` says what is wrong."""
    if not isinstance(text, str) or not text.strip():
        raise ScheduleError(
            "a warm window must be a non-empty string such as 'Mon-Fri 08:30-19:00 Europe/Paris'"
        )
    text = " ".join(text.split())
    cron = _CRON.match(text)
    if cron:
        return _parse_cron(text, cron)
    if text.lower().startswith("cron("):
        raise ScheduleError(
            f"{text!r}: write a cron window as 'cron(30 8 ? * MON-FRI *) for 10h30m Europe/Paris'"
        )
    match = _WINDOW.match(text)
    if not match:
        raise ScheduleError(
            f"{text!r}: not a warm window; write 'Mon-Fri 08:30-19:00 Europe/Paris' "
            "or 'cron(30 8 ? * MON-FRI *) for 10h30m Europe/Paris'"
        )
    start = _time_of_day(text, match["start"])
    end = _time_of_day(text, match["end"])
    if end <= start:
        raise ScheduleError(f"{text!r}: the end {match['end']} must be after the start {match['start']}")
    return _window(
        text, _days(text, match["days"], DAY_NAMES), start, end - start, _zone(text, match["zone"])
    )


def parse_windows(texts: Iterable[str]) -> tuple[WarmWindow, ...]:
    return tuple(parse_window(text) for text in texts)


def parse_skip_dates(texts: Iterable[str]) -> frozenset[date]:
    """Read the skip dates (``YYYY-MM-DD``); :class:`ScheduleError` quotes the entry that is wrong."""
    dates: set[date] = set()
    for index, text in enumerate(texts):
        if not isinstance(text, str) or not _ISO_DATE.match(text.strip()):
            raise ScheduleError(f"entry {index} ({text!r}) is not a date: write YYYY-MM-DD, e.g. 2026-12-25")
        try:
            dates.add(date.fromisoformat(text.strip()))
        except ValueError:
            raise ScheduleError(f"entry {index} ({text!r}) is not a day of the calendar") from None
    if len(dates) > MAX_SKIP_DATES:
        raise ScheduleError(f"{len(dates)} dates: at most {MAX_SKIP_DATES} (drop the dates already past)")
    return frozenset(dates)


def opens_on(window: WarmWindow, day: date, skip: frozenset[date] = frozenset()) -> bool:
    """Whether ``window`` opens on ``day`` of its zone: one of its days, and not a skipped date."""
    return day.weekday() in window.days and day not in skip


def _occurrences_around(
    window: WarmWindow, now: datetime, days_after: int, skip: frozenset[date] = frozenset()
) -> list[WindowOccurrence]:
    today = now.astimezone(window.tz).date()
    found = []
    for offset in range(-1, days_after + 1):
        day = today + timedelta(days=offset)
        if opens_on(window, day, skip):
            start, end = window.opening_on(day)
            found.append(WindowOccurrence(window, start, end))
    return found


def window_at(
    windows: Sequence[WarmWindow], now: datetime, skip: frozenset[date] = frozenset()
) -> WindowOccurrence | None:
    """The window under way at ``now`` (the one ending last when several overlap), else None; a
    window does not open on a date of ``skip``."""
    current = [
        occurrence
        for window in windows
        for occurrence in _occurrences_around(window, now, 0, skip)
        if occurrence.contains(now)
    ]
    return max(current, key=lambda occurrence: occurrence.end, default=None)


def next_window(
    windows: Sequence[WarmWindow], now: datetime, skip: frozenset[date] = frozenset()
) -> WindowOccurrence | None:
    """The window under way at ``now``, else the next one to open, passing over the dates of ``skip``
    (None without any window)."""
    current = window_at(windows, now, skip)
    if current is not None:
        return current
    # A window opens at least once a week; each skipped date can put its next opening a week later.
    days_after = 8 + 7 * len(skip)
    upcoming = [
        occurrence
        for window in windows
        for occurrence in _occurrences_around(window, now, days_after, skip)
        if occurrence.start > now
    ]
    return min(upcoming, key=lambda occurrence: occurrence.start, default=None)


def wake_lead_minutes(
    wake_estimate_seconds: float,
    delivery_seconds: float = SCHEDULER_DELIVERY_SECONDS,
    routing_seconds: float = 0.0,
) -> int:
    """Whole minutes before a window to ask for the wake: the modelled wake, the delivery delay and
    the time until the traffic is routed to the healthy task (the scheduler's resolution is a minute)."""
    return max(1, math.ceil((wake_estimate_seconds + delivery_seconds + routing_seconds) / 60.0))


# On AWS the Lambda's keep-warm invocation scales up and returns; the once-a-minute reconcile routes
# the traffic to the task once it is healthy. Without that minute, 39 first visitors in 100 simulated
# mornings got the waiting page although the task was healthy (src/warmkeeper_sim/schedule_scenario.py).
AWS_RECONCILE_SECONDS = 60.0
# The lead on AWS: the Lambda's modelled wake (aws/engine.py, DEFAULT_WAKE_ESTIMATE_SECONDS, 60 s), the
# delivery allowance and the reconcile. The cost model prices it; a test keeps it equal to infra's.
AWS_WAKE_LEAD_MINUTES = wake_lead_minutes(60.0, routing_seconds=AWS_RECONCILE_SECONDS)


def keep_warm_until(
    windows: Sequence[WarmWindow], now: datetime, lead_minutes: int, skip: frozenset[date] = frozenset()
) -> datetime | None:
    """When a schedule-held service may sleep again: the end of the window under way, or of the one
    that opens within ``lead_minutes`` (it must be healthy at its start); else None. Nothing holds
    the service on a skipped date."""
    soon = now + timedelta(minutes=lead_minutes)
    ends = [
        occurrence.end
        for window in windows
        for occurrence in _occurrences_around(window, now, 1, skip)
        if occurrence.start <= soon and now < occurrence.end
    ]
    return max(ends, default=None)


@dataclass(frozen=True)
class SchedulerTrigger:
    """What an EventBridge Scheduler schedule needs for one window."""

    expression: str  # cron(...) in the window's zone
    timezone: str
    lease_minutes: int  # the keep-warm lease the invocation asks for: lead + window


def scheduler_trigger(window: WarmWindow, lead_minutes: int) -> SchedulerTrigger:
    """The cron expression firing ``lead_minutes`` before each opening, with the keep-warm lease."""
    start = window.start.hour * 60 + window.start.minute - lead_minutes
    days = window.days
    if start < 0:  # the wake falls on the evening before
        start += MINUTES_PER_DAY
        days = frozenset((day - 1) % 7 for day in days)
    names = ",".join(_CRON_DAYS[day] for day in sorted(days))
    if days == frozenset(range(7)):
        names = "*"
    return SchedulerTrigger(
        expression=f"cron({start % 60} {start // 60} ? * {names} *)",
        timezone=window.zone,
        lease_minutes=window.minutes + lead_minutes,
    )


def warm_window_event(window: WarmWindow, lead_minutes: int, skip: Iterable[date] = ()) -> dict[str, object]:
    """What a schedule sends the Lambda for ``window``: the lease covers the lead and the window;
    ``skip`` (when there are dates) lists the dates on which the window does not open."""
    event: dict[str, object] = {
        "warmkeeper": WARM_WINDOW_EVENT,
        "window": window.text,
        "minutes": scheduler_trigger(window, lead_minutes).lease_minutes,
    }
    dates = sorted(skip)
    if dates:
        event["skip"] = [day.isoformat() for day in dates]
    return event


def warm_window_lease(event: object) -> int | None:
    """The lease (minutes) a warm schedule's event asks for; None when the event is not one.

    Raises :class:`ScheduleError` for an event that says it is one but carries no usable length."""
    if not isinstance(event, dict) or event.get("warmkeeper") != WARM_WINDOW_EVENT:
        return None
    minutes = event.get("minutes")
    if isinstance(minutes, bool) or not isinstance(minutes, int) or not 1 <= minutes <= 2 * MINUTES_PER_DAY:
        raise ScheduleError(f"warm-window event: minutes must be a whole number 1 to 2880, got {minutes!r}")
    return minutes


def warm_window_skipped(event: object, now: datetime) -> date | None:
    """The skipped date when the opening a warm schedule's event is for falls on one, else None.

    The event fires ``lead`` minutes before its opening and may be retried a few minutes after it:
    the opening is the window's occurrence that starts nearest to ``now`` (a window opens at most
    once a day, so the lead and the retries, minutes long, cannot reach another day's), and its date
    (in the window's zone) is checked, not the date the event arrived on (a wake before a 00:02
    window fires the evening before). An event without ``skip`` (a schedule deployed before skip dates
    existed, or without any) skips nothing. Raises :class:`ScheduleError` when the event's window or
    dates cannot be read."""
    if not isinstance(event, dict) or "skip" not in event:
        return None
    raw = event["skip"]
    if not isinstance(raw, list):
        raise ScheduleError(f"warm-window event: skip must be a list of dates, got {raw!r}")
    try:
        skip = parse_skip_dates(raw)
        window = parse_window(event.get("window", ""))  # parse_window refuses a non-string
    except ScheduleError as exc:
        raise ScheduleError(f"warm-window event: {exc}") from None
    occurrence = min(
        _occurrences_around(window, now, 1),
        key=lambda candidate: abs((candidate.start - now).total_seconds()),
        default=None,
    )
    if occurrence is None:
        return None
    day = occurrence.start.astimezone(window.tz).date()
    return day if day in skip else None


def _skipped_per_month(window: WarmWindow, skip: frozenset[date]) -> float:
    """Openings of ``window`` the skip dates remove in an average month: the dates on one of its days,
    spread over the calendar years they fall in (one year's holidays come off that year's months)."""
    if not skip:
        return 0.0
    years = len({day.year for day in skip})
    return sum(1 for day in skip if day.weekday() in window.days) / (12.0 * years)


def _openings_per_month(window: WarmWindow, days_per_month: float, skip: frozenset[date]) -> float:
    # Never below zero: a year of skipped Mondays may exceed an average month's share of them.
    return max(0.0, len(window.days) / 7.0 * days_per_month - _skipped_per_month(window, skip))


def openings_per_month(
    windows: Sequence[WarmWindow], days_per_month: float, skip: frozenset[date] = frozenset()
) -> float:
    """How many times a month the windows open (an average month, skipped dates taken off)."""
    return sum(_openings_per_month(window, days_per_month, skip) for window in windows)


def warm_hours_per_month(
    windows: Sequence[WarmWindow],
    days_per_month: float = 365.0 / 12.0,
    skip: frozenset[date] = frozenset(),
) -> float:
    """Hours a month inside the windows (overlaps counted once per window; an average month), less
    the windows the skip dates keep closed."""
    return sum(
        _openings_per_month(window, days_per_month, skip) * window.minutes / 60.0 for window in windows
    )

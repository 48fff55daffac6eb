"""Weekly calling windows, time zones and public-holiday calendars.

All window arithmetic happens in the callee's (or the site's) wall-clock time through
``zoneinfo``, and every comparison between instants is made in UTC: two aware datetimes
that share a ``ZoneInfo`` compare by wall time in Python, which is wrong across a
daylight-saving change.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

from cellcall.errors import ValidationError
from cellcall.i18n import _

_HHMM = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")
MINUTES_PER_DAY = 24 * 60


@cache
def zone(name: str) -> ZoneInfo:
    """A ``ZoneInfo`` by name (cached); ``ValidationError`` for an unknown name."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(_("Unknown time zone '{zone}'.").format(zone=name)) from None


def is_known_zone(name: str) -> bool:
    try:
        zone(name)
    except ValidationError:
        return False
    return True


def parse_hhmm(text: str) -> int:
    """``'14:30'`` → minutes after midnight; ``'24:00'`` is the end of the day."""
    match = _HHMM.match(text.strip()) if isinstance(text, str) else None
    if not match:
        raise ValidationError(_("'{text}' is not a time of day (HH:MM).").format(text=text))
    minutes = int(match.group(1)) * 60 + int(match.group(2))
    if minutes > MINUTES_PER_DAY:
        raise ValidationError(_("'{text}' is not a time of day (HH:MM).").format(text=text))
    return minutes


@dataclass(frozen=True)
class WeeklyWindows:
    """Allowed weekdays (Monday = 0) and time ranges ``[start, end)`` in minutes."""

    days: frozenset[int]
    ranges: tuple[tuple[int, int], ...]

    @classmethod
    def parse(cls, days: Any, ranges: Any) -> WeeklyWindows:
        if not isinstance(days, list | tuple) or not all(
                isinstance(d, int) and not isinstance(d, bool) and 0 <= d <= 6 for d in days):
            raise ValidationError(_("Calling days must be a list of numbers from 0 (Monday) "
                                    "to 6 (Sunday)."))
        if not isinstance(ranges, list | tuple) or not all(
                isinstance(r, list | tuple) and len(r) == 2 for r in ranges):
            raise ValidationError(_("Calling hours must be a list of [\"HH:MM\", \"HH:MM\"] "
                                    "pairs."))
        parsed = sorted((parse_hhmm(start), parse_hhmm(end)) for start, end in ranges)
        for (start, end), following in zip(parsed, [*parsed[1:], None], strict=True):
            if start >= end:
                raise ValidationError(_("A calling-hours range must end after it starts."))
            if following is not None and following[0] < end:
                raise ValidationError(_("Calling-hours ranges must not overlap."))
        return cls(frozenset(days), tuple(parsed))

    @classmethod
    def from_json(cls, value: Any) -> WeeklyWindows:
        """A campaign's ``working_hours``: ``{"days": [...], "ranges": [[..], ..]}``."""
        if not isinstance(value, dict):
            raise ValidationError(_("Calling hours must be a table with days and ranges."))
        return cls.parse(value.get("days"), value.get("ranges"))

    def closed_why(self, local: datetime) -> str | None:
        """None when ``local`` (a wall-clock time) is inside a window, else why not:
        ``'day'`` (not a calling day), ``'early'``, ``'break'`` (between two ranges) or
        ``'late'``."""
        if local.weekday() not in self.days or not self.ranges:
            return "day"
        second = local.hour * 3600 + local.minute * 60 + local.second
        for start, end in self.ranges:
            if start * 60 <= second < end * 60:
                return None
        if second < self.ranges[0][0] * 60:
            return "early"
        if second >= self.ranges[-1][1] * 60:
            return "late"
        return "break"

    def next_open(self, local: datetime) -> datetime | None:
        """The first window start strictly after ``local``, as a UTC instant."""
        if not self.days or not self.ranges:
            return None
        tz = local.tzinfo
        after = local.astimezone(UTC)
        for offset in range(8):
            day = local.date() + timedelta(days=offset)
            if day.weekday() not in self.days:
                continue
            for start, _end in self.ranges:
                candidate = datetime(day.year, day.month, day.day, start // 60, start % 60,
                                     tzinfo=tz).astimezone(UTC)
                if candidate > after:
                    return candidate
        return None


ALL_DAYS = frozenset(range(7))


def next_local_midnight(local: datetime) -> datetime:
    """The start of the next calendar day in ``local``'s zone, as a UTC instant."""
    day = local.date() + timedelta(days=1)
    return datetime(day.year, day.month, day.day, tzinfo=local.tzinfo).astimezone(UTC)


@cache
def holiday_calendar(key: str) -> holidays.HolidayBase:
    """``'FR'`` or ``'FR-971'`` (country, then the ``holidays`` subdivision code)."""
    country, _sep, subdiv = key.partition("-")
    try:
        return holidays.country_holidays(country, subdiv=subdiv or None)
    except (NotImplementedError, KeyError):
        raise ValidationError(
            _("Unknown public-holiday calendar '{key}'.").format(key=key)) from None


def holiday_name(key: str, day: date) -> str | None:
    name = holiday_calendar(key).get(day)
    return str(name) if name is not None else None

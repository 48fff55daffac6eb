"""The kinds of calling rule: one small class per kind, each with its ``check``.

A rule looks at a ``Situation`` (the callee, the campaign, what the database knows about
the number) at an instant ``at`` and returns None when it allows the call, or a
``Failure``: why not (translated) and the earliest instant it would allow it (None: not
by waiting, for example a number on a do-not-call list). ``at`` may lie in the future:
the search for the next callable time evaluates the same rules at later instants, so a
rule must not read the clock itself.

To add a kind: write its class with ``KIND``, ``from_table`` and ``check``, and add it to
``KINDS``. The rules file (``data/calling_rules.toml``) says which rules apply to whom.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, ClassVar

from babel.dates import format_date, get_day_names

from cellcall.errors import ValidationError
from cellcall.i18n import _, current_language
from cellcall.services.calling_rules.hours import (
    WeeklyWindows,
    holiday_calendar,
    holiday_name,
    next_local_midnight,
    zone,
)


# --- what the rules look at ---------------------------------------------------------------
@dataclass(frozen=True)
class Callee:
    # A rule that reads a field other than region, zones, has_contract and whether the
    # consent is recorded must be added to ``check.sharing_key``.
    contact_id: int
    phone_e164: str
    region: str | None              # phonenumbers region of the number (FR, GP, BE, ...)
    zones: tuple[str, ...]          # every candidate time zone of the number
    consent_at: datetime | None
    consent_source: str | None
    has_contract: bool


@dataclass(frozen=True)
class CampaignTerms:
    id: int
    type: str
    audience: str
    hours: WeeklyWindows | None     # None: the campaign's hours are unreadable (closed)
    ignore_calling_hours: bool


@dataclass(frozen=True)
class NumberFacts:
    """What the database knows about one number, across all campaigns."""

    dnc_sources: frozenset[str] = frozenset()
    # claimed_at of attempts that count against caps, recent ones only, ascending.
    counted_attempts: tuple[datetime, ...] = ()
    # (when, disposition) of recent refusals on the number.
    refusals: tuple[tuple[datetime, str], ...] = ()


@dataclass(frozen=True)
class Situation:
    callee: Callee
    campaign: CampaignTerms
    facts: NumberFacts
    # Newest import per do-not-call list source (None: never imported).
    list_imports: Mapping[str, datetime | None]
    site_zone: str
    site_hours: WeeklyWindows


@dataclass(frozen=True)
class Failure:
    rule: str                       # the rule's name in the rules file
    reason: str                     # translated, lower-case: it follows a colon
    next_at: datetime | None


# --- who a rule covers ---------------------------------------------------------------------
@dataclass(frozen=True)
class Scope:
    """Empty means everyone; otherwise the number's region, the campaign's audience and
    type must each be listed."""

    regions: frozenset[str] = frozenset()
    audiences: frozenset[str] = frozenset()
    campaign_types: frozenset[str] = frozenset()

    def covers(self, s: Situation) -> bool:
        # A number whose region is unknown is covered by every regional rule (fail closed).
        if self.regions and s.callee.region is not None and s.callee.region not in self.regions:
            return False
        if self.audiences and s.campaign.audience not in self.audiences:
            return False
        return not (self.campaign_types and s.campaign.type not in self.campaign_types)


# --- reading a rule's table -------------------------------------------------------------------
def _take(table: dict[str, Any], key: str, kind: type, where: str, default: Any = None) -> Any:
    if key not in table:
        if default is None:
            raise ValidationError(_("Calling rule '{rule}' needs '{key}'.").format(
                rule=where, key=key))
        return default
    value = table.pop(key)
    ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
    if not ok:
        raise ValidationError(_("Calling rule '{rule}': '{key}' has the wrong type.").format(
            rule=where, key=key))
    return value


def _positive(value: int, key: str, where: str) -> int:
    if value <= 0:
        raise ValidationError(_("Calling rule '{rule}': '{key}' must be positive.").format(
            rule=where, key=key))
    return value


@dataclass(frozen=True)
class Rule:
    KIND: ClassVar[str] = ""
    # Time-of-day rules are skipped for demo campaigns (ignore_calling_hours); the others
    # (do-not-call, caps, consent) never are.
    TIME_BASED: ClassVar[bool] = False

    name: str
    scope: Scope

    @classmethod
    def from_table(cls, name: str, scope: Scope, table: dict[str, Any]) -> Rule:
        return cls(name, scope)

    def applies(self, s: Situation) -> bool:
        if self.TIME_BASED and s.campaign.ignore_calling_hours:
            return False
        return self.scope.covers(s)

    def check(self, s: Situation, at: datetime) -> Failure | None:
        raise NotImplementedError

    def fail(self, reason: str, next_at: datetime | None) -> Failure:
        return Failure(self.name, reason, next_at)


def _windows_failure(rule: Rule, windows: WeeklyWindows, zones: tuple[str, ...],
                     at: datetime, reasons: Mapping[str, str]) -> Failure | None:
    """Every zone must be inside the windows; the next time is the latest of the zones'
    next openings (the caller checks again then, since zones may close meanwhile)."""
    first_why: str | None = None
    first_local: datetime | None = None
    latest: datetime | None = None
    for name in zones:
        local = at.astimezone(zone(name))
        why = windows.closed_why(local)
        if why is None:
            continue
        opening = windows.next_open(local)
        if opening is None:
            return rule.fail(reasons.get(why, reasons["other"]).format(
                day=_day_name(local.date())), None)
        if first_why is None:
            first_why, first_local = why, local
        latest = opening if latest is None else max(latest, opening)
    if first_why is None or first_local is None:
        return None
    return rule.fail(reasons.get(first_why, reasons["other"]).format(
        day=_day_name(first_local.date())), latest)


def _day_name(day: date) -> str:
    return str(get_day_names("wide", locale=current_language())[day.weekday()])


# --- the kinds ------------------------------------------------------------------------------
@dataclass(frozen=True)
class DoNotCall(Rule):
    """A number on any do-not-call list (any source) is never called."""

    KIND: ClassVar[str] = "do_not_call"

    def check(self, s: Situation, at: datetime) -> Failure | None:
        if s.facts.dnc_sources:
            return self.fail(_("the number is on a do-not-call list"), None)
        return None


@dataclass(frozen=True)
class ListFreshness(Rule):
    """A national do-not-call list must have been imported recently, or no number of
    the covered regions is called at all (Belgium: "Ne m'appelez plus", 5 days)."""

    KIND: ClassVar[str] = "list_freshness"

    source: str = ""
    max_age_days: int = 5

    @classmethod
    def from_table(cls, name: str, scope: Scope, table: dict[str, Any]) -> Rule:
        source = _take(table, "source", str, name).strip()
        if not source:
            raise ValidationError(_("Calling rule '{rule}' needs '{key}'.").format(
                rule=name, key="source"))
        days = _positive(_take(table, "max_age_days", int, name), "max_age_days", name)
        return cls(name, scope, source, days)

    def check(self, s: Situation, at: datetime) -> Failure | None:
        last = s.list_imports.get(self.source)
        if last is None:
            return self.fail(_("the '{source}' do-not-call list was never imported").format(
                source=self.source), None)
        if at - last > timedelta(days=self.max_age_days):
            return self.fail(_(
                "the '{source}' do-not-call list is more than {days} days old: import a "
                "fresh copy").format(source=self.source, days=self.max_age_days), None)
        return None


@dataclass(frozen=True)
class PriorConsent(Rule):
    """From a date on, only people with recorded prior consent (when and where) or an
    ongoing contract may be called (France: loi 2025-594, from 11 August 2026). The date
    is the callee's local date, in any of the number's zones."""

    KIND: ClassVar[str] = "prior_consent"

    in_force_from: date = date.max

    @classmethod
    def from_table(cls, name: str, scope: Scope, table: dict[str, Any]) -> Rule:
        day = _take(table, "in_force_from", date, name)
        if isinstance(day, datetime):
            raise ValidationError(_("Calling rule '{rule}': '{key}' has the wrong type.")
                                  .format(rule=name, key="in_force_from"))
        return cls(name, scope, day)

    def check(self, s: Situation, at: datetime) -> Failure | None:
        zones = s.callee.zones or (s.site_zone,)
        if all(at.astimezone(zone(z)).date() < self.in_force_from for z in zones):
            return None
        callee = s.callee
        if callee.has_contract or (
                callee.consent_at is not None and (callee.consent_source or "").strip()):
            return None
        return self.fail(_(
            "no recorded prior consent or ongoing contract (required since {date})").format(
                date=format_date(self.in_force_from, "long", locale=current_language())),
            None)


@dataclass(frozen=True)
class RefusalCooldown(Rule):
    """No call for some days after the person refused (on any campaign)."""

    KIND: ClassVar[str] = "refusal_cooldown"

    dispositions: frozenset[str] = frozenset()
    days: int = 60

    @classmethod
    def from_table(cls, name: str, scope: Scope, table: dict[str, Any]) -> Rule:
        dispositions = _take(table, "dispositions", list, name)
        if not dispositions or not all(isinstance(d, str) for d in dispositions):
            raise ValidationError(_("Calling rule '{rule}': '{key}' has the wrong type.")
                                  .format(rule=name, key="dispositions"))
        days = _positive(_take(table, "days", int, name), "days", name)
        return cls(name, scope, frozenset(dispositions), days)

    def check(self, s: Situation, at: datetime) -> Failure | None:
        window = timedelta(days=self.days)
        last = max((when for when, disposition in s.facts.refusals
                    if disposition in self.dispositions and when <= at), default=None)
        if last is None or at >= last + window:
            return None
        return self.fail(_("the person refused less than {days} days ago").format(
            days=self.days), last + window)


@dataclass(frozen=True)
class AttemptCap(Rule):
    """At most N calls or attempts per number in a sliding window of D days (across all
    campaigns; attempts released without dialling do not count)."""

    KIND: ClassVar[str] = "attempt_cap"

    max_attempts: int = 4
    window_days: int = 30

    @classmethod
    def from_table(cls, name: str, scope: Scope, table: dict[str, Any]) -> Rule:
        most = _positive(_take(table, "max_attempts", int, name), "max_attempts", name)
        days = _positive(_take(table, "window_days", int, name), "window_days", name)
        return cls(name, scope, most, days)

    def check(self, s: Situation, at: datetime) -> Failure | None:
        window = timedelta(days=self.window_days)
        recent = [t for t in s.facts.counted_attempts if at - window < t <= at]
        if len(recent) < self.max_attempts:
            return None
        # Callable again once enough of the oldest ones have left the window.
        release = recent[len(recent) - self.max_attempts] + window
        return self.fail(_("already called {count} times in the last {days} days").format(
            count=len(recent), days=self.window_days), release)


@dataclass(frozen=True)
class PublicHolidays(Rule):
    """No calls on public holidays, with each zone's own calendar (the overseas
    departments have their own days: 27 May in Guadeloupe, 22 May in Martinique)."""

    KIND: ClassVar[str] = "public_holidays"
    TIME_BASED: ClassVar[bool] = True

    calendars: Mapping[str, str] = field(default_factory=dict)  # time zone -> calendar
    default_calendar: str = ""

    @classmethod
    def from_table(cls, name: str, scope: Scope, table: dict[str, Any]) -> Rule:
        calendars = _take(table, "calendars", dict, name)
        default = _take(table, "default_calendar", str, name)
        for key in [*calendars.values(), default]:
            if not isinstance(key, str):
                raise ValidationError(_("Calling rule '{rule}': '{key}' has the wrong type.")
                                      .format(rule=name, key="calendars"))
            holiday_calendar(key)  # unknown calendars fail at load time, not at a claim
        for name_ in calendars:
            zone(name_)
        return cls(name, scope, dict(calendars), default)

    def check(self, s: Situation, at: datetime) -> Failure | None:
        first: str | None = None
        latest: datetime | None = None
        for name in s.callee.zones:
            calendar = self.calendars.get(name, self.default_calendar)
            local = at.astimezone(zone(name))
            holiday = holiday_name(calendar, local.date())
            if holiday is None:
                continue
            first = first or holiday
            # Skip a run of holidays (Easter Sunday and Monday...).
            end = next_local_midnight(local)
            for _guard in range(10):
                day = end.astimezone(zone(name)).date()
                if holiday_name(calendar, day) is None:
                    break
                end = next_local_midnight(end.astimezone(zone(name)))
            latest = end if latest is None else max(latest, end)
        if first is None:
            return None
        return self.fail(_("public holiday in the callee's region ({holiday})").format(
            holiday=first), latest)


@dataclass(frozen=True)
class CallingHours(Rule):
    """Allowed days and hours in the callee's local time, in every candidate zone."""

    KIND: ClassVar[str] = "calling_hours"
    TIME_BASED: ClassVar[bool] = True

    windows: WeeklyWindows = field(default_factory=lambda: WeeklyWindows(frozenset(), ()))

    @classmethod
    def from_table(cls, name: str, scope: Scope, table: dict[str, Any]) -> Rule:
        windows = WeeklyWindows.parse(_take(table, "days", list, name),
                                      _take(table, "ranges", list, name))
        return cls(name, scope, windows)

    def check(self, s: Situation, at: datetime) -> Failure | None:
        return _windows_failure(self, self.windows, s.callee.zones, at, {
            "early": _("too early in the callee's time zone"),
            "break": _("lunch break in the callee's time zone"),
            "late": _("too late in the callee's time zone"),
            "day": _("no calls on {day} in the callee's time zone"),
            "other": _("outside the calling hours in the callee's time zone"),
        })


@dataclass(frozen=True)
class CampaignHours(Rule):
    """Each campaign's own days and hours (Campaign.working_hours), callee's local time."""

    KIND: ClassVar[str] = "campaign_hours"
    TIME_BASED: ClassVar[bool] = True

    def check(self, s: Situation, at: datetime) -> Failure | None:
        if s.campaign.hours is None:
            return self.fail(_("the campaign's calling hours are not valid"), None)
        return _windows_failure(self, s.campaign.hours, s.callee.zones, at, {
            "day": _("the campaign does not call on {day} in the callee's time zone"),
            "other": _("outside the campaign's hours in the callee's time zone"),
        })


@dataclass(frozen=True)
class SiteHours(Rule):
    """The site's own working hours, in the site's time zone (configuration)."""

    KIND: ClassVar[str] = "site_hours"
    TIME_BASED: ClassVar[bool] = True

    def check(self, s: Situation, at: datetime) -> Failure | None:
        return _windows_failure(self, s.site_hours, (s.site_zone,), at, {
            "other": _("outside the site's working hours"),
        })


KINDS: dict[str, type[Rule]] = {k.KIND: k for k in (
    DoNotCall, ListFreshness, PriorConsent, RefusalCooldown, AttemptCap, PublicHolidays,
    CallingHours, CampaignHours, SiteHours)}

"""The calling rules at their boundaries, in the callee's local time (no database: the
rules are pure functions of the callee, the campaign, the facts and the instant)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import holidays
import pytest

from cellcall.config import SiteConfig
from cellcall.errors import ValidationError
from cellcall.services.calling_rules import CallingRules, Verdict, load_rules, parse_rules
from cellcall.services.calling_rules import check as rc
from cellcall.services.calling_rules.hours import WeeklyWindows
from cellcall.services.calling_rules.kinds import Callee, CampaignTerms, NumberFacts, Situation

PARIS = ZoneInfo("Europe/Paris")
GUADELOUPE = ZoneInfo("America/Guadeloupe")
MARTINIQUE = ZoneInfo("America/Martinique")
ALL_WEEK = {"days": [0, 1, 2, 3, 4, 5, 6], "ranges": [["00:00", "24:00"]]}
FR_MOBILE = "+33612345678"
GP_MOBILE = "+590690123456"
MQ_MOBILE = "+596696123456"
RE_MOBILE = "+262692123456"   # phonenumbers: Indian/Mayotte and Indian/Reunion
BE_FIXED = "+3225123456"
CONSENT = datetime(2026, 1, 5, tzinfo=UTC)


def at(zone: ZoneInfo, year: int, month: int, day: int, hour: int = 0,
       minute: int = 0) -> datetime:
    """A wall-clock time in ``zone`` as an aware UTC instant."""
    return datetime(year, month, day, hour, minute, tzinfo=zone).astimezone(UTC)


@pytest.fixture(scope="module")
def rules() -> CallingRules:
    """The shipped rules, with a site open around the clock (site hours tested apart)."""
    return load_rules(site=SiteConfig(working_hours=("00:00", "24:00")))


def situation(rules: CallingRules, *, phone: str = FR_MOBILE,
              zones: tuple[str, ...] = (), type: str = "prospecting",
              audience: str = "consumer", hours: dict[str, Any] | None = None,
              ignore_calling_hours: bool = False, consent: bool = True,
              contract: bool = False, facts: NumberFacts | None = None,
              imports: dict[str, datetime | None] | None = None) -> Situation:
    callee = rc.callee_of(contact_id=1, phone_e164=phone, time_zones=zones,
                          consent_at=CONSENT if consent else None,
                          consent_source="web form" if consent else None,
                          has_contract=contract)
    assert isinstance(callee, Callee), callee
    terms = CampaignTerms(1, type, audience, WeeklyWindows.from_json(hours or ALL_WEEK),
                          ignore_calling_hours)
    return rc.situation(rules=rules, callee=callee, campaign=terms, facts=facts or NumberFacts(),
                        list_imports=imports or {"ne-m-appelez-plus": None})


def verdict(rules: CallingRules, when: datetime, **kwargs: Any) -> Verdict:
    return rc.verdict(rules, situation(rules, **kwargs), when)


# --- French consumer hours, Paris and Guadeloupe ------------------------------------------------
BOUNDARIES = [
    ((9, 59), False, "too early in the callee's time zone", (10, 0)),
    ((10, 0), True, "", None),
    ((12, 59), True, "", None),
    ((13, 0), False, "lunch break in the callee's time zone", (14, 0)),
    ((13, 59), False, "lunch break in the callee's time zone", (14, 0)),
    ((14, 0), True, "", None),
    ((19, 59), True, "", None),
]


@pytest.mark.parametrize(("zone", "phone"), [(PARIS, FR_MOBILE), (GUADELOUPE, GP_MOBILE)])
@pytest.mark.parametrize(("hm", "ok", "reason", "next_hm"), BOUNDARIES)
def test_consumer_hours_boundaries(rules: CallingRules, zone: ZoneInfo, phone: str,
                                   hm: tuple[int, int], ok: bool, reason: str,
                                   next_hm: tuple[int, int] | None) -> None:
    # Wednesday 4 March 2026, in the callee's own zone (zones come from the number).
    v = verdict(rules, at(zone, 2026, 3, 4, *hm), phone=phone)
    assert v.callable is ok
    assert v.reason == reason
    assert v.next_at == (at(zone, 2026, 3, 4, *next_hm) if next_hm else None)


@pytest.mark.parametrize(("zone", "phone"), [(PARIS, FR_MOBILE), (GUADELOUPE, GP_MOBILE)])
def test_consumer_hours_end_at_twenty_and_resume_next_morning(
        rules: CallingRules, zone: ZoneInfo, phone: str) -> None:
    v = verdict(rules, at(zone, 2026, 3, 4, 20, 0), phone=phone)
    assert (v.callable, v.reason, v.rule) == (False, "too late in the callee's time zone",
                                              "fr-consumer-hours")
    assert v.next_at == at(zone, 2026, 3, 5, 10, 0)


def test_guadeloupe_hours_are_the_callee_s_not_paris(rules: CallingRules) -> None:
    # 11:00 in Paris is 06:00 in Guadeloupe: a Paris number is callable, Guadeloupe not.
    when = at(PARIS, 2026, 3, 4, 11, 0)
    assert verdict(rules, when).callable
    v = verdict(rules, when, phone=GP_MOBILE)
    assert not v.callable and v.next_at == at(GUADELOUPE, 2026, 3, 4, 10, 0)


def test_weekend_waits_for_monday(rules: CallingRules) -> None:
    v = verdict(rules, at(PARIS, 2026, 3, 7, 11, 0))  # Saturday
    assert not v.callable
    assert v.reason == "no calls on Saturday in the callee's time zone"
    assert v.next_at == at(PARIS, 2026, 3, 9, 10, 0)


# --- public holidays ---------------------------------------------------------------------------
def test_holidays_library_has_the_overseas_days() -> None:
    assert date(2026, 5, 27) in holidays.country_holidays("FR", subdiv="971")
    assert date(2026, 5, 22) in holidays.country_holidays("FR", subdiv="972")
    assert date(2026, 5, 27) not in holidays.country_holidays("FR")


def test_public_holiday_in_paris(rules: CallingRules) -> None:
    v = verdict(rules, at(PARIS, 2026, 7, 14, 11, 0))  # Tuesday, National Day
    assert not v.callable and v.rule == "fr-public-holidays"
    assert v.reason == "public holiday in the callee's region (National Day)"
    assert v.next_at == at(PARIS, 2026, 7, 15, 10, 0)
    assert verdict(rules, at(PARIS, 2026, 7, 13, 11, 0)).callable


def test_holiday_before_a_weekend_waits_for_monday(rules: CallingRules) -> None:
    v = verdict(rules, at(PARIS, 2026, 5, 1, 11, 0))  # Friday 1 May
    assert not v.callable and v.next_at == at(PARIS, 2026, 5, 4, 10, 0)


def test_27_may_is_a_holiday_in_guadeloupe_only(rules: CallingRules) -> None:
    v = verdict(rules, at(GUADELOUPE, 2026, 5, 27, 11, 0), phone=GP_MOBILE)
    assert not v.callable
    assert v.reason.startswith("public holiday in the callee's region")
    assert v.next_at == at(GUADELOUPE, 2026, 5, 28, 10, 0)
    assert verdict(rules, at(PARIS, 2026, 5, 27, 11, 0)).callable
    assert verdict(rules, at(MARTINIQUE, 2026, 5, 27, 11, 0), phone=MQ_MOBILE).callable


def test_22_may_is_a_holiday_in_martinique_only(rules: CallingRules) -> None:
    assert not verdict(rules, at(MARTINIQUE, 2026, 5, 22, 11, 0), phone=MQ_MOBILE).callable
    assert verdict(rules, at(GUADELOUPE, 2026, 5, 22, 11, 0), phone=GP_MOBILE).callable


# --- daylight-saving change days in Paris -----------------------------------------------------
def test_spring_forward_sunday_campaign_hours(rules: CallingRules) -> None:
    # Sunday 29 March 2026: clocks go from 02:00 to 03:00, Paris is UTC+2 from then on.
    hours = {"days": [6], "ranges": [["10:00", "20:00"]]}
    kwargs: dict[str, Any] = {"type": "survey", "hours": hours}
    before = verdict(rules, datetime(2026, 3, 29, 7, 59, tzinfo=UTC), **kwargs)
    assert not before.callable
    assert before.next_at == datetime(2026, 3, 29, 8, 0, tzinfo=UTC) \
        == at(PARIS, 2026, 3, 29, 10, 0)
    assert verdict(rules, datetime(2026, 3, 29, 8, 0, tzinfo=UTC), **kwargs).callable
    # From the night before (still UTC+1), the next opening is found across the change.
    night = verdict(rules, datetime(2026, 3, 28, 23, 30, tzinfo=UTC), **kwargs)
    assert night.next_at == datetime(2026, 3, 29, 8, 0, tzinfo=UTC)


def test_spring_forward_consumer_rules_resume_monday(rules: CallingRules) -> None:
    v = verdict(rules, datetime(2026, 3, 28, 11, 0, tzinfo=UTC))  # Saturday, UTC+1
    assert v.next_at == datetime(2026, 3, 30, 8, 0, tzinfo=UTC)  # Monday 10:00 UTC+2
    assert not verdict(rules, datetime(2026, 3, 30, 7, 59, tzinfo=UTC)).callable
    assert verdict(rules, datetime(2026, 3, 30, 8, 0, tzinfo=UTC)).callable


def test_fall_back_sunday_campaign_hours(rules: CallingRules) -> None:
    # Sunday 25 October 2026: clocks go from 03:00 back to 02:00, Paris is UTC+1 again.
    hours = {"days": [6], "ranges": [["10:00", "20:00"]]}
    kwargs: dict[str, Any] = {"type": "survey", "hours": hours}
    assert not verdict(rules, datetime(2026, 10, 25, 8, 59, tzinfo=UTC), **kwargs).callable
    v = verdict(rules, datetime(2026, 10, 25, 8, 0, tzinfo=UTC), **kwargs)  # 09:00 local
    assert v.next_at == datetime(2026, 10, 25, 9, 0, tzinfo=UTC) \
        == at(PARIS, 2026, 10, 25, 10, 0)
    assert verdict(rules, datetime(2026, 10, 25, 9, 0, tzinfo=UTC), **kwargs).callable
    # 19:59 local is 18:59 UTC on that day; 20:00 local (19:00 UTC) is closed.
    assert verdict(rules, datetime(2026, 10, 25, 18, 59, tzinfo=UTC), **kwargs).callable
    assert not verdict(rules, datetime(2026, 10, 25, 19, 0, tzinfo=UTC), **kwargs).callable


def test_fall_back_consumer_rules_friday_evening_to_monday(rules: CallingRules) -> None:
    v = verdict(rules, at(PARIS, 2026, 10, 23, 20, 30))  # Friday, UTC+2
    assert v.next_at == datetime(2026, 10, 26, 9, 0, tzinfo=UTC)  # Monday 10:00 UTC+1


# --- numbers with several candidate zones --------------------------------------------------------
def test_every_zone_must_be_inside_the_window(rules: CallingRules) -> None:
    zones = ("Europe/Paris", "America/Guadeloupe")
    # Winter: Guadeloupe is 5 hours behind Paris.
    assert verdict(rules, at(PARIS, 2026, 3, 4, 16, 0), zones=zones).callable  # 11:00 GP
    v = verdict(rules, at(PARIS, 2026, 3, 4, 14, 30), zones=zones)  # 09:30 in Guadeloupe
    assert not v.callable and v.reason == "too early in the callee's time zone"
    assert v.next_at == at(PARIS, 2026, 3, 4, 15, 0)
    assert verdict(rules, at(PARIS, 2026, 3, 4, 19, 59), zones=zones).callable
    late = verdict(rules, at(PARIS, 2026, 3, 4, 20, 0), zones=zones)  # 15:00 in Guadeloupe
    assert not late.callable
    # Next morning: 10:00 in Paris is 05:00 in Guadeloupe; both are open from 15:00 Paris.
    assert late.next_at == at(PARIS, 2026, 3, 5, 15, 0)


def test_number_with_two_zones_from_the_numbering_plan(rules: CallingRules) -> None:
    # Réunion mobiles may be in Mayotte (UTC+3) or Réunion (UTC+4).
    s = situation(rules, phone=RE_MOBILE)
    assert s.callee.zones == ("Indian/Mayotte", "Indian/Reunion")
    when = datetime(2026, 3, 4, 6, 30, tzinfo=UTC)  # 10:30 Réunion, 09:30 Mayotte
    v = rc.verdict(rules, s, when)
    assert not v.callable and v.next_at == datetime(2026, 3, 4, 7, 0, tzinfo=UTC)


# --- who the French rules cover ---------------------------------------------------------------
@pytest.mark.parametrize(("type", "audience"), [
    ("survey", "consumer"), ("after-sales", "consumer"), ("prospecting", "business"),
    ("verification", "consumer")])
def test_outside_solicitation_rules_follow_campaign_hours(
        rules: CallingRules, type: str, audience: str) -> None:
    hours = {"days": [0, 1, 2, 3, 4, 5], "ranges": [["09:00", "20:00"]]}
    kwargs: dict[str, Any] = {"type": type, "audience": audience, "hours": hours,
                              "consent": False}
    assert verdict(rules, at(PARIS, 2026, 3, 4, 9, 0), **kwargs).callable
    assert verdict(rules, at(PARIS, 2026, 3, 4, 13, 30), **kwargs).callable
    assert verdict(rules, at(PARIS, 2026, 7, 14, 11, 0), **kwargs).callable  # holiday
    assert verdict(rules, at(PARIS, 2026, 8, 12, 11, 0), **kwargs).callable  # no consent
    v = verdict(rules, at(PARIS, 2026, 3, 4, 8, 59), **kwargs)
    assert not v.callable and v.rule == "campaign-hours"
    assert v.reason == "outside the campaign's hours in the callee's time zone"
    sunday = verdict(rules, at(PARIS, 2026, 3, 8, 11, 0), **kwargs)
    assert sunday.reason == "the campaign does not call on Sunday in the callee's time zone"
    assert sunday.next_at == at(PARIS, 2026, 3, 9, 9, 0)


def test_campaign_hours_narrow_the_french_window(rules: CallingRules) -> None:
    hours = {"days": [0, 1, 2, 3, 4], "ranges": [["15:00", "18:00"]]}
    v = verdict(rules, at(PARIS, 2026, 3, 4, 11, 0), hours=hours)
    assert not v.callable and v.next_at == at(PARIS, 2026, 3, 4, 15, 0)


def test_demo_campaign_ignores_hours_but_not_consent_or_dnc(rules: CallingRules) -> None:
    sunday_night = at(PARIS, 2026, 3, 8, 3, 0)
    assert verdict(rules, sunday_night, ignore_calling_hours=True).callable
    assert not verdict(rules, sunday_night, ignore_calling_hours=False).callable
    dnc = NumberFacts(dnc_sources=frozenset({"internal"}))
    assert not verdict(rules, sunday_night, ignore_calling_hours=True, facts=dnc).callable
    after_switch = at(PARIS, 2026, 8, 16, 3, 0)
    v = verdict(rules, after_switch, ignore_calling_hours=True, consent=False)
    assert not v.callable and v.rule == "fr-prior-consent"
    capped = NumberFacts(counted_attempts=tuple(
        sunday_night - timedelta(days=d) for d in (1, 2, 3, 4)))
    assert not verdict(rules, sunday_night, ignore_calling_hours=True, facts=capped).callable


# --- caps, refusals, consent -------------------------------------------------------------------
NOW = at(PARIS, 2026, 3, 4, 11, 0)


def test_fourth_attempt_in_30_days_allowed_fifth_refused(rules: CallingRules) -> None:
    three = tuple(NOW - timedelta(days=d) for d in (20, 10, 1))
    assert verdict(rules, NOW, facts=NumberFacts(counted_attempts=three)).callable
    four = tuple(sorted((*three, NOW - timedelta(days=25))))
    v = verdict(rules, NOW, facts=NumberFacts(counted_attempts=four))
    assert not v.callable and v.rule == "fr-4-in-30-days"
    assert v.reason == "already called 4 times in the last 30 days"
    # Callable again when the oldest leaves the 30-day window (25 days ago + 30 days),
    # at 11:00 on a weekday: Monday 9 March.
    assert v.next_at == NOW + timedelta(days=5)


def test_attempt_exactly_30_days_old_no_longer_counts(rules: CallingRules) -> None:
    four = (NOW - timedelta(days=30), NOW - timedelta(days=3), NOW - timedelta(days=2),
            NOW - timedelta(days=1))
    assert verdict(rules, NOW, facts=NumberFacts(counted_attempts=four)).callable
    four = (NOW - timedelta(days=30) + timedelta(seconds=1), *four[1:])
    assert not verdict(rules, NOW, facts=NumberFacts(counted_attempts=four)).callable


def test_sixty_days_after_a_refusal(rules: CallingRules) -> None:
    refused = NOW - timedelta(days=59)
    facts = NumberFacts(refusals=((refused, "not_interested"),))
    v = verdict(rules, NOW, facts=facts)
    assert not v.callable and v.reason == "the person refused less than 60 days ago"
    assert v.next_at == refused + timedelta(days=60)  # a Thursday at 11:00: inside hours
    assert verdict(rules, refused + timedelta(days=60), facts=facts).callable
    other = NumberFacts(refusals=((refused, "no_answer"),))
    assert verdict(rules, NOW, facts=other).callable


def test_consent_switch_on_11_august_2026(rules: CallingRules) -> None:
    day_before = at(PARIS, 2026, 8, 10, 11, 0)   # Monday
    that_day = at(PARIS, 2026, 8, 11, 11, 0)     # Tuesday
    assert verdict(rules, day_before, consent=False).callable
    v = verdict(rules, that_day, consent=False)
    assert not v.callable and v.rule == "fr-prior-consent" and v.next_at is None
    assert v.reason == ("no recorded prior consent or ongoing contract "
                        "(required since August 11, 2026)")
    assert verdict(rules, that_day, consent=True).callable
    assert verdict(rules, that_day, consent=False, contract=True).callable


def test_consent_switch_at_local_midnight(rules: CallingRules) -> None:
    s = situation(rules, consent=False)
    names = [f.rule for f in rc.failures_at(rules, s, at(PARIS, 2026, 8, 10, 23, 59))]
    assert "fr-prior-consent" not in names
    names = [f.rule for f in rc.failures_at(rules, s, at(PARIS, 2026, 8, 11, 0, 0))]
    assert "fr-prior-consent" in names


def test_consent_needs_a_source(rules: CallingRules) -> None:
    callee = rc.callee_of(contact_id=1, phone_e164=FR_MOBILE, time_zones=(),
                          consent_at=CONSENT, consent_source="  ", has_contract=False)
    assert isinstance(callee, Callee)
    s = rc.situation(rules=rules, callee=callee,
                     campaign=CampaignTerms(1, "prospecting", "consumer",
                                            WeeklyWindows.from_json(ALL_WEEK), False),
                     facts=NumberFacts(), list_imports={})
    assert not rc.verdict(rules, s, at(PARIS, 2026, 8, 11, 11, 0)).callable


# --- do-not-call lists -------------------------------------------------------------------------
def test_any_do_not_call_source_refuses_forever(rules: CallingRules) -> None:
    for kwargs in ({"type": "survey", "audience": "business"}, {}):
        v = verdict(rules, NOW, facts=NumberFacts(dnc_sources=frozenset({"client-x"})),
                    **kwargs)
        assert (v.callable, v.rule, v.next_at) == (False, "do-not-call", None)


@pytest.mark.parametrize("audience", ["consumer", "business"])
def test_belgian_list_five_days_boundary(rules: CallingRules, audience: str) -> None:
    when = at(ZoneInfo("Europe/Brussels"), 2026, 3, 4, 11, 0)
    kwargs: dict[str, Any] = {"phone": BE_FIXED, "type": "survey", "audience": audience}
    fresh = {"ne-m-appelez-plus": when - timedelta(days=5)}
    assert verdict(rules, when, imports=fresh, **kwargs).callable
    stale = {"ne-m-appelez-plus": when - timedelta(days=5, minutes=1)}
    v = verdict(rules, when, imports=stale, **kwargs)
    assert not v.callable and v.rule == "be-ne-m-appelez-plus-fresh" and v.next_at is None
    v = verdict(rules, when, imports={"ne-m-appelez-plus": None}, **kwargs)
    assert not v.callable and "never imported" in v.reason
    # A stale Belgian list does not stop French numbers.
    assert verdict(rules, NOW, imports=stale).callable


# --- the site's hours ----------------------------------------------------------------------------
def test_site_hours_in_the_site_zone() -> None:
    rules = load_rules(site=SiteConfig(working_hours=("07:00", "19:00")))
    survey: dict[str, Any] = {"type": "survey"}
    assert not verdict(rules, at(PARIS, 2026, 3, 4, 6, 59), **survey).callable
    assert verdict(rules, at(PARIS, 2026, 3, 4, 7, 0), **survey).callable
    assert verdict(rules, at(PARIS, 2026, 3, 4, 18, 59), **survey).callable
    v = verdict(rules, at(PARIS, 2026, 3, 4, 19, 0), **survey)
    assert not v.callable and v.reason == "outside the site's working hours"
    # Guadeloupe consumers after 19:00 in Paris: next time both the site and the callee
    # are open is 15:00 in Paris (10:00 in Guadeloupe) the next day.
    v = verdict(rules, at(PARIS, 2026, 3, 4, 19, 30), phone=GP_MOBILE)
    assert v.next_at == at(PARIS, 2026, 3, 5, 15, 0)


# --- the rules file ------------------------------------------------------------------------------
def test_shipped_rules_file_loads() -> None:
    rules = load_rules()
    names = [r.name for r in rules.rules]
    assert names[0] == "do-not-call"
    assert {"fr-consumer-hours", "fr-public-holidays", "fr-4-in-30-days", "fr-after-refusal",
            "fr-prior-consent", "be-ne-m-appelez-plus-fresh", "site-hours",
            "campaign-hours"} <= set(names)
    assert rules.list_sources == ("ne-m-appelez-plus",)
    assert rules.site_hours.ranges == ((7 * 60, 19 * 60),)


BASE = '[[rule]]\nkind = "do_not_call"\nname = "dnc"\n'


@pytest.mark.parametrize(("extra", "message"), [
    ('[[rule]]\nkind = "nope"\n', "unknown kind 'nope'"),
    ('[[rule]]\nkind = "calling_hours"\ndays = [0]\nranges = [["10:00", "09:00"]]\n',
     "must end after it starts"),
    ('[[rule]]\nkind = "calling_hours"\ndays = [7]\nranges = [["10:00", "11:00"]]\n',
     "0 (Monday)"),
    ('[[rule]]\nkind = "calling_hours"\ndays = [0]\nranges = [["10h", "11:00"]]\n',
     "is not a time of day"),
    ('[[rule]]\nkind = "public_holidays"\ndefault_calendar = "XX"\ncalendars = {}\n',
     "Unknown public-holiday calendar"),
    ('[[rule]]\nkind = "attempt_cap"\nmax_attempts = 0\nwindow_days = 30\n',
     "must be positive"),
    ('[[rule]]\nkind = "attempt_cap"\nmax_attempts = 4\n', "needs 'window_days'"),
    ('[[rule]]\nkind = "do_not_call"\nname = "dnc"\n', "same name"),
    ('[[rule]]\nkind = "do_not_call"\ncolour = "red"\n', "unknown key 'colour'"),
    ('[queue]\nmax_batches = 0\n', "positive whole number"),
])
def test_rules_file_errors_are_clear(extra: str, message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        parse_rules(BASE + extra, site=SiteConfig())


def test_rules_file_may_be_replaced(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(BASE + '[[rule]]\nkind = "calling_hours"\nname = "mornings"\n'
                    'days = [0, 1, 2, 3, 4]\nranges = [["08:00", "12:00"]]\n', encoding="utf-8")
    rules = load_rules(path, site=SiteConfig(working_hours=("00:00", "24:00")))
    assert verdict(rules, at(PARIS, 2026, 3, 4, 8, 0)).callable
    assert not verdict(rules, at(PARIS, 2026, 3, 4, 12, 0)).callable
    with pytest.raises(ValidationError, match="not found"):
        load_rules(tmp_path / "missing.toml")

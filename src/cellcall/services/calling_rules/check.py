"""Applying the rules: is this contact callable now, and if not, why and from when."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

import phonenumbers
from sqlmodel import Session

from cellcall.errors import ValidationError
from cellcall.i18n import _
from cellcall.models.campaigns import Campaign, CampaignStatus
from cellcall.models.contacts import Contact, ContactStatus
from cellcall.services.calling_rules import facts as db_facts
from cellcall.services.calling_rules.hours import WeeklyWindows, is_known_zone
from cellcall.services.calling_rules.kinds import (
    Callee,
    CampaignTerms,
    Failure,
    NumberFacts,
    Situation,
)
from cellcall.services.calling_rules.loading import CallingRules
from cellcall.services.phones import time_zones_of

# How many times the search for the next callable instant may move forward.
_MAX_STEPS = 64


@dataclass(frozen=True)
class Verdict:
    callable: bool
    reason: str                 # translated; empty when callable
    next_at: datetime | None    # when not callable: the earliest instant it would be
    rule: str = ""              # the rule (or queue check) that decided


CALLABLE = Verdict(True, "", None)


@dataclass(frozen=True)
class NumberInfo:
    region: str | None
    zones: tuple[str, ...]


@lru_cache(maxsize=65536)
def number_info(phone_e164: str) -> NumberInfo | None:
    """Region and candidate time zones from the number itself (None: not a number)."""
    try:
        number = phonenumbers.parse(phone_e164, None)
    except phonenumbers.NumberParseException:
        return None
    return NumberInfo(phonenumbers.region_code_for_number(number), time_zones_of(number))


_E164 = re.compile(r"\+([1-9]\d{6,14})")


def region_of(phone_e164: str) -> tuple[bool, str | None]:
    """(a valid number?, its phonenumbers region) — what ``number_info`` says, without
    parsing when the country code belongs to one region alone (+33, +32, +590 is not):
    country codes are prefix-free, so the first known prefix is the code."""
    match = _E164.fullmatch(phone_e164)
    if match is not None:
        digits = match.group(1)
        for length in (1, 2, 3):
            regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(int(digits[:length]))
            if regions is not None:
                if len(regions) == 1 and regions[0] != phonenumbers.REGION_CODE_FOR_NON_GEO_ENTITY:
                    return True, regions[0]
                break
    info = number_info(phone_e164)
    return (False, None) if info is None else (True, info.region)


def callee_of(*, contact_id: int, phone_e164: str, time_zones: list[str] | tuple[str, ...],
              consent_at: datetime | None, consent_source: str | None,
              has_contract: bool) -> Callee | Failure:
    """The callee as the rules see it; a Failure when the number or its zone is unusable.
    The number is parsed only when the stored zones or the country code do not suffice
    (parsing costs more than all the rules together)."""
    valid, region = region_of(phone_e164)
    if not valid:
        return Failure("number", _("the number is not a valid phone number"), None)
    # The zones stored at import win; the number's own zones fill a gap.
    zones = tuple(z for z in time_zones if isinstance(z, str) and is_known_zone(z))
    if not zones:
        info = number_info(phone_e164)
        zones = tuple(z for z in info.zones if is_known_zone(z)) if info is not None else ()
    if not zones:
        return Failure("number", _("the callee's time zone is unknown"), None)
    return Callee(contact_id, phone_e164, region, zones, consent_at, consent_source,
                  has_contract)


def terms_from(*, campaign_id: int, type: str, audience: str, working_hours: Any,
               ignore_calling_hours: bool) -> CampaignTerms:
    try:
        hours: WeeklyWindows | None = WeeklyWindows.from_json(working_hours)
    except ValidationError:
        hours = None  # unreadable hours close the campaign rather than open it
    return CampaignTerms(campaign_id, type, audience, hours, ignore_calling_hours)


def terms_of(campaign: Campaign) -> CampaignTerms:
    return terms_from(campaign_id=campaign.id or 0, type=campaign.type,
                      audience=campaign.audience, working_hours=campaign.working_hours,
                      ignore_calling_hours=campaign.ignore_calling_hours)


def situation(*, rules: CallingRules, callee: Callee, campaign: CampaignTerms,
              facts: NumberFacts, list_imports: Mapping[str, datetime | None]) -> Situation:
    return Situation(callee, campaign, facts, list_imports, rules.site_zone, rules.site_hours)


_NO_FACTS = NumberFacts()


def sharing_key(s: Situation) -> tuple[Any, ...] | None:
    """What the rules read of a situation besides the time, the list imports and the site
    (which one claim shares): two situations of one claim with the same key get the same
    failures, so the queue checks a page of similar contacts once. None when the number
    has facts (do-not-call entries, recent attempts or refusals): checked one by one.
    Keep in step with the rule kinds (``kinds.py``): a kind that reads another field of
    the callee must add it here."""
    if s.facts != _NO_FACTS:
        return None
    c = s.callee
    consented = c.consent_at is not None and bool((c.consent_source or "").strip())
    return (s.campaign.id, c.region, c.zones, c.has_contract, consented)


def failures_at(rules: CallingRules, s: Situation, at: datetime,
                not_before: datetime | None = None) -> list[Failure]:
    """Every rule that refuses the call at ``at``, in file order."""
    found: list[Failure] = []
    if not_before is not None and at < not_before:
        found.append(Failure("retry", _("waiting for the next attempt time"), not_before))
    for rule in rules.rules:
        if rule.applies(s):
            failure = rule.check(s, at)
            if failure is not None:
                found.append(failure)
    return found


def _deciding(failures: list[Failure]) -> Failure:
    """The failure to tell the operator about: one that waiting cannot cure, else the one
    that lasts longest."""
    for failure in failures:
        if failure.next_at is None:
            return failure
    return max(failures, key=lambda f: f.next_at or datetime.min)


def verdict_from(rules: CallingRules, s: Situation, now: datetime,
                 failures: list[Failure], not_before: datetime | None = None) -> Verdict:
    """From the failures at ``now``: the reason, and the earliest later instant at which no
    rule refuses (each step jumps to the latest "allowed again at" of the current failures,
    so it always moves forward; bounded by the search horizon)."""
    if not failures:
        return CALLABLE
    deciding = _deciding(failures)
    horizon = now + timedelta(days=rules.search_horizon_days)
    current = failures
    for _step in range(_MAX_STEPS):
        if any(f.next_at is None for f in current):
            break
        at = max(f.next_at for f in current if f.next_at is not None)
        if at > horizon:
            break
        current = failures_at(rules, s, at, not_before)
        if not current:
            return Verdict(False, deciding.reason, at, deciding.rule)
    return Verdict(False, deciding.reason, None, deciding.rule)


def verdict(rules: CallingRules, s: Situation, now: datetime,
            not_before: datetime | None = None) -> Verdict:
    return verdict_from(rules, s, now, failures_at(rules, s, now, not_before), not_before)


def check_callable(*, session: Session, contact: Contact, campaign: Campaign, now: datetime,
                   rules: CallingRules) -> Verdict:
    """May ``contact`` be called now, and if not, why and from when? The queue's own state
    (finished, leased, retry time, pending callback) is checked as well as the rules, so the
    supervisor's "why is this contact not called" gets the whole answer."""
    def refuse(reason: str, rule: str, next_at: datetime | None = None) -> Verdict:
        return Verdict(False, reason, next_at, rule)

    if campaign.status != CampaignStatus.ACTIVE:
        return refuse(_("the campaign is not running"), "campaign")
    if contact.status == ContactStatus.DONE:
        return refuse(_("the contact is finished"), "contact")
    if contact.status == ContactStatus.DO_NOT_CALL:
        return refuse(_("the number is on a do-not-call list"), "contact")
    if contact.status == ContactStatus.CLAIMED and contact.lease_expires_at is not None \
            and contact.lease_expires_at >= now:
        return refuse(_("another operator has this contact"), "lease")
    agreed = db_facts.pending_callbacks(session=session,
                                        contact_ids=[contact.id or 0]).get(contact.id or 0, [])
    # An agreed callback stands even past the attempt limit: the callee asked for it.
    if contact.attempts >= campaign.max_attempts and not agreed:
        return refuse(_("the campaign's maximum number of attempts was reached"), "contact")
    callee = callee_of(contact_id=contact.id or 0, phone_e164=contact.phone_e164,
                       time_zones=contact.time_zones, consent_at=contact.consent_at,
                       consent_source=contact.consent_source, has_contract=contact.has_contract)
    if isinstance(callee, Failure):
        return refuse(callee.reason, callee.rule)
    in_use = db_facts.numbers_in_use(session=session, phones=[contact.phone_e164], now=now)
    if in_use.get(contact.phone_e164, set()) - {contact.id or 0}:
        return refuse(_("this number is being called in another campaign"), "in_use")
    not_before = contact.next_attempt_at
    for due_at, _personal in agreed:
        # A callback agreed for later: not before that time.
        if due_at > now:
            not_before = due_at if not_before is None else max(not_before, due_at)
    facts = db_facts.number_facts(session=session, phones=[contact.phone_e164], now=now,
                                  rules=rules)
    s = situation(rules=rules, callee=callee, campaign=terms_of(campaign),
                  facts=facts.get(contact.phone_e164, NumberFacts()),
                  list_imports=db_facts.list_imports(session=session, rules=rules))
    return verdict(rules, s, now, not_before)

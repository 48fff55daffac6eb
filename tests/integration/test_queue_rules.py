"""Calling rules that read the database (caps, refusals, do-not-call lists, consent,
numbers in use), through ``check_callable`` and inside the claim."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from queue_world import PARIS, World, local
from sqlalchemy.engine import Engine

from cellcall.db import run_write
from cellcall.services import queue

WED_11 = local(PARIS, 2026, 3, 4, 11, 0)
BRUSSELS = ZoneInfo("Europe/Brussels")


@pytest.fixture(params=["claim_next", "claim"])
def world(engine: Engine, request: pytest.FixtureRequest) -> World:
    """Every test runs with both ways of claiming (one transaction, or optimistic)."""
    return World(engine, optimistic=request.param == "claim")


def test_fourth_call_in_30_days_allowed_fifth_refused_across_campaigns(world: World) -> None:
    phone = "+33611111111"
    one = world.campaign("one")
    two = world.campaign("two")
    old = world.contact(one, phone)
    contact = world.contact(two, phone)
    for days in (29, 20):
        world.attempt(old, WED_11 - timedelta(days=days))
    world.attempt(contact, WED_11 - timedelta(days=2))
    world.attempt(contact, WED_11 - timedelta(days=40))          # outside the window
    world.attempt(contact, WED_11 - timedelta(days=1), counts=False)  # technical failure
    world.finish(old)
    assert world.verdict(contact, WED_11).callable               # this would be the 4th
    op = world.operator("ana")
    got = world.claimed(op, WED_11)                              # the claim counts as one
    assert got.contact_id == contact
    run_write(world.engine, lambda s: queue.release(session=s, actor=op,
                                                    attempt_id=got.attempt_id, now=WED_11))
    world.attempt(contact, WED_11 - timedelta(hours=1))          # a 4th real one
    v = world.verdict(contact, WED_11)
    assert not v.callable and v.reason == "already called 4 times in the last 30 days"
    # Free again when the 29-days-old attempt leaves the window: tomorrow, 11:00.
    assert v.next_at == WED_11 + timedelta(days=1)
    nothing = world.claim(op, WED_11)
    assert isinstance(nothing, queue.NothingCallable)
    assert nothing.reason == ("Next contact on Thu 5 Mar at 11:00: already called 4 times "
                              "in the last 30 days")


def test_refusal_blocks_the_number_for_60_days(world: World) -> None:
    phone = "+33622222222"
    earlier = world.contact(world.campaign("earlier"), phone)
    refused_at = WED_11 - timedelta(days=59)
    world.attempt(earlier, refused_at, disposition="not_interested")
    world.finish(earlier)
    contact = world.contact(world.campaign("now"), phone)
    v = world.verdict(contact, WED_11)
    assert not v.callable and v.reason == "the person refused less than 60 days ago"
    assert v.next_at == refused_at + timedelta(days=60)
    assert world.verdict(contact, refused_at + timedelta(days=60)).callable
    # A survey is outside the French solicitation rules.
    survey = world.contact(world.campaign("survey", type="survey"), phone)
    assert world.verdict(survey, WED_11).callable


def test_do_not_call_entry_from_any_source(world: World) -> None:
    campaign = world.campaign("c", type="survey", audience="business")
    listed = world.contact(campaign, "+33633333333")
    free = world.contact(campaign, "+33644444444")
    world.dnc("+33633333333", source="client-acme")
    v = world.verdict(listed, WED_11)
    assert (v.callable, v.rule, v.next_at) == (False, "do-not-call", None)
    assert world.claimed(world.operator("ana"), WED_11).contact_id == free


@pytest.mark.parametrize("audience", ["consumer", "business"])
def test_belgian_numbers_stop_when_the_list_is_stale(world: World, audience: str) -> None:
    now = local(BRUSSELS, 2026, 3, 4, 11, 0)
    campaign = world.campaign("be", type="survey", audience=audience, country="BE")
    belgian = world.contact(campaign, "+3225123456", zones=("Europe/Brussels",))
    french = world.contact(world.campaign("fr"), "+33655555555")
    op = world.operator("ana")
    # Never imported: no +32 number at all.
    assert not world.verdict(belgian, now).callable
    world.dnc_import("ne-m-appelez-plus", now - timedelta(days=5, minutes=1))
    v = world.verdict(belgian, now)
    assert not v.callable and "more than 5 days old" in v.reason
    assert world.claimed(op, now).contact_id == french
    world.dnc_import("ne-m-appelez-plus", now - timedelta(days=5))
    assert world.verdict(belgian, now).callable
    assert world.claimed(op, now).contact_id == belgian


def test_belgian_list_entry_refuses_the_number(world: World) -> None:
    now = local(BRUSSELS, 2026, 3, 4, 11, 0)
    world.dnc_import("ne-m-appelez-plus", now - timedelta(days=1))
    world.dnc("+3225123456", source="ne-m-appelez-plus")
    campaign = world.campaign("be", type="prospecting", country="BE")
    listed = world.contact(campaign, "+3225123456", zones=("Europe/Brussels",))
    assert world.verdict(listed, now).rule == "do-not-call"


def test_consent_switch_inside_the_claim(world: World) -> None:
    campaign = world.campaign("c")
    without = world.contact(campaign, consent_at=None, consent_source=None)
    contract = world.contact(campaign, consent_at=None, consent_source=None,
                             has_contract=True)
    op = world.operator("ana")
    day_before = local(PARIS, 2026, 8, 10, 11, 0)
    that_day = local(PARIS, 2026, 8, 11, 11, 0)
    assert world.verdict(without, day_before).callable
    v = world.verdict(without, that_day)
    assert not v.callable and v.rule == "fr-prior-consent"
    assert world.claimed(op, that_day).contact_id == contract
    nothing = world.claim(op, that_day)
    assert isinstance(nothing, queue.NothingCallable) and nothing.next_at is None
    assert nothing.reason.startswith("Nothing can be called now: no recorded prior consent")


def test_one_number_is_never_rung_from_two_campaigns_at_once(world: World) -> None:
    phone = "+33666666666"
    first = world.contact(world.campaign("one", type="survey"), phone)
    second = world.contact(world.campaign("two", type="survey"), phone)
    ana, bob = world.operator("ana"), world.operator("bob")
    assert world.claimed(ana, WED_11).contact_id == first
    v = world.verdict(second, WED_11)
    assert not v.callable and v.rule == "in_use"
    assert isinstance(world.claim(bob, WED_11), queue.NothingCallable)


def test_check_callable_reports_queue_state(world: World) -> None:
    campaign = world.campaign("c")
    done = world.contact(campaign, status="done")
    later = world.contact(campaign, status="pending", attempts=1,
                          next_attempt_at=WED_11 + timedelta(minutes=15))
    assert world.verdict(done, WED_11).reason == "the contact is finished"
    v = world.verdict(later, WED_11)
    assert (v.callable, v.next_at, v.rule) == (False, WED_11 + timedelta(minutes=15), "retry")
    paused = world.contact(world.campaign("p", status="paused"))
    assert world.verdict(paused, WED_11).reason == "the campaign is not running"


def test_demo_campaign_claims_at_night_but_respects_dnc(world: World) -> None:
    campaign = world.campaign("demo", ignore_calling_hours=True)
    listed = world.contact(campaign, "+33677777777")
    world.dnc("+33677777777")
    free = world.contact(campaign, "+33688888888")
    sunday_night = local(PARIS, 2026, 3, 8, 3, 0)
    got = world.claimed(world.operator("ana"), sunday_night)
    assert got.contact_id == free
    assert not world.verdict(listed, sunday_night).callable

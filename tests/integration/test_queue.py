"""The dial queue on a real SQLite file: order, languages, leases, release, refusals."""

from __future__ import annotations

import dataclasses
import re
from datetime import timedelta
from pathlib import Path

import pytest
from queue_world import GUADELOUPE, PARIS, World, local, open_rules
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from cellcall.config import SiteConfig
from cellcall.db import read_session, run_write, unit_of_work
from cellcall.errors import PermissionDeniedError, ValidationError
from cellcall.models import AuditEvent, CallAttempt, Role, Station
from cellcall.services import queue
from cellcall.services.calling_rules import load_rules

WED_11 = local(PARIS, 2026, 3, 4, 11, 0)   # a Wednesday, inside every calling window


@pytest.fixture(params=["claim_next", "claim"])
def world(engine: Engine, request: pytest.FixtureRequest) -> World:
    """Every test runs with both ways of claiming (one transaction, or optimistic)."""
    return World(engine, optimistic=request.param == "claim")


# --- order ------------------------------------------------------------------------------
def test_order_callbacks_then_priority_then_oldest(world: World) -> None:
    low = world.campaign("low", priority=0)
    high = world.campaign("high", priority=5)
    a_new = world.contact(low)
    a_old = world.contact(low, status="pending", attempts=1,
                          next_attempt_at=WED_11 - timedelta(hours=1))
    b_recent = world.contact(high, status="pending", attempts=1,
                             next_attempt_at=WED_11 - timedelta(minutes=10))
    b_new = world.contact(high)
    b_oldest = world.contact(high, status="pending", attempts=1,
                             next_attempt_at=WED_11 - timedelta(hours=2))
    with_callback = world.contact(low, status="pending", attempts=1,
                                  next_attempt_at=WED_11 - timedelta(minutes=5))
    callback = world.callback(with_callback, WED_11 - timedelta(minutes=5))
    op = world.operator("ana")
    first = world.claimed(op, WED_11)
    assert (first.contact_id, first.callback_id) == (with_callback, callback)
    rest = [world.claimed(op, WED_11).contact_id for _ in range(5)]
    # Higher priority first; within a campaign, never-called first, then the oldest.
    assert rest == [b_new, b_oldest, b_recent, a_new, a_old]
    assert isinstance(world.claim(op, WED_11), queue.NothingCallable)


def test_personal_callback_only_to_its_operator(world: World) -> None:
    campaign = world.campaign("c")
    ana, bob = world.operator("ana"), world.operator("bob")
    personal = world.contact(campaign, status="pending", attempts=1,
                             next_attempt_at=WED_11 - timedelta(minutes=1))
    world.callback(personal, WED_11 - timedelta(minutes=1), personal=ana)
    other = world.contact(campaign)
    assert world.claimed(bob, WED_11).contact_id == other
    nothing = world.claim(bob, WED_11)
    assert isinstance(nothing, queue.NothingCallable)
    assert "reserved for another operator" in nothing.reason
    got = world.claimed(ana, WED_11)
    assert got.contact_id == personal and got.callback_id is not None


def test_agreed_callback_stands_past_the_attempt_limit(world: World) -> None:
    campaign = world.campaign("c", max_attempts=3)
    contact = world.contact(campaign, status="pending", attempts=3,
                            next_attempt_at=WED_11 - timedelta(minutes=1))
    callback = world.callback(contact, WED_11 - timedelta(minutes=1))
    assert world.verdict(contact, WED_11).callable
    got = world.claimed(world.operator("ana"), WED_11)
    assert (got.contact_id, got.callback_id) == (contact, callback)


def test_callback_not_due_yet_waits_for_its_time(world: World) -> None:
    campaign = world.campaign("c")
    contact = world.contact(campaign, status="pending", attempts=1)
    world.callback(contact, WED_11 + timedelta(minutes=30))
    op = world.operator("ana")
    nothing = world.claim(op, WED_11)
    assert isinstance(nothing, queue.NothingCallable)
    assert nothing.next_at == WED_11 + timedelta(minutes=30)
    assert nothing.reason == "Next contact at 11:30: waiting for the next attempt time"
    assert world.claimed(op, WED_11 + timedelta(minutes=30)).contact_id == contact


def test_retry_time_is_respected(world: World) -> None:
    campaign = world.campaign("c")
    later = world.contact(campaign, status="pending", attempts=1,
                          next_attempt_at=WED_11 + timedelta(minutes=90))
    op = world.operator("ana")
    nothing = world.claim(op, WED_11)
    assert nothing == queue.NothingCallable(
        "Next contact at 12:30: waiting for the next attempt time",
        WED_11 + timedelta(minutes=90))
    assert isinstance(world.claim(op, WED_11 + timedelta(minutes=89)), queue.NothingCallable)
    assert world.claimed(op, WED_11 + timedelta(minutes=90)).contact_id == later


def test_retry_time_in_the_lunch_break_waits_for_the_afternoon(world: World) -> None:
    world.contact(world.campaign("c"), status="pending", attempts=1,
                  next_attempt_at=WED_11 + timedelta(hours=2))  # 13:00 in Paris
    nothing = world.claim(world.operator("ana"), WED_11)
    assert isinstance(nothing, queue.NothingCallable)
    assert nothing.next_at == local(PARIS, 2026, 3, 4, 14, 0)


def test_paused_and_closed_campaigns_are_skipped(world: World) -> None:
    world.contact(world.campaign("paused", status="paused"))
    world.contact(world.campaign("closed", status="closed"))
    nothing = world.claim(world.operator("ana"), WED_11)
    assert nothing == queue.NothingCallable("No campaign is running at the moment.", None)


# --- languages ----------------------------------------------------------------------------
def test_contacts_go_only_to_operators_speaking_their_language(world: World) -> None:
    campaign = world.campaign("c")
    turkish = world.contact(campaign, language="tr")
    french = world.contact(campaign, language="fr")
    fr_only = world.operator("ana", ("fr",))
    tr_sq = world.operator("arben", ("sq", "tr"))
    ru = world.operator("olga", ("ru",))
    assert world.claimed(fr_only, WED_11).contact_id == french
    nothing = world.claim(fr_only, WED_11)
    assert isinstance(nothing, queue.NothingCallable)
    assert nothing.reason == "No contact in your languages (fr) is waiting."
    no_ru = world.claim(ru, WED_11)
    assert isinstance(no_ru, queue.NothingCallable)
    assert no_ru.reason == "No contact in your languages (ru) is waiting."
    assert world.claimed(tr_sq, WED_11).contact_id == turkish


# --- the claim itself -----------------------------------------------------------------------
def test_claim_creates_the_attempt_and_leases_the_contact(world: World) -> None:
    campaign = world.campaign("c")
    contact_id = world.contact(campaign, "+33612345678", first_name="Lina")
    with unit_of_work(world.engine) as s:
        station = Station(name="s1")
        s.add(station)
        s.flush()
        station_id = station.id
    op = world.operator("ana")
    got = run_write(world.engine, lambda s: queue.claim_next(
        session=s, actor=op, station_id=station_id, now=WED_11, rules=open_rules(),
        lease_seconds=120))
    assert isinstance(got, queue.ClaimedContact)
    assert got.lease_expires_at == WED_11 + timedelta(seconds=120)
    attempt = world.get_attempt(got.attempt_id)
    assert (attempt.state, attempt.phone_e164, attempt.operator_id, attempt.station_id,
            attempt.contact_id, attempt.counts_against_caps) == (
        "claimed", "+33612345678", op.user_id, station_id, contact_id, True)
    contact = world.get_contact(contact_id)
    assert (contact.status, contact.lease_user_id, contact.lease_station_id) == (
        "claimed", op.user_id, station_id)
    with read_session(world.engine) as s:
        event = s.exec(select(AuditEvent).where(AuditEvent.action == "queue.claim")).one()
    assert event.actor == "ana" and event.target == f"contact:{contact_id}"
    assert "+33612345678" not in event.details


def test_claimed_contact_never_exposes_the_number(world: World) -> None:
    campaign = world.campaign("c")
    contact_id = world.contact(
        campaign, "+33612345678", first_name="Lina", last_name="Martin", company="Acme",
        custom_fields={"mobile": "06 12 34 56 78", "raw": "612345678",
                       "other": "joignable au +33 7 98 76 54 32", "plan": "Gold"})
    op = world.operator("ana")
    world.attempt(contact_id, WED_11 - timedelta(days=3), disposition="no_answer",
                  operator=op)
    got = world.claimed(op, WED_11)
    assert got.masked_number == "+33 6 •• •• •• 78"
    assert not [f.name for f in dataclasses.fields(got) if "phone" in f.name]
    for f in dataclasses.fields(got):
        text = repr(getattr(got, f.name))
        squeezed = re.sub(r"[\s.\-()]", "", text)
        for digits in ("612345678", "798765432"):
            assert digits not in squeezed, (f.name, text)
    assert dict(got.custom_fields)["plan"] == "Gold"
    assert [h.disposition for h in got.history] == ["no_answer"]
    assert got.history[0].operator_login == "ana" and got.history[0].notes == "said no_answer"


def test_numbers_in_names_company_and_notes_are_masked(world: World) -> None:
    """A client's file may put a number in a company name; a callee may give another
    number that an operator writes in the notes: the next operator sees neither."""
    campaign = world.campaign("c")
    contact_id = world.contact(
        campaign, "+33612345678", first_name="Lina", last_name="06 12 34 56 78",
        company="Taxis Martin 01 23 45 67 89")
    op = world.operator("ana")
    world.attempt(contact_id, WED_11 - timedelta(days=3), disposition="callback",
                  operator=op, notes="rappeler plutôt au 07 98 76 54 32 après 18 h, room 12")
    got = world.claimed(op, WED_11)
    shown = " ".join([got.first_name, got.last_name, got.company, got.history[0].notes])
    squeezed = re.sub(r"[\s.\-()]", "", shown)
    for digits in ("612345678", "123456789", "798765432"):
        assert digits not in squeezed, shown
    assert got.company == "Taxis Martin +33 1 •• •• •• 89"
    assert got.history[0].notes.startswith("rappeler plutôt au +33 7 •• •• •• 32 ")
    assert got.history[0].notes.endswith("après 18 h, room 12")  # short figures stay


def test_only_operators_claim(world: World) -> None:
    world.contact(world.campaign("c"))
    for role in (Role.SUPERVISOR, Role.ADMIN):
        actor = world.user(f"u-{role.value}", role=role)
        with pytest.raises(PermissionDeniedError):
            world.claim(actor, WED_11)
    with read_session(world.engine) as s:
        assert s.exec(select(CallAttempt)).first() is None


def test_disabled_operator_cannot_claim(world: World) -> None:
    world.contact(world.campaign("c"))
    op = world.operator("ana")
    with unit_of_work(world.engine) as s:
        from cellcall.models import User

        user = s.get(User, op.user_id)
        assert user is not None
        user.disabled = True
        s.add(user)
    with pytest.raises(PermissionDeniedError):
        world.claim(op, WED_11)


# --- leases -----------------------------------------------------------------------------------
def test_lease_expiry_gives_a_dead_claimer_s_contact_back(world: World) -> None:
    contact_id = world.contact(world.campaign("c"))
    dead, alive = world.operator("dead"), world.operator("alive")
    first = world.claimed(dead, WED_11)
    assert isinstance(world.claim(alive, WED_11 + timedelta(seconds=299)),
                      queue.NothingCallable)
    again = world.claimed(alive, WED_11 + timedelta(seconds=301))
    assert again.contact_id == contact_id
    expired = world.get_attempt(first.attempt_id)
    assert (expired.state, expired.result, expired.counts_against_caps) == (
        "ended", "expired", False)
    with pytest.raises(queue.LeaseLostError):
        run_write(world.engine, lambda s: queue.renew_lease(
            session=s, actor=dead, attempt_id=first.attempt_id,
            now=WED_11 + timedelta(seconds=302)))


def test_expire_leases_alone(world: World) -> None:
    contact_id = world.contact(world.campaign("c"))
    op = world.operator("ana")
    world.claimed(op, WED_11)
    assert run_write(world.engine, lambda s: queue.expire_leases(
        session=s, now=WED_11 + timedelta(seconds=299))) == 0
    assert run_write(world.engine, lambda s: queue.expire_leases(
        session=s, now=WED_11 + timedelta(seconds=301))) == 1
    assert world.get_contact(contact_id).status == "new"


def test_renew_lease(world: World) -> None:
    contact_id = world.contact(world.campaign("c"))
    ana, bob = world.operator("ana"), world.operator("bob")
    got = world.claimed(ana, WED_11)
    renewed = run_write(world.engine, lambda s: queue.renew_lease(
        session=s, actor=ana, attempt_id=got.attempt_id, now=WED_11 + timedelta(minutes=4),
        lease_seconds=300))
    assert renewed == WED_11 + timedelta(minutes=9)
    assert world.get_contact(contact_id).lease_expires_at == renewed
    # Past the original expiry, the renewed lease still holds.
    assert isinstance(world.claim(bob, WED_11 + timedelta(minutes=8)), queue.NothingCallable)
    with pytest.raises(PermissionDeniedError):
        run_write(world.engine, lambda s: queue.renew_lease(
            session=s, actor=bob, attempt_id=got.attempt_id, now=WED_11))


def test_release_gives_the_contact_back_untouched(world: World) -> None:
    campaign = world.campaign("c")
    new_id = world.contact(campaign)
    ana, bob = world.operator("ana"), world.operator("bob")
    got = world.claimed(ana, WED_11)
    run_write(world.engine, lambda s: queue.release(
        session=s, actor=ana, attempt_id=got.attempt_id, now=WED_11))
    attempt = world.get_attempt(got.attempt_id)
    assert (attempt.state, attempt.result, attempt.counts_against_caps) == (
        "ended", "released", False)
    contact = world.get_contact(new_id)
    assert (contact.status, contact.lease_user_id, contact.lease_expires_at) == ("new", None,
                                                                                 None)
    again = world.claimed(bob, WED_11)
    assert again.contact_id == new_id and again.history == ()
    # Releasing twice is harmless; releasing someone else's is refused.
    run_write(world.engine, lambda s: queue.release(
        session=s, actor=ana, attempt_id=got.attempt_id, now=WED_11))
    with pytest.raises(PermissionDeniedError):
        run_write(world.engine, lambda s: queue.release(
            session=s, actor=ana, attempt_id=again.attempt_id, now=WED_11))


def test_release_returns_a_called_contact_to_pending(world: World) -> None:
    contact_id = world.contact(world.campaign("c"), status="pending", attempts=2)
    op = world.operator("ana")
    got = world.claimed(op, WED_11)
    run_write(world.engine, lambda s: queue.release(session=s, actor=op,
                                                    attempt_id=got.attempt_id))
    assert world.get_contact(contact_id).status == "pending"


def test_release_after_dialling_is_refused(world: World) -> None:
    world.contact(world.campaign("c"))
    op = world.operator("ana")
    got = world.claimed(op, WED_11)
    with unit_of_work(world.engine) as s:
        attempt = s.get(CallAttempt, got.attempt_id)
        assert attempt is not None
        attempt.state = "dialing"
        s.add(attempt)
    with pytest.raises(ValidationError):
        run_write(world.engine, lambda s: queue.release(session=s, actor=op,
                                                        attempt_id=got.attempt_id))


# --- when nothing is callable ---------------------------------------------------------------------
def test_lunch_break_says_when(world: World) -> None:
    world.contact(world.campaign("c"))
    nothing = world.claim(world.operator("ana"), local(PARIS, 2026, 3, 4, 13, 30))
    assert nothing == queue.NothingCallable(
        "Next contact at 14:00: lunch break in the callee's time zone",
        local(PARIS, 2026, 3, 4, 14, 0))


def test_next_contact_on_another_day(world: World) -> None:
    world.contact(world.campaign("c"))
    nothing = world.claim(world.operator("ana"), local(PARIS, 2026, 3, 6, 20, 30))  # Friday
    assert isinstance(nothing, queue.NothingCallable)
    assert nothing.next_at == local(PARIS, 2026, 3, 9, 10, 0)
    assert nothing.reason == ("Next contact on Mon 9 Mar at 10:00: too late in the callee's "
                              "time zone")


def test_earliest_of_several_blocked_contacts(world: World) -> None:
    campaign = world.campaign("c")
    world.contact(campaign, "+590690000001", zones=("America/Guadeloupe",))
    world.contact(campaign, "+33600000001")
    # 09:00 in Paris (04:00 in Guadeloupe): the Paris contact opens first, at 10:00.
    nothing = world.claim(world.operator("ana"), local(PARIS, 2026, 3, 4, 9, 0))
    assert isinstance(nothing, queue.NothingCallable)
    assert nothing.next_at == local(PARIS, 2026, 3, 4, 10, 0)


def test_callee_time_zone_decides_inside_the_claim(world: World) -> None:
    campaign = world.campaign("c")
    guadeloupe = world.contact(campaign, "+590690000001", zones=("America/Guadeloupe",))
    paris = world.contact(campaign, "+33600000001")
    op = world.operator("ana")
    # 11:00 in Paris is 06:00 in Guadeloupe: the older Guadeloupe contact is skipped.
    assert world.claimed(op, WED_11).contact_id == paris
    at_ten_gp = local(GUADELOUPE, 2026, 3, 4, 10, 0)
    assert world.claimed(op, at_ten_gp).contact_id == guadeloupe


def test_finished_campaign_and_busy_colleagues(world: World) -> None:
    campaign = world.campaign("c")
    one = world.contact(campaign)
    ana, bob = world.operator("ana"), world.operator("bob")
    world.claimed(ana, WED_11)
    assert world.claim(bob, WED_11) == queue.NothingCallable(
        "Every remaining contact is with another operator right now.", None)
    world.finish(one)
    assert world.claim(bob, WED_11) == queue.NothingCallable(
        "The campaigns are finished: every contact has been handled.", None)


def test_dnc_status_and_maximum_attempts_are_never_claimed(world: World) -> None:
    campaign = world.campaign("c", max_attempts=3)
    world.contact(campaign, status="dnc")
    world.contact(campaign, status="pending", attempts=3)
    nothing = world.claim(world.operator("ana"), WED_11)
    assert isinstance(nothing, queue.NothingCallable)
    assert "maximum number of attempts" in nothing.reason


def test_candidates_are_checked_in_bounded_batches(world: World, tmp_path: Path) -> None:
    campaign = world.campaign("c")
    after_switch = local(PARIS, 2026, 8, 12, 11, 0)
    for _ in range(5):
        world.contact(campaign, consent_at=None, consent_source=None)
    with_consent = world.contact(campaign)
    shipped = Path(load_rules().source).read_text(encoding="utf-8")
    small = shipped.replace("candidates_per_batch = 20", "candidates_per_batch = 2") \
                   .replace("max_batches = 5", "max_batches = 2")
    path = tmp_path / "rules.toml"
    path.write_text(small, encoding="utf-8")
    rules = load_rules(path, site=SiteConfig(working_hours=("00:00", "24:00")))
    op = world.operator("ana")
    nothing = world.claim(op, after_switch, rules)
    assert isinstance(nothing, queue.NothingCallable)
    assert "no recorded prior consent" in nothing.reason
    assert world.claimed(op, after_switch, open_rules()).contact_id == with_consent


def test_attempts_of_other_contacts_do_not_leak_into_history(world: World) -> None:
    campaign = world.campaign("c")
    mine = world.contact(campaign)
    other = world.contact(campaign, status="pending", attempts=1,
                          next_attempt_at=WED_11 + timedelta(days=1))
    world.attempt(other, WED_11 - timedelta(days=1), disposition="busy")
    got = world.claimed(world.operator("ana"), WED_11)
    assert got.contact_id == mine and got.history == ()
    with read_session(world.engine) as s:
        rows = s.exec(select(CallAttempt).where(col(CallAttempt.contact_id) == mine)).all()
    assert len(rows) == 1


# --- the optimistic claim's write phase ---------------------------------------------------------
def test_optimistic_claim_rechecks_its_choices_under_the_lock(engine: Engine) -> None:
    """Between the read snapshot and the write, another station leases the first choice
    and the second choice's number is leased in another campaign: both are skipped."""
    world = World(engine, optimistic=True)
    campaign = world.campaign("c")
    first = world.contact(campaign, "+33600000001")
    second = world.contact(campaign, "+33600000002")
    third = world.contact(campaign, "+33600000003")
    ana, bob, carl = world.operator("ana"), world.operator("bob"), world.operator("carl")
    with read_session(engine) as s:
        begun = queue._begin(session=s, actor=ana, now=WED_11, rules=open_rules())
        assert isinstance(begun, queue._Claim)
        choices = queue._choose(begun, want=3)
    assert [c.contact_id for c in choices] == [first, second, third]
    # Meanwhile: Bob takes the first; Carl takes the second's number in another campaign.
    assert world.claimed(bob, WED_11).contact_id == first
    urgent = world.campaign("urgent", type="survey", priority=9)
    same_number = world.contact(urgent, "+33600000002")
    assert world.claimed(carl, WED_11).contact_id == same_number
    taken = run_write(engine, lambda s: queue._take(
        begun, s, actor=ana, choices=choices, station_id=None, lease_seconds=300))
    assert not isinstance(taken, queue.NothingCallable)
    assert taken[0].contact_id == third
    assert world.get_contact(second).status == "new"

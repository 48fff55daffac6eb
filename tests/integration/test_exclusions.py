"""Per-operator exclusions on a real SQLite file: the service (who may keep the lists,
normalised values, audit), the matching of each kind, and the claim that skips an excluded
contact for that operator only, without a word to them. Also the site stop in the claim."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from queue_world import PARIS, World, local
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from cellcall.db import read_session, run_write, unit_of_work
from cellcall.errors import NotFoundError, PermissionDeniedError, ValidationError
from cellcall.models import AuditEvent, OperatorExclusion, Role
from cellcall.models.floor import SiteStop
from cellcall.services import exclusions, queue
from cellcall.services.actors import Actor, shell_admin
from cellcall.services.exclusions import Screen

WED_11 = local(PARIS, 2026, 3, 4, 11, 0)


@pytest.fixture(params=["claim_next", "claim"])
def world(engine: Engine, request: pytest.FixtureRequest) -> World:
    """Both ways of claiming (one transaction, or snapshot then a short write)."""
    return World(engine, optimistic=request.param == "claim")


def exclude(engine: Engine, login: str, kind: str, value: str,
            actor: Actor | None = None) -> exclusions.ExclusionView:
    return run_write(engine, lambda s: exclusions.add_exclusion(
        session=s, actor=actor or shell_admin(), operator_login=login, kind=kind, value=value,
        note="security office"))


# --- normalising and matching ------------------------------------------------------------
@pytest.mark.parametrize(("typed", "stored"), [
    ("Jean Dupont", "jean dupont"),
    ("  JEAN   DUPONT ", "jean dupont"),
    ("Hélène Dùrand", "helene durand"),
    ("Jean-Pierre D'Arcy", "jean pierre d arcy"),
    ("ÉLODIE\tLEFÈVRE", "elodie lefevre"),
])
def test_person_is_stored_casefolded_without_accents_or_extra_spaces(typed: str,
                                                                    stored: str) -> None:
    assert exclusions.normalize_person(typed) == stored


@pytest.mark.parametrize(("typed", "stored"), [
    ("75011", "75011"), (" 75 011 ", "75011"), ("75", "75"), ("2a", "2A"),
    ("sw1a 1aa", "SW1A1AA"), ("1000-200", "1000200"),
])
def test_postal_code_is_stored_as_uppercase_letters_and_digits(typed: str, stored: str) -> None:
    assert exclusions.normalize_postal_code(typed) == stored


@pytest.mark.parametrize("typed", [
    "06 12 34 56 78", "0612345678", "+33 6 12 34 56 78", "+33612345678", "0033 6 12 34 56 78",
    "06.12.34.56.78", "+33 (0)6 12-34-56-78",
])
def test_any_notation_of_a_number_is_stored_as_e164(typed: str) -> None:
    assert exclusions.normalize_number(typed) == "+33612345678"


def test_numbers_of_other_countries_and_overseas_departments() -> None:
    assert exclusions.normalize_number("0690 12 34 56") == "+590690123456"  # Guadeloupe
    assert exclusions.normalize_number("0470 12 34 56", "BE") == "+32470123456"


@pytest.mark.parametrize("bad", ["", "   ", "Dupont", "-", "''"])
def test_a_person_needs_a_first_and_a_last_name(bad: str) -> None:
    with pytest.raises(ValidationError):
        exclusions.normalize_person(bad)


@pytest.mark.parametrize("bad", ["", "7", "75-0!1", "７５０１１", "x" * 17])
def test_bad_postal_codes_are_refused(bad: str) -> None:
    with pytest.raises(ValidationError):
        exclusions.normalize_postal_code(bad)


@pytest.mark.parametrize("bad", ["", "12", "not a number", "+999 123", "06 12 34"])
def test_bad_numbers_are_refused(bad: str) -> None:
    with pytest.raises(ValidationError):
        exclusions.normalize_number(bad)


def test_screen_matches_each_kind() -> None:
    screen = Screen(persons=frozenset({("jean", "pierre", "dupont")}),
                    postal_prefixes=("2A", "750"), numbers=frozenset({"+33612345678"}))

    def hit(first: str = "Ana", last: str = "Lopez", postal: str = "",
            phone: str = "+33699999999") -> bool:
        return screen.excludes(first_name=first, last_name=last, postal_code=postal,
                               phone_e164=phone)

    assert not hit()
    assert hit(first="Jean-Pierre", last="DUPONT")
    assert hit(first="  jéan pierre ", last="Dupont")
    assert hit(first="Dupont", last="Jean Pierre")      # the other order
    assert not hit(first="Jean", last="Dupont")           # another person
    assert hit(postal="75011") and hit(postal="750 08") and hit(postal="2a004")
    assert not hit(postal="75101") and not hit(postal="") and not hit(postal="07500")
    assert hit(phone="+33612345678")
    assert not Screen() and not Screen().excludes(first_name="Jean", last_name="Pierre Dupont",
                                                  postal_code="75011", phone_e164="+33612345678")


# --- the service -----------------------------------------------------------------------------
def test_add_list_remove_are_audited(engine: Engine) -> None:
    world = World(engine)
    world.operator("ana")
    world.operator("bob")
    chief = world.user("chief", role=Role.SUPERVISOR)
    person = exclude(engine, "ana", "person", "  Jean DUPONT ")
    postal = exclude(engine, "ana", "postal_code", "75 011", actor=chief)
    number = exclude(engine, "bob", "number", "06 12 34 56 78")
    assert (person.value, postal.value, number.value) == (
        "jean dupont", "75011", "+33612345678")
    assert postal.created_by == "chief" and person.note == "security office"
    with read_session(engine) as s:
        every = exclusions.list_exclusions(session=s, actor=shell_admin())
        anas = exclusions.list_exclusions(session=s, actor=chief, operator_login="ANA")
    assert [(v.operator_login, v.kind) for v in every] == [
        ("ana", "person"), ("ana", "postal_code"), ("bob", "number")]
    assert [v.id for v in anas] == [person.id, postal.id]
    removed = run_write(engine, lambda s: exclusions.remove_exclusion(
        session=s, actor=shell_admin(), exclusion_id=person.id))
    assert removed.value == "jean dupont"
    with read_session(engine) as s:
        left = s.exec(select(OperatorExclusion.id)).all()
        events = s.exec(select(AuditEvent).where(
            col(AuditEvent.action).startswith("exclusion."))).all()
    assert sorted(left) == sorted([postal.id, number.id])
    assert [(e.action, e.target, e.actor) for e in events] == [
        ("exclusion.add", "user:ana", shell_admin().login),
        ("exclusion.add", "user:ana", "chief"),
        ("exclusion.add", "user:bob", shell_admin().login),
        ("exclusion.remove", "user:ana", shell_admin().login)]
    assert json.loads(events[-1].details)["value"] == "jean dupont"


def test_an_operator_can_neither_read_nor_change_any_list(engine: Engine) -> None:
    world = World(engine)
    ana = world.operator("ana")
    world.operator("bob")
    kept = exclude(engine, "bob", "number", "0612345678")
    with read_session(engine) as s:
        with pytest.raises(PermissionDeniedError):
            exclusions.list_exclusions(session=s, actor=ana)
        with pytest.raises(PermissionDeniedError):
            exclusions.list_exclusions(session=s, actor=ana, operator_login="ana")
    with pytest.raises(PermissionDeniedError):
        exclude(engine, "bob", "person", "Jean Dupont", actor=ana)
    with pytest.raises(PermissionDeniedError):
        run_write(engine, lambda s: exclusions.remove_exclusion(
            session=s, actor=ana, exclusion_id=kept.id))
    with read_session(engine) as s:
        assert len(s.exec(select(OperatorExclusion)).all()) == 1


def test_refusals_write_nothing(engine: Engine) -> None:
    world = World(engine)
    world.operator("ana")
    world.user("chief", role=Role.SUPERVISOR)
    exclude(engine, "ana", "number", "0612345678")
    for login, kind, value, error in [
        ("nobody", "person", "Jean Dupont", NotFoundError),
        ("chief", "person", "Jean Dupont", ValidationError),   # not an operator
        ("ana", "colour", "red", ValidationError),
        ("ana", "number", "+33 6 12 34 56 78", ValidationError),  # already there
        ("ana", "postal_code", "7", ValidationError),
    ]:
        with pytest.raises(error):
            exclude(engine, login, kind, value)
    with pytest.raises(NotFoundError):
        run_write(engine, lambda s: exclusions.remove_exclusion(
            session=s, actor=shell_admin(), exclusion_id=999))
    with read_session(engine) as s:
        assert len(s.exec(select(OperatorExclusion)).all()) == 1
        actions = s.exec(select(AuditEvent.action)).all()
    assert actions == ["exclusion.add"]


# --- in the claim ---------------------------------------------------------------------------
def test_each_kind_sends_the_contact_to_someone_else(world: World) -> None:
    campaign = world.campaign("c")
    by_name = world.contact(campaign, first_name="JEAN-PIERRE", last_name=" Dùpont ")
    by_postal = world.contact(campaign, postal_code="75 011")
    by_number = world.contact(campaign, "+33612345678")
    free = world.contact(campaign, first_name="Jean", last_name="Dupont", postal_code="75111")
    ana, bob = world.operator("ana"), world.operator("bob")
    exclude(world.engine, "ana", "person", "jean pierre DUPONT")
    exclude(world.engine, "ana", "postal_code", "750")
    exclude(world.engine, "ana", "number", "06 12 34 56 78")
    assert world.claimed(ana, WED_11).contact_id == free
    nothing = world.claim(ana, WED_11)
    assert isinstance(nothing, queue.NothingCallable)
    # Neutral: the operator is not told that anything was kept from them.
    assert nothing.reason == "Every remaining contact is with another operator right now."
    assert [world.claimed(bob, WED_11).contact_id for _ in range(3)] == [
        by_name, by_postal, by_number]


def test_a_due_callback_is_screened_too(world: World) -> None:
    campaign = world.campaign("c")
    plain = world.contact(campaign)
    called_back = world.contact(campaign, "+33612345678", status="pending", attempts=1,
                                next_attempt_at=WED_11 - timedelta(minutes=5))
    callback = world.callback(called_back, WED_11 - timedelta(minutes=5))
    ana, bob = world.operator("ana"), world.operator("bob")
    exclude(world.engine, "ana", "number", "+33 6 12 34 56 78")
    assert world.claimed(ana, WED_11).contact_id == plain
    got = world.claimed(bob, WED_11)
    assert (got.contact_id, got.callback_id) == (called_back, callback)


def test_a_personal_callback_goes_to_anyone_once_its_operator_is_excluded(
        world: World) -> None:
    """Excluded from their own personal callback, the operator may no longer take it and
    nobody else could: the exclusion makes it a callback for anyone (audited), without a
    word to the operator. Their other personal callbacks stay theirs."""
    campaign = world.campaign("c")
    ana, bob = world.operator("ana"), world.operator("bob")
    contact = world.contact(campaign, postal_code="13001", status="pending", attempts=1,
                            next_attempt_at=WED_11 - timedelta(minutes=1))
    kept = world.contact(campaign, postal_code="69001", status="pending", attempts=1,
                         next_attempt_at=WED_11 - timedelta(minutes=1))
    released = world.callback(contact, WED_11 - timedelta(minutes=1), personal=ana)
    own = world.callback(kept, WED_11 - timedelta(minutes=1), personal=ana)
    exclude(world.engine, "ana", "postal_code", "13")
    got = world.claimed(ana, WED_11)
    assert (got.contact_id, got.callback_id) == (kept, own)
    nothing = world.claim(ana, WED_11)
    assert isinstance(nothing, queue.NothingCallable)
    assert "13" not in nothing.reason and "exclu" not in nothing.reason.lower()
    got = world.claimed(bob, WED_11)
    assert (got.contact_id, got.callback_id) == (contact, released)
    with read_session(world.engine) as session:
        [row] = session.exec(select(AuditEvent).where(
            col(AuditEvent.action) == "exclusion.add")).all()
    assert json.loads(row.details)["callbacks_released"] == 1


def test_the_skip_is_audited_for_the_security_office_only(world: World) -> None:
    campaign = world.campaign("c")
    hidden = world.contact(campaign, first_name="Jean", last_name="Dupont")
    shown = world.contact(campaign)
    ana = world.operator("ana")
    exclude(world.engine, "ana", "person", "Jean Dupont")
    got = world.claimed(ana, WED_11)
    assert got.contact_id == shown
    with read_session(world.engine) as s:
        events = s.exec(select(AuditEvent).where(AuditEvent.action == "queue.screened")).all()
        claims = s.exec(select(AuditEvent).where(AuditEvent.action == "queue.claim")).all()
    assert len(events) == 1 and events[0].actor == "system"
    assert events[0].target == "user:ana"
    assert json.loads(events[0].details)["contact_ids"] == [hidden]
    # The claim's own audit row, the one tied to the operator, says nothing about it.
    assert claims[0].target == f"contact:{shown}"
    assert set(json.loads(claims[0].details)) == {"attempt_id", "callback_id", "campaign",
                                                  "station_id"}


def test_exclusions_of_one_operator_do_not_touch_another(world: World) -> None:
    campaign = world.campaign("c")
    first = world.contact(campaign, postal_code="75011")
    ana = world.operator("ana")
    world.operator("bob")
    exclude(world.engine, "bob", "postal_code", "75")
    assert world.claimed(ana, WED_11).contact_id == first


def test_a_removed_exclusion_no_longer_applies(world: World) -> None:
    campaign = world.campaign("c")
    contact = world.contact(campaign, "+33612345678")
    ana = world.operator("ana")
    kept = exclude(world.engine, "ana", "number", "0612345678")
    assert isinstance(world.claim(ana, WED_11), queue.NothingCallable)
    run_write(world.engine, lambda s: exclusions.remove_exclusion(
        session=s, actor=shell_admin(), exclusion_id=kept.id))
    assert world.claimed(ana, WED_11).contact_id == contact


# --- the site stop --------------------------------------------------------------------------
def test_nothing_is_given_while_the_site_is_stopped(world: World) -> None:
    campaign = world.campaign("c")
    contact = world.contact(campaign)
    ana = world.operator("ana")
    with unit_of_work(world.engine) as s:
        stop = SiteStop(reason="alarm in block B", started_by="chief")
        s.add(stop)
        s.flush()
        stop_id = stop.id
    nothing = world.claim(ana, WED_11)
    assert isinstance(nothing, queue.NothingCallable)
    assert nothing.reason == "Calls are stopped on the whole site: alarm in block B"
    assert nothing.next_at is None
    assert world.get_contact(contact).status == "new"
    with unit_of_work(world.engine) as s:
        row = s.get(SiteStop, stop_id)
        assert row is not None
        row.lifted_at = WED_11
        row.lifted_by = "chief"
        s.add(row)
    assert world.claimed(ana, WED_11).contact_id == contact

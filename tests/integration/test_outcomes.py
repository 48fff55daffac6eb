"""Wrap-up outcomes on real SQLite files: validation per disposition, retry rules, the
contact's next state, callbacks, appointments (double booking, two processes racing), DNC."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from cellcall.db import read_session, run_write, unit_of_work
from cellcall.errors import NotFoundError, PermissionDeniedError, ValidationError
from cellcall.models import (
    Appointment,
    AuditEvent,
    CallAttempt,
    Callback,
    Campaign,
    Client,
    Contact,
    DoNotCallEntry,
    Outcome,
    Role,
    Station,
    SurveyAnswer,
    User,
    VerificationCorrection,
)
from cellcall.services import audit
from cellcall.services.actors import Actor
from cellcall.services.outcomes import (
    OutcomeInput,
    dispositions_for,
    free_slots,
    record_outcome,
)
from cellcall.services.scripts import CallScript, script_for

# Monday 2 March 2026, 09:00 in Paris (UTC+1).
NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)

SCRIPT: dict[str, Any] = {
    "title": "Test",
    "languages": ["fr"],
    "start": "hello",
    "nodes": {"hello": {"text": "Bonjour", "choices": [{"label": "ok", "goto": "bye"}]},
              "bye": {"text": "Au revoir"}},
    "objections": [{"key": "no_time", "label": "Pas le temps", "text": "Deux minutes"}],
    "survey": [
        {"key": "sat", "kind": "scale", "min": 1, "max": 5, "label": "Satisfaction"},
        {"key": "chan", "kind": "single", "options": ["store", "web"], "label": "Channel"},
        {"key": "likes", "kind": "multiple", "options": ["price", "quality", "staff"],
         "label": "Likes"},
        {"key": "comment", "kind": "text", "required": False, "label": "Comment"},
    ],
    "calendar": {"timezone": "Europe/Paris", "days": [0, 1, 2, 3, 4],
                 "hours": [["09:00", "12:00"], ["14:00", "17:30"]], "slot_minutes": 30,
                 "horizon_days": 14},
    "verification": [{"key": "company", "label": "Company"},
                     {"key": "address", "label": "Address"},
                     {"key": "siret", "label": "SIRET"}],
    "dispositions": ["appointment_set", "callback", "not_interested", "no_answer", "busy",
                     "answering_machine", "do_not_call", "language_barrier", "completed",
                     "wrong_number"],
}


@dataclass
class World:
    engine: Engine
    script: CallScript
    campaign_id: int
    op: Actor
    other: Actor
    station_id: int


def _user(session: Session, login: str, role: Role = Role.OPERATOR) -> User:
    user = User(login=login, display_name=login.title(), role=role, languages=["fr"],
                password_hash="x", must_change_password=False)
    session.add(user)
    session.flush()
    return user


@pytest.fixture
def script_path(tmp_path: Path) -> Path:
    path = tmp_path / "script.yaml"
    path.write_text(yaml.safe_dump(SCRIPT, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture
def world(engine: Engine, script_path: Path) -> World:
    with unit_of_work(engine) as s:
        client = Client(name="Solis")
        s.add(client)
        s.flush()
        campaign = Campaign(slug="test", name="Test", client_id=client.id or 0,
                            type="appointment", audience="business", country="FR",
                            languages=["fr"], script_path=str(script_path), max_attempts=4)
        s.add(campaign)
        station = Station(name="poste-01")
        s.add(station)
        op, other = _user(s, "karim"), _user(s, "lea")
        s.flush()
        ids = (campaign.id or 0, station.id or 0, op.id, other.id)
    return World(engine, script_for(script_path, "fr"), ids[0],
                 Actor("karim", Role.OPERATOR, ids[2], ids[1]),
                 Actor("lea", Role.OPERATOR, ids[3], ids[1]), ids[1])


def claim(w: World, *, phone: str = "+33612345678", zones: tuple[str, ...] = ("Europe/Paris",),
          attempts: int = 0, operator: Actor | None = None, counts: bool = True,
          company: str = "ACME", custom: dict[str, Any] | None = None,
          contact_id: int | None = None) -> int:
    """A contact leased to the operator and its claimed attempt, as the queue leaves them."""
    op = operator or w.op
    with unit_of_work(w.engine) as s:
        if contact_id is None:
            contact = Contact(campaign_id=w.campaign_id, first_name="Ana", last_name="Pop",
                              company=company, phone_e164=phone, time_zones=list(zones),
                              custom_fields=custom or {"address": "1 rue Haute"},
                              attempts=attempts)
        else:
            found = s.get(Contact, contact_id)
            assert found is not None
            contact = found
        contact.status = "claimed"
        contact.lease_user_id = op.user_id
        contact.lease_station_id = w.station_id
        contact.lease_expires_at = NOW + timedelta(minutes=5)
        s.add(contact)
        s.flush()
        attempt = CallAttempt(contact_id=contact.id or 0, campaign_id=w.campaign_id,
                              operator_id=op.user_id or 0, station_id=w.station_id,
                              phone_e164=phone, claimed_at=NOW - timedelta(minutes=3),
                              counts_against_caps=counts)
        s.add(attempt)
        s.flush()
        return attempt.id or 0


def record(w: World, attempt_id: int, data: OutcomeInput, *, actor: Actor | None = None,
           now: datetime = NOW, with_script: bool = True) -> int:
    script = w.script if with_script else None
    return run_write(w.engine, lambda s: record_outcome(
        session=s, actor=actor or w.op, attempt_id=attempt_id, data=data, script=script,
        now=now))


def contact_of(w: World, attempt_id: int) -> Contact:
    with read_session(w.engine) as s:
        attempt = s.get(CallAttempt, attempt_id)
        assert attempt is not None
        contact = s.get(Contact, attempt.contact_id)
        assert contact is not None
        return contact


def attempt_of(w: World, attempt_id: int) -> CallAttempt:
    with read_session(w.engine) as s:
        attempt = s.get(CallAttempt, attempt_id)
        assert attempt is not None
        return attempt


def rows(w: World, model: Any) -> list[Any]:
    with read_session(w.engine) as s:
        return list(s.exec(select(model)).all())


def assert_nothing_written(w: World, attempt_id: int) -> None:
    assert rows(w, Outcome) == []
    assert attempt_of(w, attempt_id).state == "claimed"
    assert contact_of(w, attempt_id).status == "claimed"
    assert [e for e in rows(w, AuditEvent) if e.action == "outcome"] == []


def paris(h: int, m: int = 0, day: int = 2) -> datetime:
    """A wall time in Paris in March 2026 (UTC+1 before the 29th) as aware UTC."""
    return datetime(2026, 3, day, h - 1, m, tzinfo=UTC)


# --- the dispositions offered ------------------------------------------------------------

def test_dispositions_for(world: World) -> None:
    specs = dispositions_for(campaign_type="survey", script=world.script, configured=["busy"])
    keys = [d.key for d in specs]
    assert keys == list(SCRIPT["dispositions"])  # the script's list overrides the campaign's
    by_key = {d.key: d for d in specs}
    assert by_key["appointment_set"].needs == {"appointment"}
    assert by_key["callback"].needs == {"callback"} and not by_key["callback"].final
    assert by_key["completed"].needs == {"survey", "verification"}
    assert by_key["completed"].label == "Survey completed"
    assert by_key["do_not_call"].final and not by_key["busy"].final
    # No script: the campaign's list, and no appointment without a calendar to book from.
    plain = dispositions_for(campaign_type="prospecting", script=None,
                             configured=["appointment_set", "busy", "busy", "completed"])
    assert [(d.key, d.needs) for d in plain] == [("busy", frozenset()),
                                                 ("completed", frozenset())]
    with pytest.raises(ValidationError, match="Unknown outcome 'hung_up'"):
        dispositions_for(campaign_type="survey", script=None, configured=["hung_up"])


def test_a_disposition_outside_the_campaign_is_refused(world: World) -> None:
    with unit_of_work(world.engine) as s:
        campaign = s.get(Campaign, world.campaign_id)
        assert campaign is not None
        campaign.dispositions = ["not_interested", "no_answer"]
        s.add(campaign)
    a = claim(world)
    with pytest.raises(ValidationError, match="Choose one of this campaign's outcomes"):
        record(world, a, OutcomeInput("language_barrier"), with_script=False)
    assert_nothing_written(world, a)
    # Results the phone engine decides are always accepted.
    record(world, a, OutcomeInput("technical_failure"), with_script=False)
    assert attempt_of(world, a).result == "technical_failure"


# --- appointment -------------------------------------------------------------------------

def test_free_slots_skip_the_past_closed_days_and_booked_slots(world: World) -> None:
    cal = world.script.calendar
    assert cal is not None
    with read_session(world.engine) as s:
        slots = free_slots(session=s, campaign_id=world.campaign_id, calendar=cal, now=NOW,
                           limit=500)
    assert slots[0] == paris(9, 30)  # 09:00 is now, not the future
    assert paris(12, 0) not in slots and paris(11, 30) in slots
    assert paris(17, 0) in slots and paris(17, 30) not in slots
    assert all(s.weekday() < 5 for s in slots)
    # Fourteen days ahead: two weeks of week days, the first morning slot gone.
    assert len(slots) == 10 * 13 - 1
    a = claim(world)
    record(world, a, OutcomeInput("appointment_set", appointment_start=paris(10)))
    with read_session(world.engine) as s:
        after = free_slots(session=s, campaign_id=world.campaign_id, calendar=cal, now=NOW,
                           limit=3)
    assert after == [paris(9, 30), paris(10, 30), paris(11)]


def test_free_slots_across_the_clock_change(world: World) -> None:
    cal = world.script.calendar
    assert cal is not None
    now = datetime(2026, 3, 27, 20, 0, tzinfo=UTC)  # Friday evening
    with read_session(world.engine) as s:
        slots = free_slots(session=s, campaign_id=world.campaign_id, calendar=cal, now=now,
                           limit=1)
    # Monday 30 March, 09:00 in Paris, summer time (UTC+2).
    assert slots == [datetime(2026, 3, 30, 7, 0, tzinfo=UTC)]


def test_appointment_set(world: World) -> None:
    a = claim(world)
    oid = record(world, a, OutcomeInput("appointment_set", appointment_start=paris(14, 30),
                                        notes="Wants a visit", script_path=("hello", "bye"),
                                        wrapup_seconds=42.5))
    (appt,) = rows(world, Appointment)
    assert (appt.outcome_id, appt.slot_start, appt.slot_end) == (
        oid, paris(14, 30), paris(15))
    (outcome,) = rows(world, Outcome)
    assert outcome.script_path == ["hello", "bye"] and outcome.wrapup_seconds == 42.5
    assert outcome.notes == "Wants a visit" and outcome.operator_id == world.op.user_id
    attempt = attempt_of(world, a)
    assert (attempt.state, attempt.result, attempt.ended_at) == ("ended", "appointment_set", NOW)
    contact = contact_of(world, a)
    assert (contact.status, contact.attempts, contact.next_attempt_at) == ("done", 1, None)
    assert (contact.lease_user_id, contact.lease_station_id, contact.lease_expires_at) == (
        None, None, None)


@pytest.mark.parametrize(("start", "message"), [
    (None, "Choose an appointment slot"),
    (paris(9, 10), "not a slot of the campaign's calendar"),
    (paris(12, 30), "not a slot of the campaign's calendar"),
    (paris(10, day=7), "not a slot of the campaign's calendar"),  # Saturday
    (paris(10, day=27) + timedelta(days=3), "not a slot"),  # beyond the 14-day horizon
    (paris(8, 30), "in the past"),
    (datetime(2026, 3, 2, 10, 0), "must carry its time zone"),
])
def test_appointment_refusals(world: World, start: datetime | None, message: str) -> None:
    a = claim(world)
    with pytest.raises(ValidationError, match=message):
        record(world, a, OutcomeInput("appointment_set", appointment_start=start))
    assert_nothing_written(world, a)


def test_a_booked_slot_cannot_be_booked_again(world: World) -> None:
    first = claim(world)
    second = claim(world, phone="+33612345679")
    record(world, first, OutcomeInput("appointment_set", appointment_start=paris(10)))
    with pytest.raises(ValidationError, match="This slot was just taken"):
        record(world, second, OutcomeInput("appointment_set", appointment_start=paris(10)))
    assert len(rows(world, Appointment)) == 1
    assert len(rows(world, Outcome)) == 1
    assert attempt_of(world, second).state == "claimed"
    record(world, second, OutcomeInput("appointment_set", appointment_start=paris(10, 30)))
    assert len(rows(world, Appointment)) == 2


RACER = textwrap.dedent("""
    import json, sys
    from datetime import datetime
    from cellcall.db import make_engine, run_write
    from cellcall.errors import CellcallError
    from cellcall.models import Role
    from cellcall.services.actors import Actor
    from cellcall.services.outcomes import OutcomeInput, record_outcome
    from cellcall.services.scripts import script_for
    db, script, attempt, user, slot, now, go = sys.argv[1:8]
    engine = make_engine("sqlite:///" + db)
    actor = Actor("op" + user, Role.OPERATOR, int(user))
    data = OutcomeInput("appointment_set", appointment_start=datetime.fromisoformat(slot))
    loaded = script_for(script, "fr")
    import os, time
    while not os.path.exists(go):
        time.sleep(0.005)
    try:
        oid = run_write(engine, lambda s: record_outcome(
            session=s, actor=actor, attempt_id=int(attempt), data=data, script=loaded,
            now=datetime.fromisoformat(now)))
        print(json.dumps({"ok": oid}))
    except CellcallError as exc:
        print(json.dumps({"error": str(exc)}))
""")


@pytest.mark.slow
def test_two_processes_racing_for_one_slot(world: World, db_path: Path, script_path: Path,
                                           tmp_path: Path) -> None:
    first = claim(world)
    second = claim(world, phone="+33612345679", operator=world.other)
    go = tmp_path / "go"
    slot = paris(15).isoformat()
    procs = [subprocess.Popen(
        [sys.executable, "-c", RACER, str(db_path), str(script_path), str(attempt),
         str(actor.user_id), slot, NOW.isoformat(), str(go)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))
        for attempt, actor in ((first, world.op), (second, world.other))]
    go.touch()
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    oks = [r for r in results if "ok" in r]
    errors = [r["error"] for r in results if "error" in r]
    assert len(oks) == 1, results
    assert len(errors) == 1 and "This slot was just taken" in errors[0]
    (appt,) = rows(world, Appointment)
    assert appt.slot_start == paris(15)
    assert len(rows(world, Outcome)) == 1


# --- callback -------------------------------------------------------------------------------

def test_callback_in_the_callees_local_time_guadeloupe(world: World) -> None:
    a = claim(world, phone="+590690123456", zones=("America/Guadeloupe",))
    oid = record(world, a, OutcomeInput("callback", callback_local=datetime(2026, 3, 3, 10, 0),
                                        callback_personal=True))
    (cb,) = rows(world, Callback)
    assert cb.due_at == datetime(2026, 3, 3, 14, 0, tzinfo=UTC)
    assert (cb.outcome_id, cb.personal_operator_id, cb.status) == (
        oid, world.op.user_id, "pending")
    contact = contact_of(world, a)
    assert (contact.status, contact.next_attempt_at) == ("pending", cb.due_at)
    assert contact.lease_user_id is None


def test_callback_for_anyone_and_time_zone_from_the_number(world: World) -> None:
    # No zone stored: the number's (Martinique, UTC-4) is used.
    a = claim(world, phone="+596696123456", zones=())
    record(world, a, OutcomeInput("callback", callback_local=datetime(2026, 3, 2, 9, 30),
                                  callback_personal=False))
    (cb,) = rows(world, Callback)
    assert cb.due_at == datetime(2026, 3, 2, 13, 30, tzinfo=UTC)
    assert cb.personal_operator_id is None


@pytest.mark.parametrize(("local", "message"), [
    (None, "Enter the callback time"),
    (datetime(2026, 3, 2, 8, 59), "must be in the future"),  # 08:59 Paris = 07:59 UTC
    (datetime(2026, 3, 2, 10, 0, tzinfo=UTC), "callee's local time"),
    (datetime(2026, 3, 29, 2, 30), "does not exist in the callee's time zone"),
    (datetime(2026, 7, 1, 10, 0), "at most 90 days ahead"),
])
def test_callback_refusals(world: World, local: datetime | None, message: str) -> None:
    a = claim(world)
    with pytest.raises(ValidationError, match=message):
        record(world, a, OutcomeInput("callback", callback_local=local))
    assert_nothing_written(world, a)
    assert rows(world, Callback) == []


def test_a_served_callback_is_done_and_later_ones_end_with_a_final_outcome(
        world: World) -> None:
    a = claim(world)
    contact_id = contact_of(world, a).id
    with unit_of_work(world.engine) as s:
        s.add(Callback(contact_id=contact_id or 0, campaign_id=world.campaign_id,
                       due_at=NOW - timedelta(minutes=10), personal_operator_id=world.op.user_id))
        s.add(Callback(contact_id=contact_id or 0, campaign_id=world.campaign_id,
                       due_at=NOW + timedelta(days=1)))
    record(world, a, OutcomeInput("no_answer"))
    statuses = sorted((c.due_at, c.status) for c in rows(world, Callback))
    assert [st for _, st in statuses] == ["done", "pending"]
    b = claim(world, contact_id=contact_id)
    record(world, b, OutcomeInput("not_interested"))
    assert sorted(c.status for c in rows(world, Callback)) == ["cancelled", "done"]


# --- survey ---------------------------------------------------------------------------------

GOOD_SURVEY = {"sat": 4, "chan": "web", "likes": ["staff", "price"], "comment": ""}


def test_survey_answers_are_stored(world: World) -> None:
    a = claim(world)
    oid = record(world, a, OutcomeInput("completed", survey_answers=GOOD_SURVEY))
    answers = {r.question_key: r.answer for r in rows(world, SurveyAnswer)}
    # The blank optional comment is not stored; choices keep the script's order.
    assert answers == {"sat": 4, "chan": "web", "likes": ["price", "staff"]}
    assert all(r.outcome_id == oid for r in rows(world, SurveyAnswer))
    assert contact_of(world, a).status == "done"


def test_survey_scale_given_as_text_and_a_long_comment(world: World) -> None:
    a = claim(world)
    record(world, a, OutcomeInput("completed", survey_answers={
        **GOOD_SURVEY, "sat": "5", "comment": "x" * 2000}))
    answers = {r.question_key: r.answer for r in rows(world, SurveyAnswer)}
    assert answers["sat"] == 5 and len(answers["comment"]) == 2000


@pytest.mark.parametrize(("change", "message"), [
    ({"sat": None}, "Answer the question 'Satisfaction'"),
    ({"sat": 0}, "'Satisfaction': choose a number from 1 to 5"),
    ({"sat": 6}, "from 1 to 5"),
    ({"sat": True}, "from 1 to 5"),
    ({"sat": "4.5"}, "from 1 to 5"),
    ({"chan": "phone"}, "'Channel': choose one of the options"),
    ({"chan": ["web"]}, "choose one of the options"),
    ({"likes": []}, "Answer the question 'Likes'"),
    ({"likes": ["price", "price"]}, "'Likes': choose among the options"),
    ({"likes": ["price", "smell"]}, "choose among the options"),
    ({"likes": "price"}, "choose among the options"),
    ({"comment": "x" * 2001}, "'Comment': at most 2000 characters"),
    ({"comment": 12}, "'Comment': write an answer"),
    ({"age": 40}, "Unknown survey question 'age'"),
])
def test_survey_refusals(world: World, change: dict[str, object], message: str) -> None:
    a = claim(world)
    with pytest.raises(ValidationError, match=message):
        record(world, a, OutcomeInput("completed", survey_answers={**GOOD_SURVEY, **change}))
    assert_nothing_written(world, a)
    assert rows(world, SurveyAnswer) == []


# --- verification ---------------------------------------------------------------------------

def test_corrections_are_kept_beside_the_originals(world: World) -> None:
    a = claim(world, company="ACME", custom={"address": "1 rue Haute", "siret": 12345})
    oid = record(world, a, OutcomeInput("completed", survey_answers=GOOD_SURVEY, corrections={
        "company": "ACME SAS", "address": "1 rue Haute", "siret": "12346"}))
    got = sorted((r.field_name, r.original_value, r.corrected_value, r.outcome_id)
                 for r in rows(world, VerificationCorrection))
    # The unchanged address is not a correction.
    assert got == [("company", "ACME", "ACME SAS", oid), ("siret", "12345", "12346", oid)]
    contact = contact_of(world, a)
    assert contact.company == "ACME"  # the original stays on the contact


@pytest.mark.parametrize(("corrections", "message"), [
    ({"phone": "+33600000000"}, "Unknown field to verify 'phone'"),
    ({"company": "x" * 501}, "at most 500 characters"),
])
def test_correction_refusals(world: World, corrections: dict[str, str], message: str) -> None:
    a = claim(world)
    with pytest.raises(ValidationError, match=message):
        record(world, a, OutcomeInput("completed", survey_answers=GOOD_SURVEY,
                                      corrections=corrections))
    assert_nothing_written(world, a)


# --- common fields -----------------------------------------------------------------------------

def test_notes_are_stored_as_given_up_to_4000_characters(world: World) -> None:
    a = claim(world)
    notes = "[red]x[/] [@click=app.quit]y[/] \x1b]52;c;aGk=\x07 " + "n" * 3900
    with pytest.raises(ValidationError, match="Notes: at most 4000"):
        record(world, a, OutcomeInput("not_interested", notes="n" * 4001))
    assert_nothing_written(world, a)
    record(world, a, OutcomeInput("not_interested", notes=notes))
    (outcome,) = rows(world, Outcome)
    assert outcome.notes == notes


@pytest.mark.parametrize(("data", "message"), [
    (OutcomeInput("busy", script_path=("hello", "nowhere")), "step the script does not have"),
    (OutcomeInput("busy", script_path=("objection:nope",)), "step the script does not have"),
    (OutcomeInput("busy", wrapup_seconds=-1.0), "wrap-up duration"),
    (OutcomeInput("busy", wrapup_seconds=float("nan")), "wrap-up duration"),
])
def test_common_refusals(world: World, data: OutcomeInput, message: str) -> None:
    a = claim(world)
    with pytest.raises(ValidationError, match=message):
        record(world, a, data)
    assert_nothing_written(world, a)


def test_path_with_an_objection_is_kept(world: World) -> None:
    a = claim(world)
    record(world, a, OutcomeInput("busy", script_path=("hello", "objection:no_time", "bye")))
    assert rows(world, Outcome)[0].script_path == ["hello", "objection:no_time", "bye"]


# --- retry rules and attempts --------------------------------------------------------------

@pytest.mark.parametrize(("disposition", "minutes"), [
    ("no_answer", 120), ("busy", 15), ("answering_machine", 240), ("language_barrier", 60),
])
def test_retry_rules(world: World, disposition: str, minutes: int) -> None:
    a = claim(world)
    record(world, a, OutcomeInput(disposition))
    contact = contact_of(world, a)
    assert contact.status == "pending"
    assert contact.next_attempt_at == NOW + timedelta(minutes=minutes)
    assert contact.attempts == 1 and contact.lease_user_id is None
    assert attempt_of(world, a).result == disposition


def test_the_campaigns_own_retry_rules(world: World) -> None:
    with unit_of_work(world.engine) as s:
        campaign = s.get(Campaign, world.campaign_id)
        assert campaign is not None
        campaign.retry_rules = {"no_answer": 30, "busy": 5}
        s.add(campaign)
    a = claim(world)
    record(world, a, OutcomeInput("no_answer"))
    assert contact_of(world, a).next_attempt_at == NOW + timedelta(minutes=30)


@pytest.mark.parametrize("disposition", ["not_interested", "wrong_number", "completed"])
def test_final_dispositions_end_the_contact(world: World, disposition: str) -> None:
    a = claim(world)
    data = OutcomeInput(disposition, survey_answers=GOOD_SURVEY)
    record(world, a, data)
    contact = contact_of(world, a)
    assert (contact.status, contact.next_attempt_at) == ("done", None)


def test_the_last_allowed_attempt_ends_the_contact(world: World) -> None:
    a = claim(world, attempts=2)
    record(world, a, OutcomeInput("no_answer"))
    assert contact_of(world, a).status == "pending"
    b = claim(world, contact_id=contact_of(world, a).id)
    record(world, b, OutcomeInput("busy"))
    contact = contact_of(world, b)
    assert (contact.attempts, contact.status, contact.next_attempt_at) == (4, "done", None)


def test_an_agreed_callback_stands_past_the_attempt_limit(world: World) -> None:
    a = claim(world, attempts=3)
    record(world, a, OutcomeInput("callback", callback_local=datetime(2026, 3, 3, 10, 0)))
    contact = contact_of(world, a)
    assert (contact.attempts, contact.status) == (4, "pending")


def test_attempts_that_do_not_count(world: World) -> None:
    a = claim(world, attempts=3, counts=False)
    record(world, a, OutcomeInput("no_answer"))
    contact = contact_of(world, a)
    assert (contact.attempts, contact.status) == (3, "pending")
    b = claim(world, contact_id=contact.id)
    record(world, b, OutcomeInput("technical_failure"))
    contact = contact_of(world, b)
    assert (contact.attempts, contact.next_attempt_at) == (3, NOW + timedelta(minutes=5))


def test_a_contact_someone_else_holds_now_keeps_their_lease(world: World) -> None:
    a = claim(world)
    with unit_of_work(world.engine) as s:  # the lease lapsed and Léa claimed the contact
        contact = s.get(Contact, contact_of(world, a).id)
        assert contact is not None
        contact.lease_user_id = world.other.user_id
        s.add(contact)
    record(world, a, OutcomeInput("no_answer"))
    contact = contact_of(world, a)
    assert (contact.attempts, contact.status, contact.lease_user_id) == (
        1, "claimed", world.other.user_id)
    assert attempt_of(world, a).state == "ended"


# --- do not call -------------------------------------------------------------------------------

def test_do_not_call_adds_the_number_to_the_list(world: World) -> None:
    a = claim(world, phone="+33612345670")
    record(world, a, OutcomeInput("do_not_call", notes="secret note"))
    (entry,) = rows(world, DoNotCallEntry)
    assert (entry.phone_e164, entry.source) == ("+33612345670", "callee-request")
    contact = contact_of(world, a)
    assert (contact.status, contact.next_attempt_at) == ("dnc", None)
    events = [e for e in rows(world, AuditEvent) if e.action == "outcome"]
    assert len(events) == 1
    details = json.loads(events[0].details)
    assert details["disposition"] == "do_not_call" and details["attempt_id"] == a
    assert "612345670" not in events[0].details + events[0].target
    assert "secret" not in events[0].details
    with read_session(world.engine) as s:
        assert audit.verify(session=s).ok


def test_the_same_number_asked_twice_has_one_entry(world: World) -> None:
    a = claim(world, phone="+33612345670")
    record(world, a, OutcomeInput("do_not_call"))
    with unit_of_work(world.engine) as s:  # the same person, in another campaign
        campaign = s.get(Campaign, world.campaign_id)
        assert campaign is not None
        other = Campaign(slug="other", name="Other", client_id=campaign.client_id,
                         type="survey", audience="consumer", country="FR", languages=["fr"])
        s.add(other)
        s.flush()
        world.campaign_id = other.id or 0
    b = claim(world, phone="+33612345670")
    record(world, b, OutcomeInput("do_not_call"))
    assert len(rows(world, DoNotCallEntry)) == 1
    assert contact_of(world, b).status == "dnc"


# --- who may record, and how often --------------------------------------------------------------

def test_only_the_operator_holding_the_call_records_it(world: World) -> None:
    a = claim(world)
    with pytest.raises(PermissionDeniedError, match="not yours"):
        record(world, a, OutcomeInput("busy"), actor=world.other)
    supervisor = Actor("sup", Role.SUPERVISOR, world.op.user_id)
    with pytest.raises(PermissionDeniedError):
        record(world, a, OutcomeInput("busy"), actor=supervisor)
    with pytest.raises(PermissionDeniedError):
        record(world, a, OutcomeInput("busy"), actor=Actor("nobody", Role.OPERATOR, None))
    assert_nothing_written(world, a)
    with pytest.raises(NotFoundError):
        record(world, a + 999, OutcomeInput("busy"))


def test_an_outcome_is_recorded_once(world: World) -> None:
    a = claim(world)
    record(world, a, OutcomeInput("no_answer"))
    with pytest.raises(ValidationError, match="already recorded"):
        record(world, a, OutcomeInput("not_interested"))
    (outcome,) = rows(world, Outcome)
    assert outcome.disposition == "no_answer"
    assert contact_of(world, a).status == "pending"

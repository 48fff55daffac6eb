"""The professional title's modules per operator, sign-off, and coaching notes (own only)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from cellcall.db import read_session, run_write
from cellcall.errors import NotFoundError, PermissionDeniedError, ValidationError
from cellcall.i18n import set_language
from cellcall.services import training
from cellcall.services.actors import shell_admin
from foundation_support import snapshot
from quality_support import QualitySite, add_call, audit_actions, quality_fixtures

T0 = datetime(2026, 9, 10, 8, 0, tzinfo=UTC)


template, site, engine = quality_fixtures("training")


def test_the_titles_modules() -> None:
    modules = training.modules()
    assert {m.ccp_code for m in modules} == {"CCP1", "CCP2"}
    assert len({m.code for m in modules}) == len(modules) >= 6
    assert all(m.planned_hours > 0 and m.title and m.title_en for m in modules)
    assert modules[0].ccp_title.startswith("Représenter l'entreprise")


def test_a_new_operator_has_every_module_at_its_default(site: QualitySite,
                                                        engine: Engine) -> None:
    with read_session(engine) as s:
        rows = training.training_record(session=s, actor=site.actor("sam"),
                                        operator_login="olga")
    assert [r.code for r in rows] == [m.code for m in training.modules()]
    assert all(r.done_hours == 0 and r.signed_off_by is None for r in rows)
    assert rows[0].planned_hours == training.modules()[0].planned_hours
    set_language("fr")
    try:
        with read_session(engine) as s:
            french = training.training_record(session=s, actor=site.actor("sam"),
                                              operator_login="olga")
    finally:
        set_language("en")
    assert french[0].title == training.modules()[0].title
    assert rows[0].title == training.modules()[0].title_en


def test_hours_and_sign_off(site: QualitySite, engine: Engine) -> None:
    sam = site.actor("sam")
    code = training.modules()[2].code
    row = run_write(engine, lambda s: training.set_module_hours(
        session=s, actor=sam, operator_login="olga", code=code, planned_hours=80,
        done_hours=12.5))
    assert (row.planned_hours, row.done_hours, row.signed_off_by) == (80, 12.5, None)
    row = run_write(engine, lambda s: training.set_module_hours(
        session=s, actor=shell_admin(), operator_login="olga", code=code, done_hours=80))
    assert (row.planned_hours, row.done_hours) == (80, 80)
    at = datetime(2026, 9, 30, 15, 0, tzinfo=UTC)
    row = run_write(engine, lambda s: training.sign_off(session=s, actor=sam,
                                                        operator_login="olga", code=code,
                                                        now=at))
    assert (row.signed_off_by, row.signed_off_at) == ("sam", at)
    with pytest.raises(ValidationError, match="already signed off"):
        run_write(engine, lambda s: training.sign_off(session=s, actor=site.actor("sue"),
                                                      operator_login="olga", code=code))
    hours = audit_actions(site.path, "training.hours")
    assert [h[0] for h in hours] == ["sam", shell_admin().login]
    assert json.loads(hours[1][2])["before"] == {"planned_hours": 80, "done_hours": 12.5}
    signed = audit_actions(site.path, "training.sign_off")
    assert len(signed) == 1 and signed[0][:2] == ("sam", "user:olga")
    with read_session(engine) as s:
        other = training.training_record(session=s, actor=sam, operator_login="omar")
    assert all(r.done_hours == 0 for r in other)


@pytest.mark.parametrize(("kwargs", "error", "words"), [
    ({"code": "CCP9-X"}, NotFoundError, "No training module"),
    ({"done_hours": -1}, ValidationError, "from 0"),
    ({"done_hours": float("nan")}, ValidationError, "from 0"),
    ({"planned_hours": 5000}, ValidationError, "from 0"),
    ({"done_hours": None}, ValidationError, "Give the planned hours"),
    ({"operator_login": "sue"}, ValidationError, "not an operator"),
    ({"operator_login": "nobody"}, NotFoundError, "No user"),
])
def test_bad_hours_are_refused(site: QualitySite, engine: Engine, kwargs: dict[str, Any],
                               error: type[Exception], words: str) -> None:
    args: dict[str, Any] = {"operator_login": "olga", "code": training.modules()[0].code,
                            "done_hours": 3}
    args.update(kwargs)
    before = snapshot(site.path)
    with pytest.raises(error, match=words):
        run_write(engine, lambda s: training.set_module_hours(
            session=s, actor=site.actor("sam"), **args))
    assert snapshot(site.path) == before


def test_sign_off_needs_hours_and_a_supervisor(site: QualitySite, engine: Engine) -> None:
    code = training.modules()[0].code
    with pytest.raises(ValidationError, match="hours done"):
        run_write(engine, lambda s: training.sign_off(session=s, actor=site.actor("sam"),
                                                      operator_login="olga", code=code))
    run_write(engine, lambda s: training.set_module_hours(
        session=s, actor=site.actor("sam"), operator_login="olga", code=code, done_hours=5))
    # The shell admin has no login of their own to sign with; an admin is not a trainer.
    for who in (shell_admin(), site.actor("ada")):
        with pytest.raises(PermissionDeniedError):
            run_write(engine, lambda s, w=who: training.sign_off(
                session=s, actor=w, operator_login="olga", code=code))
    assert audit_actions(site.path, "training.sign_off") == []


def test_an_operator_reads_only_their_own_record(site: QualitySite, engine: Engine) -> None:
    with read_session(engine) as s:
        own = training.training_record(session=s, actor=site.actor("olga"),
                                       operator_login="olga")
        assert len(own) == len(training.modules())
        with pytest.raises(PermissionDeniedError):
            training.training_record(session=s, actor=site.actor("olga"),
                                     operator_login="omar")


# --- coaching notes -----------------------------------------------------------------------

def test_coaching_notes_reach_their_operator_only(site: QualitySite, engine: Engine) -> None:
    ids = site.ids
    attempt = add_call(engine, operator_id=ids["olga"], campaign_id=ids["enquete"],
                       claimed_at=T0)
    sam = site.actor("sam")
    first = run_write(engine, lambda s: training.add_coaching_note(
        session=s, actor=sam, operator_login="olga", text="  Smile while you talk.  ",
        now=T0))
    second = run_write(engine, lambda s: training.add_coaching_note(
        session=s, actor=site.actor("sue"), operator_login="olga",
        text="Well done on that objection.", attempt_id=attempt,
        now=datetime(2026, 9, 11, 8, 0, tzinfo=UTC)))
    assert first.text == "Smile while you talk." and first.read is False
    assert second.attempt_id == attempt and second.supervisor_name == "Sue Supervisor"

    olga, omar = site.actor("olga"), site.actor("omar")
    with read_session(engine) as s:
        mine = training.my_coaching_notes(session=s, actor=olga)
        assert training.my_coaching_notes(session=s, actor=omar) == []
        supervisor_view = training.notes_for(session=s, actor=sam, operator_login="olga")
    assert [n.id for n in mine] == [second.id, first.id]  # newest first
    assert mine == supervisor_view

    assert run_write(engine, lambda s: training.mark_notes_read(session=s, actor=olga)) == 2
    assert run_write(engine, lambda s: training.mark_notes_read(session=s, actor=olga)) == 0
    with read_session(engine) as s:
        assert all(n.read for n in training.my_coaching_notes(session=s, actor=olga))
    read = audit_actions(site.path, "coaching.read")
    assert len(read) == 1 and json.loads(read[0][2]) == {"notes": 2}
    notes = audit_actions(site.path, "coaching.note")
    assert [n[0] for n in notes] == ["sam", "sue"]
    assert "Smile" not in notes[0][2]  # the note's text stays out of the audit log


def test_an_operator_cannot_read_another_operators_notes(site: QualitySite,
                                                         engine: Engine) -> None:
    run_write(engine, lambda s: training.add_coaching_note(
        session=s, actor=site.actor("sam"), operator_login="omar", text="Private to Omar."))
    olga = site.actor("olga")
    with read_session(engine) as s:
        with pytest.raises(PermissionDeniedError):
            training.notes_for(session=s, actor=olga, operator_login="omar")
        with pytest.raises(PermissionDeniedError):
            training.notes_for(session=s, actor=olga, operator_login="olga")
        assert training.my_coaching_notes(session=s, actor=olga) == []


@pytest.mark.parametrize(("kwargs", "words"), [
    ({"text": "   "}, "Write the note"),
    ({"text": "x" * 4001}, "at most 4000"),
    ({"operator_login": "sue"}, "not an operator"),
    ({"attempt_id": "other"}, "not one of olga's"),
])
def test_bad_notes_are_refused(site: QualitySite, engine: Engine, kwargs: dict[str, Any],
                               words: str) -> None:
    args: dict[str, Any] = {"operator_login": "olga", "text": "A note."}
    args.update(kwargs)
    if args.get("attempt_id") == "other":
        args["attempt_id"] = add_call(engine, operator_id=site.ids["omar"],
                                      campaign_id=site.ids["enquete"], claimed_at=T0)
    before = snapshot(site.path)
    with pytest.raises(ValidationError, match=words):
        run_write(engine, lambda s: training.add_coaching_note(
            session=s, actor=site.actor("sam"), **args))
    assert snapshot(site.path) == before


def test_operators_reach_no_supervisor_training_service(site: QualitySite,
                                                       engine: Engine) -> None:
    olga = site.actor("olga")
    code = training.modules()[0].code
    calls: list[Callable[[Any], object]] = [
        lambda s: training.set_module_hours(session=s, actor=olga, operator_login="olga",
                                            code=code, done_hours=900),
        lambda s: training.sign_off(session=s, actor=olga, operator_login="olga", code=code),
        lambda s: training.add_coaching_note(session=s, actor=olga, operator_login="omar",
                                             text="hello"),
        lambda s: training.notes_for(session=s, actor=olga, operator_login="omar"),
        lambda s: training.training_record(session=s, actor=olga, operator_login="omar"),
    ]
    before = snapshot(site.path)
    for call in calls:
        with pytest.raises(PermissionDeniedError):
            run_write(engine, call)
    assert snapshot(site.path) == before
    # And a supervisor has no "own notes" screen to misuse.
    with read_session(engine) as s, pytest.raises(PermissionDeniedError):
        training.my_coaching_notes(session=s, actor=site.actor("sam"))

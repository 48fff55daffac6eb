"""The site's controls as services: site stop, station-bound logins, assignments,
callbacks reassignment, and their refusals to an operator. Real SQLite files."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from cellcall.db import read_session, run_write
from cellcall.errors import NotFoundError, PermissionDeniedError, ValidationError
from cellcall.models.audit import AuditEvent
from cellcall.models.calls import Callback, CallbackStatus
from cellcall.models.floor import SiteStop, StationAssignment
from cellcall.models.users import Role
from cellcall.services import site_controls
from cellcall.services.actors import Actor
from cellcall.services.auth import LoginFailedError, LoginRefusedError
from cellcall.services.workstation import Workstation
from floor_world import (
    PASSWORD,
    FloorWorld,
    FrozenClock,
    build_site,
    open_station,
)


@pytest.fixture
def world(engine: Engine, clock: FrozenClock) -> Iterator[FloorWorld]:
    built = build_site(engine, clock, fr_contacts=4, ru_contacts=0)
    yield built
    built.close()


def as_(world: FloorWorld, actor: Actor, work: Callable[[Session, Actor], Any]) -> Any:
    return run_write(world.engine, lambda s: work(s, actor))


def audit_actions(world: FloorWorld) -> list[str]:
    with read_session(world.engine) as session:
        return [e.action for e in session.exec(select(AuditEvent)).all()]


def operator_actor(world: FloorWorld, login: str = "op01") -> Actor:
    ws = Workstation(engine=world.engine, config=world.config, station_name="poste-01")
    ws.login(login, PASSWORD)
    return ws.actor


# --- site stop -----------------------------------------------------------------------------
def test_site_stop_start_and_lift_are_audited(world: FloorWorld, clock: FrozenClock) -> None:
    chef = world.supervisor
    stop = as_(world, chef, lambda s, a: site_controls.start_site_stop(
        session=s, actor=a, reason="  Incident   en salle 2 "))
    assert stop.reason == "Incident en salle 2" and stop.started_by == "chef"
    with read_session(world.engine) as session:
        assert site_controls.active_site_stop(session=session) == stop
    clock.advance(minutes=4)
    lifted = as_(world, chef, lambda s, a: site_controls.lift_site_stop(session=s, actor=a))
    assert lifted.id == stop.id
    with read_session(world.engine) as session:
        assert site_controls.active_site_stop(session=session) is None
        row = session.get(SiteStop, stop.id)
        assert row is not None and row.lifted_by == "chef" and row.lifted_at == clock.at
        events = {e.action: e for e in session.exec(select(AuditEvent)).all()}
    assert json.loads(events["site.stop"].details)["reason"] == "Incident en salle 2"
    assert json.loads(events["site.stop_lifted"].details)["seconds"] == 240


def test_site_stop_needs_a_reason_and_is_not_started_twice(world: FloorWorld) -> None:
    chef = world.supervisor
    before = audit_actions(world)
    with pytest.raises(ValidationError, match="reason"):
        as_(world, chef, lambda s, a: site_controls.start_site_stop(session=s, actor=a,
                                                                    reason="   "))
    with pytest.raises(ValidationError, match="No site stop"):
        as_(world, chef, lambda s, a: site_controls.lift_site_stop(session=s, actor=a))
    assert audit_actions(world) == before
    as_(world, chef, lambda s, a: site_controls.start_site_stop(session=s, actor=a,
                                                                reason="one"))
    with pytest.raises(ValidationError, match="already in force"):
        as_(world, chef, lambda s, a: site_controls.start_site_stop(session=s, actor=a,
                                                                    reason="two"))


@pytest.mark.parametrize("call", [
    lambda s, a, w: site_controls.start_site_stop(session=s, actor=a, reason="x"),
    lambda s, a, w: site_controls.lift_site_stop(session=s, actor=a),
    lambda s, a, w: site_controls.force_logout(session=s, actor=a,
                                               station_id=w.station_ids["poste-02"]),
    lambda s, a, w: site_controls.decide_pause(session=s, actor=a, request_id=1, approve=True),
    lambda s, a, w: site_controls.pending_pauses(session=s, actor=a),
    lambda s, a, w: site_controls.assign_station(session=s, actor=a, login="op01",
                                                 station_name="poste-02"),
    lambda s, a, w: site_controls.unassign_station(session=s, actor=a, login="op01",
                                                   station_name="poste-01"),
    lambda s, a, w: site_controls.list_assignments(session=s, actor=a),
    lambda s, a, w: site_controls.reassign_callbacks(session=s, actor=a, from_login="op02",
                                                     to_login="op01"),
], ids=["stop", "lift", "force_logout", "decide_pause", "pending_pauses", "assign",
        "unassign", "assignments", "reassign_callbacks"])
def test_an_operator_is_refused_every_site_control(world: FloorWorld, call: Any) -> None:
    actor = operator_actor(world)
    before = audit_actions(world)
    with pytest.raises(PermissionDeniedError):
        run_write(world.engine, lambda s: call(s, actor, world))
    assert audit_actions(world) == before


# --- station-bound logins ------------------------------------------------------------------
def test_an_operator_logs_in_only_at_an_assigned_station(world: FloorWorld) -> None:
    ws = Workstation(engine=world.engine, config=world.config, station_name="poste-02")
    with pytest.raises(LoginRefusedError, match="not assigned to you"):
        ws.login("op01", PASSWORD)
    assert ws.user is None
    assert audit_actions(world)[-1] == "login.refused"
    # The gate speaks only after the right password: a wrong one gets the usual answer.
    with pytest.raises(LoginFailedError):
        ws.login("op01", "not-the-password")
    # Assigned to a second station, the operator may log in there too.
    as_(world, world.supervisor, lambda s, a: site_controls.assign_station(
        session=s, actor=a, login="op01", station_name="poste-02"))
    assert ws.login("op01", PASSWORD).login == "op01"


def test_an_operator_without_assignment_logs_in_nowhere(world: FloorWorld) -> None:
    as_(world, world.supervisor, lambda s, a: site_controls.unassign_station(
        session=s, actor=a, login="op03", station_name="poste-03"))
    for station in ("poste-03", "poste-12"):
        ws = Workstation(engine=world.engine, config=world.config, station_name=station)
        with pytest.raises(LoginRefusedError, match="not assigned"):
            ws.login("op03", PASSWORD)
    ws = Workstation(engine=world.engine, config=world.config, station_name=None)
    with pytest.raises(LoginRefusedError, match="only at their own station"):
        ws.login("op04", PASSWORD)


@pytest.mark.parametrize(("local_hour", "allowed"), [
    (6.98, False), (7.0, True), (18.98, True), (19.0, False), (23.5, False)])
def test_operators_log_in_only_within_the_working_hours(
        world: FloorWorld, clock: FrozenClock, local_hour: float, allowed: bool) -> None:
    # 17 November 2026 in Paris is UTC+1.
    clock.at = datetime(2026, 11, 17, tzinfo=UTC) + timedelta(hours=local_hour - 1)
    ws = Workstation(engine=world.engine, config=world.config, station_name="poste-05")
    if allowed:
        assert ws.login("op05", PASSWORD).login == "op05"
    else:
        with pytest.raises(LoginRefusedError, match=r"working hours only \(07:00–19:00\)"):
            ws.login("op05", PASSWORD)
    # A supervisor is not bound: any station, any hour, or none.
    for station in ("poste-05", None):
        chef = Workstation(engine=world.engine, config=world.config, station_name=station)
        assert chef.login("chef", PASSWORD).role == Role.SUPERVISOR


def test_a_station_locked_past_closing_time_does_not_unlock(
        world: FloorWorld, clock: FrozenClock) -> None:
    clock.at = datetime(2026, 11, 17, 17, 50, tzinfo=UTC)  # 18:50 in Paris
    ws = Workstation(engine=world.engine, config=world.config, station_name="poste-05")
    ws.login("op05", PASSWORD)
    assert ws.unlock(PASSWORD).login == "op05"  # before closing time: back to work
    clock.at += timedelta(minutes=15)  # 19:05: the site is closed
    with pytest.raises(LoginRefusedError, match="working hours only"):
        ws.unlock(PASSWORD)


# --- assignments ---------------------------------------------------------------------------
def test_assignment_errors_write_nothing(world: FloorWorld) -> None:
    chef = world.supervisor
    before = audit_actions(world)
    cases: list[tuple[type[Exception], str, Callable[[Session, Actor], Any]]] = [
        (ValidationError, "already assigned", lambda s, a: site_controls.assign_station(
            session=s, actor=a, login="op01", station_name="poste-01")),
        (NotFoundError, "No user", lambda s, a: site_controls.assign_station(
            session=s, actor=a, login="nobody", station_name="poste-01")),
        (NotFoundError, "No station", lambda s, a: site_controls.assign_station(
            session=s, actor=a, login="op01", station_name="poste-99")),
        (ValidationError, "Only operators", lambda s, a: site_controls.assign_station(
            session=s, actor=a, login="chef", station_name="poste-01")),
        (ValidationError, "not assigned", lambda s, a: site_controls.unassign_station(
            session=s, actor=a, login="op01", station_name="poste-02")),
    ]
    for error, match, call in cases:
        with pytest.raises(error, match=match):
            as_(world, chef, call)
    assert audit_actions(world) == before
    with read_session(world.engine) as session:
        assert len(session.exec(select(StationAssignment)).all()) == 11


# --- callbacks -----------------------------------------------------------------------------
def _callbacks(world: FloorWorld, owner: str, n: int, *, status: str = "pending") -> None:
    def work(s: Session) -> None:
        from cellcall.models.contacts import Contact
        from cellcall.services import users

        owner_id = users.get_user(session=s, login=owner).id
        contacts = s.exec(select(Contact)).all()
        for contact in contacts[:n]:
            s.add(Callback(contact_id=contact.id or 0, campaign_id=contact.campaign_id,
                           due_at=datetime(2026, 11, 18, 9, tzinfo=UTC),
                           personal_operator_id=owner_id, status=status))

    run_write(world.engine, work)


def _owners(world: FloorWorld) -> list[tuple[int | None, str]]:
    with read_session(world.engine) as session:
        return sorted(((c.personal_operator_id, c.status)
                       for c in session.exec(select(Callback)).all()),
                      key=lambda t: (t[0] or 0, t[1]))


def test_reassign_a_missing_operators_callbacks(world: FloorWorld) -> None:
    _callbacks(world, "op02", 3)
    _callbacks(world, "op02", 1, status=CallbackStatus.DONE)
    chef = world.supervisor
    moved = as_(world, chef, lambda s, a: site_controls.reassign_callbacks(
        session=s, actor=a, from_login="op02", to_login="op01"))
    assert moved == 3
    ids = run_write(world.engine, lambda s: {
        u: site_controls._user(s, u).id for u in ("op01", "op02")})
    assert _owners(world) == [(ids["op01"], "pending")] * 3 + [(ids["op02"], "done")]
    # Then to anyone.
    assert as_(world, chef, lambda s, a: site_controls.reassign_callbacks(
        session=s, actor=a, from_login="op01", to_login=None)) == 3
    assert _owners(world) == [(None, "pending")] * 3 + [(ids["op02"], "done")]
    assert audit_actions(world).count("callbacks.reassign") == 2
    # Nothing left to move: nothing written.
    before = audit_actions(world)
    assert as_(world, chef, lambda s, a: site_controls.reassign_callbacks(
        session=s, actor=a, from_login="op01", to_login="op03")) == 0
    assert audit_actions(world) == before


def test_reassigning_to_a_bad_target_is_refused(world: FloorWorld) -> None:
    _callbacks(world, "op02", 2)
    chef = world.supervisor
    for to, error in (("op02", "an operator other than"), ("chef", "not an active operator"),
                      ("ghost", "No user")):
        with pytest.raises((ValidationError, NotFoundError), match=error):
            as_(world, chef, lambda s, a, to=to: site_controls.reassign_callbacks(
                session=s, actor=a, from_login="op02", to_login=to))
    assert {owner for owner, _status in _owners(world)} != {None}


def test_the_demo_operator_is_assigned_to_the_demo_station(engine: Engine) -> None:
    from cellcall.services import demo
    from cellcall.services.actors import SYSTEM

    demo.load_demo_site(engine=engine, actor=SYSTEM)
    with read_session(engine) as session:
        views = site_controls.list_assignments(session=session, actor=SYSTEM)
    assert [(v.login, v.station_name) for v in views] == [("operateur", demo.DEMO_STATION)]


def test_the_open_station_helper_really_logs_in(world: FloorWorld) -> None:
    ws = open_station(world, "poste-11", "op11")
    assert ws.user is not None and ws.user.login == "op11"

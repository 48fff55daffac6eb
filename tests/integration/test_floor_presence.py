"""A station's presence row and its heartbeat orders, on a real SQLite file.

Every state change of a real ``Workstation`` writes its ``station_presence`` row; the
heartbeat writes it too and returns what supervisors ordered (force logout, pause
decision, site stop), carrying out what the station can do itself.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import select

from cellcall.db import read_session, run_write
from cellcall.models.audit import AuditEvent
from cellcall.models.calls import CallAttempt
from cellcall.models.contacts import Contact, ContactStatus
from cellcall.models.floor import (
    PauseRequest,
    PauseRequestStatus,
    StationCommand,
    StationPresence,
)
from cellcall.models.timeclock import PauseReason, TimeEntry
from cellcall.services import queue, site_controls
from cellcall.services.workstation import (
    ForceLogout,
    PauseDecided,
    SiteStopActive,
    StationState,
    Workstation,
)
from floor_world import (
    FloorWorld,
    FrozenClock,
    answer,
    build_site,
    dial,
    hang_up,
    open_station,
)


@pytest.fixture
def world(engine: Engine, clock: FrozenClock) -> Iterator[FloorWorld]:
    built = build_site(engine, clock, fr_contacts=8, ru_contacts=0)
    yield built
    built.close()


def presence(world: FloorWorld, station: str) -> StationPresence | None:
    with read_session(world.engine) as session:
        return session.get(StationPresence, world.station_ids[station])


def rows(world: FloorWorld, model: type, *where: object) -> list:  # type: ignore[type-arg]
    with read_session(world.engine) as session:
        return list(session.exec(select(model).where(*where)).all())  # type: ignore[call-overload]


def supervisor_writes(world: FloorWorld, work):  # type: ignore[no-untyped-def]
    return run_write(world.engine, lambda s: work(s, world.supervisor))


# --- presence ------------------------------------------------------------------------------
def test_every_state_change_writes_the_presence(world: FloorWorld, clock: FrozenClock) -> None:
    assert presence(world, "poste-01") is None
    ws = open_station(world, "poste-01", "op01")
    row = presence(world, "poste-01")
    assert row is not None and row.state == "ready" and row.user_id is not None
    assert row.session_started_at == clock.at and row.heartbeat_at == clock.at

    clock.advance(seconds=5)
    claimed = ws.claim_next()
    assert isinstance(claimed, queue.ClaimedContact)
    row = presence(world, "poste-01")
    assert row is not None and row.state == "preview"
    assert row.attempt_id == claimed.attempt_id and row.campaign_id == claimed.campaign_id
    assert row.state_since == clock.at

    # Moves made by the screen (the UI thread) are written by the background writer.
    for step, expected in ((dial, "dialing"), (answer, "talking"), (hang_up, "wrap_up")):
        clock.advance(seconds=3)
        step(world, ws)
        assert ws.flush_presence()
        row = presence(world, "poste-01")
        assert row is not None and row.state == expected and row.state_since == clock.at

    clock.advance(seconds=20)
    ws.record_automatic("busy")
    row = presence(world, "poste-01")
    assert row is not None and row.state == "ready" and row.attempt_id is None

    ws.pause(PauseReason.TRAINING)
    row = presence(world, "poste-01")
    assert row is not None and row.state == "paused" and row.pause_reason == "training"
    ws.resume()
    row = presence(world, "poste-01")
    assert row is not None and row.state == "ready" and row.pause_reason is None

    ws.logout()
    row = presence(world, "poste-01")
    assert row is not None and row.state == "logged_out" and row.user_id is None
    assert row.session_started_at is None


def test_the_heartbeat_writes_the_time_and_the_phone_and_keeps_the_monitor_uri(
        world: FloorWorld, clock: FrozenClock) -> None:
    ws = open_station(world, "poste-02", "op02")
    # The engine's column: the workstation never writes it.
    run_write(world.engine, lambda s: s.execute(update(StationPresence).where(
        StationPresence.station_id == world.station_ids["poste-02"]).values(  # type: ignore[arg-type]
        monitor_uri="sip:monitor@127.0.0.1:5099")))
    clock.advance(seconds=7)
    assert ws.heartbeat(phone_up=False) == ()
    row = presence(world, "poste-02")
    assert row is not None
    assert row.heartbeat_at == clock.at and row.phone_up is False
    assert row.monitor_uri == "sip:monitor@127.0.0.1:5099"
    ws.set_phone_up(True)
    assert ws.flush_presence()
    row = presence(world, "poste-02")
    assert row is not None and row.phone_up is True
    assert row.monitor_uri == "sip:monitor@127.0.0.1:5099"
    ws.logout()
    row = presence(world, "poste-02")
    assert row is not None and row.monitor_uri == "sip:monitor@127.0.0.1:5099"


def test_a_station_without_a_name_writes_no_presence(world: FloorWorld) -> None:
    ws = Workstation(engine=world.engine, config=world.config, station_name=None)
    assert ws.heartbeat() == ()
    assert rows(world, StationPresence) == []


# --- site stop -----------------------------------------------------------------------------
def test_site_stop_is_an_order_on_every_heartbeat_and_stops_claims(
        world: FloorWorld, clock: FrozenClock) -> None:
    ws = open_station(world, "poste-03", "op03")
    stop = supervisor_writes(world, lambda s, a: site_controls.start_site_stop(
        session=s, actor=a, reason="Fouille générale"))
    for _beat in range(2):
        orders = ws.heartbeat()
        assert orders == (SiteStopActive("Fouille générale", stop.started_at, "chef"),)
    refused = ws.claim_next()
    assert isinstance(refused, queue.NothingCallable)
    assert "Fouille générale" in refused.reason
    assert ws.clock.state == StationState.READY
    assert rows(world, CallAttempt) == []

    supervisor_writes(world, lambda s, a: site_controls.lift_site_stop(session=s, actor=a))
    assert ws.heartbeat() == ()
    assert isinstance(ws.claim_next(), queue.ClaimedContact)


# --- force logout --------------------------------------------------------------------------
def test_force_logout_is_obeyed_on_the_next_heartbeat(world: FloorWorld,
                                                       clock: FrozenClock) -> None:
    ws = open_station(world, "poste-04", "op04")
    claimed = ws.claim_next()
    assert isinstance(claimed, queue.ClaimedContact)
    clock.advance(seconds=30)
    supervisor_writes(world, lambda s, a: site_controls.force_logout(
        session=s, actor=a, station_id=world.station_ids["poste-04"]))
    assert ws.user is not None  # nothing happens before the station's heartbeat
    clock.advance(seconds=1)
    orders = ws.heartbeat()
    assert [type(o) for o in orders] == [ForceLogout]
    assert isinstance(orders[0], ForceLogout) and orders[0].done
    assert ws.user is None and ws.clock.state == StationState.LOGGED_OUT
    # The contact went back to the queue, the shift is clocked out, the command is done.
    contact = rows(world, Contact, Contact.id == claimed.contact_id)[0]
    assert contact.status == ContactStatus.NEW and contact.lease_user_id is None
    assert rows(world, TimeEntry, TimeEntry.ended_at == None) == []  # noqa: E711
    assert all(c.done_at == clock.at for c in rows(world, StationCommand))
    row = presence(world, "poste-04")
    assert row is not None and row.state == "logged_out"
    actions = [e.action for e in rows(world, AuditEvent)]
    assert "station.force_logout" in actions and actions[-1] == "logout"
    # Done once: the next heartbeat has no order.
    assert ws.heartbeat() == ()


def test_force_logout_during_a_call_waits_for_its_end(world: FloorWorld,
                                                       clock: FrozenClock) -> None:
    ws = open_station(world, "poste-05", "op05")
    claimed = ws.claim_next()
    assert isinstance(claimed, queue.ClaimedContact)
    dial(world, ws)
    answer(world, ws)
    supervisor_writes(world, lambda s, a: site_controls.force_logout(
        session=s, actor=a, station_id=world.station_ids["poste-05"]))
    clock.advance(seconds=2)
    first = ws.heartbeat()
    assert first == (ForceLogout(False, first[0].issued_at),)  # type: ignore[union-attr]
    assert ws.user is not None and ws.clock.state == StationState.TALKING
    assert rows(world, StationCommand)[0].done_at is None
    # The screen hangs up; the engine ends the call; the next heartbeat logs out.
    hang_up(world, ws)
    clock.advance(seconds=1)
    second = ws.heartbeat()
    assert len(second) == 1 and isinstance(second[0], ForceLogout) and second[0].done
    assert ws.user is None
    outcome_rows = rows(world, CallAttempt, CallAttempt.id == claimed.attempt_id)
    assert outcome_rows[0].state == "ended"
    from cellcall.models.calls import Outcome

    outcome = rows(world, Outcome, Outcome.attempt_id == claimed.attempt_id)
    assert [o.disposition for o in outcome] == ["technical_failure"]


def test_an_order_older_than_the_session_is_not_obeyed(world: FloorWorld,
                                                        clock: FrozenClock) -> None:
    supervisor_writes(world, lambda s, a: site_controls.force_logout(
        session=s, actor=a, station_id=world.station_ids["poste-06"]))
    clock.advance(minutes=5)
    ws = open_station(world, "poste-06", "op06")
    assert ws.heartbeat() == ()
    assert ws.user is not None
    assert rows(world, StationCommand)[0].done_at == clock.at


def test_force_logout_of_a_silent_station_clears_it(world: FloorWorld,
                                                     clock: FrozenClock) -> None:
    ws = open_station(world, "poste-07", "op07")
    last = clock.at
    clock.advance(minutes=30)  # the terminal died: no heartbeat since
    silent = world.config.supervision.silent_after_seconds
    supervisor_writes(world, lambda s, a: site_controls.force_logout(
        session=s, actor=a, station_id=world.station_ids["poste-07"],
        silent_after_seconds=silent))
    row = presence(world, "poste-07")
    assert row is not None and row.state == "logged_out" and row.user_id is None
    entries = rows(world, TimeEntry)
    assert [e.ended_at for e in entries] == [last]  # the dead time is not paid
    assert rows(world, StationCommand)[0].done_at is None  # should the station come back
    ws.close()


def test_force_logout_of_a_live_station_does_not_clear_it(world: FloorWorld,
                                                           clock: FrozenClock) -> None:
    open_station(world, "poste-08", "op08")
    clock.advance(seconds=2)
    supervisor_writes(world, lambda s, a: site_controls.force_logout(
        session=s, actor=a, station_id=world.station_ids["poste-08"],
        silent_after_seconds=world.config.supervision.silent_after_seconds))
    row = presence(world, "poste-08")
    assert row is not None and row.state == "ready"
    assert rows(world, TimeEntry)[0].ended_at is None


# --- pauses --------------------------------------------------------------------------------
def test_a_break_waits_for_approval_then_starts_on_the_heartbeat(
        world: FloorWorld, clock: FrozenClock) -> None:
    ws = open_station(world, "poste-09", "op09")
    claimed = ws.claim_next()
    assert isinstance(claimed, queue.ClaimedContact)
    request = ws.request_pause(PauseReason.BREAK)
    assert request is not None and request.status == PauseRequestStatus.PENDING
    assert ws.clock.state == StationState.PREVIEW  # keeps working meanwhile
    assert ws.heartbeat() == ()
    pending = supervisor_writes(world, lambda s, a: site_controls.pending_pauses(
        session=s, actor=a))
    assert [(p.operator_login, p.station_name, p.reason) for p in pending] == [
        ("op09", "poste-09", "break")]
    clock.advance(minutes=2)
    supervisor_writes(world, lambda s, a: site_controls.decide_pause(
        session=s, actor=a, request_id=request.id, approve=True))
    orders = ws.heartbeat()
    assert orders == (PauseDecided(request.id, True, "break", True),)
    assert ws.clock.state == StationState.PAUSED and ws.clock.pause_reason == "break"
    assert ws.current is None  # the previewed contact went back
    row = presence(world, "poste-09")
    assert row is not None and row.state == "paused" and row.pause_reason == "break"
    assert rows(world, PauseRequest)[0].status == PauseRequestStatus.APPROVED
    assert ws.heartbeat() == ()


def test_an_approved_pause_waits_for_the_call_to_end(world: FloorWorld,
                                                      clock: FrozenClock) -> None:
    ws = open_station(world, "poste-10", "op10")
    assert isinstance(ws.claim_next(), queue.ClaimedContact)
    request = ws.request_pause(PauseReason.MEAL)
    assert request is not None
    dial(world, ws)
    supervisor_writes(world, lambda s, a: site_controls.decide_pause(
        session=s, actor=a, request_id=request.id, approve=True))
    assert ws.heartbeat() == (PauseDecided(request.id, True, "meal", False),)
    assert ws.clock.state == StationState.DIALING
    answer(world, ws)
    hang_up(world, ws)
    ws.record_automatic("no_answer")
    assert ws.heartbeat() == (PauseDecided(request.id, True, "meal", True),)
    assert ws.clock.state == StationState.PAUSED


def test_a_refused_pause_is_reported_and_the_station_works_on(
        world: FloorWorld, clock: FrozenClock) -> None:
    ws = open_station(world, "poste-01", "op01")
    request = ws.request_pause(PauseReason.BREAK)
    assert request is not None
    supervisor_writes(world, lambda s, a: site_controls.decide_pause(
        session=s, actor=a, request_id=request.id, approve=False))
    assert ws.heartbeat() == (PauseDecided(request.id, False, "break", False),)
    assert ws.clock.state == StationState.READY
    assert rows(world, PauseRequest)[0].status == PauseRequestStatus.REFUSED
    actions = [e.action for e in rows(world, AuditEvent)]
    assert "pause.request" in actions and "pause.refused" in actions


def test_technical_pauses_never_wait_and_approval_can_be_switched_off(
        world: FloorWorld) -> None:
    ws = open_station(world, "poste-02", "op02")
    assert ws.request_pause(PauseReason.TECHNICAL) is None
    assert ws.clock.state == StationState.PAUSED
    ws.resume()
    ws.logout()
    world.config = dataclasses.replace(world.config, supervision=dataclasses.replace(
        world.config.supervision, pause_needs_approval=False))
    ws = open_station(world, "poste-02", "op02")
    assert ws.request_pause(PauseReason.BREAK) is None
    assert ws.clock.state == StationState.PAUSED
    assert rows(world, PauseRequest) == []


def test_a_new_request_replaces_the_pending_one_and_logout_withdraws_it(
        world: FloorWorld) -> None:
    ws = open_station(world, "poste-03", "op03")
    first = ws.request_pause(PauseReason.BREAK)
    second = ws.request_pause(PauseReason.MEAL)
    assert first is not None and second is not None
    statuses = {r.id: r.status for r in rows(world, PauseRequest)}
    assert statuses == {first.id: PauseRequestStatus.CANCELLED,
                        second.id: PauseRequestStatus.PENDING}
    ws.logout()
    assert {r.status for r in rows(world, PauseRequest)} == {PauseRequestStatus.CANCELLED}
    with pytest.raises(Exception, match="already decided"):
        supervisor_writes(world, lambda s, a: site_controls.decide_pause(
            session=s, actor=a, request_id=second.id, approve=True))


def test_a_decision_for_someone_else_is_not_applied(world: FloorWorld,
                                                     clock: FrozenClock) -> None:
    ws = open_station(world, "poste-04", "op04")
    request = ws.request_pause(PauseReason.BREAK)
    assert request is not None
    ws.logout()  # withdraws it; a supervisor's late decision is refused
    with read_session(world.engine) as session:
        assert session.get(PauseRequest, request.id).status == "cancelled"  # type: ignore[union-attr]
    clock.advance(seconds=1)
    ws = open_station(world, "poste-04", "op04")
    assert ws.heartbeat() == ()
    assert ws.clock.state == StationState.READY


def test_the_heartbeat_of_a_paused_station_keeps_its_pause(world: FloorWorld,
                                                            clock: FrozenClock) -> None:
    ws = open_station(world, "poste-05", "op05")
    ws.pause(PauseReason.MEAL)
    since = clock.at
    clock.advance(minutes=3)
    ws.heartbeat()
    row = presence(world, "poste-05")
    assert row is not None and row.state == "paused" and row.state_since == since
    assert row.heartbeat_at == since + timedelta(minutes=3)

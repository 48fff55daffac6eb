"""An operator's session reaches no supervisor function: not by the console's keys, the
command palette or app actions at the station, and not by calling the supervisor's
services (or the console's desk) with the operator's actor."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlmodel import Session, col
from textual.command import CommandPalette
from textual.pilot import Pilot

from cellcall.db import read_session, unit_of_work
from cellcall.errors import PermissionDeniedError
from cellcall.models.audit import AuditEvent
from cellcall.models.calls import CallAttempt
from cellcall.models.floor import (
    MonitorMode,
    MonitorSession,
    PauseRequest,
    SiteStop,
    StationCommand,
)
from cellcall.models.quality import CallScore, CoachingNote, TrainingRecord
from cellcall.models.users import Role, Station, User
from cellcall.services import floor, monitoring, quality, site_controls, timesheets, training
from cellcall.services.actors import Actor
from cellcall.services.workstation import StationState
from cellcall.tui.screens.supervisor.base import ConsoleScreen
from cellcall.tui.screens.supervisor.desk import SupervisorDesk
from cellcall.tui.screens.workstation import WorkstationScreen
from tui.support import Site, drive, log_in_operator, settle, station_state

# Every key the console binds (but F9, the station's own objection list), and the palette's.
CONSOLE_KEYS = ("enter", "l", "w", "b", "x", "o", "c", "a", "r", "f2", "1", "2", "3", "4",
                "ctrl+e", "ctrl+o", "ctrl+s", "ctrl+p")
CONSOLE_ACTIONS = (
    "screen.listen", "screen.whisper", "screen.barge", "screen.stop_monitor",
    "screen.force_logout", "screen.site_stop", "screen.lift_stop", "screen.approve_pause",
    "screen.refuse_pause", "screen.recordings", "screen.timesheets", "screen.operator",
    "screen.station_menu",
    "app.push_screen('floor')", "app.switch_screen('floor')", "app.switch_mode('floor')",
    "app.command_palette",
)
SUPERVISOR_ROWS = (MonitorSession, SiteStop, StationCommand, CallScore, CoachingNote,
                   TrainingRecord)


def count(site: Site, model: type[Any]) -> int:
    with read_session(site.engine) as session:
        return int(session.execute(select(func.count()).select_from(model)).scalar_one())


def test_the_console_is_out_of_an_operators_reach(site: Site) -> None:
    app = site.app()
    before = {model: count(site, model) for model in SUPERVISOR_ROWS}

    async def scenario(pilot: Pilot[Any]) -> None:
        await log_in_operator(pilot)
        for key in CONSOLE_KEYS:
            await pilot.press(key)
            await settle(pilot)
            assert isinstance(app.screen, WorkstationScreen), key
            assert not any(isinstance(s, ConsoleScreen | CommandPalette)
                           for s in app.screen_stack), key
        for action in CONSOLE_ACTIONS:
            await app.run_action(action)
            await settle(pilot)
            assert isinstance(app.screen, WorkstationScreen), action
            assert not any(isinstance(s, ConsoleScreen) for s in app.screen_stack), action
        assert station_state(app) == StationState.PREVIEW

    drive(app, scenario)
    assert {model: count(site, model) for model in SUPERVISOR_ROWS} == before


def operator_actor(session: Session, login: str) -> Actor:
    user = session.execute(select(User).where(col(User.login) == login)).scalar_one()
    assert user.role == Role.OPERATOR
    return Actor(login=user.login, role=Role.OPERATOR, user_id=user.id)


def supervisor_calls(site: Site, actor: Actor, ids: dict[str, int]
                     ) -> list[tuple[str, Callable[[Session], object]]]:
    config = site.config
    other = "op04"
    return [
        ("floor_snapshot", lambda s: floor.floor_snapshot(session=s, actor=actor,
                                                          config=config)),
        ("operator_figures own", lambda s: floor.operator_figures(
            session=s, actor=actor, operator_login=actor.login, config=config)),
        ("start_site_stop", lambda s: site_controls.start_site_stop(
            session=s, actor=actor, reason="x")),
        ("lift_site_stop", lambda s: site_controls.lift_site_stop(session=s, actor=actor)),
        ("force_logout", lambda s: site_controls.force_logout(
            session=s, actor=actor, station_id=ids["poste-04"])),
        ("pending_pauses", lambda s: site_controls.pending_pauses(session=s, actor=actor)),
        ("decide_pause", lambda s: site_controls.decide_pause(
            session=s, actor=actor, request_id=ids["request"], approve=True)),
        ("assign_station", lambda s: site_controls.assign_station(
            session=s, actor=actor, login=actor.login, station_name="poste-12")),
        ("reassign_callbacks", lambda s: site_controls.reassign_callbacks(
            session=s, actor=actor, from_login=other, to_login=actor.login)),
        ("start_monitor", lambda s: monitoring.start_monitor(
            session=s, actor=actor, station_id=ids["poste-02"], mode="listen",
            config=config)),
        ("end_monitor", lambda s: monitoring.end_monitor(
            session=s, actor=actor, monitor_id=ids["monitor"])),
        ("list_recordings", lambda s: quality.list_recordings(session=s, actor=actor)),
        ("open_recording", lambda s: quality.open_recording(
            session=s, actor=actor, attempt_id=ids["attempt"])),
        ("scorecard", lambda s: quality.scorecard(session=s, actor=actor,
                                                  campaign_id=ids["campaign"])),
        ("score_call", lambda s: quality.score_call(
            session=s, actor=actor, attempt_id=ids["attempt"], points={}, comments={},
            comment="")),
        ("operator_scores own", lambda s: quality.operator_scores(
            session=s, actor=actor, operator_login=actor.login)),
        ("training_record of another", lambda s: training.training_record(
            session=s, actor=actor, operator_login=other)),
        ("set_module_hours own", lambda s: training.set_module_hours(
            session=s, actor=actor, operator_login=actor.login,
            code=training.modules()[0].code, done_hours=99.0)),
        ("sign_off own", lambda s: training.sign_off(
            session=s, actor=actor, operator_login=actor.login,
            code=training.modules()[0].code)),
        ("add_coaching_note", lambda s: training.add_coaching_note(
            session=s, actor=actor, operator_login=other, text="x")),
        ("notes_for another", lambda s: training.notes_for(
            session=s, actor=actor, operator_login=other)),
        ("timesheet of everyone", lambda s: timesheets.timesheet(
            session=s, actor=actor, config=config, period="week", anchor=date(2026, 11, 17))),
        ("timesheet of another", lambda s: timesheets.timesheet(
            session=s, actor=actor, config=config, period="week", anchor=date(2026, 11, 17),
            operator_login=other)),
    ]


def _ids(session: Session) -> dict[str, int]:
    stations = {s.name: int(s.id or 0) for s in session.execute(select(Station)).scalars()}
    monitor = session.execute(select(MonitorSession)).scalars().first()
    request = session.execute(select(PauseRequest)).scalars().first()
    attempt = session.execute(select(CallAttempt)).scalars().first()
    assert monitor is not None and request is not None and attempt is not None
    return {**stations, "monitor": int(monitor.id or 0), "request": int(request.id or 0),
            "attempt": int(attempt.id or 0), "campaign": int(attempt.campaign_id)}


def test_every_supervisor_service_refuses_an_operator(floor_site: Site) -> None:
    site = floor_site
    with read_session(site.engine) as session:
        actor = operator_actor(session, "op03")
        ids = _ids(session)
    before = count(site, AuditEvent)
    refused = []
    for name, call in supervisor_calls(site, actor, ids):
        with pytest.raises(PermissionDeniedError), unit_of_work(site.engine) as session:
            call(session)
        refused.append(name)
    assert len(refused) == 23
    assert count(site, AuditEvent) == before


def test_the_consoles_desk_with_an_operators_actor_is_refused(floor_site: Site) -> None:
    site = floor_site
    with read_session(site.engine) as session:
        actor = operator_actor(session, "op03")
        ids = _ids(session)
    desk = SupervisorDesk(engine=site.engine, config=site.config, actor=lambda: actor)
    calls: list[Callable[[], object]] = [
        desk.snapshot, lambda: desk.figures("op04"), lambda: desk.start_site_stop("x"),
        desk.lift_site_stop, lambda: desk.force_logout(ids["poste-04"]),
        lambda: desk.decide_pause(ids["request"], True),
        lambda: desk.start_monitor(ids["poste-02"], MonitorMode.LISTEN),
        desk.recordings, lambda: desk.open_recording(ids["attempt"]),
        lambda: desk.operator_scores("op04"), lambda: desk.training_record("op04"),
        lambda: desk.notes_for("op04"), lambda: desk.add_coaching_note("op04", "x"),
        lambda: desk.timesheet(period="week", anchor=date(2026, 11, 17)),
        desk.operators, desk.campaigns,
    ]
    before = count(site, AuditEvent)
    for call in calls:
        with pytest.raises(PermissionDeniedError):
            call()
    assert count(site, AuditEvent) == before
    # The same desk with the supervisor's actor works (the refusals are the role's).
    with read_session(site.engine) as session:
        chef = session.execute(select(User).where(col(User.login) == "chef")).scalar_one()
    boss = SupervisorDesk(engine=site.engine, config=site.config,
                          actor=lambda: Actor(login="chef", role=Role.SUPERVISOR,
                                              user_id=chef.id))
    assert len(boss.snapshot().stations) == 12

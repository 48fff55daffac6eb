"""The operator's side of supervision: the station obeys the supervisor's orders through its
heartbeat (force logout, pause decided, site stop), asks before a break, shows a discreet
mark while a supervisor listens, and reads its own coaching notes (nothing else)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import select
from textual.pilot import Pilot

from cellcall.db import run_write, unit_of_work
from cellcall.models.floor import PauseRequest, StationPresence
from cellcall.models.quality import CoachingNote
from cellcall.models.users import Role, Station, User
from cellcall.services import site_controls, training
from cellcall.services.actors import Actor
from cellcall.services.workstation import StationState
from cellcall.telephony import events
from cellcall.tui.screens.coaching_notes import CoachingNotesScreen
from cellcall.tui.screens.login import LoginScreen
from cellcall.tui.screens.pause import PauseScreen
from cellcall.tui.screens.workstation import WorkstationScreen
from cellcall.tui.widgets.state_bar import StateBar
from tui.support import (
    STATION,
    Site,
    choose_outcome,
    dial_and_answer,
    drive,
    log_in_operator,
    remote_hang_up,
    screen_text,
    settle,
    station_state,
    wait_for_screen,
    wait_until,
)


@pytest.fixture
def site(site: Site) -> Site:
    """The demo site, its users in English (the checks read the screen)."""
    with unit_of_work(site.engine) as session:
        for user in session.exec(select(User)).all():
            user.ui_language = "en"
            session.add(user)
    return site


def supervisor(site: Site) -> Actor:
    user = site.one(User, User.login == "superviseur")
    return Actor(login=user.login, role=Role.SUPERVISOR, user_id=user.id)


def station_id(site: Site) -> int:
    return int(site.one(Station, Station.name == STATION).id)


def bar_text(app: Any) -> str:
    return str(app.screen.query_one(StateBar).render())


def test_a_forced_logout_takes_the_station_back_to_the_login(site: Site) -> None:
    app = site.app()

    async def scenario(pilot: Pilot[Any]) -> None:
        await log_in_operator(pilot)
        # The heartbeat has written the presence the floor reads.
        await wait_until(pilot, lambda: site.rows(StationPresence)
                         and site.one(StationPresence).state == "preview", "presence")
        run_write(site.engine, lambda s: site_controls.force_logout(
            session=s, actor=supervisor(site), station_id=station_id(site)))
        await wait_for_screen(pilot, LoginScreen, "the login screen")
        assert any("logged this station out" in n.message for n in app._notifications)

    drive(app, scenario)
    assert site.one(StationPresence).state == "logged_out"


def test_a_forced_logout_during_a_call_hangs_up_first(site: Site) -> None:
    app = site.app()

    async def scenario(pilot: Pilot[Any]) -> None:
        await log_in_operator(pilot)
        await dial_and_answer(pilot, site.phone)
        run_write(site.engine, lambda s: site_controls.force_logout(
            session=s, actor=supervisor(site), station_id=station_id(site)))
        await wait_until(pilot, lambda: site.phone.hangups == 1, "the call is ended")
        assert "A supervisor ends this session" in screen_text(app)

    drive(app, scenario)


def test_a_break_waits_for_the_supervisors_answer(site: Site) -> None:
    site.configure("supervision", pause_needs_approval=True)
    app = site.app()

    async def ask_break(pilot: Pilot[Any]) -> PauseRequest:
        await pilot.press("f8")
        await wait_for_screen(pilot, PauseScreen, "the pause menu")
        assert "Break (asks a supervisor)" in screen_text(app)
        assert "Technical problem (asks" not in screen_text(app)
        await pilot.press("enter")  # the first reason: a break
        await wait_until(pilot, lambda: site.rows(PauseRequest, PauseRequest.status
                                                  == "pending"), "the request")
        await settle(pilot)
        request: PauseRequest = site.one(PauseRequest, PauseRequest.status == "pending")
        return request

    async def scenario(pilot: Pilot[Any]) -> None:
        await log_in_operator(pilot)
        request = await ask_break(pilot)
        assert station_state(app) == StationState.PREVIEW  # the work goes on meanwhile
        assert "Pause requested" in screen_text(app)
        run_write(site.engine, lambda s: site_controls.decide_pause(
            session=s, actor=supervisor(site), request_id=request.id or 0, approve=False))
        await wait_until(pilot, lambda: "was refused" in screen_text(app), "refused")
        assert station_state(app) == StationState.PREVIEW
        request = await ask_break(pilot)
        run_write(site.engine, lambda s: site_controls.decide_pause(
            session=s, actor=supervisor(site), request_id=request.id or 0, approve=True))
        await wait_until(pilot, lambda: station_state(app) == StationState.PAUSED, "paused")
        await settle(pilot)
        assert "Paused" in bar_text(app)

    drive(app, scenario)


def test_a_break_approved_during_a_call_starts_after_it(site: Site) -> None:
    site.configure("supervision", pause_needs_approval=True)
    app = site.app()

    async def scenario(pilot: Pilot[Any]) -> None:
        await log_in_operator(pilot)
        await pilot.press("f8")
        await wait_for_screen(pilot, PauseScreen, "the pause menu")
        await pilot.press("enter")  # a break
        await wait_until(pilot, lambda: site.rows(PauseRequest), "the request")
        await settle(pilot)
        attempt_id = await dial_and_answer(pilot, site.phone)
        request = site.one(PauseRequest)
        run_write(site.engine, lambda s: site_controls.decide_pause(
            session=s, actor=supervisor(site), request_id=request.id or 0, approve=True))
        await wait_until(pilot, lambda: "starts after this call" in screen_text(app),
                         "approved, later")
        assert station_state(app) == StationState.TALKING
        await remote_hang_up(pilot, site.phone, attempt_id)
        await choose_outcome(pilot, "not_interested")
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: station_state(app) == StationState.PAUSED,
                         "paused after the call")

    drive(app, scenario)


def test_a_site_stop_shows_on_the_station_and_nothing_dials(site: Site) -> None:
    app = site.app()

    async def scenario(pilot: Pilot[Any]) -> None:
        await log_in_operator(pilot)
        screen = app.screen
        assert isinstance(screen, WorkstationScreen)
        assert screen.check_action("dial", ()) is True
        run_write(site.engine, lambda s: site_controls.start_site_stop(
            session=s, actor=supervisor(site), reason="Alerte incendie"))
        await wait_until(pilot, lambda: "SITE STOP" in bar_text(app), "the stop shown")
        assert "Alerte incendie" in screen_text(app)
        assert screen.check_action("dial", ()) is False
        await pilot.press("f5")
        await settle(pilot)
        assert site.phone.dialed == []
        run_write(site.engine, lambda s: site_controls.lift_site_stop(
            session=s, actor=supervisor(site)))
        await wait_until(pilot, lambda: "SITE STOP" not in bar_text(app), "lifted")
        assert screen.check_action("dial", ()) is True

    drive(app, scenario)


@pytest.mark.parametrize("shown", [True, False], ids=["mark", "no-mark"])
def test_the_supervisor_mark_shows_only_where_the_site_wants_it(site: Site,
                                                               shown: bool) -> None:
    site.configure("supervision", show_monitor_mark=shown)
    app = site.app()
    seen: list[str] = []

    async def scenario(pilot: Pilot[Any]) -> None:
        await log_in_operator(pilot)
        await dial_and_answer(pilot, site.phone)
        site.phone.emit(events.MonitorChanged(active=True, mode="whisper"))
        await settle(pilot)
        seen.append(bar_text(pilot.app))
        site.phone.emit(events.MonitorChanged(active=False, mode=None))
        await settle(pilot)
        seen.append(bar_text(pilot.app))

    drive(app, scenario)
    assert ("supervisor on the line" in seen[0]) is shown
    assert "supervisor on the line" not in seen[1]


def test_the_operator_reads_their_own_coaching_notes_and_nothing_else(site: Site) -> None:
    def note(session: Any) -> None:
        training.add_coaching_note(session=session, actor=supervisor(site),
                                   operator_login="operateur",
                                   text="Très bon accueil.\n[b]Pense[/b] à reformuler.")

    run_write(site.engine, note)
    app = site.app()

    async def scenario(pilot: Pilot[Any]) -> None:
        await log_in_operator(pilot)
        await wait_until(pilot, lambda: "New note" in screen_text(app), "the footer says so")
        await pilot.press("f3")
        await wait_for_screen(pilot, CoachingNotesScreen, "the notes")
        await wait_until(pilot, lambda: "Très bon accueil." in screen_text(app), "the note")
        text = screen_text(app)
        assert "[b]Pense[/b] à reformuler." in text and "Superviseur démo" in text
        for figure in ("Score", "Contact rate", "%", "Calls"):
            assert figure not in text, figure
        await wait_until(pilot, lambda: site.one(CoachingNote).read_at is not None, "read")
        await pilot.press("escape")
        await wait_for_screen(pilot, WorkstationScreen, "back to work")
        await settle(pilot)
        assert "New note" not in screen_text(app)
        # Still there, unannounced: F3 opens them again.
        await pilot.press("f3")
        await wait_for_screen(pilot, CoachingNotesScreen, "the notes again")

    drive(app, scenario)

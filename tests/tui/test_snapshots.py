"""Snapshots of every operator screen at 80×24 and 120×40, grouped by screen.

Each test plays one session and takes its pictures at both sizes (resizing the terminal),
then compares them with the SVG files in ``__snapshots__`` through pytest-textual-snapshot's
SVG extension (``pytest --snapshot-update`` rewrites them; look at them before committing).
What changes from run to run is frozen: the clock (timers, slots, the callee's local time),
the database (the demo site built under that clock), the cursor (no blinking). The
operator's interface language is English here, so that the pictures do not move with the
French catalogue.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pytest_textual_snapshot import SVGImageExtension
from sqlmodel import select
from syrupy import SnapshotAssertion
from textual.pilot import Pilot
from textual.widgets import Select

from cellcall.db import run_write, unit_of_work
from cellcall.models.users import Role, User, UserCreate
from cellcall.services import site_controls, users
from cellcall.services.actors import SYSTEM
from cellcall.services.workstation import StationState
from cellcall.telephony import events
from cellcall.tui.screens.change_password import ChangePasswordScreen
from cellcall.tui.screens.keypad import KeypadScreen
from cellcall.tui.screens.objections import ObjectionsScreen
from cellcall.tui.screens.pause import PauseScreen
from cellcall.tui.screens.workstation import WorkstationScreen
from tui.support import (
    SIZES,
    STATION,
    Shots,
    Site,
    choose_outcome,
    current_contact,
    dial_and_answer,
    drive,
    fill,
    log_in,
    log_in_operator,
    remote_hang_up,
    settle,
    station_state,
    wait_for_screen,
    wait_until,
)


@pytest.fixture
def svg(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    return snapshot.use_extension(SVGImageExtension)


@pytest.fixture
def english_site(site: Site) -> Iterator[Site]:
    with unit_of_work(site.engine) as session:
        for user in session.exec(select(User)).all():
            user.ui_language = "en"
            session.add(user)
    yield site


# --- login ----------------------------------------------------------------------------------
def test_login_screen(english_site: Site, svg: SnapshotAssertion) -> None:
    app = english_site.app()
    shots = Shots()

    async def scenario(pilot: Pilot[Any]) -> None:
        await shots.take(pilot, "login")
        await log_in(pilot, "operateur", "wrong-password")
        await wait_until(pilot, lambda: app.workstation.user is None  # type: ignore[attr-defined]
                         and str(app.screen.query_one("#login-error").render()),
                         "the error line")
        await shots.take(pilot, "login-failed")
        await log_in(pilot, "nadia", one_time)
        await wait_for_screen(pilot, ChangePasswordScreen, "the password change")
        await shots.take(pilot, "change-password")

    def add_user(session: Any) -> str:
        _user, password = users.add_user(session=session, actor=SYSTEM, data=UserCreate(
            login="nadia", display_name="Nadia Test", role=Role.OPERATOR, languages=["fr"],
            ui_language="en"))
        # Operators log in only at the stations they are assigned to.
        site_controls.assign_station(session=session, actor=SYSTEM, login="nadia",
                                     station_name=STATION)
        return password

    one_time = run_write(english_site.engine, add_user)
    drive(app, scenario, size=SIZES[0])
    shots.check(svg)


# --- workstation states ----------------------------------------------------------------------
def test_workstation_ready_with_nothing_callable(english_site: Site,
                                                 svg: SnapshotAssertion) -> None:
    english_site.only_campaign("none")
    app = english_site.app()
    shots = Shots()

    async def scenario(pilot: Pilot[Any]) -> None:
        await log_in_operator(pilot, until=StationState.READY)
        await wait_until(pilot, lambda: str(app.screen.query_one("#station-message")
                                            .render()).strip(), "the reason")
        await shots.take(pilot, "ready-nothing-callable")

    drive(app, scenario, size=SIZES[0])
    shots.check(svg)


def test_workstation_states(english_site: Site, svg: SnapshotAssertion) -> None:
    site = english_site
    app = site.app()
    shots = Shots()

    async def scenario(pilot: Pilot[Any]) -> None:
        await log_in_operator(pilot)
        await shots.take(pilot, "preview")
        attempt_id = current_contact(app).attempt_id
        await pilot.press("f5")
        await wait_until(pilot, lambda: site.phone.dialed, "dialled")
        site.phone.emit(events.CallProgress(attempt_id=attempt_id, state=events.RINGING))
        await settle(pilot)
        await shots.take(pilot, "dialing")
        site.phone.emit(events.CallProgress(attempt_id=attempt_id, state=events.CONNECTED))
        await wait_until(pilot, lambda: station_state(app) == StationState.TALKING, "talking")
        await pilot.press("1")
        await shots.take(pilot, "talking")
        await pilot.press("f9")
        await wait_for_screen(pilot, ObjectionsScreen, "objections")
        await shots.take(pilot, "objections")
        await pilot.press("down", "enter")
        await wait_for_screen(pilot, WorkstationScreen, "answer")
        await shots.take(pilot, "objection-answer")
        await pilot.press("f8")  # hold
        await pilot.press("f4")
        await wait_for_screen(pilot, KeypadScreen, "keypad")
        await pilot.press("2", "number_sign")
        await shots.take(pilot, "on-hold-keypad")
        await pilot.press("escape")
        await wait_for_screen(pilot, WorkstationScreen, "back to the call")
        await pilot.press("f8")  # off hold
        await remote_hang_up(pilot, site.phone, attempt_id)
        await shots.take(pilot, "wrap-up")
        await choose_outcome(pilot, "not_interested")
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: station_state(app) == StationState.PREVIEW,
                         "the next contact")
        await pilot.press("f8")
        await wait_for_screen(pilot, PauseScreen, "pause menu")
        await shots.take(pilot, "pause-menu")
        await pilot.press("down", "enter")  # meal
        await wait_until(pilot, lambda: station_state(app) == StationState.PAUSED, "paused")
        await shots.take(pilot, "paused")

    drive(app, scenario, size=SIZES[0])
    shots.check(svg)


# --- wrap-up forms ----------------------------------------------------------------------------
def test_wrapup_forms(english_site: Site, svg: SnapshotAssertion) -> None:
    site = english_site
    app = site.app()
    shots = Shots()

    async def scenario(pilot: Pilot[Any]) -> None:
        await log_in_operator(pilot)
        attempt_id = await dial_and_answer(pilot, site.phone)
        await remote_hang_up(pilot, site.phone, attempt_id)
        await choose_outcome(pilot, "appointment_set")
        app.screen.query_one("#appointment", Select).value = (
            app.screen.context.free_slots[2].isoformat())  # type: ignore[attr-defined]
        await shots.take(pilot, "appointment")
        await choose_outcome(pilot, "callback")
        await fill(pilot, "#callback", "18/11/2026 15:00")
        await shots.take(pilot, "callback")

    drive(app, scenario, size=SIZES[0])
    shots.check(svg)


def test_wrapup_survey_form(english_site: Site, svg: SnapshotAssertion) -> None:
    site = english_site
    site.only_campaign("demo-enquete")
    site.configure("queue", progressive_delay_seconds=3600)
    app = site.app()
    shots = Shots()

    async def scenario(pilot: Pilot[Any]) -> None:
        await log_in_operator(pilot)
        await shots.take(pilot, "progressive-preview")
        attempt_id = await dial_and_answer(pilot, site.phone)
        await remote_hang_up(pilot, site.phone, attempt_id)
        await choose_outcome(pilot, "completed")
        app.screen.query_one("#survey-satisfaction", Select).value = 4
        await shots.take(pilot, "survey")

    drive(app, scenario, size=SIZES[0])
    shots.check(svg)

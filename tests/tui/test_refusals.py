"""Everything an operator must not be able to do: leave the app, open the palette, run app
actions, reach other roles' screens or services, type a number, or be fooled by markup and
terminal escapes hidden in client data and notes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from sqlmodel import col
from textual.command import CommandPalette
from textual.pilot import Pilot
from textual.widgets import Input, TextArea

from cellcall.db import read_session, unit_of_work
from cellcall.errors import PermissionDeniedError
from cellcall.models.audit import AuditEvent
from cellcall.models.calls import Outcome
from cellcall.models.campaigns import Audience, CampaignCreate, CampaignType
from cellcall.models.contacts import Contact
from cellcall.models.users import Role, UserCreate
from cellcall.services import campaigns, demo, users
from cellcall.services.workstation import StationState, Workstation
from cellcall.tui.screens.lock import LockScreen
from cellcall.tui.screens.login import LoginScreen
from cellcall.tui.screens.pause import PauseScreen
from cellcall.tui.screens.workstation import WorkstationScreen
from cellcall.tui.screens.wrapup import WrapUpScreen
from tui.support import (
    DEMO_PASSWORD,
    Site,
    choose_outcome,
    current_contact,
    dial_and_answer,
    drive,
    fill,
    log_in_operator,
    remote_hang_up,
    screen_text,
    settle,
    station_state,
    wait_for_screen,
    wait_until,
)

KIOSK_KEYS = ("ctrl+c", "ctrl+z", "ctrl+backslash", "ctrl+q", "ctrl+p")


def still_running(app: Any) -> bool:
    return bool(app.is_running) and app.return_code is None


def test_kiosk_keys_never_leave_the_app_while_logged_in(site: Site) -> None:
    app = site.app()

    async def scenario(pilot: Pilot[Any]) -> None:
        await log_in_operator(pilot)
        for key in KIOSK_KEYS:
            await pilot.press(key)
            await settle(pilot)
            assert still_running(app), key
            assert isinstance(app.screen, WorkstationScreen), key
            assert not any(isinstance(s, CommandPalette) for s in app.screen_stack), key
        assert station_state(app) == StationState.PREVIEW

    drive(app, scenario)


def test_at_the_login_screen_only_ctrl_q_quits(site: Site) -> None:
    app = site.app()

    async def scenario(pilot: Pilot[Any]) -> None:
        for key in ("ctrl+c", "ctrl+z", "ctrl+backslash", "ctrl+p"):
            await pilot.press(key)
            await settle(pilot)
            assert still_running(app), key
            assert isinstance(app.screen, LoginScreen), key
        await pilot.press("ctrl+q")
        await pilot.pause()
        assert app.return_code == 0

    drive(app, scenario)


# App actions an operator's session must refuse whatever the route (a binding, a click
# smuggled in markup, the palette): run through app.run_action as the code would.
REFUSED_ACTIONS = (
    "app.quit", "app.suspend_process", "app.screenshot", "app.command_palette",
    "app.push_screen('supervisor')", "app.switch_screen('supervisor')",
    "app.switch_mode('supervisor')", "app.toggle_dark", "app.change_theme",
    "app.simulate_key('ctrl+c')", "app.help_quit", "app.show_help_panel",
    "app.pop_screen", "app.maximize", "app.copy_text('x')",
)


def test_app_actions_are_refused_for_an_operator(site: Site, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    app = site.app()

    async def scenario(pilot: Pilot[Any]) -> None:
        await log_in_operator(pilot)
        stack = list(app.screen_stack)
        theme = app.theme
        for action in REFUSED_ACTIONS:
            name = action.removeprefix("app.").split("(")[0]
            assert app.check_action(name, ()) is False, action
            await app.run_action(action)
            await settle(pilot)
            assert still_running(app), action
            assert list(app.screen_stack) == stack, action
        assert app.theme == theme
        # Actions of the station's own screen still work.
        await app.run_action("screen.pause")
        await wait_for_screen(pilot, PauseScreen, "pause menu")

    drive(app, scenario)
    assert not list(tmp_path.glob("*.svg"))


def test_operator_services_of_other_roles_are_refused(site: Site) -> None:
    station = Workstation(engine=site.engine, config=site.config, station_name="demo-1")
    station.login("operateur", DEMO_PASSWORD)
    actor = station.actor
    assert actor.role == Role.OPERATOR
    with read_session(site.engine) as session:
        before = len(session.exec(AuditEvent.__table__.select()).all())  # type: ignore[attr-defined]

    calls = [
        lambda s: users.add_user(session=s, actor=actor, data=UserCreate(
            login="intrus", display_name="Intrus", role=Role.ADMIN, languages=["fr"])),
        lambda s: campaigns.create_campaign(session=s, actor=actor, data=CampaignCreate(
            slug="pirate", client_name=demo.DEMO_CLIENT, type=CampaignType.PROSPECTING,
            audience=Audience.CONSUMER, country="FR")),
        lambda s: users.list_users(session=s, actor=actor),
        lambda s: campaigns.list_campaigns(session=s, actor=actor),
        lambda s: users.reset_password(session=s, actor=actor, login="superviseur"),
    ]
    for call in calls:
        with pytest.raises(PermissionDeniedError), unit_of_work(site.engine) as session:
            call(session)
    with read_session(site.engine) as session:
        after = len(session.exec(AuditEvent.__table__.select()).all())  # type: ignore[attr-defined]
    assert after == before


def test_no_widget_of_the_operator_session_takes_a_number(site: Site) -> None:
    """The only text fields are the login, passwords and wrap-up fields; the workstation
    has none, and Dial sends the claimed attempt's id, nothing else."""
    app = site.app(idle_lock_seconds=3600)
    seen: dict[str, set[str]] = {}

    def record(name: str) -> None:
        fields = {w.id or "?" for w in app.screen.query(Input)}
        fields |= {w.id or "?" for w in app.screen.query(TextArea)}
        seen.setdefault(name, set()).update(fields)

    async def scenario(pilot: Pilot[Any]) -> None:
        record("login")
        await log_in_operator(pilot)
        record("workstation")
        await pilot.press("f8")
        await wait_for_screen(pilot, PauseScreen, "pause menu")
        await settle(pilot)
        record("pause")
        await pilot.press("escape")
        await settle(pilot)
        contact = current_contact(app)
        attempt_id = await dial_and_answer(pilot, site.phone)
        assert site.phone.dialed == [contact.attempt_id] == [attempt_id]
        record("workstation")
        await remote_hang_up(pilot, site.phone, attempt_id)
        wrapup = app.screen
        assert isinstance(wrapup, WrapUpScreen)
        # One outcome per kind of form (the fields depend on what the outcome needs).
        kinds = {spec.needs: spec.key for spec in wrapup.context.dispositions}
        for key in kinds.values():
            await choose_outcome(pilot, key)
            record("wrapup")
        app.lock()
        await wait_for_screen(pilot, LockScreen, "locked")
        await settle(pilot)
        record("lock")

    drive(app, scenario)
    assert seen["login"] == {"login", "password"}
    assert seen["workstation"] == set()
    assert seen["pause"] == set()
    assert seen["wrapup"] == {"notes", "callback"}
    assert seen["lock"] == {"lock-password"}
    # Every workstation binding but the script's digits takes no argument at all.
    for binding in WorkstationScreen.BINDINGS:
        action = getattr(binding, "action", "")
        assert "(" not in action or action.startswith("script_choose("), action


MARKUP_NAME = "[red]x[/]"
MARKUP_COMPANY = "[@click=app.quit]boom[/]"
CLEAR = "\x1b[2J"
OSC52 = "\x1b]52;c;SGVsbG8=\x07"


def plant_payloads(site: Site) -> int:
    """Contact 1 (the first in the queue) carries markup and terminal escapes."""
    site.set_contact(1, first_name=MARKUP_NAME, company=MARKUP_COMPANY,
                     custom_fields={"Secteur": f"avant{CLEAR}après", "Ville": OSC52,
                                    "[b]Clé[/b]": "[link=http://example.com]lien[/link]"})
    return 1


def assert_inert(text: str) -> None:
    assert "\x1b" not in text and "\x07" not in text and "\x9b" not in text


def test_markup_and_escapes_in_contact_data_are_shown_literally(site: Site) -> None:
    contact_id = plant_payloads(site)
    app = site.app()

    async def scenario(pilot: Pilot[Any]) -> None:
        await log_in_operator(pilot)
        assert current_contact(app).contact_id == contact_id
        text = screen_text(app)
        assert MARKUP_NAME in text  # in the card, and in the script's greeting
        assert text.count(MARKUP_NAME) >= 2
        assert MARKUP_COMPANY in text
        assert "[b]Clé[/b]" in text and "[link=http://example.com]lien[/link]" in text
        assert "52;c;SGVsbG8=" in text  # shown as text, its ESC and BEL replaced
        assert_inert(text)
        assert_inert(app.export_screenshot())
        # Clicking the would-be link does nothing.
        lines = text.splitlines()
        row = next(i for i, line in enumerate(lines) if MARKUP_COMPANY in line)
        column = lines[row].index(MARKUP_COMPANY) + 2
        await pilot.click(offset=(column, row))
        await settle(pilot)
        assert still_running(app)
        assert isinstance(app.screen, WorkstationScreen)

    drive(app, scenario)


def test_markup_and_escapes_in_notes_are_inert_when_the_contact_comes_back(
        site: Site) -> None:
    notes = f"{MARKUP_COMPANY} rappeler {CLEAR}{OSC52} [blink]vite[/blink]"
    # Only contact 1 stays in the queue, so it comes back after its retry delay.
    with unit_of_work(site.engine) as session:
        session.execute(update(Contact).where(col(Contact.id) != 1).values(status="done"))
    app = site.app()

    async def scenario(pilot: Pilot[Any]) -> None:
        await log_in_operator(pilot)
        attempt_id = await dial_and_answer(pilot, site.phone)
        await remote_hang_up(pilot, site.phone, attempt_id)
        await choose_outcome(pilot, "not_interested")
        # Changed for a non-final outcome, so that the contact is called again.
        await choose_outcome(pilot, "answering_machine")
        app.screen.query_one("#notes", TextArea).text = notes
        await pilot.press("ctrl+s")
        await wait_for_screen(pilot, WorkstationScreen, "saved")
        await wait_until(pilot, lambda: station_state(app) == StationState.READY, "ready")
        site.clock.advance(hours=5)  # answering machine: called again after 4 h
        await pilot.press("f2")  # look again now that the retry time has come
        await wait_until(pilot, lambda: station_state(app) == StationState.PREVIEW,
                         "the contact again")
        await settle(pilot)
        assert current_contact(app).history
        text = screen_text(app)
        assert MARKUP_COMPANY in text
        assert "[blink]vite[/blink]" in text
        assert_inert(text)
        assert_inert(app.export_screenshot())

    drive(app, scenario, size=(120, 40))
    assert site.one(Outcome).notes == notes  # stored as typed; made inert when shown


def test_a_locked_station_shows_nothing_of_the_contact(site: Site) -> None:
    app = site.app(idle_lock_seconds=3600)

    async def scenario(pilot: Pilot[Any]) -> None:
        await log_in_operator(pilot)
        contact = current_contact(app)
        app.lock()
        await wait_for_screen(pilot, LockScreen, "locked")
        await settle(pilot)
        text = screen_text(app)
        assert contact.first_name not in text and contact.last_name not in text
        assert contact.masked_number not in text
        # The lock cannot be dismissed with the keyboard without the password.
        for key in ("escape", "f10", "ctrl+c", "ctrl+q"):
            await pilot.press(key)
            await settle(pilot)
            assert isinstance(app.screen, LockScreen), key
        await fill(pilot, "#lock-password", DEMO_PASSWORD)
        await pilot.press("enter")
        await wait_for_screen(pilot, WorkstationScreen, "unlocked")

    drive(app, scenario)

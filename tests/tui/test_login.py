"""The login screen: one answer for every failure, the one-time password, the lockout, and
where each role lands."""

from __future__ import annotations

import json
from typing import Any

from sqlmodel import col, select
from textual.pilot import Pilot
from textual.widgets import Footer, Input, Static

from cellcall.db import run_write, unit_of_work
from cellcall.i18n import translations_for
from cellcall.models.audit import AuditEvent
from cellcall.models.timeclock import TimeEntry
from cellcall.models.users import Role, User, UserCreate
from cellcall.services import site_controls, users
from cellcall.services.actors import SYSTEM
from cellcall.services.auth import login_failed_message
from cellcall.tui.screens.change_password import ChangePasswordScreen
from cellcall.tui.screens.login import LoginScreen
from cellcall.tui.screens.role_screens import AdminRefusedScreen
from cellcall.tui.screens.supervisor import FloorScreen
from cellcall.tui.screens.workstation import WorkstationScreen
from tui.support import (
    DEMO_PASSWORD,
    STATION,
    Site,
    drive,
    fill,
    log_in,
    log_in_operator,
    screen_text,
    settle,
    type_into,
    wait_for_screen,
    wait_until,
)


def login_error(pilot: Pilot[Any]) -> str:
    return str(pilot.app.screen.query_one("#login-error", Static).render())


async def failed_login(pilot: Pilot[Any], login: str, password: str, *,
                       typed: bool = False) -> str:
    """Log in, wait for the answer, and return the error line the screen shows."""
    screen = pilot.app.screen
    assert isinstance(screen, LoginScreen)
    screen.query_one("#login", Input).value = ""
    await log_in(pilot, login, password, typed=typed)
    await settle(pilot)
    await wait_until(pilot, lambda: login_error(pilot) != "", "an error is shown")
    assert isinstance(pilot.app.screen, LoginScreen)
    assert pilot.app.workstation.user is None  # type: ignore[attr-defined]
    return login_error(pilot)


def add_operator(site: Site, login: str) -> str:
    """An operator created by an admin: a one-time password, to change at first login."""

    def work(session: Any) -> str:
        _user, password = users.add_user(session=session, actor=SYSTEM, data=UserCreate(
            login=login, display_name="Nadia Test", role=Role.OPERATOR, languages=["fr"],
            ui_language="en"))
        # Operators log in only at the stations they are assigned to.
        site_controls.assign_station(session=session, actor=SYSTEM, login=login,
                                     station_name=STATION)
        return password

    return run_write(site.engine, work)


def test_unknown_login_and_wrong_password_get_the_same_message(site: Site) -> None:
    app = site.app()
    messages: list[str] = []

    async def scenario(pilot: Pilot[Any]) -> None:
        messages.append(await failed_login(pilot, "nobody", DEMO_PASSWORD, typed=True))
        messages.append(await failed_login(pilot, "operateur", "wrong-password-1"))
        # The password field is emptied after a failure; the login stays.
        assert app.screen.query_one("#password", Input).value == ""
        messages.append(await failed_login(pilot, "", ""))

    drive(app, scenario)
    assert messages[0] == messages[1] == login_failed_message()
    assert messages[2] != messages[0]  # an empty form is not a failed login
    failures = site.rows(AuditEvent, AuditEvent.action == "login.failed")
    assert len(failures) == 2


def test_first_login_requires_a_new_password(site: Site) -> None:
    one_time = add_operator(site, "nadia")
    app = site.app()

    async def scenario(pilot: Pilot[Any]) -> None:
        await log_in(pilot, "nadia", one_time)
        await wait_for_screen(pilot, ChangePasswordScreen, "the password change screen")
        # Nothing else is reachable: the station did not start.
        assert app.workstation.clock.state == "logged_out"  # type: ignore[attr-defined]
        await type_into(pilot, "#old", one_time)
        await fill(pilot, "#new", "my own sentence 42")
        await fill(pilot, "#again", "my own sentence 43")
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ChangePasswordScreen)
        assert "differ" in screen_text(app)
        await fill(pilot, "#new", "my own sentence 42")
        await fill(pilot, "#again", "my own sentence 42")
        await pilot.press("enter")
        await wait_for_screen(pilot, WorkstationScreen, "the operator reaches the workstation")
        await settle(pilot)

    drive(app, scenario)
    user = site.one(User, User.login == "nadia")
    assert user.must_change_password is False
    assert site.rows(AuditEvent, AuditEvent.action == "password.change",
                     AuditEvent.target == "nadia")


def test_a_weak_new_password_is_refused_on_screen(site: Site) -> None:
    one_time = add_operator(site, "nadia")
    app = site.app()

    async def scenario(pilot: Pilot[Any]) -> None:
        await log_in(pilot, "nadia", one_time)
        await wait_for_screen(pilot, ChangePasswordScreen, "the password change screen")
        await fill(pilot, "#old", one_time)
        await fill(pilot, "#new", "short")
        await fill(pilot, "#again", "short")
        await pilot.press("enter")
        await settle(pilot)
        error = str(app.screen.query_one("#password-error", Static).render())
        assert error
        assert isinstance(app.screen, ChangePasswordScreen)

    drive(app, scenario)
    assert site.one(User, User.login == "nadia").must_change_password is True


def test_lockout_answers_like_any_failure_even_with_the_right_password(site: Site) -> None:
    app = site.app()
    threshold = site.config.security.lockout_threshold

    async def scenario(pilot: Pilot[Any]) -> None:
        for n in range(threshold):
            await failed_login(pilot, "operateur", f"wrong-password-{n}")
        message = await failed_login(pilot, "operateur", DEMO_PASSWORD)
        assert message == login_failed_message()

    drive(app, scenario)
    user = site.one(User, User.login == "operateur")
    assert user.locked_until is not None
    last = site.rows(AuditEvent, AuditEvent.action == "login.failed")[-1]
    assert json.loads(last.details)["reason"] == "locked"
    assert not site.rows(AuditEvent, AuditEvent.action == "login")


def test_supervisor_lands_on_the_floor_and_logs_out(site: Site) -> None:
    app = site.app()

    async def scenario(pilot: Pilot[Any]) -> None:
        await log_in(pilot, "superviseur")
        await wait_for_screen(pilot, FloorScreen, "the supervisor's floor")
        await wait_until(pilot, lambda: app.screen.snapshot is not None,  # type: ignore[attr-defined]
                         "the floor is read")
        assert "Superviseur démo" in screen_text(app)
        await pilot.press("f10")
        await wait_for_screen(pilot, LoginScreen, "back at the login screen")
        await settle(pilot)

    drive(app, scenario)
    # A supervisor does not clock in at a station.
    assert not site.rows(TimeEntry)
    actions = [e.action for e in site.rows(AuditEvent, AuditEvent.actor == "superviseur")]
    assert actions == ["login", "logout"]


def test_admin_is_sent_to_cellcall_admin(site: Site) -> None:
    app = site.app()

    async def scenario(pilot: Pilot[Any]) -> None:
        await log_in(pilot, "admin")
        await wait_for_screen(pilot, AdminRefusedScreen, "the admin screen")
        assert "cellcall-admin" in screen_text(app)
        assert not app.screen.query(Input)

    drive(app, scenario)
    assert not site.rows(TimeEntry)


def test_every_failure_is_audited_without_the_password(site: Site) -> None:
    app = site.app()

    async def scenario(pilot: Pilot[Any]) -> None:
        await failed_login(pilot, "operateur", "secret-typo-123")

    drive(app, scenario)
    rows = site.rows(AuditEvent, col(AuditEvent.action).like("login%"))
    assert rows
    assert all("secret-typo-123" not in r.details for r in rows)


def test_each_user_gets_their_own_language_footer_included(site: Site) -> None:
    french = translations_for("fr").gettext
    assert french("Dial") != "Dial"  # the catalogue has it; else this test proves nothing
    app = site.app()
    footers: list[str] = []

    def speak(language: str) -> None:
        with unit_of_work(site.engine) as session:
            user = session.exec(select(User).where(User.login == "operateur")).one()
            user.ui_language = language
            session.add(user)

    async def scenario(pilot: Pilot[Any]) -> None:
        # One of the two differs from the language the modules were imported in.
        for language in ("en", "fr"):
            speak(language)
            await log_in_operator(pilot)
            footers.append(str(app.screen.query_one(Footer).render()) + screen_text(app))
            await pilot.press("f10")
            await wait_for_screen(pilot, LoginScreen, "logged out")
            await settle(pilot)

    drive(app, scenario)
    assert "Dial" in footers[0] and french("Dial") not in footers[0]
    assert french("Dial") in footers[1] and " Dial " not in footers[1]

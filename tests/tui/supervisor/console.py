"""What the console's tests share: the app with a supervisor phone double, logging in as the
demo supervisor, and waiting for the floor."""

from __future__ import annotations

from typing import Any

from textual.pilot import Pilot

from cellcall.tui.app import CellcallApp
from cellcall.tui.screens.supervisor import FloorScreen
from tui.phone_double import SupervisorPhoneDouble
from tui.support import (
    DEMO_PASSWORD,
    Site,
    log_in,
    screen_text,
    settle,
    wait_for_screen,
    wait_until,
)

SUPERVISOR = "superviseur"


def console_app(site: Site, phone: SupervisorPhoneDouble | None = None,
                station: str | None = None) -> CellcallApp:
    """The same ``cellcall`` app at a monitoring terminal (no station of its own by
    default); the supervisor's phone is a double (the TUI's edge)."""
    return site.app(station=station,
                    supervisor_phone=phone if phone is not None else SupervisorPhoneDouble())


def floor_screen(app: Any) -> FloorScreen:
    screen = app.screen
    assert isinstance(screen, FloorScreen), screen
    return screen


async def log_in_supervisor(pilot: Pilot[Any], login: str = SUPERVISOR,
                            password: str = DEMO_PASSWORD) -> FloorScreen:
    """Log in and wait until the floor has been read once."""
    await log_in(pilot, login, password)
    await wait_for_screen(pilot, FloorScreen, "the supervisor's floor")
    await wait_until(pilot, lambda: floor_screen(pilot.app).snapshot is not None,
                     "the floor is read")
    await settle(pilot)
    # On a loaded machine the table may paint its rows a little after it received them.
    snapshot = floor_screen(pilot.app).snapshot
    if snapshot is not None and snapshot.stations:
        first = snapshot.stations[0].station_name
        await wait_until(pilot, lambda: first in screen_text(pilot.app), "the stations drawn")
    return floor_screen(pilot.app)


async def refreshed(pilot: Pilot[Any]) -> FloorScreen:
    """Read the floor again now (instead of waiting for the one-second timer)."""
    screen = floor_screen(pilot.app)
    before = screen.snapshot
    screen.refresh_floor()
    await wait_until(pilot, lambda: screen.snapshot is not before, "the floor is read again")
    await settle(pilot)
    return screen


def notified(app: Any, text: str) -> bool:
    """Whether a notification (a toast) holding ``text`` was shown."""
    return any(text in note.message for note in app._notifications)


async def hold_the_floor(pilot: Pilot[Any]) -> None:
    """Stop the floor's one-second refresh (pictures: a refresh landing between a resize and
    the picture would repaint half a table); the data is frozen anyway."""
    timer = floor_screen(pilot.app).refresh_timer
    assert timer is not None
    timer.pause()
    await settle(pilot)

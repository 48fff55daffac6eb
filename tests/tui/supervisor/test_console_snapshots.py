"""Snapshots of the supervisor's console at 80×24 and 120×40: the floor of 12 stations in
mixed states (each tab), the alerts, the recordings list, a scorecard with its validation
messages, the coaching screen and a timesheet.

What moves from run to run is frozen: the clock (``floor_world``'s, where the world ends),
the database (built once under that clock), the language (English), the cursor (no
blinking). ``pytest --snapshot-update tests/tui/supervisor`` rewrites the pictures; look at
them before committing.
"""

from __future__ import annotations

from typing import Any

import pytest
from pytest_textual_snapshot import SVGImageExtension
from syrupy import SnapshotAssertion
from textual.pilot import Pilot
from textual.widgets import Input

from cellcall.tui.screens.supervisor.operator import OperatorScreen
from cellcall.tui.screens.supervisor.recordings import RecordingsScreen, RecordingTable
from cellcall.tui.screens.supervisor.scorecard import ScorecardScreen
from cellcall.tui.screens.supervisor.timesheet import TimesheetScreen, TimesheetTable
from floor_world import PASSWORD
from tui.supervisor.console import console_app, hold_the_floor, log_in_supervisor
from tui.support import SIZES, Shots, Site, drive, settle, wait_for_screen, wait_until


@pytest.fixture
def svg(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    return snapshot.use_extension(SVGImageExtension)


def test_the_floor(floor_site: Site, svg: SnapshotAssertion) -> None:
    app = console_app(floor_site)
    shots = Shots()

    async def scenario(pilot: Pilot[Any]) -> None:
        await log_in_supervisor(pilot, "chef", PASSWORD)
        await hold_the_floor(pilot)
        await shots.take(pilot, "floor-stations")
        for key, name in (("2", "floor-campaigns"), ("3", "floor-alerts"),
                          ("4", "floor-pause-requests")):
            await pilot.press(key)
            await settle(pilot)
            await shots.take(pilot, name)

    drive(app, scenario, size=SIZES[0])
    shots.check(svg)


def test_recordings_and_a_scorecard(floor_site: Site, floor_template: Any,
                                    svg: SnapshotAssertion) -> None:
    app = console_app(floor_site)
    shots = Shots()

    async def scenario(pilot: Pilot[Any]) -> None:
        await log_in_supervisor(pilot, "chef", PASSWORD)
        await hold_the_floor(pilot)
        await pilot.press("f2")
        await wait_for_screen(pilot, RecordingsScreen, "the recordings")
        screen = app.screen
        assert isinstance(screen, RecordingsScreen)
        await wait_until(pilot, lambda: screen.rows, "the list")
        table = screen.query_one(RecordingTable)
        table.focus()
        table.move_cursor(row=table._keys.index(str(floor_template.recorded[0])))
        await settle(pilot)
        await shots.take(pilot, "recordings")
        await pilot.press("f9")
        await wait_for_screen(pilot, ScorecardScreen, "the scorecard")
        form = app.screen
        assert isinstance(form, ScorecardScreen)
        await wait_until(pilot, lambda: form.criteria, "the criteria")
        await settle(pilot)
        keys = [c.key for c in form.criteria]
        form.query_one(f"#points-{keys[0]}", Input).value = "3"
        form.query_one(f"#comment-{keys[0]}", Input).value = "Clear greeting"
        form.query_one(f"#points-{keys[1]}", Input).value = "9"
        await pilot.press("ctrl+s")
        await settle(pilot)
        form.query_one(f"#points-{keys[0]}", Input).focus()
        await shots.take(pilot, "scorecard-checked")

    drive(app, scenario, size=SIZES[0])
    shots.check(svg)


def test_coaching_and_the_timesheet(floor_site: Site, svg: SnapshotAssertion) -> None:
    app = console_app(floor_site)
    shots = Shots()

    async def scenario(pilot: Pilot[Any]) -> None:
        await log_in_supervisor(pilot, "chef", PASSWORD)
        await hold_the_floor(pilot)
        app.push_screen(OperatorScreen("op05", "Opérateur 05"))
        await wait_for_screen(pilot, OperatorScreen, "the operator")
        await wait_until(pilot, lambda: app.screen.query_one("#figures-body")
                         .render() != "Loading…", "the figures")
        await settle(pilot)
        await shots.take(pilot, "coaching-figures")
        await pilot.press("escape")
        await settle(pilot)
        await pilot.press("f3")
        await wait_for_screen(pilot, TimesheetScreen, "the timesheet")
        await wait_until(pilot, lambda: app.screen.query_one(TimesheetTable).row_count == 12,
                         "the rows")
        await shots.take(pilot, "timesheet-week")

    drive(app, scenario, size=SIZES[0])
    shots.check(svg)

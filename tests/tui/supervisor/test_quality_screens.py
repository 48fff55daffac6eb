"""Recordings (filters, playback on the supervisor's phone), the scorecard form and its
validation, an operator's scores over time, the timesheet's periods."""

from __future__ import annotations

from typing import Any

from textual.pilot import Pilot
from textual.widgets import Input, Select

from cellcall.models.audit import AuditEvent
from cellcall.models.quality import CallScore
from cellcall.telephony import events
from cellcall.tui.screens.supervisor.operator import OperatorScreen, ScoreTable
from cellcall.tui.screens.supervisor.recordings import RecordingsScreen, RecordingTable
from cellcall.tui.screens.supervisor.scorecard import ScorecardScreen
from cellcall.tui.screens.supervisor.timesheet import TimesheetScreen, TimesheetTable
from floor_world import PASSWORD
from tui.phone_double import SupervisorPhoneDouble
from tui.supervisor.conftest import RECORDING_SECONDS
from tui.supervisor.console import console_app, log_in_supervisor, notified
from tui.support import Site, drive, screen_text, settle, wait_for_screen, wait_until


def recordings(app: Any) -> RecordingsScreen:
    screen = app.screen
    assert isinstance(screen, RecordingsScreen)
    return screen


async def open_recordings(pilot: Pilot[Any]) -> RecordingsScreen:
    await log_in_supervisor(pilot, "chef", PASSWORD)
    await pilot.press("f2")
    await wait_for_screen(pilot, RecordingsScreen, "the recordings")
    screen = recordings(pilot.app)
    await wait_until(pilot, lambda: screen.rows, "the list")
    return screen


async def choose(pilot: Pilot[Any], selector: str, value: str) -> None:
    screen = recordings(pilot.app)
    before = screen.rows
    screen.query_one(selector, Select).value = value
    await wait_until(pilot, lambda: screen.rows is not before, "the list is read again")
    await settle(pilot)


async def select_call(pilot: Pilot[Any], attempt_id: int) -> None:
    table = pilot.app.screen.query_one(RecordingTable)
    table.focus()
    table.move_cursor(row=table._keys.index(str(attempt_id)))
    await settle(pilot)


def test_recordings_are_filtered_and_played_on_the_supervisors_phone(
        floor_site: Site, floor_template: Any) -> None:
    site = floor_site
    phone = SupervisorPhoneDouble()
    app = console_app(site, phone)
    first = floor_template.recorded[0]

    async def scenario(pilot: Pilot[Any]) -> None:
        screen = await open_recordings(pilot)
        everyone = len(screen.rows)
        assert everyone > 3
        await choose(pilot, "#filter-operator", "op03")
        assert {r.operator_login for r in screen.rows} == {"op03"} and len(screen.rows) == 3
        assert sorted(r.attempt_id for r in screen.rows if r.has_recording) == sorted(
            floor_template.recorded)
        await choose(pilot, "#filter-outcome", "wrong_number")
        assert [r.disposition for r in screen.rows] == ["wrong_number"]
        await choose(pilot, "#filter-operator", "op04")
        assert [(r.operator_login, r.disposition) for r in screen.rows] == [
            ("op04", "wrong_number")]
        screen.query_one("#filter-day", Input).value = "2026-11-18"
        screen.query_one("#filter-day", Input).focus()
        await pilot.press("enter")
        await wait_until(pilot, lambda: not screen.rows, "nothing on the next day")
        screen.query_one("#filter-day", Input).value = "18 nov"
        await pilot.press("enter")
        await wait_until(pilot, lambda: notified(app, "YYYY-MM-DD"), "the day is refused")
        screen.query_one("#filter-day", Input).value = ""
        before = screen.rows
        screen.query_one("#filter-outcome", Select).clear()
        # That is a new read too: let it land before the next filter asks for another.
        await wait_until(pilot, lambda: screen.rows is not before, "every outcome again")
        await choose(pilot, "#filter-operator", "op03")
        assert len(screen.rows) == 3

        # A call without a recording is not played.
        unrecorded = next(r.attempt_id for r in screen.rows if not r.has_recording)
        await select_call(pilot, unrecorded)
        await pilot.press("f5")
        await wait_until(pilot, lambda: notified(app, "no recording"), "refused")
        assert phone.played == []

        await select_call(pilot, first)
        assert screen.check_action("pause", ()) is False
        await pilot.press("f5")
        await wait_until(pilot, lambda: phone.played == [first], "the phone plays")
        phone.emit(events.PlaybackProgress(attempt_id=first, position_s=10.0,
                                           duration_s=float(RECORDING_SECONDS), paused=False))
        await settle(pilot)
        assert f"Playing call {first}: 00:10 / 00:30" in screen_text(app)
        await pilot.press("f6", "f8", "f7", "f7")
        await settle(pilot)
        assert phone.playback == ["pause", "skip +10", "skip -10", "skip -10"]
        phone.emit(events.PlaybackProgress(attempt_id=first, position_s=0.0,
                                           duration_s=float(RECORDING_SECONDS), paused=True))
        await settle(pilot)
        assert "(paused)" in screen_text(app)
        assert screen.check_action("resume", ()) is True
        await pilot.press("f6")
        await settle(pilot)
        assert phone.playback[-1] == "resume"
        phone.emit(events.PlaybackEnded(attempt_id=first))
        await settle(pilot)
        assert "Nothing playing." in screen_text(app)
        assert screen.playing is None

    drive(app, scenario, size=(120, 40))
    played = site.rows(AuditEvent, AuditEvent.action == "recording_played")
    assert [(e.actor, e.target) for e in played] == [("chef", f"attempt:{first}")]


def test_the_scorecard_checks_each_criterion_then_scores_the_call(
        floor_site: Site, floor_template: Any) -> None:
    site = floor_site
    app = console_app(site)
    call = floor_template.recorded[0]

    async def scenario(pilot: Pilot[Any]) -> None:
        await open_recordings(pilot)
        await select_call(pilot, call)
        await pilot.press("f9")
        await wait_for_screen(pilot, ScorecardScreen, "the scorecard")
        form = app.screen
        assert isinstance(form, ScorecardScreen)
        await wait_until(pilot, lambda: form.criteria, "the criteria")
        await settle(pilot)
        keys = [c.key for c in form.criteria]
        assert len(keys) == 7
        await pilot.press("ctrl+s")
        await settle(pilot)
        text = screen_text(app)
        assert "Some criteria need a valid score." in text and "Score this criterion." in text
        for n, key in enumerate(keys):
            form.query_one(f"#points-{key}", Input).value = str(n % 5)
        top = form.criteria[4]
        form.query_one(f"#points-{top.key}", Input).value = str(top.max_points + 5)
        form.query_one(f"#comment-{keys[0]}", Input).value = "Présentation <b>claire</b>"
        form.query_one("#overall-comment", Input).value = "Bon appel."
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert f"Between 0 and {top.max_points}." in screen_text(app)
        assert not site.rows(CallScore)
        form.query_one(f"#points-{top.key}", Input).value = "1"
        await pilot.press("ctrl+s")
        await wait_for_screen(pilot, RecordingsScreen, "back to the list")
        screen = recordings(app)
        await wait_until(pilot, lambda: any(r.score_percent is not None for r in screen.rows),
                         "the score in the list")

    drive(app, scenario, size=(120, 40))
    [score] = site.rows(CallScore)
    assert score.attempt_id == call and score.comment == "Bon appel."
    assert score.comments == {next(iter(score.points)): "Présentation <b>claire</b>"}


def test_an_operators_scores_over_time(floor_site: Site, floor_template: Any) -> None:
    from cellcall.db import run_write
    from cellcall.services import quality

    site = floor_site
    supervisor = _supervisor_actor(site)

    def score(attempt_id: int, points: int) -> None:
        def work(session: Any) -> None:
            criteria = quality.scorecard(session=session, actor=supervisor,
                                         campaign_id=_campaign_of(session, attempt_id))
            quality.score_call(session=session, actor=supervisor, attempt_id=attempt_id,
                               points={c.key: min(points, c.max_points) for c in criteria},
                               comments={}, comment="")
        run_write(site.engine, work)

    for attempt_id, points in zip(floor_template.recorded, (1, 4), strict=True):
        score(attempt_id, points)
        site.clock.advance(hours=1)
    app = console_app(site)

    async def scenario(pilot: Pilot[Any]) -> None:
        await log_in_supervisor(pilot, "chef", PASSWORD)
        app.push_screen(OperatorScreen("op03", "Opérateur 03", tab="scores"))
        await wait_for_screen(pilot, OperatorScreen, "the operator")
        await wait_until(pilot, lambda: app.screen.query_one(ScoreTable).row_count == 2,
                         "two scores")
        spark = app.screen.query_one("#scores-spark")
        data = list(spark.data or [])  # type: ignore[attr-defined]
        assert len(data) == 2 and data[0] < data[1]  # oldest first: progress shows

    drive(app, scenario, size=(120, 40))


def _supervisor_actor(site: Site) -> Any:
    from cellcall.models.users import Role, User
    from cellcall.services.actors import Actor

    user = site.one(User, User.login == "chef")
    return Actor(login="chef", role=Role.SUPERVISOR, user_id=user.id)


def _campaign_of(session: Any, attempt_id: int) -> int:
    from cellcall.models.calls import CallAttempt

    attempt = session.get(CallAttempt, attempt_id)
    return int(attempt.campaign_id)


def test_the_timesheet_by_day_week_and_month(floor_site: Site) -> None:
    site = floor_site
    app = console_app(site)

    async def scenario(pilot: Pilot[Any]) -> None:
        await log_in_supervisor(pilot, "chef", PASSWORD)
        await pilot.press("f3")
        await wait_for_screen(pilot, TimesheetScreen, "the timesheet")
        screen = app.screen
        assert isinstance(screen, TimesheetScreen)
        table = screen.query_one(TimesheetTable)
        await wait_until(pilot, lambda: table.row_count == 12, "11 operators and the total")
        text = screen_text(app)
        assert "Week · 2026-11-17" in text and "2026-W47" in text and "Total" in text
        await pilot.press("m")
        await wait_until(pilot, lambda: "Month · 2026-11-17" in screen_text(app), "month")
        await pilot.press("f7")
        await wait_until(pilot, lambda: "Month · 2026-10-01" in screen_text(app),
                         "the month before")
        await pilot.press("d", "f8")
        await wait_until(pilot, lambda: "Day · 2026-10-02" in screen_text(app), "a day")
        await settle(pilot)
        # Nobody worked on that day: every operator at zero.
        assert "0:00" in screen_text(app)
        screen.query_one("#timesheet-operator", Select).value = "op01"
        await pilot.press("w")
        await wait_until(pilot, lambda: table.row_count == 2, "one operator and the total")

    drive(app, scenario, size=(120, 40))

"""The live floor of 12 stations (``floor_world``): what it shows, listening through the
supervisor's phone, force logout, pause decisions, the site stop, coaching an operator."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import col
from textual.pilot import Pilot
from textual.widgets import Button, Input, Static

from cellcall.db import run_write
from cellcall.models.floor import (
    MonitorSession,
    PauseRequest,
    SiteStop,
    StationCommand,
    StationPresence,
)
from cellcall.models.quality import CoachingNote, TrainingRecord
from cellcall.models.users import Station
from cellcall.telephony import events, records
from cellcall.tui.screens.login import LoginScreen
from cellcall.tui.screens.supervisor.confirm import ConfirmScreen, ReasonScreen
from cellcall.tui.screens.supervisor.floor import FloorScreen
from cellcall.tui.screens.supervisor.operator import ModuleTable, OperatorScreen
from cellcall.tui.screens.supervisor.station_menu import StationMenuScreen
from cellcall.tui.widgets.floor_tables import AlertTable, PauseRequestTable, StationTable
from floor_world import PASSWORD, expected_states
from tui.phone_double import SupervisorPhoneDouble
from tui.supervisor.console import console_app, log_in_supervisor, notified, refreshed
from tui.support import Site, drive, screen_text, settle, wait_for_screen, wait_until

MONITOR_URI = "sip:monitor@127.0.0.1:5099"


def station_id(site: Site, name: str) -> int:
    return int(site.one(Station, Station.name == name).id)


async def select_station(pilot: Pilot[Any], site: Site, name: str) -> None:
    table = pilot.app.screen.query_one(StationTable)
    table.focus()
    table.move_cursor(row=table._keys.index(str(station_id(site, name))))
    await settle(pilot)


def test_the_floor_shows_every_station_its_alerts_and_the_pending_pause(
        floor_site: Site) -> None:
    app = console_app(floor_site)

    async def scenario(pilot: Pilot[Any]) -> None:
        screen = await log_in_supervisor(pilot, "chef", PASSWORD)
        snapshot = screen.snapshot
        assert snapshot is not None
        # The table holds what the service read, one row per station, in its order.
        table = screen.query_one(StationTable)
        assert table.row_count == 12
        states = {row.station_name: row.state for row in snapshot.stations}
        assert states == expected_states()
        text = screen_text(app)
        for shown in ("poste-01", "Paused (meal)", "Talking", "Wrap-up", "Dialing", "silent",
                      "staffed: 10/12", "alerts: 7", "pause requests: 1"):
            assert shown in text, shown
        await pilot.press("3")
        await settle(pilot)
        assert screen.query_one(AlertTable).row_count == len(snapshot.alerts)
        kinds = sorted(alert.kind for alert in snapshot.alerts)
        assert kinds == ["long_call", "long_pause", "newcomer_call", "newcomer_call",
                         "nothing_callable", "phone_down", "silent"]
        assert "Long call" in screen_text(app) and "Phone down" in screen_text(app)
        await pilot.press("4")
        await settle(pilot)
        assert screen.query_one(PauseRequestTable).row_count == 1
        assert "Opérateur 10" in screen_text(app)
        await pilot.press("2")
        await settle(pilot)
        assert "Campagne floor-b2b" in screen_text(app)
        # Station actions are offered on the stations tab only.
        assert screen.check_action("listen", ()) is False
        await pilot.press("1")
        await settle(pilot)
        assert screen.check_action("listen", ()) is True

    drive(app, scenario, size=(120, 40))


def test_an_alert_leads_to_its_station(floor_site: Site) -> None:
    app = console_app(floor_site)

    async def scenario(pilot: Pilot[Any]) -> None:
        screen = await log_in_supervisor(pilot, "chef", PASSWORD)
        await pilot.press("3")
        await settle(pilot)
        alerts = screen.query_one(AlertTable)
        assert alerts.has_focus
        kinds = [a.kind for a in screen.snapshot.alerts]  # type: ignore[union-attr]
        alerts.move_cursor(row=kinds.index("newcomer_call"))
        await pilot.press("enter")
        await settle(pilot)
        assert screen.active_tab == "stations"
        row = screen.selected_station()
        assert row is not None and row.station_name == "poste-05" and row.newcomer
        # From there, Enter offers to listen.
        await pilot.press("enter")
        await wait_for_screen(pilot, StationMenuScreen, "the station's menu")
        assert app.screen.actions[0][0] == "listen"  # type: ignore[attr-defined]

    drive(app, scenario, size=(80, 24))


def test_listen_whisper_barge_and_stop_through_the_supervisors_phone(
        floor_site: Site) -> None:
    site = floor_site
    phone = SupervisorPhoneDouble()
    app = console_app(site, phone)
    target = station_id(site, "poste-02")
    for name in ("poste-02", "poste-03"):
        ident = station_id(site, name)
        run_write(site.engine, lambda s, ident=ident: records.publish_monitor_uri(  # type: ignore[misc]
            s, station_id=ident, uri=MONITOR_URI))

    def open_sessions() -> list[MonitorSession]:
        return site.rows(MonitorSession, MonitorSession.station_id == target,
                         col(MonitorSession.ended_at).is_(None))

    async def scenario(pilot: Pilot[Any]) -> None:
        screen = await log_in_supervisor(pilot, "chef", PASSWORD)
        await select_station(pilot, site, "poste-02")
        await pilot.press("l")
        await wait_until(pilot, lambda: phone.tickets, "the phone calls the station")
        ticket: Any = phone.tickets[0]
        assert (ticket.station_name, ticket.mode, ticket.target_uri) == (
            "poste-02", "listen", MONITOR_URI)
        [row] = open_sessions()
        assert row.mode == "listen" and row.id == ticket.monitor_id
        await settle(pilot)
        assert "On the line of poste-02: listening" in screen_text(app)
        await pilot.press("w")
        await wait_until(pilot, lambda: phone.modes == ["whisper"], "whisper")
        await pilot.press("b")
        await wait_until(pilot, lambda: phone.modes == ["whisper", "barge"], "barge")
        assert open_sessions()[0].mode == "barge"
        await settle(pilot)
        assert "barged in" in screen_text(app)
        await pilot.press("x")
        await wait_until(pilot, lambda: phone.stopped_monitors == 1, "the monitor call ends")
        await settle(pilot)
        assert not open_sessions()
        assert screen.monitoring is None
        assert screen.check_action("stop_monitor", ()) is False
        # A station that is not in a call cannot be listened to: the service says why.
        await select_station(pilot, site, "poste-03")
        await pilot.press("l")
        await wait_until(pilot, lambda: notified(app, "Station poste-03 is not in a call"),
                         "the refusal")
        assert len(phone.tickets) == 1
        # The engine serves the logged-in supervisor only, and nobody after the logout.
        assert [getattr(o, "login", None) for o in phone.operators] == ["chef"]
        await pilot.press("f10")
        await wait_for_screen(pilot, LoginScreen, "the login screen")
        assert phone.operators[-1] is None

    drive(app, scenario, size=(120, 40))


def test_the_engine_ending_the_monitor_call_closes_the_session(floor_site: Site) -> None:
    site = floor_site
    phone = SupervisorPhoneDouble()
    app = console_app(site, phone)
    target = station_id(site, "poste-02")
    run_write(site.engine, lambda s: records.publish_monitor_uri(
        s, station_id=target, uri=MONITOR_URI))

    async def scenario(pilot: Pilot[Any]) -> None:
        screen = await log_in_supervisor(pilot, "chef", PASSWORD)
        await select_station(pilot, site, "poste-02")
        await pilot.press("l")
        await wait_until(pilot, lambda: screen.monitoring is not None, "monitoring")
        phone.emit(events.MonitorStateChanged(active=False, mode=None, station_name="poste-02",
                                              monitor_id=screen.monitoring.monitor_id,  # type: ignore[union-attr]
                                              reason="The call is over."))
        await wait_until(pilot, lambda: screen.monitoring is None, "the session closes")
        await settle(pilot)
        # What the engine refuses is said on the console.
        phone.emit(events.EngineError("Your phone is disconnected."))
        await wait_until(pilot, lambda: notified(app, "Your phone is disconnected."),
                         "the engine's refusal")

    drive(app, scenario, size=(120, 40))
    assert not site.rows(MonitorSession, MonitorSession.station_id == target,
                         col(MonitorSession.ended_at).is_(None))


def test_force_logout_asks_first_then_orders_the_station(floor_site: Site) -> None:
    site = floor_site
    app = console_app(site)
    target = station_id(site, "poste-03")

    async def scenario(pilot: Pilot[Any]) -> None:
        await log_in_supervisor(pilot, "chef", PASSWORD)
        await select_station(pilot, site, "poste-03")
        await pilot.press("o")
        await wait_for_screen(pilot, ConfirmScreen, "the confirmation")
        assert "Opérateur 03" in screen_text(app)
        await pilot.press("enter")  # the focus is on Cancel: Enter alone never confirms
        await wait_for_screen(pilot, FloorScreen, "back on the floor")
        assert not site.rows(StationCommand, StationCommand.station_id == target)
        await pilot.press("o")
        await wait_for_screen(pilot, ConfirmScreen, "the confirmation")
        app.screen.query_one("#confirm-yes", Button).press()
        await wait_for_screen(pilot, FloorScreen, "back on the floor")
        await wait_until(pilot, lambda: site.rows(StationCommand,
                                                  StationCommand.station_id == target),
                         "the order")

    drive(app, scenario, size=(120, 40))
    [command] = site.rows(StationCommand, StationCommand.station_id == target)
    assert command.kind == "force_logout" and command.done_at is None


def test_force_logout_of_a_silent_station_clears_it_at_once(floor_site: Site) -> None:
    """poste-09 has not been heard from for 20 minutes: nobody will obey the order, so the
    console's force logout shows it logged out and closes its operator's time at once."""
    site = floor_site
    app = console_app(site)
    target = station_id(site, "poste-09")

    async def scenario(pilot: Pilot[Any]) -> None:
        await log_in_supervisor(pilot, "chef", PASSWORD)
        await select_station(pilot, site, "poste-09")
        await pilot.press("o")
        await wait_for_screen(pilot, ConfirmScreen, "the confirmation")
        app.screen.query_one("#confirm-yes", Button).press()
        await wait_for_screen(pilot, FloorScreen, "back on the floor")
        await wait_until(pilot, lambda: site.rows(StationCommand,
                                                  StationCommand.station_id == target),
                         "the order")

    drive(app, scenario, size=(120, 40))
    [presence] = site.rows(StationPresence, StationPresence.station_id == target)
    assert presence.state == "logged_out" and presence.user_id is None


@pytest.mark.parametrize("key,status", [("a", "approved"), ("r", "refused")])
def test_a_pause_request_is_approved_or_refused(floor_site: Site, key: str,
                                                status: str) -> None:
    site = floor_site
    app = console_app(site)

    async def scenario(pilot: Pilot[Any]) -> None:
        screen = await log_in_supervisor(pilot, "chef", PASSWORD)
        assert screen.check_action("approve_pause", ()) is False  # not on this tab
        await pilot.press("4")
        await settle(pilot)
        assert screen.check_action("approve_pause", ()) is True
        await pilot.press(key)
        await wait_until(pilot, lambda: site.one(PauseRequest).status == status, status)
        screen = await refreshed(pilot)
        assert screen.query_one(PauseRequestTable).row_count == 0
        assert "4 Pause requests (0)" in screen_text(app)

    drive(app, scenario, size=(120, 40))
    request = site.one(PauseRequest)
    assert request.decided_by is not None
    [order] = site.rows(StationCommand, StationCommand.kind == "pause_decision")
    assert order.payload["approved"] is (status == "approved")


def test_a_new_alert_is_announced(floor_site: Site) -> None:
    site = floor_site
    app = console_app(site)

    async def scenario(pilot: Pilot[Any]) -> None:
        await log_in_supervisor(pilot, "chef", PASSWORD)
        assert not app._notifications  # the alerts already there are listed, not announced
        site.clock.advance(minutes=20)  # poste-08's technical pause grows long
        await refreshed(pilot)
        assert notified(app, "Station poste-08")

    drive(app, scenario, size=(120, 40))


def test_site_stop_needs_a_reason_and_a_confirmation_then_shows_a_banner(
        floor_site: Site) -> None:
    site = floor_site
    app = console_app(site)

    async def scenario(pilot: Pilot[Any]) -> None:
        screen = await log_in_supervisor(pilot, "chef", PASSWORD)
        banner = screen.query_one("#site-stop-banner", Static)
        assert not banner.display
        await pilot.press("f9")
        await wait_for_screen(pilot, ReasonScreen, "the reason")
        await pilot.press("enter")
        await settle(pilot)
        assert "A reason is required." in screen_text(app)
        app.screen.query_one("#reason", Input).value = "Fouille [red]générale[/]"
        await pilot.press("enter")
        await wait_for_screen(pilot, ConfirmScreen, "the confirmation")
        assert not site.rows(SiteStop)
        app.screen.query_one("#confirm-yes", Button).press()
        await wait_for_screen(pilot, FloorScreen, "back on the floor")
        await wait_until(pilot, lambda: screen.site_stop is not None, "the stop is shown")
        await settle(pilot)
        assert banner.display
        text = screen_text(app)
        assert "SITE STOP" in text and "Fouille [red]générale[/]" in text
        assert screen.check_action("site_stop", ()) is False
        assert screen.check_action("lift_stop", ()) is True
        await pilot.press("f9")
        await wait_for_screen(pilot, ConfirmScreen, "lift?")
        app.screen.query_one("#confirm-yes", Button).press()
        await wait_until(pilot, lambda: screen.site_stop is None, "the stop is lifted")
        await settle(pilot)
        assert not banner.display

    drive(app, scenario, size=(120, 40))
    [stop] = site.rows(SiteStop)
    assert stop.reason == "Fouille [red]générale[/]" and stop.lifted_by == "chef"


def test_coaching_an_operator_figures_training_and_a_note(floor_site: Site) -> None:
    site = floor_site
    app = console_app(site)

    async def scenario(pilot: Pilot[Any]) -> None:
        await log_in_supervisor(pilot, "chef", PASSWORD)
        # Enter opens the station's menu: what this station allows, with each key.
        await select_station(pilot, site, "poste-03")
        await pilot.press("enter")
        await wait_for_screen(pilot, StationMenuScreen, "the station's menu")
        offered = [a for a, _k, _l in app.screen.actions]  # type: ignore[attr-defined]
        assert offered == ["operator", "force_logout"]  # ready: nothing to listen to
        await pilot.press("escape")
        await wait_for_screen(pilot, FloorScreen, "back on the floor")
        await select_station(pilot, site, "poste-05")
        await pilot.press("enter")
        await wait_for_screen(pilot, StationMenuScreen, "the station's menu")
        offered = [a for a, _k, _l in app.screen.actions]  # type: ignore[attr-defined]
        assert offered == ["listen", "whisper", "barge", "operator", "force_logout"]
        await pilot.press("down", "down", "down", "enter")
        await wait_for_screen(pilot, OperatorScreen, "the operator's screen")
        await wait_until(pilot, lambda: "Contact rate" in screen_text(app), "the figures")
        text = screen_text(app)
        assert "Opérateur 05 (op05)" in text and "Newcomer" in text
        await pilot.press("3")
        await wait_until(pilot, lambda: app.screen.query_one(ModuleTable).row_count > 0,
                         "the training record")
        # Signing off needs hours done first: the service says so.
        await pilot.press("ctrl+o")
        await wait_until(pilot, lambda: notified(app, "Record the hours done"), "the refusal")
        assert not site.rows(TrainingRecord)
        await pilot.press("ctrl+e")
        await wait_for_screen(pilot, ReasonScreen, "the hours")
        app.screen.query_one("#reason", Input).value = "3,5"
        await pilot.press("enter")
        await wait_until(pilot, lambda: site.rows(TrainingRecord), "the hours recorded")
        await wait_for_screen(pilot, OperatorScreen, "back")
        await pilot.press("ctrl+o")
        await wait_until(pilot, lambda: site.one(TrainingRecord).signed_off_at is not None,
                         "signed off")
        await pilot.press("4")
        await settle(pilot)
        assert "No coaching note yet." in screen_text(app)
        note = app.screen.query_one("#note-input", Input)
        note.focus()
        note.value = "Bonne écoute ; reformuler l'objection avant de répondre."
        await pilot.press("enter")
        await wait_until(pilot, lambda: "reformuler" in screen_text(app), "the note listed")
        assert "not read yet" in screen_text(app)
        await pilot.press("escape")
        await wait_for_screen(pilot, FloorScreen, "back on the floor")

    drive(app, scenario, size=(120, 40))
    [note] = site.rows(CoachingNote)
    assert note.text.startswith("Bonne écoute") and note.read_at is None
    [record] = site.rows(TrainingRecord)
    assert record.signed_off_by is not None and record.done_hours == 3.5

"""The live floor: where a supervisor lands after logging in.

Every second a worker reads ``floor_snapshot`` (what the stations wrote: heartbeats and
state changes) and the screen shows it in four tabs: stations, campaigns, alerts and
pause requests. A one-line summary and the site-stop banner stay above the tabs. Actions
on a station (listen, whisper, barge, force logout, coaching figures) take the selected
row; the services decide whether they are allowed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.reactive import reactive
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Header, Static, TabbedContent, TabPane

from cellcall.i18n import _
from cellcall.models.floor import MonitorMode
from cellcall.services.auth import LoggedIn
from cellcall.telephony import events as phone_events
from cellcall.tui.messages import PhoneEventMessage, post_unless_superseded
from cellcall.tui.screens.supervisor.base import ConsoleScreen
from cellcall.tui.screens.supervisor.messages import (
    Done,
    FloorRefreshed,
    MonitorEnded,
    MonitorStarted,
)
from cellcall.tui.widgets.campaign_progress import CampaignProgressList
from cellcall.tui.widgets.floor_tables import (
    AlertTable,
    PauseRequestTable,
    StationTable,
    alert_kind_label,
    local_time,
)
from cellcall.tui.widgets.literal import literal
from cellcall.untrusted import inert

if TYPE_CHECKING:
    from cellcall.services.floor import FloorSnapshot, StationRow
    from cellcall.services.monitoring import MonitorTicket
    from cellcall.services.site_controls import SiteStopView

TABS = ("stations", "campaigns", "alerts", "pauses")

# The actions each tab offers (the footer shows only these); the others are everywhere.
ACTIONS_BY_TAB: dict[str, frozenset[str]] = {
    "station_menu": frozenset({"stations"}),
    "listen": frozenset({"stations"}),
    "whisper": frozenset({"stations"}),
    "barge": frozenset({"stations"}),
    "force_logout": frozenset({"stations"}),
    "operator": frozenset({"stations"}),
    "approve_pause": frozenset({"pauses"}),
    "refuse_pause": frozenset({"pauses"}),
}


def _floor_bindings() -> list[BindingType]:
    # The station's own actions have keys of their own, listed in its menu (Enter): the
    # footer keeps to what fits 80 columns.
    return [
        Binding("enter", "station_menu", _("Actions"), id="floor.station_menu"),
        Binding("l", "listen", _("Listen"), show=False, id="floor.listen"),
        Binding("w", "whisper", _("Whisper"), show=False, id="floor.whisper"),
        Binding("b", "barge", _("Barge"), show=False, id="floor.barge"),
        Binding("x", "stop_monitor", _("Stop listening"), id="floor.stop_monitor"),
        Binding("o", "force_logout", _("Force logout"), show=False, id="floor.force_logout"),
        Binding("c", "operator", _("Coaching"), show=False, id="floor.operator"),
        Binding("a", "approve_pause", _("Approve"), id="floor.approve_pause"),
        Binding("r", "refuse_pause", _("Refuse"), id="floor.refuse_pause"),
        Binding("f2", "recordings", _("Recordings"), id="floor.recordings"),
        Binding("f3", "timesheets", _("Hours"), id="floor.timesheets"),
        Binding("f9", "site_stop", _("Site stop"), id="floor.site_stop"),
        Binding("f9", "lift_stop", _("Lift stop"), id="floor.lift_stop"),
        Binding("f10", "logout", _("Log out"), id="floor.logout"),
        *[Binding(str(n), f"show_tab('{tab}')", show=False, id=f"floor.tab_{n}")
          for n, tab in enumerate(TABS, start=1)],
    ]


def summary_line(snapshot: FloorSnapshot, user_name: str) -> Text:
    """One line: who is at the console, how many stations are in each state, the alerts,
    the pause requests."""
    working = [s for s in snapshot.stations if s.operator_login is not None]
    counts: dict[str, int] = {}
    for row in working:
        counts[row.state] = counts.get(row.state, 0) + 1
    text = Text(no_wrap=True, overflow="ellipsis", end="")
    text.append_text(literal(user_name, style="bold"))
    # What needs the supervisor first: at 80 columns the end of the line may not show.
    text.append(" · ")
    text.append(_("alerts: {n}").format(n=len(snapshot.alerts)),
                style="bold red" if snapshot.alerts else "")
    text.append(" · ")
    text.append(_("pause requests: {n}").format(n=len(snapshot.pending_pauses)),
                style="bold yellow" if snapshot.pending_pauses else "")
    text.append(" · ")
    text.append(_("staffed: {n}/{total}").format(n=len(working),
                                                  total=len(snapshot.stations)))
    # The colon is in each message: French writes "en pause : 2".
    parts = [_("in a call: {n}").format(n=counts.get("talking", 0) + counts.get("dialing", 0)),
             _("paused: {n}").format(n=counts.get("paused", 0)),
             _("wrap-up: {n}").format(n=counts.get("wrap_up", 0))]
    for part in parts:
        text.append(" · ")
        text.append(part)
    return text


class FloorScreen(ConsoleScreen):
    """The supervisor's console home: the live floor."""

    CSS_PATH = "floor.tcss"
    BINDINGS: ClassVar[list[BindingType]] = _floor_bindings()

    snapshot: reactive[FloorSnapshot | None] = reactive(None, always_update=True)
    """The floor as last read (None until the first read)."""
    site_stop: reactive[SiteStopView | None] = reactive(None)
    """The site stop in force, if any (the banner shows it)."""
    monitoring: reactive[MonitorTicket | None] = reactive(None)
    """The monitor session this console holds, if any."""

    @classmethod
    def bindings_now(cls) -> list[BindingType]:
        return _floor_bindings()

    def __init__(self, user: LoggedIn) -> None:
        super().__init__()
        self.user = user
        self.refresh_timer: Timer | None = None
        self._known_alerts: set[tuple[str, str | None, str | None]] | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="site-stop-banner")
        yield Static("", id="floor-summary")
        yield Static("", id="monitor-line")
        with TabbedContent(id="floor-tabs", initial="stations"):
            with TabPane(_("1 Stations"), id="stations"):
                yield StationTable(id="stations-table")
            with TabPane(_("2 Campaigns"), id="campaigns"):
                yield CampaignProgressList(id="campaign-list")
            with TabPane(_("3 Alerts"), id="alerts"):
                yield AlertTable(id="alerts-table")
            with TabPane(_("4 Pause requests"), id="pauses"):
                yield PauseRequestTable(id="pauses-table")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        if self.phone is not None:
            # The engine plays recordings and places monitor calls for this user only.
            self.phone.set_operator(self.station.actor)
        self.query_one("#site-stop-banner").display = False
        self.query_one("#monitor-line").display = False
        self.refresh_floor()
        self.refresh_timer = self.set_interval(1.0, self.refresh_floor)
        self.query_one(StationTable).focus()

    def on_unmount(self) -> None:
        # Whatever way the console closes (logout, the idle lock's logout): the engine hangs
        # up the monitor call (and closes its session row itself) and forgets the user.
        if self.phone is not None:
            if self.monitoring is not None:
                self.phone.stop_monitor()
            self.phone.set_operator(None)

    # --- the floor, every second ----------------------------------------------------------
    @work(thread=True, exclusive=True, exit_on_error=False, group="floor")
    def refresh_floor(self) -> None:
        post_unless_superseded(self, FloorRefreshed(self.desk.snapshot()))

    def on_floor_refreshed(self, message: FloorRefreshed) -> None:
        self.snapshot = message.snapshot

    def watch_snapshot(self, snapshot: FloorSnapshot | None) -> None:
        if snapshot is None:
            return
        zone = self.zone
        self.query_one(StationTable).show(snapshot.stations)
        self.query_one(CampaignProgressList).show(snapshot.campaigns)
        self.query_one(AlertTable).show(snapshot.alerts, zone)
        self.query_one(PauseRequestTable).show(snapshot.pending_pauses, zone)
        self.query_one("#floor-summary", Static).update(
            summary_line(snapshot, self.user.display_name))
        tabs = self.query_one(TabbedContent)
        tabs.get_tab("alerts").label = _("3 Alerts ({n})").format(n=len(snapshot.alerts))
        tabs.get_tab("pauses").label = _("4 Pause requests ({n})").format(
            n=len(snapshot.pending_pauses))
        self.site_stop = snapshot.site_stop
        self._announce(snapshot)

    def _announce(self, snapshot: FloorSnapshot) -> None:
        """A new alert is shown at once (a toast), whatever tab is open; the first read
        only takes note of what is there already."""
        keys = {(a.kind, a.station_name, a.campaign_slug): a for a in snapshot.alerts}
        if self._known_alerts is not None:
            for key, alert in keys.items():
                if key not in self._known_alerts:
                    self.notify(inert(alert.text), title=alert_kind_label(alert.kind),
                                severity="warning", timeout=10)
        self._known_alerts = set(keys)

    def watch_site_stop(self, stop: SiteStopView | None) -> None:
        banner = self.query_one("#site-stop-banner", Static)
        banner.display = stop is not None
        if stop is not None:
            text = Text(_("SITE STOP since {time} by {who}: ").format(
                time=local_time(stop.started_at, self.zone), who=stop.started_by),
                end="")
            text.append_text(literal(stop.reason))
            text.append("  ")
            text.append(_("F9 lifts it."), style="italic")
            banner.update(text)
        self.refresh_bindings()

    def watch_monitoring(self, ticket: MonitorTicket | None) -> None:
        line = self.query_one("#monitor-line", Static)
        line.display = ticket is not None
        if ticket is not None:
            line.update(Text(_("On the line of {station}: {mode}").format(
                station=ticket.station_name, mode=mode_label(MonitorMode(ticket.mode))),
                style="bold"))
        self.refresh_bindings()

    # --- which keys show ------------------------------------------------------------------
    @property
    def active_tab(self) -> str:
        return self.query_one(TabbedContent).active or "stations"

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if not self.is_mounted:
            return True
        tabs = ACTIONS_BY_TAB.get(action)
        if tabs is not None and self.active_tab not in tabs:
            return False
        if action == "stop_monitor":
            return self.monitoring is not None
        if action == "site_stop":
            return self.site_stop is None
        if action == "lift_stop":
            return self.site_stop is not None
        return True

    @on(TabbedContent.TabActivated)
    def _tab_changed(self, event: TabbedContent.TabActivated) -> None:
        self.refresh_bindings()
        table = {"stations": StationTable, "alerts": AlertTable,
                 "pauses": PauseRequestTable}.get(event.pane.id or "")
        if table is not None:
            self.query_one(table).focus()

    def action_show_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab

    # --- the selected station -------------------------------------------------------------
    def selected_station(self) -> StationRow | None:
        key = self.query_one(StationTable).selected_key
        if self.snapshot is None or key is None:
            return None
        return next((s for s in self.snapshot.stations if str(s.station_id) == key), None)

    # --- listening ------------------------------------------------------------------------
    def action_listen(self) -> None:
        self._monitor(MonitorMode.LISTEN)

    def action_whisper(self) -> None:
        self._monitor(MonitorMode.WHISPER)

    def action_barge(self) -> None:
        self._monitor(MonitorMode.BARGE)

    def _monitor(self, mode: MonitorMode) -> None:
        row = self.selected_station()
        if row is None:
            return
        if self.phone is None:
            self.notify(_("No phone is connected to this console."), severity="error")
            return
        current = self.monitoring
        if current is not None and current.station_id == row.station_id:
            self.change_mode(current, mode)
        else:
            self.start_monitor(row.station_id, mode, current)

    @work(thread=True, exclusive=True, exit_on_error=False, group="monitor")
    def start_monitor(self, station_id: int, mode: MonitorMode,
                      previous: MonitorTicket | None) -> None:
        if previous is not None:
            self.desk.end_monitor(previous.monitor_id)
            self.post_message(MonitorEnded(previous.monitor_id))
        self.post_message(MonitorStarted(self.desk.start_monitor(station_id, mode)))

    @work(thread=True, exclusive=True, exit_on_error=False, group="monitor")
    def change_mode(self, ticket: MonitorTicket, mode: MonitorMode) -> None:
        self.post_message(MonitorStarted(self.desk.change_monitor_mode(ticket.monitor_id, mode)))

    def on_monitor_started(self, message: MonitorStarted) -> None:
        previous, self.monitoring = self.monitoring, message.ticket
        if self.phone is None:
            return
        if previous is not None and previous.monitor_id == message.ticket.monitor_id:
            self.phone.set_monitor_mode(message.ticket.mode, message.ticket)
        else:
            self.phone.monitor(message.ticket)

    def on_monitor_ended(self, message: MonitorEnded) -> None:
        if self.monitoring is not None and self.monitoring.monitor_id == message.monitor_id:
            if self.phone is not None:
                self.phone.stop_monitor()
            self.monitoring = None

    def action_stop_monitor(self) -> None:
        ticket = self.monitoring
        if ticket is not None:
            self.end_monitor(ticket.monitor_id)

    @work(thread=True, exclusive=True, exit_on_error=False, group="monitor")
    def end_monitor(self, monitor_id: int) -> None:
        self.desk.end_monitor(monitor_id)
        self.post_message(MonitorEnded(monitor_id))

    def on_phone_event_message(self, message: PhoneEventMessage) -> None:
        event = message.event
        if isinstance(event, phone_events.EngineError):
            # The floor is at the bottom of every console screen: it says it once.
            self.notify(inert(event.message), severity="error", timeout=10)
            return
        if isinstance(event, phone_events.MonitorStateChanged):
            ticket = self.monitoring
            if not event.active and ticket is not None:
                # The call ended (or the station refused): close the session too.
                if event.reason:
                    self.notify(inert(event.reason))
                self.end_monitor(ticket.monitor_id)

    # --- force logout ---------------------------------------------------------------------
    def action_force_logout(self) -> None:
        from cellcall.tui.screens.supervisor.confirm import ConfirmScreen

        row = self.selected_station()
        if row is None or row.operator_login is None:
            self.notify(_("Nobody is logged in at this station."))
            return
        body = Text(end="")
        body.append(_("Log out this operator now? A call in progress ends first."))
        body.append("\n")
        body.append_text(literal(f"{row.operator_name} ({row.operator_login})", style="bold"))
        body.append(" · ")
        body.append_text(literal(row.station_name))
        self.app.push_screen(
            ConfirmScreen(_("Force logout"), body, confirm_label=_("Force logout")),
            callback=lambda yes: self._confirmed(yes, self.force_logout, row.station_id))

    @work(thread=True, exclusive=True, exit_on_error=False, group="action")
    def force_logout(self, station_id: int) -> None:
        self.desk.force_logout(station_id)
        self.post_message(Done(_("Logout ordered: the station obeys within seconds.")))

    def _confirmed(self, answer: object, action: Callable[..., object],
                   *args: object) -> None:
        if answer is True:
            action(*args)

    def on_done(self, message: Done) -> None:
        self.notify(message.text)
        self.refresh_floor()

    # --- pause requests -------------------------------------------------------------------
    def _selected_pause(self) -> int | None:
        key = self.query_one(PauseRequestTable).selected_key
        return int(key) if key is not None else None

    def action_approve_pause(self) -> None:
        request_id = self._selected_pause()
        if request_id is not None:
            self.decide_pause(request_id, True)

    def action_refuse_pause(self) -> None:
        request_id = self._selected_pause()
        if request_id is not None:
            self.decide_pause(request_id, False)

    @work(thread=True, exclusive=True, exit_on_error=False, group="action")
    def decide_pause(self, request_id: int, approve: bool) -> None:
        self.desk.decide_pause(request_id, approve)
        self.post_message(Done(_("Pause approved.") if approve else _("Pause refused.")))

    # --- site stop ------------------------------------------------------------------------
    def action_site_stop(self) -> None:
        from cellcall.tui.screens.supervisor.confirm import ReasonScreen

        self.app.push_screen(
            ReasonScreen(_("Site stop"), _("Why must every call end and all dialing stop?")),
            callback=self._stop_reason)

    def _stop_reason(self, reason: object) -> None:
        from cellcall.tui.screens.supervisor.confirm import ConfirmScreen

        if not isinstance(reason, str):
            return
        body = Text(_("Every call in progress ends and no station dials until the stop is "
                      "lifted."), end="\n")
        body.append_text(literal(reason, style="bold"))
        self.app.push_screen(
            ConfirmScreen(_("Stop the whole site?"), body, confirm_label=_("Stop the site")),
            callback=lambda yes: self._confirmed(yes, self.start_site_stop, reason))

    @work(thread=True, exclusive=True, exit_on_error=False, group="action")
    def start_site_stop(self, reason: str) -> None:
        self.desk.start_site_stop(reason)
        self.post_message(Done(_("Site stop in force.")))

    def action_lift_stop(self) -> None:
        from cellcall.tui.screens.supervisor.confirm import ConfirmScreen

        self.app.push_screen(
            ConfirmScreen(_("Lift the site stop?"), _("Stations may dial again."),
                          confirm_label=_("Lift the stop")),
            callback=lambda yes: self._confirmed(yes, self.lift_site_stop))

    @work(thread=True, exclusive=True, exit_on_error=False, group="action")
    def lift_site_stop(self) -> None:
        self.desk.lift_site_stop()
        self.post_message(Done(_("Site stop lifted.")))

    # --- other screens --------------------------------------------------------------------
    @on(DataTable.RowSelected, "#alerts-table")
    def _alert_chosen(self) -> None:
        """Enter on an alert goes to its station (a newcomer's call: listen from there)."""
        alerts = self.snapshot.alerts if self.snapshot is not None else ()
        table = self.query_one(AlertTable)
        if not 0 <= table.cursor_row < len(alerts):
            return
        name = alerts[table.cursor_row].station_name
        row = next((s for s in self.snapshot.stations if s.station_name == name), None) \
            if self.snapshot is not None and name else None
        if row is None:
            return
        self.action_show_tab("stations")
        stations = self.query_one(StationTable)
        stations.move_cursor(row=stations.row_index_of(str(row.station_id)))
        stations.focus()

    @on(DataTable.RowSelected, "#stations-table")
    def _station_chosen(self) -> None:
        self.action_station_menu()

    def action_station_menu(self) -> None:
        from cellcall.tui.screens.supervisor.station_menu import (
            StationMenuScreen,
            station_actions,
        )

        row = self.selected_station()
        if row is None:
            return
        ticket = self.monitoring
        actions = station_actions(
            logged_in=row.operator_login is not None, in_call=row.state == "talking",
            monitoring_here=ticket is not None and ticket.station_id == row.station_id)
        title = literal(row.station_name, style="bold")
        if row.operator_name:
            title.append(" · ")
            title.append_text(literal(row.operator_name))
        self.app.push_screen(StationMenuScreen(title, actions),
                             callback=self._station_action_chosen)

    def _station_action_chosen(self, action: object) -> None:
        if isinstance(action, str):
            getattr(self, f"action_{action}")()

    def action_operator(self) -> None:
        from cellcall.tui.screens.supervisor.operator import OperatorScreen

        row = self.selected_station()
        if row is None or row.operator_login is None:
            self.notify(_("Nobody is logged in at this station."))
            return
        self.app.push_screen(OperatorScreen(row.operator_login, row.operator_name or ""))

    def action_recordings(self) -> None:
        from cellcall.tui.screens.supervisor.recordings import RecordingsScreen

        self.app.push_screen(RecordingsScreen())

    def action_timesheets(self) -> None:
        from cellcall.tui.screens.supervisor.timesheet import TimesheetScreen

        self.app.push_screen(TimesheetScreen())

    # --- logout ---------------------------------------------------------------------------
    def action_logout(self) -> None:
        self.logout()

    @work(thread=True, exclusive=True, exit_on_error=False, group="logout")
    def logout(self) -> None:
        ticket = self.monitoring
        if ticket is not None:
            self.desk.end_monitor(ticket.monitor_id)
            if self.phone is not None:
                self.app.call_from_thread(self.phone.stop_monitor)
        if self.phone is not None:
            self.app.call_from_thread(self.phone.stop_playback)
            self.app.call_from_thread(self.phone.set_operator, None)
        self.station.logout()
        self.app.call_from_thread(self.app.back_to_login)  # type: ignore[attr-defined]


def mode_label(mode: MonitorMode) -> str:
    return {MonitorMode.LISTEN: _("listening"), MonitorMode.WHISPER: _("whispering"),
            MonitorMode.BARGE: _("barged in")}[mode]


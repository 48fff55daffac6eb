"""Timesheets: each operator's work and pauses (by reason) for a day, a week or a month."""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING, ClassVar
from zoneinfo import ZoneInfo

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.reactive import reactive
from textual.widgets import Footer, Header, Select, Static

from cellcall.i18n import _
from cellcall.models.base import utcnow
from cellcall.tui.messages import post_unless_superseded
from cellcall.tui.screens.supervisor.base import ConsoleScreen
from cellcall.tui.screens.supervisor.messages import Loaded
from cellcall.tui.widgets.floor_tables import KeyedTable, pause_reason_text
from cellcall.tui.widgets.literal import literal

if TYPE_CHECKING:
    from cellcall.services.timesheets import TimesheetRow

PERIODS = ("day", "week", "month")


def _timesheet_bindings() -> list[BindingType]:
    return [
        Binding("escape", "back", _("Back"), id="timesheet.back"),
        Binding("f7", "move(-1)", _("Previous"), id="timesheet.previous"),
        Binding("f8", "move(1)", _("Next"), id="timesheet.next"),
        Binding("d", "period('day')", _("Day"), id="timesheet.day"),
        Binding("w", "period('week')", _("Week"), id="timesheet.week"),
        Binding("m", "period('month')", _("Month"), id="timesheet.month"),
    ]


def period_label(period: str) -> str:
    return {"day": _("Day"), "week": _("Week"), "month": _("Month")}[period]


def shift(anchor: date, period: str, steps: int) -> date:
    """The same kind of period, ``steps`` before or after the one holding ``anchor``."""
    if period == "day":
        return anchor + timedelta(days=steps)
    if period == "week":
        return anchor + timedelta(weeks=steps)
    month = anchor.month - 1 + steps
    return date(anchor.year + month // 12, month % 12 + 1, 1)


def hours(seconds: float) -> str:
    """Hours and minutes (a month's work runs past a hundred hours)."""
    minutes = int(seconds // 60)
    return f"{minutes // 60}:{minutes % 60:02d}"


def _width(cell: str | Text) -> int:
    return (cell if isinstance(cell, Text) else Text(cell)).cell_len


class TimesheetTable(KeyedTable):
    """Rows of ``TimesheetRow``: one column per pause reason met, a total line."""

    def show(self, rows: list[TimesheetRow]) -> None:
        reasons = sorted({reason for row in rows for reason in row.pause_seconds})
        labels = [_("Operator"), _("Period"), _("Work"),
                  *[_("Technical") if r == "technical" else pause_reason_text(r)
                    for r in reasons], _("Gross pay")]
        table: list[tuple[str, list[str | Text]]] = []
        for row in rows:
            table.append((f"{row.operator_login}:{row.period_label}", [
                literal(row.operator_name), literal(row.period_label),
                hours(row.work_seconds),
                *[hours(row.pause_seconds.get(r, 0.0)) for r in reasons],
                f"{row.gross_pay_eur:.2f} €"]))
        if rows:
            table.append(("total", [
                Text(_("Total"), style="bold"), "",
                Text(hours(sum(r.work_seconds for r in rows)), style="bold"),
                *[Text(hours(sum(r.pause_seconds.get(reason, 0.0) for r in rows)),
                       style="bold") for reason in reasons],
                Text(f"{sum(r.gross_pay_eur for r in rows):.2f} €", style="bold")]))
        # The columns change with the reasons met: rebuilt each time, sized to fit.
        self.clear(columns=True)
        self._keys = []
        for index, label in enumerate(labels):
            width = max([len(label), *[_width(cells[index]) for _key, cells in table]])
            self.add_column(label, width=width)
        self.set_rows(table)


class TimesheetScreen(ConsoleScreen):
    """Hours of every operator (or one) for the chosen period."""

    CSS_PATH = "timesheet.tcss"
    BINDINGS: ClassVar[list[BindingType]] = _timesheet_bindings()

    period: reactive[str] = reactive("week", init=False)
    """day, week or month."""
    day: reactive[date] = reactive(date(2000, 1, 1), init=False)
    """A day inside the period shown."""

    @classmethod
    def bindings_now(cls) -> list[BindingType]:
        return _timesheet_bindings()

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="timesheet-bar"):
            yield Static("", id="timesheet-title")
            yield Select[str]([], prompt=_("Every operator"), id="timesheet-operator")
        yield TimesheetTable(id="timesheet-table")
        yield Static(_("d: day · w: week · m: month · F7/F8: previous, next"), classes="hint")
        yield Footer()

    def on_mount(self) -> None:
        zone = ZoneInfo(self.station.config.site.timezone)
        self.set_reactive(TimesheetScreen.day, utcnow().astimezone(zone).date())
        self.load_operators()
        self.reload()
        self.query_one(TimesheetTable).focus()

    @work(thread=True, exclusive=True, exit_on_error=False, group="choices")
    def load_operators(self) -> None:
        operators = [(u.display_name, u.login) for u in self.desk.operators()]
        self.post_message(Loaded("operators", operators))

    def on_loaded(self, message: Loaded) -> None:
        if message.what == "operators":
            with self.prevent(Select.Changed):
                self.query_one("#timesheet-operator", Select).set_options(
                    (literal(name), login) for name, login in message.data)
        elif message.what == "timesheet":
            self.query_one(TimesheetTable).show(message.data)

    @on(Select.Changed, "#timesheet-operator")
    def _operator_changed(self) -> None:
        self.reload()

    def action_move(self, steps: int) -> None:
        self.day = shift(self.day, self.period, int(steps))

    def action_period(self, period: str) -> None:
        self.period = period

    def watch_period(self) -> None:
        self.reload()

    def watch_day(self) -> None:
        self.reload()

    def reload(self) -> None:
        title = Text(_("Timesheet"), style="bold", end="")
        title.append(f" · {period_label(self.period)} · ")
        title.append(self.day.isoformat())
        self.query_one("#timesheet-title", Static).update(title)
        value = self.query_one("#timesheet-operator", Select).value
        login = value if isinstance(value, str) else None
        self.load_timesheet(self.period, self.day, login)

    @work(thread=True, exclusive=True, exit_on_error=False, group="timesheet")
    def load_timesheet(self, period: str, anchor: date, login: str | None) -> None:
        rows = self.desk.timesheet(period=period, anchor=anchor, operator_login=login)
        post_unless_superseded(self, Loaded("timesheet", rows))

    def action_back(self) -> None:
        self.app.pop_screen()

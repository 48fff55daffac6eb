"""The supervisor's floor as tables: stations, alerts, pause requests.

Each table is given the floor service's plain dataclasses and keeps its cursor on the same
row (by key) across the refreshes that come every second.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from rich.text import Text
from textual.widgets import DataTable

from cellcall.i18n import _, pgettext
from cellcall.services.workstation import StationState
from cellcall.tui.widgets.literal import literal
from cellcall.tui.widgets.state_bar import STATE_STYLES, clock, state_label

if TYPE_CHECKING:
    from cellcall.services.floor import Alert, StationRow
    from cellcall.services.site_controls import PauseRequestView

Cell = str | Text


def _signature(cell: Cell) -> object:
    if isinstance(cell, Text):
        return (cell.plain, str(cell.style), tuple(cell.spans))
    return cell


class KeyedTable(DataTable[Cell]):
    """A DataTable whose rows are replaced wholesale, its cursor kept on the same key."""

    DEFAULT_CSS = """
    KeyedTable { height: 1fr; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self._keys: list[str] = []
        # What each row shows now, to update only the cells that changed.
        self._shown: dict[str, tuple[object, ...]] = {}
        # The columns exist from the start: rows may arrive before the table is mounted.
        self.add_columns(*self.column_labels())

    def column_labels(self) -> tuple[str, ...]:
        """The column headers, in the user's language (the table is built after login)."""
        return ()

    def on_idle(self) -> None:
        # DataTable measures new and changed cells when idle (its own handler runs after
        # this one), but rows painted before that stay cached at the old column widths,
        # cut short: once it has measured, drop what it rendered and paint again.
        if self._require_update_dimensions or self._updated_cells:
            self.call_next(self._repaint_rows)

    def _repaint_rows(self) -> None:
        self._clear_caches()
        self.refresh()

    @property
    def selected_key(self) -> str | None:
        if not self._keys or self.cursor_row < 0 or self.cursor_row >= len(self._keys):
            return None
        return self._keys[self.cursor_row]

    def row_index_of(self, key: str) -> int:
        """Where the row of ``key`` is (the first row when it is gone)."""
        return self._keys.index(key) if key in self._keys else 0

    def set_rows(self, rows: Sequence[tuple[str, Sequence[Cell]]]) -> None:
        for _key, cells in rows:
            for cell in cells:
                if isinstance(cell, Text):
                    cell.end = ""  # a trailing newline would shift the cell by one column
        keys = [key for key, _cells in rows]
        if keys == self._keys and self.row_count == len(keys):
            # Same rows: update the cells that changed, in place (no flicker, the cursor
            # stays), and let their columns widen (a station that was empty fills up).
            for key, cells in rows:
                before = self._shown.get(key, ())
                for index, (column, value) in enumerate(
                        zip(self.columns, cells, strict=False)):
                    seen = _signature(value)
                    if index < len(before) and before[index] == seen:
                        continue
                    self.update_cell(key, column, value, update_width=True)
                self._shown[key] = tuple(_signature(value) for value in cells)
            return
        selected = self.selected_key
        self.clear()
        for key, cells in rows:
            self.add_row(*cells, key=key)
        self._keys = keys
        self._shown = {key: tuple(_signature(value) for value in cells)
                       for key, cells in rows}
        if selected in keys:
            self.move_cursor(row=keys.index(selected), animate=False)


def _duration(seconds: float) -> str:
    return clock(timedelta(seconds=seconds))


def _state_cell(row: StationRow) -> Text:
    try:
        state = StationState(row.state)
    except ValueError:
        return literal(row.state)
    text = Text(state_label(state, row.pause_reason), style=STATE_STYLES[state], end="")
    if row.silent:
        text.append(" ")
        text.append(_("silent"), style="bold white on red")
    return text


def _monitored_cell(row: StationRow) -> Text:
    if not row.monitored_by:
        return Text("")
    text = literal(row.monitored_by, style="bold cyan")
    if row.monitor_mode:
        text.append(f" ({monitor_mode_label(row.monitor_mode)})", style="cyan")
    return text


def monitor_mode_label(mode: str) -> str:
    return {"listen": _("listen"), "whisper": _("whisper"), "barge": _("barge")}.get(mode,
                                                                                   mode)


def station_cells(row: StationRow) -> list[Cell]:
    logged_in = row.operator_login is not None
    return [
        literal(row.station_name, style="bold"),
        literal(row.operator_name or "") if logged_in else Text("-", style="dim"),
        _state_cell(row),
        _duration(row.state_seconds) if logged_in else "",
        literal(row.campaign_slug or ""),
        str(row.calls_today) if logged_in else "",
        Text(pgettext("newcomer operator", "new"), style="bold yellow") if row.newcomer else "",
        (Text(_("up"), style="green") if row.phone_up
         else Text(_("down"), style="bold red")) if logged_in else "",
        _monitored_cell(row),
        _duration(row.talk_seconds) if logged_in else "",
        _duration(row.wrapup_seconds) if logged_in else "",
        _duration(row.pause_seconds) if logged_in else "",
    ]


class StationTable(KeyedTable):
    """One row per station (``StationRow``), keyed by the station's id."""

    def column_labels(self) -> tuple[str, ...]:
        return (_("Station"), _("Operator"), _("State"), _("Time"), _("Campaign"),
                _("Calls"), pgettext("newcomer operator", "New"), _("Phone"),
                _("Monitored by"), _("Talk"), _("Wrap-up"), _("Pause"))

    def show(self, stations: Sequence[StationRow]) -> None:
        self.set_rows([(str(row.station_id), station_cells(row)) for row in stations])


ALERT_STYLES = {"long_call": "yellow", "long_pause": "yellow", "silent": "bold red",
                "phone_down": "bold red", "nothing_callable": "magenta",
                "newcomer_call": "bold cyan", "site_stop": "bold red"}


def alert_kind_label(kind: str) -> str:
    labels = {
        "long_call": _("Long call"),
        "long_pause": _("Long pause"),
        "silent": _("Station silent"),
        "phone_down": _("Phone down"),
        "nothing_callable": _("Nothing callable"),
        "newcomer_call": _("Newcomer's call"),
        "site_stop": _("Site stop"),
    }
    return labels.get(kind, kind)


def local_time(at: datetime, zone: ZoneInfo) -> str:
    return at.astimezone(zone).strftime("%H:%M:%S")


class AlertTable(KeyedTable):
    """The floor's alerts (``Alert``), newest first as the service gives them."""

    def column_labels(self) -> tuple[str, ...]:
        return (_("Since"), _("Alert"), _("Station"), _("Campaign"), _("Details"))

    def show(self, alerts: Sequence[Alert], zone: ZoneInfo) -> None:
        rows: list[tuple[str, Sequence[Cell]]] = []
        for index, alert in enumerate(alerts):
            key = f"{alert.kind}:{alert.station_name or ''}:{alert.campaign_slug or ''}:{index}"
            rows.append((key, [
                local_time(alert.since, zone),
                Text(alert_kind_label(alert.kind), style=ALERT_STYLES.get(alert.kind, "")),
                literal(alert.station_name or ""),
                literal(alert.campaign_slug or ""),
                literal(alert.text),
            ]))
        self.set_rows(rows)


def pause_reason_text(reason: str) -> str:
    labels = {"break": _("Break"), "meal": _("Meal"), "training": _("Training"),
              "technical": _("Technical problem")}
    return labels.get(reason, reason)


class PauseRequestTable(KeyedTable):
    """Pause requests waiting for a decision (``PauseRequestView``), keyed by id."""

    def column_labels(self) -> tuple[str, ...]:
        return (_("Asked at"), _("Station"), _("Operator"), _("Reason"))

    def show(self, requests: Sequence[PauseRequestView], zone: ZoneInfo) -> None:
        self.set_rows([(str(r.id), [
            local_time(r.requested_at, zone),
            literal(r.station_name or ""),
            literal(r.operator_name),
            pause_reason_text(r.reason),
        ]) for r in requests])

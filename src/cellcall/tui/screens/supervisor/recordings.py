"""Recordings: a filtered list of calls, played on the supervisor's own phone leg.

Playing asks the quality service first (it checks the role and audits the playback), then
the phone plays the attempt's file by its id; the progress comes back as phone events.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.reactive import reactive
from textual.widgets import Footer, Header, Input, ProgressBar, Select, Static

from cellcall.errors import ValidationError
from cellcall.i18n import _
from cellcall.telephony import events as phone_events
from cellcall.tui.messages import PhoneEventMessage, post_unless_superseded
from cellcall.tui.screens.supervisor.base import ConsoleScreen
from cellcall.tui.screens.supervisor.messages import Loaded
from cellcall.tui.widgets.floor_tables import KeyedTable
from cellcall.tui.widgets.literal import literal
from cellcall.tui.widgets.state_bar import clock

if TYPE_CHECKING:
    from cellcall.services.quality import RecordingRow

ANY = Select.BLANK


def _recordings_bindings() -> list[BindingType]:
    return [
        Binding("escape", "back", _("Back"), id="recordings.back"),
        Binding("f5", "play", _("Play"), id="recordings.play"),
        Binding("f6", "pause", _("Pause"), id="recordings.pause"),
        Binding("f6", "resume", _("Resume"), id="recordings.resume"),
        Binding("f7", "skip(-10)", _("−10 s"), id="recordings.back10"),
        Binding("f8", "skip(10)", _("+10 s"), id="recordings.forward10"),
        Binding("f4", "stop", _("Stop"), id="recordings.stop"),
        Binding("f9", "score", _("Score this call"), id="recordings.score"),
    ]


def parse_day(text: str) -> date | None:
    """A day typed as YYYY-MM-DD or DD/MM/YYYY; empty means any day."""
    text = text.strip()
    if not text:
        return None
    for pattern in ("%Y-%m-%d", "%d/%m/%Y"):
        try:
            return datetime.strptime(text, pattern).date()
        except ValueError:
            continue
    raise ValidationError(_("Type the day as YYYY-MM-DD."))


def recording_cells(row: RecordingRow, zone: object) -> list[str | Text]:
    at = row.started_at.astimezone(zone)  # type: ignore[arg-type]
    return [
        at.strftime("%d/%m %H:%M"),
        literal(row.operator_name),
        literal(row.campaign_slug),
        literal(row.disposition or "-"),
        clock(timedelta(seconds=row.duration_s)) if row.duration_s is not None else "",
        Text("♪", style="green") if row.has_recording else Text("-", style="dim"),
        f"{row.score_percent:.0f} %" if row.score_percent is not None else "",
    ]


class RecordingTable(KeyedTable):
    """Recordings (``RecordingRow``), keyed by attempt id."""

    def column_labels(self) -> tuple[str, ...]:
        return (_("When"), _("Operator"), _("Campaign"), _("Outcome"),
                _("Length"), _("Rec."), _("Score"))

    def show(self, rows: list[RecordingRow], zone: object) -> None:
        self.set_rows([(str(r.attempt_id), recording_cells(r, zone)) for r in rows])


class RecordingsScreen(ConsoleScreen):
    """The recordings list with its filters, and the playback of one."""

    CSS_PATH = "recordings.tcss"
    BINDINGS: ClassVar[list[BindingType]] = _recordings_bindings()

    rows: reactive[tuple[RecordingRow, ...]] = reactive((), always_update=True)
    """The recordings the filters select."""
    playing: reactive[int | None] = reactive(None)
    """The attempt whose recording plays (or is paused), if any."""
    paused: reactive[bool] = reactive(False)
    """Whether the playback is paused."""

    @classmethod
    def bindings_now(cls) -> list[BindingType]:
        return _recordings_bindings()

    def __init__(self, *, operator_login: str | None = None) -> None:
        super().__init__()
        self.initial_operator = operator_login
        self.campaign_ids: dict[str, int] = {}
        self.outcome_choices: list[str] = []

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="recording-filters"):
            yield Select[str]([], prompt=_("Any operator"), id="filter-operator")
            yield Select[str]([], prompt=_("Any campaign"), id="filter-campaign")
            yield Input(placeholder=_("YYYY-MM-DD"), id="filter-day", max_length=10)
            yield Select[str]([], prompt=_("Any outcome"), id="filter-outcome")
        yield RecordingTable(id="recordings-table")
        with Horizontal(id="playback"):
            yield Static(_("Nothing playing."), id="playback-text")
            yield ProgressBar(total=1.0, show_eta=False, show_percentage=False,
                              id="playback-bar")
        yield Footer()

    def on_mount(self) -> None:
        self.load_choices()
        self.query_one(RecordingTable).focus()

    # --- filters ------------------------------------------------------------------------
    @work(thread=True, exclusive=True, exit_on_error=False, group="choices")
    def load_choices(self) -> None:
        desk = self.desk
        operators = [(u.display_name, u.login) for u in desk.operators()]
        campaigns = [(c.slug, c.id) for c in desk.campaigns()]
        self.post_message(Loaded("choices", (operators, campaigns)))

    def on_loaded(self, message: Loaded) -> None:
        if message.what == "choices":
            operators, campaigns = message.data
            self.campaign_ids = dict(campaigns)
            operator_select = self.query_one("#filter-operator", Select)
            operator_select.set_options((literal(name), login) for name, login in operators)
            self.query_one("#filter-campaign", Select).set_options(
                (literal(slug), slug) for slug, _id in campaigns)
            if self.initial_operator is not None:
                operator_select.value = self.initial_operator
            self.reload()
        elif message.what == "recordings":
            self.rows = tuple(message.data)
        elif message.what == "play":
            if self.phone is None:
                self.notify(_("No phone is connected to this console."), severity="error")
                return
            self.playing, self.paused = message.data, False
            self.phone.play_recording(message.data)

    def _value(self, selector: str) -> str | None:
        value = self.query_one(selector, Select).value
        return value if isinstance(value, str) else None

    @on(Select.Changed)
    @on(Input.Submitted, "#filter-day")
    def _filters_changed(self) -> None:
        self.reload()

    def reload(self) -> None:
        try:
            day = parse_day(self.query_one("#filter-day", Input).value)
        except ValidationError as exc:
            self.notify(str(exc), severity="error")
            return
        self.load_recordings(self._value("#filter-operator"), self._value("#filter-campaign"),
                             day, self._value("#filter-outcome"))

    @work(thread=True, exclusive=True, exit_on_error=False, group="recordings")
    def load_recordings(self, operator: str | None, campaign: str | None, day: date | None,
                        outcome: str | None) -> None:
        rows = self.desk.recordings(operator_login=operator, campaign_slug=campaign, day=day,
                                    disposition=outcome)
        post_unless_superseded(self, Loaded("recordings", rows))

    def watch_rows(self, rows: tuple[RecordingRow, ...]) -> None:
        self.query_one(RecordingTable).show(list(rows), self.zone)
        outcomes = sorted({r.disposition for r in rows if r.disposition})
        select = self.query_one("#filter-outcome", Select)
        chosen = select.value
        if set(outcomes) - set(self.outcome_choices):
            # Outcomes seen so far stay offered (a filter must not remove its own choice).
            outcomes = sorted(set(outcomes) | set(self.outcome_choices))
            self.outcome_choices = outcomes
            with self.prevent(Select.Changed):
                select.set_options((literal(o), o) for o in outcomes)
                if isinstance(chosen, str) and chosen in outcomes:
                    select.value = chosen

    def selected(self) -> RecordingRow | None:
        key = self.query_one(RecordingTable).selected_key
        return next((r for r in self.rows if str(r.attempt_id) == key), None)

    # --- playback ------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "pause":
            return self.playing is not None and not self.paused
        if action == "resume":
            return self.playing is not None and self.paused
        if action in ("skip", "stop"):
            return self.playing is not None
        return True

    def watch_playing(self) -> None:
        self.refresh_bindings()

    def watch_paused(self) -> None:
        self.refresh_bindings()

    def action_play(self) -> None:
        row = self.selected()
        if row is None:
            return
        if not row.has_recording:
            self.notify(_("This call has no recording."), severity="warning")
            return
        self.open_recording(row.attempt_id)

    @work(thread=True, exclusive=True, exit_on_error=False, group="play")
    def open_recording(self, attempt_id: int) -> None:
        self.desk.open_recording(attempt_id)  # checks, and audits the playback
        self.post_message(Loaded("play", attempt_id))

    def action_pause(self) -> None:
        if self.phone is not None:
            self.phone.pause_playback()
            self.paused = True

    def action_resume(self) -> None:
        if self.phone is not None:
            self.phone.resume_playback()
            self.paused = False

    def action_skip(self, seconds: float) -> None:
        if self.phone is not None:
            self.phone.skip(float(seconds))

    def action_stop(self) -> None:
        if self.phone is not None:
            self.phone.stop_playback()

    def on_phone_event_message(self, message: PhoneEventMessage) -> None:
        event = message.event
        if isinstance(event, phone_events.PlaybackProgress) and event.attempt_id == self.playing:
            self.paused = event.paused
            bar = self.query_one("#playback-bar", ProgressBar)
            bar.update(total=max(event.duration_s, 0.001), progress=event.position_s)
            text = Text(_("Playing call {id}: {position} / {duration}").format(
                id=event.attempt_id, position=clock(timedelta(seconds=event.position_s)),
                duration=clock(timedelta(seconds=event.duration_s))), end="")
            if event.paused:
                text.append(" ")
                text.append(_("(paused)"), style="bold yellow")
            self.query_one("#playback-text", Static).update(text)
        elif isinstance(event, phone_events.PlaybackEnded) and event.attempt_id == self.playing:
            self.playing, self.paused = None, False
            self.query_one("#playback-text", Static).update(_("Nothing playing."))
            self.query_one("#playback-bar", ProgressBar).update(total=1.0, progress=0)

    # --- scoring ----------------------------------------------------------------------------
    def action_score(self) -> None:
        from cellcall.tui.screens.supervisor.scorecard import ScorecardScreen

        row = self.selected()
        if row is None:
            return
        campaign_id = self.campaign_ids.get(row.campaign_slug)
        if campaign_id is None:
            return
        self.app.push_screen(ScorecardScreen(row, campaign_id),
                             callback=lambda _score: self.reload())

    def action_back(self) -> None:
        if self.playing is not None and self.phone is not None:
            self.phone.stop_playback()
        self.app.pop_screen()

"""One operator, for coaching: figures, scores over time, training record, coaching notes.

Supervisor side only: nothing of this is ever shown on an operator's screen (the notes
are, to their own operator, through the read-only notes screen of the workstation).
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from rich.console import Group, RenderableType
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.widgets import (
    Footer,
    Header,
    Input,
    Sparkline,
    Static,
    TabbedContent,
    TabPane,
)

from cellcall.i18n import _, ngettext
from cellcall.services.outcomes import disposition_label
from cellcall.tui.screens.supervisor.base import ConsoleScreen
from cellcall.tui.screens.supervisor.messages import Loaded
from cellcall.tui.widgets.coaching_notes import render_coaching_notes
from cellcall.tui.widgets.floor_tables import KeyedTable
from cellcall.tui.widgets.literal import labelled, literal
from cellcall.tui.widgets.state_bar import clock

if TYPE_CHECKING:
    from cellcall.services.floor import OperatorFigures
    from cellcall.services.quality import ScoreView
    from cellcall.services.training import ModuleRow

OPERATOR_TABS = ("figures", "scores", "training", "notes")


def _operator_bindings() -> list[BindingType]:
    return [
        Binding("escape", "back", _("Back"), id="operator.back"),
        Binding("f2", "recordings", _("Recordings"), id="operator.recordings"),
        Binding("ctrl+e", "module_hours", _("Hours done"), id="operator.module_hours"),
        Binding("ctrl+o", "sign_off", _("Sign off module"), id="operator.sign_off"),
        *[Binding(str(n), f"show_tab('{tab}')", show=False, id=f"operator.tab_{n}")
          for n, tab in enumerate(OPERATOR_TABS, start=1)],
    ]


def one_per_line(parts: list[RenderableType]) -> list[RenderableType]:
    """``literal`` and ``labelled`` texts end without a newline (for inline use)."""
    for part in parts:
        if isinstance(part, Text):
            part.end = "\n"
    return parts


def render_figures(figures: OperatorFigures) -> RenderableType:
    """The coaching figures of ``floor.operator_figures``: for the supervisor only."""
    lines: list[RenderableType] = [
        Text(_("The last {days} days").format(days=figures.days), style="bold underline"),
        labelled(_("Calls"), figures.calls),
        labelled(_("Connected"), figures.connected),
        labelled(_("Contact rate"), f"{figures.contact_rate:.0%}"),
        labelled(_("Average talk"), clock(timedelta(seconds=figures.avg_talk_seconds))),
        Text(_("Today"), style="bold underline"),
        labelled(_("Calls"), figures.calls_today),
        labelled(_("Connected"), figures.connected_today),
    ]
    if figures.newcomer:
        lines.append(Text(ngettext("Newcomer: {n} connected call so far",
                                   "Newcomer: {n} connected calls so far",
                                   figures.connected_ever_capped).format(
            n=figures.connected_ever_capped), style="bold yellow"))
    if figures.outcomes:
        lines.append(Text(_("Outcomes"), style="bold underline"))
        for key, count in figures.outcomes:
            lines.append(Text.assemble("  ", literal(disposition_label(key)), f"  {count}"))
    return Group(*one_per_line(lines))


class ScoreTable(KeyedTable):
    def column_labels(self) -> tuple[str, ...]:
        return (_("Scored"), _("Call"), _("Campaign"), _("Score"), _("By"),
                _("Comment"))

    def show(self, scores: list[ScoreView], zone: Any) -> None:
        self.set_rows([(str(s.id), [
            s.scored_at.astimezone(zone).strftime("%d/%m/%Y %H:%M"),
            str(s.attempt_id), literal(s.campaign_slug), f"{s.percent:.0f} %",
            literal(s.supervisor_login), literal(s.comment)]) for s in scores])


class ModuleTable(KeyedTable):
    def column_labels(self) -> tuple[str, ...]:
        return (_("Module"), _("Title"), _("Planned h"), _("Done h"),
                _("Signed off"))

    def show(self, modules: list[ModuleRow], zone: Any) -> None:
        rows: list[tuple[str, list[str | Text]]] = []
        for m in modules:
            signed: str | Text = ""
            if m.signed_off_at is not None:
                signed = literal(f"{m.signed_off_by or ''} "
                                 f"{m.signed_off_at.astimezone(zone):%d/%m/%Y}")
            rows.append((m.code, [literal(m.code), literal(m.title), f"{m.planned_hours:g}",
                                  f"{m.done_hours:g}", signed]))
        self.set_rows(rows)


class OperatorScreen(ConsoleScreen):
    """Coaching one operator."""

    CSS_PATH = "operator.tcss"
    BINDINGS: ClassVar[list[BindingType]] = _operator_bindings()

    @classmethod
    def bindings_now(cls) -> list[BindingType]:
        return _operator_bindings()

    def __init__(self, login: str, name: str, *, tab: str = "figures") -> None:
        super().__init__()
        self.login = login
        self.operator_name = name
        self.initial_tab = tab

    def compose(self) -> ComposeResult:
        yield Header()
        title = Text(_("Coaching"), style="bold", end="")
        title.append(" · ")
        title.append_text(literal(f"{self.operator_name} ({self.login})"))
        yield Static(title, id="operator-title")
        with TabbedContent(id="operator-tabs", initial=self.initial_tab):
            with TabPane(_("1 Figures"), id="figures"):
                yield Static(_("Loading…"), id="figures-body")
            with TabPane(_("2 Scores"), id="scores"):
                yield Sparkline([], id="scores-spark", summary_function=max)
                yield ScoreTable(id="scores-table")
            with TabPane(_("3 Training"), id="training"):
                yield ModuleTable(id="modules-table")
            with TabPane(_("4 Coaching notes"), id="notes"), Vertical():
                yield VerticalScroll(Static("", id="notes-body"), id="notes-scroll")
                yield Input(placeholder=_("Write a note to this operator, Enter to "
                                          "send"), id="note-input", max_length=2000)
        yield Footer()

    def on_mount(self) -> None:
        self.load_all()

    @work(thread=True, exclusive=True, exit_on_error=False, group="operator")
    def load_all(self) -> None:
        desk = self.desk
        self.post_message(Loaded("figures", desk.figures(self.login)))
        self.post_message(Loaded("scores", desk.operator_scores(self.login)))
        self.post_message(Loaded("training", list(desk.training_record(self.login))))
        self.post_message(Loaded("notes", desk.notes_for(self.login)))

    def on_loaded(self, message: Loaded) -> None:
        zone = self.zone
        if message.what == "figures":
            self.query_one("#figures-body", Static).update(render_figures(message.data))
        elif message.what == "scores":
            scores: list[ScoreView] = sorted(message.data, key=lambda s: s.scored_at)
            self.query_one("#scores-spark", Sparkline).data = [s.percent for s in scores]
            self.query_one(ScoreTable).show(list(reversed(scores)), zone)
        elif message.what == "training":
            self.query_one(ModuleTable).show(message.data, zone)
        elif message.what == "notes":
            notes = render_coaching_notes(message.data, zone, reader="supervisor")
            self.query_one("#notes-body", Static).update(notes)

    def action_show_tab(self, tab: str) -> None:
        if not isinstance(self.focused, Input):
            self.query_one(TabbedContent).active = tab

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("sign_off", "module_hours"):
            return self.query_one(TabbedContent).active == "training"
        return True

    @on(TabbedContent.TabActivated)
    def _tab_changed(self) -> None:
        self.refresh_bindings()

    # --- notes ------------------------------------------------------------------------------
    @on(Input.Submitted, "#note-input")
    def _send_note(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if text:
            self.add_note(text)

    @work(thread=True, exclusive=True, exit_on_error=False, group="note")
    def add_note(self, text: str) -> None:
        self.desk.add_coaching_note(self.login, text)
        self.app.call_from_thread(self._note_added)

    def _note_added(self) -> None:
        self.query_one("#note-input", Input).value = ""
        self.notify(_("Note saved; the operator reads it on their own screen."))
        self.load_notes()

    @work(thread=True, exclusive=True, exit_on_error=False, group="operator")
    def load_notes(self) -> None:
        self.post_message(Loaded("notes", self.desk.notes_for(self.login)))

    # --- training ------------------------------------------------------------------------------
    def action_module_hours(self) -> None:
        from cellcall.tui.screens.supervisor.confirm import ReasonScreen

        code = self.query_one(ModuleTable).selected_key
        if code is None:
            return
        self.app.push_screen(
            ReasonScreen(_("Training hours"),
                         _("Hours done so far on module {code}:").format(code=code)),
            callback=lambda text: self._hours_typed(code, text))

    def _hours_typed(self, code: str, text: object) -> None:
        if not isinstance(text, str):
            return
        try:
            done = float(text.replace(",", "."))
        except ValueError:
            self.notify(_("Type a number of hours, for example 3.5."), severity="error")
            return
        self.set_hours(code, done)

    @work(thread=True, exclusive=True, exit_on_error=False, group="sign-off")
    def set_hours(self, code: str, done: float) -> None:
        self.desk.set_module_hours(self.login, code, done_hours=done)
        self.post_message(Loaded("training", list(self.desk.training_record(self.login))))

    def action_sign_off(self) -> None:
        code = self.query_one(ModuleTable).selected_key
        if code is not None:
            self.sign_off(code)

    @work(thread=True, exclusive=True, exit_on_error=False, group="sign-off")
    def sign_off(self, code: str) -> None:
        self.desk.sign_off(self.login, code)
        self.post_message(Loaded("training", list(self.desk.training_record(self.login))))

    def action_recordings(self) -> None:
        from cellcall.tui.screens.supervisor.recordings import RecordingsScreen

        self.app.push_screen(RecordingsScreen(operator_login=self.login))

    def action_back(self) -> None:
        self.app.pop_screen()

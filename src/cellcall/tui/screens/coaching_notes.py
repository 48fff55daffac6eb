"""The operator's own coaching notes: read-only; opening them marks them read.

Only the operator's own notes are ever fetched (the training service answers an operator
with theirs alone); no figure, score or ranking is shown here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar
from zoneinfo import ZoneInfo

from rich.console import Group, RenderableType
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Footer, Static

from cellcall.db import read_session, run_write
from cellcall.i18n import _, pgettext
from cellcall.services import training
from cellcall.tui.screens.base import CellcallModal
from cellcall.tui.widgets.literal import literal

if TYPE_CHECKING:
    from cellcall.services.training import CoachingNoteView
    from cellcall.services.workstation import Workstation


def _notes_bindings() -> list[BindingType]:
    return [
        Binding("escape", "close", _("Close"), id="notes.close"),
    ]


def render_own_notes(notes: list[CoachingNoteView], zone: ZoneInfo) -> RenderableType:
    if not notes:
        return Text(_("No coaching note yet."), style="dim")
    parts: list[RenderableType] = []
    for note in notes:
        head = Text(note.created_at.astimezone(zone).strftime("%d/%m/%Y %H:%M  "),
                    style="bold", end="")
        head.append_text(literal(note.supervisor_name))
        if not note.read:
            head.append("  ")
            head.append(pgettext("unread coaching note", "new"), style="bold yellow")
        parts.extend([head, literal(note.text, keep_newlines=True), Text("")])
    for part in parts:
        if isinstance(part, Text):
            part.end = "\n"  # literal texts end without one (for inline use)
    return Group(*parts)


def own_notes(station: Workstation) -> list[CoachingNoteView]:
    actor = station.actor
    with read_session(station.engine) as session:
        return training.my_coaching_notes(session=session, actor=actor)


def unread_count(station: Workstation) -> int:
    return sum(1 for note in own_notes(station) if not note.read)


class CoachingNotesScreen(CellcallModal):
    """What supervisors wrote to this operator."""

    CSS_PATH = "coaching_notes.tcss"
    BINDINGS: ClassVar[list[BindingType]] = _notes_bindings()

    @classmethod
    def bindings_now(cls) -> list[BindingType]:
        return _notes_bindings()

    @property
    def station(self) -> Workstation:
        return self.app.workstation  # type: ignore[attr-defined,no-any-return]

    def compose(self) -> ComposeResult:
        with Vertical(id="notes-box"):
            yield Static(_("My coaching notes"), id="notes-title")
            with VerticalScroll(id="notes-scroll"):
                yield Static(_("Loading…"), id="own-notes")
        yield Footer()

    def on_mount(self) -> None:
        self.load()

    @work(thread=True, exclusive=True, exit_on_error=False, group="notes")
    def load(self) -> None:
        station = self.station
        notes = own_notes(station)
        self.app.call_from_thread(self._show, notes)
        if any(not note.read for note in notes):
            actor = station.actor
            run_write(station.engine,
                      lambda s: training.mark_notes_read(session=s, actor=actor))

    def _show(self, notes: list[CoachingNoteView]) -> None:
        zone = ZoneInfo(self.station.config.site.timezone)
        self.query_one("#own-notes", Static).update(render_own_notes(notes, zone))

    def action_close(self) -> None:
        self.dismiss(None)

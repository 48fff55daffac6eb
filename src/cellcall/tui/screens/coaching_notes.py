"""The operator's own coaching notes: read-only; opening them marks them read.

Only the operator's own notes are ever fetched (the training service answers an operator
with theirs alone); no figure, score or ranking is shown here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar
from zoneinfo import ZoneInfo

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Footer, Static

from cellcall.db import read_session, run_write
from cellcall.i18n import _
from cellcall.services import training
from cellcall.tui.screens.base import CellcallModal
from cellcall.tui.widgets.coaching_notes import render_coaching_notes

if TYPE_CHECKING:
    from cellcall.services.training import CoachingNoteView
    from cellcall.services.workstation import Workstation


def _notes_bindings() -> list[BindingType]:
    return [
        Binding("escape", "close", _("Close"), id="notes.close"),
    ]


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
        rendered = render_coaching_notes(notes, zone, reader="operator")
        self.query_one("#own-notes", Static).update(rendered)

    def action_close(self) -> None:
        self.dismiss(None)

"""Choosing why the station pauses."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from cellcall.i18n import _
from cellcall.models.timeclock import PauseReason
from cellcall.tui.screens.base import CellcallModal


def pause_reason_label(reason: PauseReason) -> str:
    return {
        PauseReason.BREAK: _("Break"),
        PauseReason.MEAL: _("Meal"),
        PauseReason.TRAINING: _("Training"),
        PauseReason.TECHNICAL: _("Technical problem"),
    }[reason]


class PauseScreen(CellcallModal):
    CSS_PATH = "pause.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", _("Cancel"), id="pause.cancel"),
    ]

    def compose(self) -> ComposeResult:
        with Vertical(id="pause-box"):
            yield Static(_("Why do you pause?"), id="pause-title")
            yield OptionList(*[Option(pause_reason_label(r), id=r.value) for r in PauseReason],
                             id="pause-reasons")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        if event.option.id is not None:
            self.dismiss(PauseReason(event.option.id))

    def action_cancel(self) -> None:
        self.dismiss(None)

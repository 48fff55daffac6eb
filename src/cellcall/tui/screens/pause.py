"""Choosing why the station pauses."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import Footer, OptionList, Static
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


def _pause_bindings() -> list[BindingType]:
    return [
        Binding("escape", "cancel", _("Cancel"), id="pause.cancel"),
    ]


class PauseScreen(CellcallModal):
    CSS_PATH = "pause.tcss"
    BINDINGS: ClassVar[list[BindingType]] = _pause_bindings()

    @classmethod
    def bindings_now(cls) -> list[BindingType]:
        return _pause_bindings()

    def __init__(self, needs_approval: frozenset[PauseReason] = frozenset()) -> None:
        super().__init__()
        # The reasons a supervisor approves first (the site's [supervision] setting).
        self.needs_approval = needs_approval

    def _label(self, reason: PauseReason) -> str:
        label = pause_reason_label(reason)
        if reason in self.needs_approval:
            label = _("{reason} (asks a supervisor)").format(reason=label)
        return label

    def compose(self) -> ComposeResult:
        with Vertical(id="pause-box"):
            yield Static(_("Why do you pause?"), id="pause-title")
            yield OptionList(*[Option(self._label(r), id=r.value) for r in PauseReason],
                             id="pause-reasons")
        yield Footer()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        if event.option.id is not None:
            self.dismiss(PauseReason(event.option.id))

    def action_cancel(self) -> None:
        self.dismiss(None)

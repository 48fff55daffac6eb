"""Objection answers, reachable from any node of the script."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import Footer, OptionList, Static
from textual.widgets.option_list import Option

from cellcall.i18n import _
from cellcall.services import scripts
from cellcall.tui.screens.base import CellcallModal
from cellcall.tui.widgets.literal import literal


def _objections_bindings() -> list[BindingType]:
    return [
        Binding("escape", "cancel", _("Cancel"), id="objections.cancel"),
    ]


class ObjectionsScreen(CellcallModal):
    CSS_PATH = "objections.tcss"
    BINDINGS: ClassVar[list[BindingType]] = _objections_bindings()

    @classmethod
    def bindings_now(cls) -> list[BindingType]:
        return _objections_bindings()

    def __init__(self, objections: Sequence[scripts.Objection]) -> None:
        super().__init__()
        self.objections = objections

    def compose(self) -> ComposeResult:
        with Vertical(id="objections-box"):
            yield Static(_("Objections"), id="objections-title")
            yield OptionList(*[Option(literal(o.label), id=o.key) for o in self.objections],
                             id="objections-list")
        yield Footer()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)

"""What a supervisor can do with one station: a short menu (Enter on the floor's row).

The same actions have their own keys (shown in the menu), so a supervisor who knows them
never opens it; the footer stays short enough for an 80-column terminal.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from cellcall.i18n import _
from cellcall.tui.screens.base import CellcallModal
from cellcall.tui.widgets.literal import literal


def _menu_bindings() -> list[BindingType]:
    return [
        Binding("escape", "cancel", _("Cancel"), id="station_menu.cancel"),
    ]


def station_actions(*, logged_in: bool, in_call: bool,
                    monitoring_here: bool) -> list[tuple[str, str, str]]:
    """(action, key, label) offered for a station in this situation."""
    actions: list[tuple[str, str, str]] = []
    if in_call:
        actions += [("listen", "l", _("Listen")), ("whisper", "w", _("Whisper")),
                    ("barge", "b", _("Barge in"))]
    if monitoring_here:
        actions.append(("stop_monitor", "x", _("Stop listening")))
    if logged_in:
        actions += [("operator", "c", _("Coaching: figures, scores, training, notes")),
                    ("force_logout", "o", _("Force logout"))]
    return actions


class StationMenuScreen(CellcallModal):
    """Dismisses the chosen action's name, or None."""

    CSS_PATH = "station_menu.tcss"
    BINDINGS: ClassVar[list[BindingType]] = _menu_bindings()

    @classmethod
    def bindings_now(cls) -> list[BindingType]:
        return _menu_bindings()

    def __init__(self, title: Text, actions: list[tuple[str, str, str]]) -> None:
        super().__init__()
        self.title_text = title
        self.actions = actions

    def compose(self) -> ComposeResult:
        with Vertical(id="station-menu-box"):
            yield Static(self.title_text, id="station-menu-title")
            if self.actions:
                yield OptionList(*[Option(Text.assemble((f" {key} ", "reverse bold"), " ",
                                                        label), id=action)
                                   for action, key, label in self.actions],
                                 id="station-actions")
            else:
                yield Static(literal(_("Nobody works at this station.")), classes="hint")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)

"""Small dialogs of the console: a yes/no confirmation, a required reason."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Label, Static

from cellcall.i18n import _
from cellcall.tui.screens.base import CellcallModal
from cellcall.tui.widgets.literal import literal


def _confirm_bindings() -> list[BindingType]:
    return [
        Binding("escape", "cancel", _("Cancel"), id="confirm.cancel"),
    ]


class ConfirmScreen(CellcallModal):
    """Asks once more before an action that acts on others; dismisses True or False."""

    CSS_PATH = "confirm.tcss"
    BINDINGS: ClassVar[list[BindingType]] = _confirm_bindings()

    @classmethod
    def bindings_now(cls) -> list[BindingType]:
        return _confirm_bindings()

    def __init__(self, title: str, body: Text | str, *, confirm_label: str) -> None:
        super().__init__()
        self.title_text = title
        self.body = body
        self.confirm_label = confirm_label

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-box", classes="dialog-box"):
            yield Static(self.title_text, id="confirm-title", classes="dialog-title")
            yield Static(self.body, id="confirm-body")
            with Horizontal(classes="dialog-buttons"):
                yield Button(self.confirm_label, id="confirm-yes", variant="error")
                yield Button(_("Cancel"), id="confirm-no")

    def on_mount(self) -> None:
        # The safe answer has the focus: Enter alone never confirms.
        self.query_one("#confirm-no", Button).focus()

    @on(Button.Pressed, "#confirm-yes")
    def _yes(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#confirm-no")
    def _no(self) -> None:
        self.dismiss(False)

    def action_cancel(self) -> None:
        self.dismiss(False)


class ReasonScreen(CellcallModal):
    """Asks for a reason (required); dismisses the text, or None when cancelled."""

    CSS_PATH = "confirm.tcss"
    BINDINGS: ClassVar[list[BindingType]] = _confirm_bindings()

    @classmethod
    def bindings_now(cls) -> list[BindingType]:
        return _confirm_bindings()

    def __init__(self, title: str, prompt: str) -> None:
        super().__init__()
        self.title_text = title
        self.prompt = prompt

    def compose(self) -> ComposeResult:
        with Vertical(id="reason-box", classes="dialog-box"):
            yield Static(self.title_text, id="reason-title", classes="dialog-title")
            yield Label(self.prompt)
            yield Input(id="reason", max_length=200)
            yield Static("", id="reason-error", classes="error")
            with Horizontal(classes="dialog-buttons"):
                yield Button(_("Continue"), id="reason-ok", variant="primary")
                yield Button(_("Cancel"), id="reason-cancel")

    def on_mount(self) -> None:
        self.query_one("#reason", Input).focus()

    @on(Input.Submitted, "#reason")
    @on(Button.Pressed, "#reason-ok")
    def _ok(self) -> None:
        text = self.query_one("#reason", Input).value.strip()
        if not text:
            self.query_one("#reason-error", Static).update(
                literal(_("A reason is required.")))
            return
        self.dismiss(text)

    @on(Button.Pressed, "#reason-cancel")
    def _cancel(self) -> None:
        self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)

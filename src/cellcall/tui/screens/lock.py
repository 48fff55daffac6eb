"""The idle lock: the same user comes back with their password; nobody else can."""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Center, Vertical
from textual.widgets import Button, Input, Label, Static

from cellcall.i18n import _
from cellcall.services.auth import LoggedIn
from cellcall.tui.messages import ServiceFailed
from cellcall.tui.screens.base import CellcallModal
from cellcall.tui.widgets.literal import literal


class LockScreen(CellcallModal):
    CSS_PATH = "lock.tcss"

    def __init__(self, user: LoggedIn) -> None:
        super().__init__()
        self.user = user

    def compose(self) -> ComposeResult:
        with Center(), Vertical(id="lock-box"):
            yield Static(_("Station locked"), id="lock-title")
            yield Static(literal(self.user.display_name))
            yield Label(_("Password"))
            yield Input(id="lock-password", password=True, max_length=128)
            yield Button(_("Unlock"), id="unlock", variant="primary")
            yield Button(_("Log out"), id="lock-logout")
            yield Static("", id="lock-error", classes="error")

    def on_mount(self) -> None:
        self.query_one("#lock-password", Input).focus()

    @on(Input.Submitted, "#lock-password")
    @on(Button.Pressed, "#unlock")
    def _submit(self) -> None:
        self.unlock(self.query_one("#lock-password", Input).value)

    @on(Button.Pressed, "#lock-logout")
    def _logout(self) -> None:
        self.dismiss("logout")

    @work(thread=True, exclusive=True, exit_on_error=False, group="unlock")
    def unlock(self, password: str) -> None:
        self.app.workstation.unlock(password)  # type: ignore[attr-defined]
        self.app.call_from_thread(self.dismiss, "unlocked")

    def on_service_failed(self, message: ServiceFailed) -> None:
        self.query_one("#lock-password", Input).value = ""
        self.query_one("#lock-error", Static).update(literal(message.message))

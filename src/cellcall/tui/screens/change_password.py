"""The one-time password must be replaced before anything else."""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Center, Vertical
from textual.widgets import Button, Footer, Header, Input, Label, Static

from cellcall.i18n import _
from cellcall.services.auth import LoggedIn
from cellcall.tui.messages import ServiceFailed
from cellcall.tui.screens.base import CellcallScreen
from cellcall.tui.widgets.literal import literal


class ChangePasswordScreen(CellcallScreen):
    CSS_PATH = "change_password.tcss"

    def __init__(self, user: LoggedIn) -> None:
        super().__init__()
        self.user = user

    def compose(self) -> ComposeResult:
        yield Header()
        with Center(), Vertical(id="password-box"):
            yield Static(_("Choose your own password"), id="password-title")
            yield Static(_("At least 8 characters. A sentence you remember is best."),
                         classes="hint")
            yield Label(_("Current (one-time) password"))
            yield Input(id="old", password=True, max_length=128)
            yield Label(_("New password"))
            yield Input(id="new", password=True, max_length=128)
            yield Label(_("New password again"))
            yield Input(id="again", password=True, max_length=128)
            yield Button(_("Change password"), id="change", variant="primary")
            yield Static("", id="password-error", classes="error")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#old", Input).focus()

    @on(Input.Submitted)
    def _next(self, event: Input.Submitted) -> None:
        order = ["old", "new", "again"]
        current = event.input.id or ""
        if current != "again":
            self.query_one(f"#{order[order.index(current) + 1]}", Input).focus()
        else:
            self._submit()

    @on(Button.Pressed, "#change")
    def _submit(self) -> None:
        old = self.query_one("#old", Input).value
        new = self.query_one("#new", Input).value
        again = self.query_one("#again", Input).value
        if new != again:
            self._error(_("The two new passwords differ."))
            return
        self.change(old, new)

    @work(thread=True, exclusive=True, exit_on_error=False, group="password")
    def change(self, old: str, new: str) -> None:
        self.app.workstation.change_password(old, new)  # type: ignore[attr-defined]
        self.app.call_from_thread(self._changed)

    def _changed(self) -> None:
        self.notify(_("Password changed."))
        user = self.app.workstation.user  # type: ignore[attr-defined]
        self.app.pop_screen()
        self.app.route_user(user)  # type: ignore[attr-defined]

    def on_service_failed(self, message: ServiceFailed) -> None:
        self._error(message.message)

    def _error(self, text: str) -> None:
        self.query_one("#password-error", Static).update(literal(text))
        for name in ("new", "again"):
            self.query_one(f"#{name}", Input).value = ""

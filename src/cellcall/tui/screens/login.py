"""The login screen: the same answer for every failure, login work in a thread."""

from __future__ import annotations

from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Center, Vertical
from textual.widgets import Button, Footer, Header, Input, Label, Static

from cellcall.app_info import app_banner
from cellcall.i18n import _
from cellcall.services.auth import LoggedIn
from cellcall.tui.messages import LoggedInMessage, ServiceFailed
from cellcall.tui.screens.base import CellcallScreen
from cellcall.tui.widgets.literal import literal


class LoginScreen(CellcallScreen):
    """Login and password; the bottom of the screen stack."""

    CSS_PATH = "login.tcss"
    BINDINGS: ClassVar[list[BindingType]] = []

    def compose(self) -> ComposeResult:
        yield Header()
        with Center(), Vertical(id="login-box"):
            yield Static(app_banner(), id="login-title")
            yield Label(_("Login"), classes="field-label")
            yield Input(id="login", max_length=64, placeholder=_("your login"))
            yield Label(_("Password"), classes="field-label")
            yield Input(id="password", password=True, max_length=128)
            yield Button(_("Log in"), id="submit", variant="primary")
            yield Static("", id="login-error", classes="error")
            yield Static(_("Ctrl+Q quits when nobody is logged in."), classes="hint")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#login", Input).focus()

    def on_screen_resume(self) -> None:
        self.query_one("#password", Input).value = ""
        self.query_one("#login", Input).focus()

    async def reset(self) -> None:
        """After a logout: the form rebuilt in the terminal's own language, and focused.

        Focus must go to the new widgets: a focus left on a removed one swallows every key,
        the priority ones (Ctrl+Q) included.
        """
        await self.recompose()
        self.query_one("#login", Input).focus()

    @on(Input.Submitted, "#login")
    def _next_field(self) -> None:
        self.query_one("#password", Input).focus()

    @on(Input.Submitted, "#password")
    @on(Button.Pressed, "#submit")
    def _submit(self) -> None:
        login = self.query_one("#login", Input).value
        password = self.query_one("#password", Input).value
        if not login or not password:
            self._show_error(_("Type your login and your password."))
            return
        self.query_one("#submit", Button).disabled = True
        self._show_error("")
        self.authenticate(login, password)

    @work(thread=True, exclusive=True, exit_on_error=False, group="login")
    def authenticate(self, login: str, password: str) -> LoggedIn:
        user = self.app.workstation.login(login, password)  # type: ignore[attr-defined]
        self.post_message(LoggedInMessage(user))
        return user  # type: ignore[no-any-return]

    def on_logged_in_message(self, message: LoggedInMessage) -> None:
        self.query_one("#submit", Button).disabled = False
        self.query_one("#password", Input).value = ""
        # Let the app route the user to their role's screen.
        message.stop()
        self.app.route_user(message.user)  # type: ignore[attr-defined]

    def on_service_failed(self, message: ServiceFailed) -> None:
        self.query_one("#submit", Button).disabled = False
        self.query_one("#password", Input).value = ""
        self._show_error(message.message)
        self.query_one("#password", Input).focus()

    def _show_error(self, text: str) -> None:
        self.query_one("#login-error", Static).update(literal(text))

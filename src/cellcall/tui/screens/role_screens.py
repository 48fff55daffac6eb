"""The screen of the role that works elsewhere: admins use the server's shell."""

from __future__ import annotations

from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Center, Vertical
from textual.widgets import Footer, Header, Static

from cellcall.i18n import _
from cellcall.services.auth import LoggedIn
from cellcall.tui.screens.base import CellcallScreen
from cellcall.tui.widgets.literal import literal


def _role_bindings() -> list[BindingType]:
    return [
        Binding("f10", "logout", _("Log out"), id="role.logout"),
    ]


class _MessageScreen(CellcallScreen):
    CSS_PATH = "role_screens.tcss"
    BINDINGS: ClassVar[list[BindingType]] = _role_bindings()

    @classmethod
    def bindings_now(cls) -> list[BindingType]:
        return _role_bindings()

    def __init__(self, user: LoggedIn, text: str) -> None:
        super().__init__()
        self.user = user
        self.text = text

    def compose(self) -> ComposeResult:
        yield Header()
        with Center(), Vertical(id="role-box"):
            yield Static(literal(self.user.display_name), id="role-user")
            yield Static(self.text, id="role-text")
        yield Footer()

    def action_logout(self) -> None:
        self.logout()

    @work(thread=True, exclusive=True, exit_on_error=False, group="logout")
    def logout(self) -> None:
        self.app.workstation.logout()  # type: ignore[attr-defined]
        self.app.call_from_thread(self.app.back_to_login)  # type: ignore[attr-defined]


class AdminRefusedScreen(_MessageScreen):
    """Admins work from the server's shell."""

    def __init__(self, user: LoggedIn) -> None:
        super().__init__(user, _("Admins use the 'cellcall-admin' command on the server. "
                                 "Press F10 to log out."))

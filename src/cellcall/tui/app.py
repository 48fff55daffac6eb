"""The ``cellcall`` Textual application: login, then the screen of the user's role.

The app is built by ``build_app`` from its services (a ``Workstation`` and a ``Phone``),
so tests build the same app with a temp database and, at the TUI's edge only, a phone
double. Kiosk rules live here: the quit, suspend and palette actions are refused while
anyone is logged in, and ``check_action`` only lets through the actions the screens
define, so a ``[@click=...]`` smuggled into a name could never run anything anyway.
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any, ClassVar, cast

from textual import events, work
from textual.app import App
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.worker import Worker, WorkerFailed, WorkerState

from cellcall.errors import CellcallError
from cellcall.i18n import _, set_language
from cellcall.models.users import Role
from cellcall.services.auth import LoggedIn
from cellcall.services.workstation import Workstation
from cellcall.telephony.phone import Phone, SupervisorPhone
from cellcall.tui.messages import LoggedInMessage, PhoneEventMessage, ServiceFailed, Unlocked

# App-level actions a user may ever trigger; everything else (quit, suspend, screenshot,
# theme, palette, simulate_key, push_screen…) is refused while someone is logged in.
ALLOWED_APP_ACTIONS = frozenset({"focus_next", "focus_previous", "kiosk_refuse", "quit_login",
                                 "bell", "back"})


class CellcallApp(App[None]):
    """One terminal's session: whoever logs in gets their role's screen."""

    TITLE = "cellcall"
    CSS_PATH = "app.tcss"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+c", "kiosk_refuse", show=False, priority=True, id="kiosk.ctrl_c"),
        Binding("ctrl+z", "kiosk_refuse", show=False, priority=True, id="kiosk.ctrl_z"),
        Binding("ctrl+backslash", "kiosk_refuse", show=False, priority=True,
                id="kiosk.ctrl_backslash"),
        Binding("ctrl+q", "quit_login", show=False, priority=True, id="kiosk.ctrl_q"),
        Binding("ctrl+p", "kiosk_refuse", show=False, priority=True, id="kiosk.ctrl_p"),
    ]

    def __init__(self, *, workstation: Workstation, phone: Phone | None,
                 idle_lock_seconds: float | None = None,
                 supervisor_phone: SupervisorPhone | None = None) -> None:
        super().__init__()
        self.workstation = workstation
        self.phone = phone
        # The supervisor's side of the process's one engine (often the same object).
        self.supervisor_phone = supervisor_phone
        self.idle_lock_seconds = (
            idle_lock_seconds if idle_lock_seconds is not None
            else workstation.config.security.idle_lock_minutes * 60)
        self._last_input = time.monotonic()
        self.locked = False
        if phone is not None:
            phone.subscribe(self._on_phone_event)
        # Often the same engine as ``phone``: started, stopped and heard once then.
        self._own_supervisor_phone = (supervisor_phone is not None
                                      and cast(object, supervisor_phone) is not phone)
        if supervisor_phone is not None and self._own_supervisor_phone:
            supervisor_phone.subscribe(self._on_phone_event)

    # --- lifecycle ------------------------------------------------------------------------
    def on_mount(self) -> None:
        from cellcall.tui.screens.login import LoginScreen

        self.title = self.workstation.config.site.name
        self.sub_title = self.workstation.station_name or ""
        self.push_screen(LoginScreen())
        # Checked a few times per lock period (at most every 5 s).
        self.set_interval(min(5.0, max(0.05, self.idle_lock_seconds / 4)), self._check_idle)
        if self.phone is not None:
            self.phone.start()
        if self.supervisor_phone is not None and self._own_supervisor_phone:
            self.supervisor_phone.start()

    def on_unmount(self) -> None:
        if self.phone is not None:
            self.phone.stop()
        if self.supervisor_phone is not None and self._own_supervisor_phone:
            self.supervisor_phone.stop()

    # --- kiosk ------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # Only the app's own actions come here (each screen checks its own): a name the
        # current screen happens to define too (maximize, dismiss…) is no pass.
        return action.removeprefix("app.") in ALLOWED_APP_ACTIONS

    def action_kiosk_refuse(self) -> None:
        """Keys that would leave the application do nothing at a station."""
        self.bell()

    def action_quit_login(self) -> None:
        """Quit only from the login screen with nobody logged in (the ssh session ends)."""
        if self.workstation.user is None:
            self.exit()
        else:
            self.bell()

    async def action_quit(self) -> None:
        self.action_quit_login()

    def action_suspend_process(self) -> None:
        self.bell()

    # --- idle lock ----------------------------------------------------------------------------
    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key | events.MouseDown):
            self._last_input = time.monotonic()
        await super().on_event(event)

    def _check_idle(self) -> None:
        if self.locked or self.workstation.user is None:
            return
        if self.workstation.in_call:
            return  # a silent operator listening to a callee is not idle
        if time.monotonic() - self._last_input >= self.idle_lock_seconds:
            self.lock()

    def lock(self) -> None:
        from cellcall.tui.screens.lock import LockScreen

        if self.locked or self.workstation.user is None:
            return
        self.locked = True
        self.push_screen(LockScreen(self.workstation.user), callback=self._after_lock)

    def _after_lock(self, result: object) -> None:
        self.locked = False
        self._last_input = time.monotonic()
        if result == "logout":
            self._logout_worker()
        else:
            for screen in self.screen_stack:
                screen.post_message(Unlocked())

    @work(thread=True, exclusive=True, exit_on_error=False, group="logout")
    def _logout_worker(self) -> None:
        self.workstation.logout()
        self.call_from_thread(self.back_to_login)

    # --- routing --------------------------------------------------------------------------------
    def on_logged_in_message(self, message: LoggedInMessage) -> None:
        self.route_user(message.user)

    def route_user(self, user: LoggedIn) -> None:
        from cellcall.tui.screens.change_password import ChangePasswordScreen
        from cellcall.tui.screens.role_screens import AdminRefusedScreen
        from cellcall.tui.screens.supervisor import FloorScreen
        from cellcall.tui.screens.workstation import WorkstationScreen

        set_language(user.ui_language)
        if user.must_change_password:
            self.push_screen(ChangePasswordScreen(user))
            return
        if user.role == Role.OPERATOR:
            self.switch_screen_to(WorkstationScreen())
        elif user.role == Role.SUPERVISOR:
            self.switch_screen_to(FloorScreen(user))
        else:
            self.switch_screen_to(AdminRefusedScreen(user))

    def switch_screen_to(self, screen: Screen[Any]) -> None:
        # The login screen stays at the bottom of the stack; role screens go above it.
        while len(self.screen_stack) > 2:
            self.pop_screen()
        self.push_screen(screen)

    def back_to_login(self) -> None:
        from cellcall.i18n import _language_from_environment
        from cellcall.tui.screens.login import LoginScreen

        while len(self.screen_stack) > 2:
            self.pop_screen()
        self.locked = False
        set_language(_language_from_environment())
        login = self.screen
        if isinstance(login, LoginScreen):
            # Once the pops are done: a fresh form, focused, for the next person.
            self.call_later(login.reset)

    # --- the phone engine ------------------------------------------------------------------------
    def _on_phone_event(self, event: object) -> None:
        """Called in the engine's thread: hand the event to the UI thread as a message."""
        if threading.get_ident() == self._thread_id:
            self._deliver_phone_event(event)
            return
        with contextlib.suppress(RuntimeError):  # the app is shutting down
            self.call_from_thread(self._deliver_phone_event, event)

    def _deliver_phone_event(self, event: object) -> None:
        # The workstation may sit under a modal (wrap-up, lock): every screen gets it.
        for screen in self.screen_stack:
            screen.post_message(PhoneEventMessage(event))

    # --- worker errors: one handler for all ----------------------------------------------------
    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        self.worker_state_changed(event)

    def worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Every worker's failure ends here: ``Worker.StateChanged`` does not bubble, so the
        screens forward theirs (see ``screens/base.py``)."""
        if event.state != WorkerState.ERROR:
            return
        error = event.worker.error
        if isinstance(error, WorkerFailed):
            error = error.error
        if isinstance(error, CellcallError):
            text = str(error)
        else:
            self.log.error(f"worker {event.worker.name} failed: {error!r}")
            text = _("Something went wrong; please try again or call your supervisor.")
        # The screen that ran the worker shows it, even under a modal (wrap-up, lock).
        node = event.worker.node
        target = node if isinstance(node, Screen) else self.screen
        target.post_message(ServiceFailed(text))

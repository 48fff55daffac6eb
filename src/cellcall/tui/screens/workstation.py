"""The operator's workstation: Ready → Preview → Dialing → Talking → Wrap-up.

Every service call runs in a worker thread and comes back as a message or through
``call_from_thread``; the screen itself only keeps what it shows. Dial takes the claimed
queue item (its attempt id) and nothing else: no widget here accepts a number.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar
from zoneinfo import ZoneInfo

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.timer import Timer
from textual.widgets import Footer, Header, Static

from cellcall.i18n import _, ngettext
from cellcall.models.base import utcnow
from cellcall.models.campaigns import DialingMode
from cellcall.models.timeclock import PauseReason
from cellcall.services import queue, scripts, site_controls
from cellcall.services.workstation import (
    ForceLogout,
    PauseDecided,
    SiteStopActive,
    StationOrder,
    StationState,
    Workstation,
)
from cellcall.telephony import events as phone_events
from cellcall.tui.messages import PhoneEventMessage, ServiceFailed, Unlocked
from cellcall.tui.screens.base import CellcallScreen
from cellcall.tui.widgets.contact_card import ContactCard
from cellcall.tui.widgets.literal import literal
from cellcall.tui.widgets.script_panel import ScriptPanel
from cellcall.tui.widgets.state_bar import StateBar

# SIP results that settle the call without the operator filling a form.
AUTOMATIC_RESULTS = frozenset({"busy", "no_answer", "wrong_number", "technical_failure"})

# Which actions each state allows (the footer shows only these).
ACTIONS_BY_STATE: dict[str, frozenset[StationState]] = {
    "dial": frozenset({StationState.PREVIEW}),
    "hangup": frozenset({StationState.DIALING, StationState.TALKING}),
    "mute": frozenset({StationState.TALKING}),
    "hold": frozenset({StationState.TALKING}),
    "unhold": frozenset({StationState.TALKING}),
    "keypad": frozenset({StationState.TALKING}),
    "pause": frozenset({StationState.READY, StationState.PREVIEW}),
    "resume": frozenset({StationState.PAUSED}),
    "logout": frozenset({StationState.READY, StationState.PREVIEW, StationState.PAUSED}),
    "objections": frozenset({StationState.PREVIEW, StationState.DIALING,
                             StationState.TALKING}),
    "script_back": frozenset({StationState.PREVIEW, StationState.DIALING,
                              StationState.TALKING}),
    "script_choose": frozenset({StationState.PREVIEW, StationState.DIALING,
                                StationState.TALKING}),
    "retry_claim": frozenset({StationState.READY}),
    "coaching_notes": frozenset({StationState.READY, StationState.PREVIEW,
                                 StationState.PAUSED}),
    "new_coaching_notes": frozenset({StationState.READY, StationState.PREVIEW,
                                     StationState.PAUSED}),
}

# How often the station looks for new coaching notes (the footer shows them).
NOTES_POLL_SECONDS = 60.0


def _station_bindings() -> list[BindingType]:
    return [
        Binding("f4", "keypad", _("Keypad"), id="station.keypad"),
        Binding("f5", "dial", _("Dial"), id="station.dial"),
        Binding("f6", "hangup", _("Hang up"), id="station.hangup"),
        Binding("f7", "mute", _("Mute"), id="station.mute"),
        Binding("f8", "pause", _("Pause"), id="station.pause"),
        Binding("f8", "resume", _("Resume"), id="station.resume"),
        # In a call F8 puts the callee on hold instead (no pause starts during a call).
        Binding("f8", "hold", _("Hold"), id="station.hold"),
        Binding("f8", "unhold", _("Take back"), id="station.unhold"),
        Binding("f9", "objections", _("Objections"), id="station.objections"),
        Binding("backspace", "script_back", _("Back"), id="station.script_back"),
        Binding("f2", "retry_claim", _("Look again"), id="station.retry_claim"),
        Binding("f10", "logout", _("Log out"), id="station.logout"),
        # F3 opens the operator's own coaching notes; the footer names it only when a
        # supervisor wrote something new.
        Binding("f3", "new_coaching_notes", _("New note"), id="station.new_notes"),
        Binding("f3", "coaching_notes", _("Notes"), show=False, id="station.notes"),
        *[Binding(str(n), f"script_choose({n})", show=False, id=f"station.choice_{n}")
          for n in range(1, 10)],
    ]


class WorkstationScreen(CellcallScreen):
    CSS_PATH = "workstation.tcss"
    BINDINGS: ClassVar[list[BindingType]] = _station_bindings()

    @classmethod
    def bindings_now(cls) -> list[BindingType]:
        return _station_bindings()

    def __init__(self) -> None:
        super().__init__()
        self._walker: scripts.ScriptWalker | None = None
        self._progressive_timer: Timer | None = None
        self._retry_timer: Timer | None = None
        self._muted = False
        self._held = False
        self._agent_leg_up = True
        self._registered = True
        self._wrapup_started: datetime | None = None
        self._last_result: str | None = None
        self._pending_wrap_up: object | None = None
        self._site_stop: SiteStopActive | None = None
        self._unread_notes = 0
        self._approved_pause: int | None = None

    @property
    def station(self) -> Workstation:
        return self.app.workstation  # type: ignore[attr-defined,no-any-return]

    def compose(self) -> ComposeResult:
        yield Header()
        yield StateBar(id="state-bar")
        with Horizontal(id="work-area"):
            with VerticalScroll(id="contact-pane"):
                yield ContactCard(id="contact-card")
            yield ScriptPanel(id="script-panel")
        yield Static("", id="station-message")
        yield Footer()

    def on_mount(self) -> None:
        self.set_interval(1.0, self._tick)
        lease = max(10, self.station.config.queue.lease_seconds // 3)
        self.set_interval(lease, self._renew_lease)
        self.set_interval(max(0.2, self.station.config.supervision.heartbeat_seconds),
                          self._heartbeat)
        self.set_interval(NOTES_POLL_SECONDS, self._poll_notes)
        self.start_shift()

    # --- state and display -------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        allowed = ACTIONS_BY_STATE.get(action)
        if allowed is None:
            return True
        if action == "dial" and self._site_stop is not None:
            return False  # nothing dials while the site is stopped
        if action == "new_coaching_notes" and not self._unread_notes:
            return False
        if action in ("hold", "unhold") and self._held != (action == "unhold"):
            return False
        return self.station.clock.state in allowed

    def _tick(self) -> None:
        bar = self.query_one(StateBar)
        clock = self.station.clock
        bar.state = clock.state
        bar.in_state = clock.elapsed()
        bar.pause_reason = clock.pause_reason.value if clock.pause_reason else None

    def _enter(self, state: StationState) -> None:
        """The state changed: refresh what depends on it."""
        self._tick()
        self.refresh_bindings()
        if state == StationState.READY:
            self._show_contact()
            self.claim_next()

    def _say(self, text: str) -> None:
        self.query_one("#station-message", Static).update(literal(text))

    def _variables(self) -> dict[str, str]:
        contact = self.station.current
        user = self.station.user
        if contact is None or user is None:
            return {}
        return {
            "contact.first_name": contact.first_name,
            "contact.last_name": contact.last_name,
            "contact.company": contact.company,
            "operator.first_name": user.display_name.split(" ")[0],
            "client.name": contact.client_name,
            "campaign.name": contact.campaign_name,
        }

    def _show_contact(self) -> None:
        contact = self.station.current
        self.query_one(ContactCard).show(contact, utcnow(),
                                         ZoneInfo(self.station.config.site.timezone))
        panel = self.query_one(ScriptPanel)
        if contact is None:
            self._walker = None
            panel.display = False
            return
        panel.display = True
        panel.show(self._walker, self._variables())

    # --- shift --------------------------------------------------------------------------
    def _tell_phone_who(self, actor: object | None) -> None:
        # The engine refuses to dial an attempt someone else claimed (engines that know).
        setter = getattr(self.app.phone, "set_operator", None)  # type: ignore[attr-defined]
        if setter is not None:
            setter(actor)

    @work(thread=True, exclusive=True, exit_on_error=False, group="station")
    def start_shift(self) -> None:
        self.station.start_shift()
        self.app.call_from_thread(self._tell_phone_who, self.station.actor)
        self.app.call_from_thread(self._enter, StationState.READY)
        self.app.call_from_thread(self._update_worked)
        self.app.call_from_thread(self._poll_notes)

    @work(thread=True, exclusive=False, exit_on_error=False, group="worked")
    def _update_worked(self) -> None:
        worked = self.station.worked_today()
        self.app.call_from_thread(setattr, self.query_one(StateBar), "worked", worked)

    # --- the queue ----------------------------------------------------------------------
    @work(thread=True, exclusive=True, exit_on_error=False, group="station")
    def claim_next(self) -> None:
        result = self.station.claim_next()
        self.app.call_from_thread(self._claimed, result)

    def _claimed(self, result: queue.ClaimedContact | queue.NothingCallable) -> None:
        if isinstance(result, queue.NothingCallable):
            self._say(result.reason)
            self._show_contact()
            wait = 60.0
            if result.next_at is not None:
                wait = min(wait, max(5.0, (result.next_at - utcnow()).total_seconds()))
            self._retry_timer = self.set_timer(wait, self._retry_if_ready)
            return
        self._say("")
        script = self.station.script()
        self._walker = scripts.ScriptWalker(script) if script is not None else None
        self._enter(StationState.PREVIEW)
        self._show_contact()
        if result.dialing_mode == DialingMode.PROGRESSIVE:
            self._start_countdown()

    def _start_countdown(self) -> None:
        delay = self.station.config.queue.progressive_delay_seconds
        seconds = round(delay)
        self._say(ngettext("Progressive mode: the call starts in {n} second.",
                           "Progressive mode: the call starts in {n} seconds.",
                           seconds).format(n=seconds))
        # Textual's timers need a positive delay (0 would divide by zero).
        self._progressive_timer = self.set_timer(max(delay, 0.05), self._progressive_dial)

    def _stop_countdown(self) -> None:
        if self._progressive_timer is not None:
            self._progressive_timer.stop()
            self._progressive_timer = None

    def _retry_if_ready(self) -> None:
        if self.station.clock.state == StationState.READY and not self.app.locked:  # type: ignore[attr-defined]
            self.claim_next()

    def action_retry_claim(self) -> None:
        self.claim_next()

    def _progressive_dial(self) -> None:
        if self.station.clock.state == StationState.PREVIEW:
            self.action_dial()

    def _keeps_lease(self) -> bool:
        # The lease holds until the outcome is recorded, wrap-up included, so a long
        # wrap-up never lets another station take the same contact.
        return self.station.current is not None

    @work(thread=True, exclusive=True, exit_on_error=False, group="lease")
    def _renew_lease(self) -> None:
        if self._keeps_lease() and not self.app.locked:  # type: ignore[attr-defined]
            self.station.renew_lease()

    @on(Unlocked)
    def _after_unlock(self) -> None:
        if self._pending_wrap_up is not None:
            context, self._pending_wrap_up = self._pending_wrap_up, None
            self._push_wrap_up(context)
        self._renew_after_lock()

    @work(thread=True, exclusive=True, exit_on_error=False, group="lease")
    def _renew_after_lock(self) -> None:
        if not self._keeps_lease():
            return
        try:
            self.station.renew_lease()
        except queue.LeaseLostError:
            # The lease ran out during a long lock: the contact went back to the queue.
            self.station.forget_current()
            self.app.call_from_thread(self._lost_contact)

    def _lost_contact(self) -> None:
        self._say(_("The contact went back to the queue while the station was locked."))
        self.station.clock.move(StationState.READY)
        self._enter(StationState.READY)

    # --- the call -----------------------------------------------------------------------
    def action_dial(self) -> None:
        self._stop_countdown()
        contact = self.station.current
        phone = self.app.phone  # type: ignore[attr-defined]
        if contact is None:
            return
        if phone is None:
            self._say(_("No phone is connected to this station."))
            return
        self.station.clock.move(StationState.DIALING)
        self._enter(StationState.DIALING)
        self._say(_("Dialing…"))
        phone.dial(contact.attempt_id)

    def action_hangup(self) -> None:
        phone = self.app.phone  # type: ignore[attr-defined]
        if phone is not None:
            phone.hangup()

    def action_mute(self) -> None:
        phone = self.app.phone  # type: ignore[attr-defined]
        if phone is None:
            return
        self._muted = not self._muted
        phone.set_mute(self._muted)
        self._show_call_detail()

    def action_hold(self) -> None:
        self._set_hold(True)

    def action_unhold(self) -> None:
        self._set_hold(False)

    def _set_hold(self, held: bool) -> None:
        phone = self.app.phone  # type: ignore[attr-defined]
        if phone is None:
            return
        self._held = held
        phone.set_hold(held)
        self._show_call_detail()
        self.refresh_bindings()

    def _show_call_detail(self) -> None:
        parts = [_("on hold")] if self._held else []
        parts += [_("muted")] if self._muted else []
        self.query_one(StateBar).detail = ", ".join(parts)

    def action_keypad(self) -> None:
        from cellcall.tui.screens.keypad import KeypadScreen

        phone = self.app.phone  # type: ignore[attr-defined]
        if phone is not None:
            self.app.push_screen(KeypadScreen(phone))

    def _close_call_modals(self) -> None:
        """The call ended: the keypad and the objection answers belong to it."""
        from cellcall.tui.screens.keypad import KeypadScreen
        from cellcall.tui.screens.objections import ObjectionsScreen

        while isinstance(self.app.screen, (KeypadScreen, ObjectionsScreen)):
            self.app.screen.dismiss(None)

    def on_phone_event_message(self, message: PhoneEventMessage) -> None:
        event = message.event
        contact = self.station.current
        bar = self.query_one(StateBar)
        if isinstance(event, phone_events.AgentLegChanged):
            self._agent_leg_up = event.up
            bar.phone_up = self._agent_leg_up and self._registered
            self.station.set_phone_up(bar.phone_up)
            return
        if isinstance(event, phone_events.RegistrationChanged):
            # An unreachable PBX stops calls just like a dropped desk phone does.
            was_registered, self._registered = self._registered, event.registered
            bar.phone_up = self._agent_leg_up and self._registered
            self.station.set_phone_up(bar.phone_up)
            if event.retry_in_s is not None:
                self._say(_("The telephone exchange does not answer; next try in {seconds} s.")
                          .format(seconds=round(event.retry_in_s)))
            elif event.registered and not was_registered:
                self._say(_("The telephone exchange answers again."))
            return
        if isinstance(event, phone_events.MonitorChanged):
            bar.monitored = event.active and self.station.config.supervision.show_monitor_mark
            return
        if isinstance(event, phone_events.SiteStopChanged):
            # The engine ended the call itself; the heartbeat brings the details.
            bar.site_stopped = event.active
            return
        if isinstance(event, phone_events.EngineError):
            self._say(event.message)
            if self.station.clock.state == StationState.DIALING:
                # The engine refused before any INVITE left: the contact is still ours.
                self.station.clock.move(StationState.PREVIEW)
                self._enter(StationState.PREVIEW)
            return
        if contact is None or getattr(event, "attempt_id", None) != contact.attempt_id:
            return
        if isinstance(event, phone_events.CallProgress):
            if event.state == "ringing":
                bar.detail = _("ringing")
            elif event.state == "connected":
                bar.detail = ""
                self.station.clock.move(StationState.TALKING)
                self._enter(StationState.TALKING)
                self._say("")
        elif isinstance(event, phone_events.CallTimeWarning):
            bar.detail = _("call ends in {n} s").format(n=event.seconds_left)
        elif isinstance(event, phone_events.CallEnded):
            bar.detail = ""
            self._muted = self._held = False
            self._close_call_modals()
            self._call_ended(event)

    def _call_ended(self, event: phone_events.CallEnded) -> None:
        self.station.clock.move(StationState.WRAP_UP)
        self._enter(StationState.WRAP_UP)
        if event.result in AUTOMATIC_RESULTS:
            labels = {"busy": _("Busy: the contact will be called again later."),
                      "no_answer": _("No answer: the contact will be called again later."),
                      "wrong_number": _("Wrong number."),
                      "technical_failure": _("Technical failure: the contact goes back to "
                                             "the queue.")}
            self._say(labels[event.result])
            self.record_automatic(event.result)
            return
        self.open_wrap_up()

    @work(thread=True, exclusive=True, exit_on_error=False, group="station")
    def record_automatic(self, result: str) -> None:
        self.station.record_automatic(result)
        self.app.call_from_thread(self._enter, StationState.READY)

    # --- wrap-up ----------------------------------------------------------------------------
    @work(thread=True, exclusive=True, exit_on_error=False, group="station")
    def open_wrap_up(self) -> None:
        context = self.station.wrap_up_context()
        self.app.call_from_thread(self._push_wrap_up, context)

    def _push_wrap_up(self, context: object) -> None:
        from cellcall.tui.screens.wrapup import WrapUpScreen

        if self.app.locked:  # type: ignore[attr-defined]
            # The call ended as the station locked: the form waits under the lock, never
            # over it.
            self._pending_wrap_up = context
            return
        self._wrapup_started = utcnow()
        path = tuple(self._walker.path) if self._walker is not None else ()
        contact = self.station.current
        assert contact is not None
        self.app.push_screen(WrapUpScreen(context, contact=contact, script_path=path,  # type: ignore[arg-type]
                                          started=self._wrapup_started,
                                          variables=self._variables()),
                             callback=self._wrapped_up)

    def _wrapped_up(self, outcome_id: object) -> None:
        self._walker = None
        self._say(_("Outcome saved."))
        self._enter(StationState.READY)
        self._update_worked()

    # --- script ------------------------------------------------------------------------------
    def action_script_choose(self, number: int) -> None:
        if self._walker is None:
            return
        if self._walker.choose(number - 1):
            self.query_one(ScriptPanel).show(self._walker, self._variables())

    def action_script_back(self) -> None:
        if self._walker is not None and self._walker.back():
            self.query_one(ScriptPanel).show(self._walker, self._variables())

    def action_objections(self) -> None:
        from cellcall.tui.screens.objections import ObjectionsScreen

        if self._walker is None or not self._walker.script.objections:
            self._say(_("This script has no objection answers."))
            return
        self.app.push_screen(ObjectionsScreen(self._walker.script.objections),
                             callback=self._objection_chosen)

    def _objection_chosen(self, key: object) -> None:
        if self._walker is not None and isinstance(key, str):
            self._walker.open_objection(key)
            self.query_one(ScriptPanel).show(self._walker, self._variables())

    # --- pause and logout ------------------------------------------------------------------------
    def action_pause(self) -> None:
        from cellcall.tui.screens.pause import PauseScreen

        # No call starts by itself while the operator is choosing to pause.
        counting = self._progressive_timer is not None
        self._stop_countdown()
        needs = (site_controls.NEEDS_APPROVAL
                 if self.station.config.supervision.pause_needs_approval else frozenset())
        self.app.push_screen(PauseScreen(needs),
                             callback=lambda reason: self._pause_chosen(reason, counting))

    def _pause_chosen(self, reason: object, counting: bool = False) -> None:
        if isinstance(reason, PauseReason):
            self.request_pause(reason)
        elif counting and self.station.clock.state == StationState.PREVIEW:
            self._start_countdown()

    @work(thread=True, exclusive=True, exit_on_error=False, group="station")
    def request_pause(self, reason: PauseReason) -> None:
        """Pause now, or ask a supervisor first (break and meal, where the site says so)."""
        if self.station.request_pause(reason) is None:
            self.app.call_from_thread(self._paused)
        else:
            self.app.call_from_thread(self._pause_requested)

    def _pause_requested(self) -> None:
        self._say(_("Pause requested: keep working until a supervisor answers."))
        if self.station.clock.state == StationState.PREVIEW and \
                self.station.current is not None and \
                self.station.current.dialing_mode == DialingMode.PROGRESSIVE:
            self._start_countdown()

    @work(thread=True, exclusive=True, exit_on_error=False, group="station")
    def pause(self, reason: PauseReason) -> None:
        self.station.pause(reason)
        self.app.call_from_thread(self._paused)

    def _paused(self) -> None:
        self._stop_countdown()
        self._walker = None
        self._say("")
        self._enter(StationState.PAUSED)
        self._show_contact()

    @work(thread=True, exclusive=True, exit_on_error=False, group="station")
    def action_resume(self) -> None:
        self.station.resume()
        self.app.call_from_thread(self._enter, StationState.READY)

    @work(thread=True, exclusive=True, exit_on_error=False, group="station")
    def action_logout(self) -> None:
        self.station.logout()
        self.app.call_from_thread(self._tell_phone_who, None)
        self.app.call_from_thread(self.app.back_to_login)  # type: ignore[attr-defined]

    def on_service_failed(self, message: ServiceFailed) -> None:
        self._say(message.message)

    # --- the supervisor's orders (heartbeat) ------------------------------------------------
    def _heartbeat(self) -> None:
        if self.station.user is not None:
            self.heartbeat()

    @work(thread=True, exclusive=True, exit_on_error=False, group="heartbeat")
    def heartbeat(self) -> None:
        """Tell the floor where the station is; carry out what the supervisor ordered."""
        orders = self.station.heartbeat(phone_up=self.query_one(StateBar).phone_up)
        self.app.call_from_thread(self._obey, orders)

    def _obey(self, orders: tuple[StationOrder, ...]) -> None:
        stop = next((o for o in orders if isinstance(o, SiteStopActive)), None)
        self._site_stop_changed(stop)
        for order in orders:
            if isinstance(order, ForceLogout):
                self._forced_logout(order)
                return
            if isinstance(order, PauseDecided):
                self._pause_decided(order)

    def _site_stop_changed(self, stop: SiteStopActive | None) -> None:
        was, self._site_stop = self._site_stop, stop
        self.query_one(StateBar).site_stopped = stop is not None
        if (was is None) == (stop is None):
            return
        self.refresh_bindings()
        if stop is not None:
            self._stop_countdown()
            self._say(_("Site stop: no call may start until a supervisor lifts it. "
                        "Reason: {reason}").format(reason=stop.reason))
        else:
            self._say(_("The site stop is lifted."))
            if self.station.clock.state == StationState.READY:
                self.claim_next()

    def _forced_logout(self, order: ForceLogout) -> None:
        if not order.done:
            # In a call: end it; the logout follows with a heartbeat after the call.
            self._say(_("A supervisor ends this session: the call is ended."))
            self.action_hangup()
            return
        self._stop_countdown()
        self._tell_phone_who(None)
        self.app.back_to_login()  # type: ignore[attr-defined]
        self.app.notify(_("A supervisor logged this station out."), severity="warning",
                        timeout=30)

    def _pause_decided(self, order: PauseDecided) -> None:
        if not order.approved:
            self._say(_("Your pause request was refused: keep working, or ask your "
                        "supervisor."))
        elif order.started:
            self._paused()
        elif order.request_id != self._approved_pause and self.station.clock.state in (
                StationState.DIALING, StationState.TALKING, StationState.WRAP_UP):
            # The order comes with every heartbeat until the call is over: said once.
            self._approved_pause = order.request_id
            self._say(_("Pause approved: it starts after this call."))

    # --- coaching notes (own only, read-only) -----------------------------------------------
    def _poll_notes(self) -> None:
        if self.station.user is not None:
            self.count_notes()

    @work(thread=True, exclusive=True, exit_on_error=False, group="notes")
    def count_notes(self) -> None:
        from cellcall.tui.screens.coaching_notes import unread_count

        count = unread_count(self.station)
        self.app.call_from_thread(self._notes_counted, count)

    def _notes_counted(self, count: int) -> None:
        if count != self._unread_notes:
            self._unread_notes = count
            self.refresh_bindings()

    def action_coaching_notes(self) -> None:
        from cellcall.tui.screens.coaching_notes import CoachingNotesScreen

        self._unread_notes = 0
        self.refresh_bindings()
        self.app.push_screen(CoachingNotesScreen())

    def action_new_coaching_notes(self) -> None:
        self.action_coaching_notes()


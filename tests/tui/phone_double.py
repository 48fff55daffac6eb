"""A phone double for TUI tests only (the real engine is tested in tests/telephony and e2e).

It sits at the TUI's edge: the app calls ``dial(attempt_id)`` and the test decides what the
"network" answers by emitting the engine's own event dataclasses.
"""

from __future__ import annotations

from collections.abc import Callable

from cellcall.telephony import events


class PhoneDouble:
    def __init__(self) -> None:
        self.dialed: list[int] = []
        self.hangups = 0
        self.muted: list[bool] = []
        self.held: list[bool] = []
        self.dtmf: list[str] = []
        self.started = False
        self.stopped = False
        self._listeners: list[Callable[[object], None]] = []

    def start(self) -> None:
        self.started = True

    def stop(self) -> None:
        self.stopped = True

    def dial(self, attempt_id: int) -> None:
        self.dialed.append(attempt_id)

    def hangup(self) -> None:
        self.hangups += 1

    def set_mute(self, muted: bool) -> None:
        self.muted.append(muted)

    def set_hold(self, held: bool) -> None:
        self.held.append(held)

    def send_dtmf(self, digits: str) -> None:
        self.dtmf.append(digits)

    def subscribe(self, listener: Callable[[object], None]) -> None:
        self._listeners.append(listener)

    def emit(self, event: object) -> None:
        for listener in self._listeners:
            listener(event)

    def answer(self, attempt_id: int) -> None:
        self.emit(events.CallProgress(attempt_id=attempt_id, state="ringing"))
        self.emit(events.CallProgress(attempt_id=attempt_id, state="connected"))

    def remote_hangup(self, attempt_id: int) -> None:
        self.emit(events.CallEnded(attempt_id=attempt_id, result="answered_then_hung_up",
                                   sip_status=200, reason="BYE"))


class SupervisorPhoneDouble:
    """The supervisor's side of the engine, for the console's tests: it records what the
    console asked for and the test emits the engine's own events."""

    def __init__(self) -> None:
        self.tickets: list[object] = []  # the monitor calls placed
        self.modes: list[str] = []  # the mode changes of the running call
        self.mode_tickets: list[object] = []
        self.operators: list[object | None] = []
        self.stopped_monitors = 0
        self.played: list[int] = []
        self.playback: list[str] = []
        self.started = False
        self.stopped = False
        self._listeners: list[Callable[[object], None]] = []

    def start(self) -> None:
        self.started = True

    def stop(self) -> None:
        self.stopped = True

    def set_operator(self, operator: object | None) -> None:
        self.operators.append(operator)

    def monitor(self, ticket: object) -> None:
        self.tickets.append(ticket)

    def set_monitor_mode(self, mode: str, ticket: object | None = None) -> None:
        self.modes.append(mode)
        if ticket is not None:
            self.mode_tickets.append(ticket)

    def stop_monitor(self) -> None:
        self.stopped_monitors += 1

    def play_recording(self, attempt_id: int) -> None:
        self.played.append(attempt_id)

    def pause_playback(self) -> None:
        self.playback.append("pause")

    def resume_playback(self) -> None:
        self.playback.append("resume")

    def skip(self, seconds: float) -> None:
        self.playback.append(f"skip {seconds:+g}")

    def stop_playback(self) -> None:
        self.playback.append("stop")

    def subscribe(self, listener: Callable[[object], None]) -> None:
        self._listeners.append(listener)

    def emit(self, event: object) -> None:
        for listener in self._listeners:
            listener(event)

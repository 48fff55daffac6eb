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
        pass

    def send_dtmf(self, digits: str) -> None:
        pass

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

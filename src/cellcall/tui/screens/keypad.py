"""The keypad of a connected call: digits for a company switchboard's menu, sent as DTMF
while the operator presses them.

It sends only into the call in progress (the engine refuses otherwise), and the engine caps
the digits of one call (``[telephony] max_dtmf_digits_per_call``) and audits each of them:
this is not a way to dial a number.
"""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import Footer, Static

from cellcall.i18n import _
from cellcall.telephony import events as phone_events
from cellcall.telephony.phone import Phone
from cellcall.tui.messages import PhoneEventMessage
from cellcall.tui.screens.base import CellcallModal
from cellcall.tui.widgets.literal import literal

# Textual's key names for what the keypad sends.
KEYPAD_KEYS = {**{str(n): str(n) for n in range(10)}, "asterisk": "*", "number_sign": "#"}


def _keypad_bindings() -> list[BindingType]:
    return [
        Binding("escape", "close", _("Close"), id="keypad.close"),
        *[Binding(key, f"send({digit!r})", show=False, id=f"keypad.key_{key}")
          for key, digit in KEYPAD_KEYS.items()],
    ]


class KeypadScreen(CellcallModal):
    CSS_PATH = "keypad.tcss"
    BINDINGS: ClassVar[list[BindingType]] = _keypad_bindings()

    @classmethod
    def bindings_now(cls) -> list[BindingType]:
        return _keypad_bindings()

    def __init__(self, phone: Phone) -> None:
        super().__init__()
        self._phone = phone
        self._sent = ""

    def compose(self) -> ComposeResult:
        with Vertical(id="keypad-box"):
            yield Static(_("Keypad"), id="keypad-title")
            yield Static(_("For a switchboard's menu: each key 0-9, * or # is sent to the "
                           "callee as you press it."), id="keypad-help")
            yield Static("", id="keypad-sent")
            yield Static("", id="keypad-refusal")
        yield Footer()

    def action_send(self, digit: str) -> None:
        if digit not in KEYPAD_KEYS.values():
            return
        self._phone.send_dtmf(digit)
        self._sent += digit
        self._show_sent()

    def _show_sent(self) -> None:
        self.query_one("#keypad-sent", Static).update(
            literal(_("Sent: {digits}").format(digits=self._sent)))

    def on_phone_event_message(self, message: PhoneEventMessage) -> None:
        # The engine's refusal (too many digits, no call) is shown here, under the keys.
        # It refuses a digit and every one after it, so the refused ones are the last.
        if isinstance(message.event, phone_events.EngineError):
            self._sent = self._sent[:-1]
            self._show_sent()
            self.query_one("#keypad-refusal", Static).update(literal(message.event.message))

    def action_close(self) -> None:
        self.dismiss(None)

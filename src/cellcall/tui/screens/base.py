"""What every cellcall screen shares."""

from __future__ import annotations

from textual.screen import ModalScreen, Screen
from textual.worker import Worker

from cellcall.tui.messages import ServiceFailed


class CellcallScreen(Screen[None]):
    """A full screen; refused service calls are shown as a notification by default."""

    def on_service_failed(self, message: ServiceFailed) -> None:
        self.notify(message.message, severity="error", timeout=6)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        # The message does not bubble: hand it to the app's one handler.
        self.app.worker_state_changed(event)  # type: ignore[attr-defined]


class CellcallModal(ModalScreen[object]):
    def on_service_failed(self, message: ServiceFailed) -> None:
        self.notify(message.message, severity="error", timeout=6)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        self.app.worker_state_changed(event)  # type: ignore[attr-defined]

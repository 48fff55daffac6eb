"""What every cellcall screen shares."""

from __future__ import annotations

from textual.screen import ModalScreen, Screen

from cellcall.tui.messages import ServiceFailed


class CellcallScreen(Screen[None]):
    """A full screen; refused service calls are shown as a notification by default."""

    def on_service_failed(self, message: ServiceFailed) -> None:
        self.notify(message.message, severity="error", timeout=6)


class CellcallModal(ModalScreen[object]):
    def on_service_failed(self, message: ServiceFailed) -> None:
        self.notify(message.message, severity="error", timeout=6)

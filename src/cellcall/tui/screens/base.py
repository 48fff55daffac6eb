"""What every cellcall screen shares."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from textual.binding import Binding, BindingType
from textual.dom import DOMNode
from textual.screen import ModalScreen, Screen
from textual.worker import Worker

from cellcall.tui.messages import ServiceFailed


def translate_bindings(node: DOMNode, bindings: Iterable[BindingType]) -> None:
    """Give ``node``'s bindings the labels of ``bindings``, built in the current language.

    A class's ``BINDINGS`` are built once, in the language of the moment the module was
    imported; each user has their own language, so every screen instance rebuilds its
    footer labels (matched by binding id) when it is created, after the login set it.
    """
    labels = {b.id: b.description for b in bindings if isinstance(b, Binding) and b.id}
    table = node._bindings.key_to_bindings
    for key, items in table.items():
        table[key] = [dataclasses.replace(b, description=labels[b.id])
                      if b.id in labels else b for b in items]


class _SharedScreenParts:
    """What full and modal screens alike do: footer labels in the user's language, refused
    service calls shown as a notification, worker events handed to the app's one handler."""

    def __init__(self) -> None:
        super().__init__()
        translate_bindings(self, self.bindings_now())  # type: ignore[arg-type]

    @classmethod
    def bindings_now(cls) -> list[BindingType]:
        """The screen's BINDINGS built again in the current language (none by default)."""
        return []

    def on_service_failed(self, message: ServiceFailed) -> None:
        self.notify(message.message, severity="error", timeout=6)  # type: ignore[attr-defined]

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        # The message does not bubble: hand it to the app's one handler.
        self.app.worker_state_changed(event)  # type: ignore[attr-defined]


class CellcallScreen(_SharedScreenParts, Screen[None]):
    """A full screen."""


class CellcallModal(_SharedScreenParts, ModalScreen[object]):
    """A modal screen over another."""

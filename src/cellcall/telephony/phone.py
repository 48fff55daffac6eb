"""The phone as the TUI sees it: commands in, events out (see ``events``).

No method takes a phone number: ``dial`` takes the id of an attempt the queue claimed, and
the engine reads the number from the database itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol


class Phone(Protocol):
    def start(self) -> None:
        """Start the engine (its own thread); failures arrive as ``EngineError`` events."""

    def stop(self) -> None:
        """Hang up whatever is up, write the rows, stop the engine; blocks until done."""

    def dial(self, attempt_id: int) -> None:
        """Call the contact of this claimed attempt (refusals arrive as ``EngineError``)."""

    def hangup(self) -> None:
        """End the customer call (cancel it while it rings)."""

    def set_mute(self, muted: bool) -> None:
        """Stop (or resume) sending the operator's audio to the customer."""

    def set_hold(self, held: bool) -> None:
        """Put the customer on hold (or take them off it)."""

    def send_dtmf(self, digits: str) -> None:
        """Send switchboard menu digits during a connected call (audited)."""

    def subscribe(self, listener: Callable[[object], None]) -> None:
        """Receive every event, in order. ``listener`` is called from the engine's event
        thread (after the rows the event speaks of are committed); only a command given
        to a phone that is stopped or failed is answered from the caller's own thread."""

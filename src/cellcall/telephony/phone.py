"""The phone as the TUI sees it: commands in, events out (see ``events``).

No method takes a phone number: ``dial`` takes the id of an attempt the queue claimed, and
the engine reads the number from the database itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from cellcall.services.actors import Actor
    from cellcall.services.monitoring import MonitorTicket


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


class SupervisorPhone(Protocol):
    """The supervisor's side: listen to a station's call, and play recordings, on the
    supervisor's own audio (the same agent leg as a station's: desk phone, sound device or
    null). It is the process's one engine (the same ``SipPhone`` as ``Phone``: one pjsua2
    Endpoint per process). Events: ``MonitorStateChanged``, ``PlaybackProgress``,
    ``PlaybackEnded``, ``AgentLegChanged``, ``EngineError``.

    The services decide and audit (``services.monitoring``, ``services.quality``); the
    phone only carries out what they allowed.
    """

    def start(self) -> None:
        """Start the engine (no-op when it already runs)."""

    def stop(self) -> None:
        """End the monitor call and the playback, stop the engine; blocks until done."""

    def set_operator(self, operator: Actor | None) -> None:
        """The supervisor logged in (None at logout): playback needs a supervisor or an
        admin, and the audit rows name them."""

    def monitor(self, ticket: MonitorTicket) -> None:
        """Call the station of ``ticket`` (from ``monitoring.start_monitor``) in its mode.
        One monitor call at a time: a running one is ended first."""

    def set_monitor_mode(self, mode: str, ticket: MonitorTicket | None = None) -> None:
        """Switch the running monitor call to ``mode`` (listen / whisper / barge). Pass the
        ticket ``monitoring.change_mode`` returned: the station accepts a new mode only
        with its fresh signed token (sent in a re-INVITE of the same call)."""

    def stop_monitor(self) -> None:
        """Hang up the monitor call (call ``monitoring.end_monitor`` as well)."""

    def play_recording(self, attempt_id: int) -> None:
        """Play the recording of this attempt on the supervisor's audio; the path is read
        from the attempt row, never given by the caller."""

    def pause_playback(self) -> None:
        """Pause the playback where it is."""

    def resume_playback(self) -> None:
        """Resume a paused playback."""

    def skip(self, seconds: float) -> None:
        """Move the playback forward (or back, when negative); clamped to the file."""

    def stop_playback(self) -> None:
        """Stop the playback (a ``PlaybackEnded`` follows)."""

    def subscribe(self, listener: Callable[[object], None]) -> None:
        """Receive every event, in order (from the engine's event thread)."""

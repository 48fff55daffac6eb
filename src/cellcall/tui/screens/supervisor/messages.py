"""Typed messages the console's workers post to its screens."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from textual.message import Message

if TYPE_CHECKING:
    from cellcall.services.floor import FloorSnapshot
    from cellcall.services.monitoring import MonitorTicket


@dataclass
class FloorRefreshed(Message):
    """A new picture of the floor."""

    snapshot: FloorSnapshot


@dataclass
class MonitorStarted(Message):
    """The monitoring service opened (or changed) a session: the phone may call."""

    ticket: MonitorTicket


@dataclass
class MonitorEnded(Message):
    """The monitoring service closed the session."""

    monitor_id: int


@dataclass
class Done(Message):
    """A supervisor action went through; ``text`` says what happened (trusted text)."""

    text: str


@dataclass
class Loaded(Message):
    """Data a screen asked a worker for: ``what`` names it, ``data`` holds it."""

    what: str
    data: Any

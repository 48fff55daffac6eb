"""Small typed messages posted by workers and the phone engine to the screens."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from cellcall.services.auth import LoggedIn


@dataclass
class LoggedInMessage(Message):
    """Credentials were accepted."""

    user: LoggedIn


@dataclass
class PhoneEventMessage(Message):
    """An event from the telephony engine's thread (CallProgress, CallEnded, ...)."""

    event: object


@dataclass
class ServiceFailed(Message):
    """A worker's service call was refused; ``message`` is safe to show."""

    message: str


@dataclass
class Unlocked(Message):
    """The same user unlocked the station after an idle lock."""

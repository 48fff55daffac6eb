"""Small typed messages posted by workers and the phone engine to the screens."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message
from textual.message_pump import MessagePump
from textual.worker import get_current_worker

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


def post_unless_superseded(node: MessagePump, message: Message) -> None:
    """Post what a reading worker found, unless a newer run of it has replaced this one
    (``exclusive=True`` marks the older run cancelled; its thread still finishes): a slow
    read must never overwrite a newer answer, say a list read for the filter just left.

    Only for groups of one reading worker: a write's result is always posted."""
    if not get_current_worker().is_cancelled:
        node.post_message(message)

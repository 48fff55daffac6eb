"""What the engine tells its listeners: small frozen dataclasses, posted from its thread."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

# CallProgress.state values.
DIALING: Final = "dialing"
RINGING: Final = "ringing"
CONNECTED: Final = "connected"

# CallEnded.result values.
ANSWERED_THEN_HUNG_UP: Final = "answered_then_hung_up"
BUSY: Final = "busy"
NO_ANSWER: Final = "no_answer"
WRONG_NUMBER: Final = "wrong_number"
TECHNICAL_FAILURE: Final = "technical_failure"
OPERATOR_HANGUP: Final = "operator_hangup"
TIME_LIMIT: Final = "time_limit"
SITE_STOP: Final = "site_stop"

RESULTS: Final = frozenset({
    ANSWERED_THEN_HUNG_UP, BUSY, NO_ANSWER, WRONG_NUMBER, TECHNICAL_FAILURE,
    OPERATOR_HANGUP, TIME_LIMIT, SITE_STOP})


@dataclass(frozen=True)
class CallProgress:
    """The customer call moved on: 'dialing', 'ringing' (180/183) or 'connected' (200)."""

    attempt_id: int
    state: str


@dataclass(frozen=True)
class CallEnded:
    """The customer call is over; the attempt row already holds the same result."""

    attempt_id: int
    result: str
    sip_status: int | None
    reason: str


@dataclass(frozen=True)
class AgentLegChanged:
    """The operator's audio (desk phone, sound device, null) went up or down."""

    up: bool
    reason: str


@dataclass(frozen=True)
class RegistrationChanged:
    """The station's SIP account is (or is no longer) registered with the PBX."""

    registered: bool
    reason: str


@dataclass(frozen=True)
class CallTimeWarning:
    """The per-call time limit is near: the engine hangs up in ``seconds_left`` seconds."""

    attempt_id: int
    seconds_left: int


@dataclass(frozen=True)
class EngineError:
    """A refusal or failure, translated, to show the operator as it is."""

    message: str


PhoneEvent = (CallProgress | CallEnded | AgentLegChanged | RegistrationChanged
              | CallTimeWarning | EngineError)

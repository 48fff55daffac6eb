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
    """The station's SIP account is (or is no longer) registered with the PBX.

    Sent on every failed try too, with the wait before the next one."""

    registered: bool
    reason: str
    retry_in_s: float | None = None


@dataclass(frozen=True)
class CallTimeWarning:
    """The per-call time limit is near: the engine hangs up in ``seconds_left`` seconds."""

    attempt_id: int
    seconds_left: int


@dataclass(frozen=True)
class EngineError:
    """A refusal or failure, translated, to show the operator as it is."""

    message: str


@dataclass(frozen=True)
class MonitorChanged:
    """Station side: a supervisor's monitor call on this station's customer call began,
    changed mode or ended (``mode`` is None when ``active`` is False). The operator's screen
    shows a discreet mark while ``active`` (if ``[supervision] show_monitor_mark``)."""

    active: bool
    mode: str | None


@dataclass(frozen=True)
class MonitorStateChanged:
    """Supervisor side: this phone's monitor call is connected (``active``) in ``mode``,
    or is over (``reason`` says why, e.g. the customer call ended or the station refused)."""

    active: bool
    mode: str | None
    station_name: str
    monitor_id: int | None = None
    reason: str = ""


@dataclass(frozen=True)
class PlaybackProgress:
    """Supervisor side: a recording plays on the supervisor's own audio (about twice a
    second, and at once after play, pause, resume and skip)."""

    attempt_id: int
    position_s: float
    duration_s: float
    paused: bool


@dataclass(frozen=True)
class PlaybackEnded:
    """Supervisor side: the recording reached its end or was stopped."""

    attempt_id: int


@dataclass(frozen=True)
class SiteStopChanged:
    """A site stop began (``active``: calls are ended, dialing is refused) or was lifted.
    The engine sees it by itself, whatever the screen is doing."""

    active: bool
    reason: str


PhoneEvent = (CallProgress | CallEnded | AgentLegChanged | RegistrationChanged
              | CallTimeWarning | EngineError | MonitorChanged | SiteStopChanged)
SupervisorEvent = (MonitorStateChanged | PlaybackProgress | PlaybackEnded | AgentLegChanged
                   | EngineError)

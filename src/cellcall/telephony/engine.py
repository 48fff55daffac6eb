"""The station's SIP engine: one pjsua2 Endpoint, driven by one thread of its own.

Threading. ``SipPhone.start`` creates the engine thread; that thread calls ``libCreate``,
``libInit``, ``transportCreate``, ``libStart`` and every later pjsua2 function, and loops on
``libHandleEvents(10)`` (``threadCnt = 0``: pjsua runs no worker thread, so every SIP
callback runs on the engine thread). Other threads only put commands on a queue
(``dial``, ``hangup``, ...). pjsua2 callbacks post small events to a second queue that the
loop handles after each poll; the one exception is ``onCallMediaState``, which bridges the
audio at once as pjsua2's samples do. Every pjsua2 object is created, kept referenced and
dropped on the engine thread (a Call until DISCONNECTED), and ``libDestroy`` runs there.

Audio. The customer leg is bridged to the agent leg in the conference bridge (both ways),
and both feed a WAV recorder once the customer answered.

Monitoring. The engine publishes a loopback SIP URI (``station_presence.monitor_uri``).
A supervisor's engine calls it with a signed token (``monitor_token``) for this station's
connected call; any other incoming call is refused with 403 and audited. The monitor leg
hears the agent and the customer; in whisper mode the agent hears it too, in barge mode
the customer as well (and the recording). A mode change is a re-INVITE of the same call
carrying a fresh token: the media stay up, and a refused change (488) leaves the old mode.
The same engine is the supervisor's side (``SupervisorPhone``): it places monitor calls
and plays recordings on its own agent leg.

Site stop. The engine polls the ``site_stops`` table itself (``SITE_STOP_POLL_S``): while
a stop is active it ends the customer call (result ``site_stop``) and refuses to dial,
whatever the screen is doing.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import ipaddress
import itertools
import logging
import os
import queue
import shutil
import socket
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pjsua2 as pj
from sqlalchemy.engine import Engine
from sqlmodel import Session

from cellcall.db import read_session, run_write
from cellcall.errors import CellcallError, ValidationError
from cellcall.i18n import _, ngettext
from cellcall.models.base import utcnow
from cellcall.models.users import Role, Station
from cellcall.services.actors import Actor
from cellcall.telephony import events as ev
from cellcall.telephony import monitor_token, records
from cellcall.telephony.config import TelephonyConfig, read_secret
from cellcall.telephony.identity import campaigns_to_check, check_caller_identity
from cellcall.telephony.pjlib import (
    CallbackSink,
    LogToPython,
    endpoint_config,
    media_transport_config,
    quiet_pjlib,
    set_codec_priorities,
    wav_seconds,
)
from cellcall.telephony.recovery import recover_interrupted
from cellcall.telephony.results import classify_end

if TYPE_CHECKING:
    from cellcall.services.monitoring import MonitorTicket

log = logging.getLogger("cellcall.telephony")

POLL_MS = 10
DTMF_DIGITS = frozenset("0123456789*#ABCD")
MAX_DTMF = 32
# After the engine hung up, how long to wait for pjsua's DISCONNECTED before writing the
# row anyway (the call object stays referenced until it does disconnect).
HANGUP_GRACE_S = 10.0
SHUTDOWN_WAIT_S = 3.0
WAV_CLOSE_WAIT_S = 2.0
AGENT_RETRY_FIRST_S = 2.0
SITE_STOP_POLL_S = 0.25
PLAYBACK_PROGRESS_S = 0.5
PLAYBACK_STALL_S = 2.0
MONITOR_USER = "monitor"
_TRANSPORTS = {"udp": pj.PJSIP_TRANSPORT_UDP, "tcp": pj.PJSIP_TRANSPORT_TCP,
               "tls": pj.PJSIP_TRANSPORT_TLS}

_live_phones: weakref.WeakSet[SipPhone] = weakref.WeakSet()


@atexit.register
def _stop_live_phones() -> None:
    # The engine thread is a daemon: stop it properly before the interpreter goes away.
    for phone in list(_live_phones):
        phone.stop()


# --- pjsua2 subclasses: they only post events (and bridge media) --------------------------


class _Call(pj.Call):  # type: ignore[misc]
    """A call of any role; holds no reference to the engine (no cycles across threads)."""

    def __init__(self, account: Any, sink: CallbackSink, key: int, role: str,
                 media_handler: weakref.WeakMethod[Callable[[_Call], None]] | None,
                 call_id: int = pj.PJSUA_INVALID_ID,
                 reinvite_handler: ReinviteHandler | None = None) -> None:
        super().__init__(account, call_id)
        self.sink = sink
        self.key = key
        self.role = role
        self.responded = False
        self._media_handler = media_handler
        self._reinvite_handler = reinvite_handler

    def onCallState(self, prm: Any) -> None:
        ci = self.getInfo()
        self.sink.put(("state", self.key, ci.state, ci.lastStatusCode, ci.lastReason))

    def onCallTsxState(self, prm: Any) -> None:
        e = prm.e
        if (not self.responded and e.type == pj.PJSIP_EVENT_TSX_STATE
                and e.body.tsxState.type == pj.PJSIP_EVENT_RX_MSG):
            self.responded = True
            self.sink.put(("responded", self.key))
        if self.role == "monitor_out" and e.type == pj.PJSIP_EVENT_TSX_STATE:
            tsx = e.body.tsxState.tsx
            if (tsx.role == pj.PJSIP_ROLE_UAC and str(tsx.method) == "INVITE"
                    and tsx.statusCode >= 200):
                self.sink.put(("invite_result", self.key, int(tsx.statusCode)))

    def onCallRxReinvite(self, prm: Any) -> None:
        # Decided here, at once: pjsua answers the offer when this returns.
        handler = self._reinvite_handler() if self._reinvite_handler is not None else None
        if handler is not None:
            status = handler(self, str(prm.rdata.wholeMsg), str(prm.rdata.srcAddress))
            if status != 200:
                prm.statusCode = status

    def onCallMediaState(self, prm: Any) -> None:
        handler = self._media_handler() if self._media_handler is not None else None
        if handler is not None:
            handler(self)

    def onCallTransferRequest(self, prm: Any) -> None:
        prm.statusCode = 603  # Decline: no transfer, ever
        self.sink.put(("refer", self.key, str(prm.dstUri)[:200]))

    def onCallReplaceRequest(self, prm: Any) -> None:
        prm.statusCode = 603
        self.sink.put(("replace", self.key))

    def onCallRedirected(self, prm: Any) -> int:
        # A 3xx would make us call a number the queue did not choose.
        self.sink.put(("redirect", self.key, str(prm.targetUri)[:200]))
        return int(pj.PJSIP_REDIRECT_REJECT)


ReinviteHandler = weakref.WeakMethod[Callable[[_Call, str, str], int]]


class _Account(pj.Account):  # type: ignore[misc]
    def __init__(self, sink: CallbackSink, keys: itertools.count[int],
                 media_handler: weakref.WeakMethod[Callable[[_Call], None]] | None = None,
                 reinvite_handler: ReinviteHandler | None = None) -> None:
        super().__init__()
        self.sink = sink
        self.keys = keys
        self.media_handler = media_handler
        self.reinvite_handler = reinvite_handler

    def onIncomingCall(self, prm: Any) -> None:
        try:
            token = monitor_token.header_value(str(prm.rdata.wholeMsg))
            source = str(prm.rdata.srcAddress)
        except Exception:  # a binding without rdata: nothing can be checked, refuse
            token = source = ""
        call = _Call(self, self.sink, next(self.keys), "incoming", self.media_handler,
                     prm.callId, reinvite_handler=self.reinvite_handler)
        self.sink.put(("incoming", call, token, source))

    def onRegState(self, prm: Any) -> None:
        self.sink.put(("reg", int(prm.code), str(prm.reason), int(prm.expiration)))

    def onIncomingSubscribe(self, prm: Any) -> None:
        prm.code = 403


# --- the outbox: rows that need not gate the SIP stack, then the events, in order ---------
Work = Callable[[Session], object]
OUTBOX_BATCH = 50


class _Outbox:
    """A thread that writes the attempt rows and audit rows the SIP stack must not wait
    for (a long write elsewhere holding the SQLite lock would otherwise stall the
    engine's signalling), and then tells the listeners, strictly in order: a CallEnded
    is delivered only once its row is committed, so wrap-up always finds it. What piles
    up while the database is busy is written in one transaction."""

    def __init__(self, engine: Engine, deliver: Callable[[object], None]) -> None:
        self._engine = engine
        self._deliver = deliver
        self._queue: queue.SimpleQueue[tuple[Work | None, object | None, str] | None] = \
            queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="cellcall-sip-events",
                                        daemon=True)
        self._closed = False

    def start(self) -> None:
        self._thread.start()

    @property
    def thread(self) -> threading.Thread:
        return self._thread

    def post(self, event: object | None, work: Work | None = None,
             failure: str = "") -> None:
        """Run ``work`` in a write transaction (plain values only: no pjsua2 object may
        reach this thread), then deliver ``event``; on failure EngineError(``failure``)."""
        if self._closed or not self._thread.is_alive():
            self._handle([(work, event, failure)])
            return
        self._queue.put((work, event, failure))

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._thread.is_alive():
            self._queue.put(None)
            if self._thread is not threading.current_thread():
                self._thread.join(timeout=60)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            batch = [item]
            stop = False
            while len(batch) < OUTBOX_BATCH:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                batch.append(more)
            self._handle(batch)
            if stop:
                return

    def _handle(self, batch: list[tuple[Work | None, object | None, str]]) -> None:
        works = [work for work, _event, _failure in batch if work is not None]
        failed: set[int] = set()
        if works:
            try:
                run_write(self._engine, lambda session: [work(session) for work in works])
            except Exception:
                # Find the culprit: each on its own, so the others still get written.
                for index, (work, _event, _failure) in enumerate(batch):
                    if work is None:
                        continue
                    try:
                        run_write(self._engine, work)
                    except Exception:
                        log.exception("a telephony database write failed")
                        failed.add(index)
        for index, (_work, event, failure) in enumerate(batch):
            if index in failed and failure:
                self._deliver(ev.EngineError(failure))
            if event is not None:
                self._deliver(event)


# --- state owned by the engine thread ------------------------------------------------------
@dataclass(eq=False)
class _CustomerCall:
    attempt_id: int
    call: _Call
    actor: str
    started: float
    state: str = ev.DIALING
    answered_at: datetime | None = None
    connected_at: float | None = None
    media: Any = None
    recorder: Any = None
    recording_path: Path | None = None
    recording_started: float | None = None
    local_reason: str | None = None
    hangup_at: float | None = None
    warned: bool = False
    muted: bool = False
    held: bool = False
    dtmf_sent: int = 0      # digits keyed into this call so far


@dataclass(eq=False)
class _AgentLeg:
    mode: str
    up: bool = False
    source: Any = None      # what the customer hears
    sink: Any = None        # where the customer's voice goes
    player: Any = None      # null leg with a tone
    call: _Call | None = None
    retry_at: float | None = None
    backoff: float = AGENT_RETRY_FIRST_S
    reason: str = ""


@dataclass(eq=False)
class _MonitorIn:
    """Station side: a supervisor's accepted monitor call on our customer call."""

    call: _Call
    monitor_id: int
    attempt_id: int | None
    mode: str
    supervisor: str
    media: Any = None


@dataclass(eq=False)
class _MonitorOut:
    """Supervisor side: our call to a station's engine."""

    call: _Call
    monitor_id: int
    station_name: str
    mode: str
    connected: bool = False
    media: Any = None
    pending: MonitorTicket | None = None
    ending: bool = False


@dataclass(eq=False)
class _Playback:
    attempt_id: int
    player: Any
    sink: Any
    rate: int
    duration_s: float
    paused: bool = False
    paused_at: int = 0
    last_pos: int = -1
    moved_at: float = 0.0
    next_progress: float = 0.0


@dataclass(frozen=True)
class _Settings:
    """What ``SipPhone.__init__`` checked, for the engine thread."""

    config: TelephonyConfig
    secret: str
    desk_phone_uri: str
    recordings_dir: Path
    station_label: str
    caller_numbers: tuple[str, ...] = field(default_factory=tuple)


class SipPhone:
    """The pjsua2 engine behind ``Phone`` (see the module documentation)."""

    def __init__(self, *, engine: Engine, config: TelephonyConfig,
                 station_id: int | None = None, operator: Actor | None = None,
                 desk_phone_uri: str | None = None, station_label: str | None = None,
                 on_stopped: Callable[[], None] | None = None,
                 monitor_key_file: str | Path | None = None) -> None:
        """Check the configuration (raises ``CellcallError`` with one clear sentence):
        secrets file, caller identity of every open campaign, desk phone URI, monitor
        key (``monitor_key_file``: without one, no monitor call is accepted or placed)."""
        self.engine = engine
        self.config = config
        self.station_id = station_id
        self._operator = operator
        self._on_stopped = on_stopped
        secret = read_secret(config.secret_file) if config.secret_file else ""
        check_caller_identity(config=config, campaigns=campaigns_to_check(engine))
        uri = desk_phone_uri or ""
        label = station_label or (f"station:{station_id}" if station_id else "station")
        if station_id is not None:
            with read_session(engine) as session:
                station = session.get(Station, station_id)
                if station is not None:
                    uri = uri or station.desk_phone_uri or ""
                    label = station_label or f"station:{station.name}"
        if config.agent_leg == "desk_phone" and not uri:
            raise ValidationError(_(
                "This station has no desk phone: give it one (cellcall-admin station add NAME "
                "--desk-phone SIP_URI) or choose another [telephony] agent_leg"))
        if not config.recordings_dir:
            raise ValidationError(_("Configuration: [telephony] recordings_dir is not set"))
        numbers = {n for n in (*config.caller_ids.values(), config.default_caller_id) if n}
        self._settings = _Settings(config, secret, uri, Path(config.recordings_dir), label,
                                   tuple(sorted(numbers)))
        self._monitor_key = (monitor_token.load_or_create_key(monitor_key_file)
                             if monitor_key_file is not None else None)
        self._commands: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        self._sink = CallbackSink()
        self._listeners: list[Callable[[object], None]] = []
        self._listeners_lock = threading.Lock()
        self._outbox = _Outbox(engine, self._deliver)
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._lock = threading.Lock()
        self._stopped = False
        self.local_address: tuple[str, int] | None = None
        self._wake_socket: socket.socket | None = None
        self.failed: str | None = None
        # Engine-thread state.
        self._keys = itertools.count(1)
        self._ep: Any = None
        self._writer: LogToPython | None = None
        self._transport_id: int | None = None
        self._main_account: _Account | None = None
        self._accounts: dict[str, _Account] = {}
        self._calls: dict[int, _Call] = {}
        self._customer: _CustomerCall | None = None
        self._agent = _AgentLeg(config.agent_leg)
        self._registered: bool | None = None
        self._reg_retry_at: float | None = None
        self._stopping = False  # no registration retry once the engine is closing
        self._reg_backoff = float(config.register_retry_first_s)
        self._domain = ""
        self._loopback_account: _Account | None = None
        self.monitor_uri = ""
        self._monitor_in: _MonitorIn | None = None
        self._monitor_out: _MonitorOut | None = None
        self._used_nonces: dict[str, float] = {}
        self._playback: _Playback | None = None
        self._agent_recorder: Any = None
        self._site_stop: tuple[int, str] | None = None
        self._next_stop_poll = 0.0
        self._stop_poll_failing = False

    # --- the Phone API (any thread) --------------------------------------------------------
    def subscribe(self, listener: Callable[[object], None]) -> None:
        with self._listeners_lock:
            self._listeners.append(listener)

    def start(self) -> None:
        with self._lock:
            if self._thread is not None or self._stopped:
                return
            self._thread = threading.Thread(target=self._run, name="cellcall-sip",
                                            daemon=True)
            _live_phones.add(self)
            self._outbox.start()
            self._thread.start()

    def wait_ready(self, timeout: float = 10.0) -> bool:
        """True once the library runs (False if it failed to start or took too long)."""
        return self._ready.wait(timeout) and self.failed is None

    def stop(self) -> None:
        with self._lock:
            thread = self._thread
            if self._stopped:
                return
            self._stopped = True
        if thread is not None:
            self._commands.put(("stop", None))
            # From a listener (an engine thread) the loop stops after this event.
            if threading.current_thread() not in (thread, self._outbox.thread):
                thread.join(timeout=30)
                if thread.is_alive():
                    log.error("the SIP engine thread did not stop")
        else:
            self._outbox.close()
        _live_phones.discard(self)
        with self._lock:
            if self._wake_socket is not None:
                self._wake_socket.close()
                self._wake_socket = None
        if self._on_stopped is not None:
            self._on_stopped()

    def dial(self, attempt_id: int) -> None:
        self._command("dial", int(attempt_id))

    def hangup(self) -> None:
        self._command("hangup", None)

    def set_mute(self, muted: bool) -> None:
        self._command("mute", bool(muted))

    def set_hold(self, held: bool) -> None:
        self._command("hold", bool(held))

    def send_dtmf(self, digits: str) -> None:
        self._command("dtmf", str(digits))

    # --- the SupervisorPhone API (any thread) ----------------------------------------------
    def monitor(self, ticket: MonitorTicket) -> None:
        self._command("monitor", ticket)

    def set_monitor_mode(self, mode: str, ticket: MonitorTicket | None = None) -> None:
        self._command("monitor_mode", (str(mode), ticket))

    def stop_monitor(self) -> None:
        self._command("monitor_stop", None)

    def play_recording(self, attempt_id: int) -> None:
        self._command("play", int(attempt_id))

    def pause_playback(self) -> None:
        self._command("playback_pause", True)

    def resume_playback(self) -> None:
        self._command("playback_pause", False)

    def skip(self, seconds: float) -> None:
        self._command("playback_skip", float(seconds))

    def stop_playback(self) -> None:
        self._command("playback_stop", None)

    def set_operator(self, operator: Actor | None) -> None:
        """The operator logged in at this station (None at logout): dials of attempts
        claimed by anyone else are refused."""
        self._command("operator", operator)

    def _command(self, name: str, arg: object) -> None:
        thread = self._thread
        if (thread is not None and not thread.is_alive()) or self._stopped or self.failed:
            # Nobody would ever read the command: say so now, from the caller's thread.
            if name in ("dial", "dtmf", "hold", "monitor", "monitor_mode", "play"):
                self._error(_("The telephone is not working: {error}").format(
                    error=self.failed or _("it is stopped")))
            return
        self._commands.put((name, arg))
        self._wake()

    def _wake(self) -> None:
        """Cut the engine's poll short: a CRLF keep-alive (RFC 5626), which pjsip ignores,
        sent to its own UDP port wakes libHandleEvents at once. Over TCP/TLS the command
        waits for the poll (at most POLL_MS)."""
        address = self.local_address
        if address is None or self._settings.config.transport != "udp":
            return
        with self._lock, contextlib.suppress(OSError):  # else the poll picks it up
            if self._stopped:
                return
            if self._wake_socket is None:
                self._wake_socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self._wake_socket.sendto(b"\r\n\r\n", address)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # --- engine thread ---------------------------------------------------------------------
    def _emit(self, event: object) -> None:
        self._outbox.post(event)

    def _later(self, work: Work, event: object | None = None, failure: str = "") -> None:
        self._outbox.post(event, work, failure)

    def _deliver(self, event: object) -> None:
        with self._listeners_lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(event)
            except Exception:
                log.exception("a phone event listener failed")

    def _error(self, message: str) -> None:
        self._emit(ev.EngineError(message))

    def _actor_label(self) -> str:
        return self._operator.label if self._operator is not None else \
            self._settings.station_label

    def _run(self) -> None:
        failure = self._start_library()
        if failure is not None:
            # Outside the except block: the traceback (and any pjsua2 object its frames
            # hold) is gone before libDestroy.
            self.failed = failure
            self._ready.set()
            self._error(_("The telephone could not start: {error}").format(error=failure))
            self._destroy_library()
            self._outbox.close()
            return
        self._ready.set()
        try:
            while True:
                self._ep.libHandleEvents(POLL_MS)
                self._handle_callbacks()
                if self._handle_commands():
                    break
                self._tick(time.monotonic())
        except Exception:
            log.exception("the SIP engine failed")
            self._error(_("The telephone stopped after an internal error."))
        finally:
            self._shutdown()
            # Only now: _shutdown's locals (calls, accounts) are gone. A pjsua2 object
            # destroyed after libDestroy would touch freed library state.
            self._destroy_library()
            self._outbox.close()

    def _start_library(self) -> str | None:
        """Start everything; the reason (for the operator) when it failed."""
        try:
            recover_interrupted(engine=self.engine, station_id=self.station_id)
            self._init_library()
            if self.station_id is not None and self._monitor_key is not None:
                run_write(self.engine, functools.partial(
                    records.publish_monitor_uri, station_id=self.station_id,
                    uri=self.monitor_uri))
            self._site_stop = records.active_site_stop(self.engine)
            self._next_stop_poll = time.monotonic() + SITE_STOP_POLL_S
            if self._site_stop is not None:
                self._emit(ev.SiteStopChanged(True, self._site_stop[1]))
        except CellcallError as exc:
            log.exception("the SIP engine did not start")
            return str(exc)
        except Exception as exc:
            log.exception("the SIP engine did not start")
            return _pj_text(exc)
        return None

    def _init_library(self) -> None:
        cfg = self._settings.config
        quiet_pjlib()
        self._ep = pj.Endpoint()
        self._ep.libCreate()  # pj_init registers this thread with pjlib
        self._writer = LogToPython()
        self._ep.libInit(endpoint_config(
            log_level=cfg.log_level, writer=self._writer, clock_rate=cfg.clock_rate,
            echo_canceller=cfg.agent_leg == "sound_device"))
        if cfg.agent_leg != "sound_device":
            self._ep.audDevManager().setNullDev()
        tc = pj.TransportConfig()
        tc.boundAddress = cfg.bind_address
        tc.port = cfg.sip_port
        if cfg.transport == "tls":
            tc.tlsConfig.CaListFile = cfg.tls_ca_file
            tc.tlsConfig.verifyServer = cfg.tls_verify_server
        self._transport_id = self._ep.transportCreate(_TRANSPORTS[cfg.transport], tc)
        name = str(self._ep.transportGetInfo(self._transport_id).localName)
        host, _sep, port = name.rpartition(":")
        self.local_address = (host, int(port))
        # Monitor calls only ever travel on loopback UDP: a transport of their own when
        # the station's SIP socket faces the PBX.
        loopback_tid: int | None = None
        if _is_loopback(host) and cfg.transport == "udp":
            self.monitor_uri = f"sip:{MONITOR_USER}@{host}:{port}"
        else:
            ltc = pj.TransportConfig()
            ltc.boundAddress = "127.0.0.1"
            ltc.port = 0
            loopback_tid = self._ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, ltc)
            lname = str(self._ep.transportGetInfo(loopback_tid).localName)
            self.monitor_uri = f"sip:{MONITOR_USER}@{lname}"
        self._ep.libStart()
        set_codec_priorities(self._ep, cfg.codec_list)
        self._domain = cfg.domain or _host_of(cfg.registrar) or cfg.bind_address
        self._main_account = self._make_account(cfg.account_user or "station", register=True)
        for number in self._settings.caller_numbers:
            self._accounts[number] = self._make_account(number, register=False)
        if loopback_tid is None:
            self._loopback_account = self._main_account
        else:
            self._loopback_account = self._make_account(
                MONITOR_USER, register=False, transport_id=loopback_tid,
                media_address="127.0.0.1", domain="127.0.0.1")
        self._start_agent_leg()

    def _make_account(self, user: str, *, register: bool, transport_id: int | None = None,
                      media_address: str | None = None,
                      domain: str | None = None) -> _Account:
        cfg = self._settings.config
        acfg = pj.AccountConfig()
        acfg.idUri = f"sip:{user}@{domain or self._domain}"
        if register and cfg.registrar:
            acfg.regConfig.registrarUri = cfg.registrar
            acfg.regConfig.timeoutSec = cfg.register_expires_s
            # pjsua only knows a fixed retry interval: the engine retries itself, with
            # a growing wait (see _on_reg_state), so a PBX coming back is not flooded.
            acfg.regConfig.retryIntervalSec = 0
            acfg.regConfig.unregWaitMsec = 1000
        if cfg.account_user and self._settings.secret:
            acfg.sipConfig.authCreds.append(pj.AuthCredInfo(
                "digest", "*", cfg.account_user, 0, self._settings.secret))
        if cfg.outbound_proxy and transport_id is None:
            acfg.sipConfig.proxies.append(cfg.outbound_proxy)
        acfg.sipConfig.transportId = self._transport_id if transport_id is None \
            else transport_id
        acfg.mediaConfig.transportConfig = media_transport_config(
            media_address or cfg.bind_address)
        # No re-INVITE after the answer just to narrow a multi-codec answer to one codec.
        acfg.mediaConfig.lockCodecEnabled = False
        account = _Account(self._sink, self._keys, weakref.WeakMethod(self._on_media),
                           weakref.WeakMethod(self._on_reinvite))
        account.create(acfg, register)
        return account

    # --- agent leg -------------------------------------------------------------------------
    def _start_agent_leg(self) -> None:
        cfg, agent = self._settings.config, self._agent
        if agent.mode == "null":
            if cfg.agent_tone_wav:
                agent.player = pj.AudioMediaPlayer()
                agent.player.createPlayer(cfg.agent_tone_wav, 0)
                agent.source = agent.player
            if cfg.agent_record_wav:
                Path(cfg.agent_record_wav).parent.mkdir(parents=True, exist_ok=True)
                self._agent_recorder = pj.AudioMediaRecorder()
                self._agent_recorder.createRecorder(cfg.agent_record_wav)
                agent.sink = self._agent_recorder
            self._agent_up(True, "null")
        elif agent.mode == "sound_device":
            try:
                adm = self._ep.audDevManager()
                agent.source = adm.getCaptureDevMedia()
                agent.sink = adm.getPlaybackDevMedia()
            except pj.Error as exc:
                self._agent_up(False, _pj_text(exc))
                self._error(_("The sound device cannot be used: {error}").format(
                    error=_pj_text(exc)))
                return
            self._agent_up(True, "sound_device")
        else:
            self._call_desk_phone()

    def _call_desk_phone(self) -> None:
        agent = self._agent
        assert self._main_account is not None
        call = _Call(self._main_account, self._sink, next(self._keys), "agent",
                     weakref.WeakMethod(self._on_media))
        prm = pj.CallOpParam(True)
        prm.opt.audioCount = 1
        prm.opt.videoCount = 0
        _add_header(prm, "Call-Info", f"<sip:{self._domain}>;answer-after=0")
        _add_header(prm, "Alert-Info", "<http://127.0.0.1/>;info=alert-autoanswer;delay=0")
        try:
            call.makeCall(self._with_transport(self._settings.desk_phone_uri), prm)
        except pj.Error as exc:
            self._agent_down(_pj_text(exc))
            return
        agent.call = call
        self._calls[call.key] = call

    def _agent_up(self, up: bool, reason: str) -> None:
        agent = self._agent
        if agent.up != up or agent.reason != reason:
            agent.up, agent.reason = up, reason
            self._emit(ev.AgentLegChanged(up, reason))

    def _agent_down(self, reason: str) -> None:
        agent = self._agent
        agent.call = None
        agent.source = agent.sink = None
        agent.retry_at = time.monotonic() + agent.backoff
        agent.backoff = min(agent.backoff * 2, float(self._settings.config.agent_retry_max_s))
        self._agent_up(False, reason)
        if self._customer is not None:
            # The operator can no longer hear the customer: end the call.
            self._hangup_local(self._customer, ev.TECHNICAL_FAILURE)

    # --- media -----------------------------------------------------------------------------
    def _on_media(self, call: _Call) -> None:
        """onCallMediaState, on the engine thread: bridge the call's audio now."""
        try:
            ci = call.getInfo()
            media = None
            for mi in ci.media:
                if mi.type == pj.PJMEDIA_TYPE_AUDIO and mi.status in (
                        pj.PJSUA_CALL_MEDIA_ACTIVE, pj.PJSUA_CALL_MEDIA_REMOTE_HOLD,
                        pj.PJSUA_CALL_MEDIA_LOCAL_HOLD):
                    media = call.getAudioMedia(mi.index)
                    break
        except pj.Error as exc:
            log.warning("media state of a call that is going: %s", _pj_text(exc))
            return
        customer = self._customer
        mon_in, mon_out = self._monitor_in, self._monitor_out
        if mon_in is not None and call is mon_in.call:
            mon_in.media = media
            if customer is not None:
                self._apply_links(customer)
        elif mon_out is not None and call is mon_out.call:
            mon_out.media = media
            self._apply_monitor_out_links()
        elif call.role == "agent" and call is self._agent.call:
            self._agent.source = self._agent.sink = media
            if customer is not None:
                self._apply_links(customer)
            self._apply_monitor_out_links()
        elif customer is not None and call is customer.call:
            customer.media = media
            if customer.state == ev.CONNECTED and customer.recorder is None:
                self._start_recorder(customer)
            self._apply_links(customer)

    def _apply_links(self, cc: _CustomerCall) -> None:
        if cc.media is None:
            return
        source, sink = self._agent.source, self._agent.sink
        talk = not cc.held
        _link(source, cc.media, talk and not cc.muted)
        _link(cc.media, sink, talk)
        if cc.recorder is not None:
            _link(cc.media, cc.recorder, True)
            _link(source, cc.recorder, not cc.muted)
        mon = self._monitor_in
        if mon is not None and mon.media is not None:
            heard_by_agent = mon.mode in ("whisper", "barge")
            heard_by_customer = mon.mode == "barge"
            _link(source, mon.media, True)
            _link(cc.media, mon.media, talk)
            _link(mon.media, sink, heard_by_agent)
            _link(mon.media, cc.media, heard_by_customer and talk)
            if cc.recorder is not None:
                _link(mon.media, cc.recorder, heard_by_customer)

    def _apply_monitor_out_links(self) -> None:
        """Supervisor side: the supervisor hears the monitor call and speaks into it (the
        station decides who hears what)."""
        mon = self._monitor_out
        if mon is None or mon.media is None:
            return
        _link(self._agent.source, mon.media, True)
        _link(mon.media, self._agent.sink, True)

    def _start_recorder(self, cc: _CustomerCall) -> None:
        if cc.recording_path is None or cc.media is None:
            return
        try:
            cc.recording_path.parent.mkdir(parents=True, exist_ok=True, mode=0o750)
            recorder = pj.AudioMediaRecorder()
            recorder.createRecorder(str(cc.recording_path))
            os.chmod(cc.recording_path, 0o640)
        except (OSError, pj.Error) as exc:
            log.error("cannot record attempt %s: %s", cc.attempt_id, _pj_text(exc))
            self._error(_("This call cannot be recorded: {error}").format(
                error=_pj_text(exc)))
            return
        cc.recorder = recorder
        cc.recording_started = time.monotonic()

    def _recording_path(self, attempt_id: int, at: datetime) -> Path:
        return (self._settings.recordings_dir / f"{at:%Y}" / f"{at:%m}" / f"{at:%d}"
                / f"attempt-{attempt_id}.wav")

    # --- commands --------------------------------------------------------------------------
    def _handle_commands(self) -> bool:
        while True:
            try:
                name, arg = self._commands.get_nowait()
            except queue.Empty:
                return False
            if name == "stop":
                return True
            try:
                getattr(self, f"_cmd_{name}")(arg)
            except CellcallError as exc:
                self._error(str(exc))
            except Exception as exc:  # pj.Error, database: the engine must keep running
                log.exception("%s failed", name)
                self._error(_("The telephone refused: {error}").format(error=_pj_text(exc)))

    def _cmd_operator(self, operator: Actor | None) -> None:
        self._operator = operator

    def _refuse(self, attempt_id: int, code: str, message: str) -> None:
        self._later(functools.partial(
            records.audit_refusal, actor_label=self._actor_label(),
            attempt_id=attempt_id, code=code, station_id=self.station_id),
            ev.EngineError(message))

    def _cmd_dial(self, attempt_id: int) -> None:
        cfg = self._settings.config
        if self._site_stop is not None:
            self._refuse(attempt_id, "site_stop", _(
                "Calls are stopped on the whole site until a supervisor lifts the stop."))
            return
        if self._customer is not None:
            self._refuse(attempt_id, "call_up", _("A call is already in progress."))
            return
        if not cfg.trunk_pattern:
            self._refuse(attempt_id, "no_trunk", _("This station cannot place calls: no "
                                                   "trunk is configured."))
            return
        if not self._agent.up:
            self._refuse(attempt_id, "agent_leg", _(
                "The phone is disconnected: no call can start until it is back."))
            return
        if cfg.registrar and not self._registered:
            self._refuse(attempt_id, "unregistered", _(
                "The PBX cannot be reached: the station is not registered. It keeps trying."))
            return
        free_mb = _free_mb(self._settings.recordings_dir)
        if free_mb is not None and free_mb < cfg.min_free_disk_mb:
            self._refuse(attempt_id, "disk", _(
                "Calls are stopped: the recordings disk is almost full ({free} MB free). "
                "Tell the site's administrator.").format(free=int(free_mb)))
            return
        target = records.begin_dial(engine=self.engine, attempt_id=attempt_id,
                                    station_id=self.station_id,
                                    operator_id=self._operator.user_id
                                    if self._operator is not None else None,
                                    actor_label=self._actor_label())
        if isinstance(target, records.DialRefusal):
            self._error(target.message)
            return
        self._place_call(target)

    def _place_call(self, target: records.DialTarget) -> None:
        cfg = self._settings.config
        caller = cfg.caller_id_for(target.campaign_slug)
        account = self._accounts.get(caller) if caller else None
        account = account or self._main_account
        call = _Call(account, self._sink, next(self._keys), "customer",
                     weakref.WeakMethod(self._on_media))
        cc = _CustomerCall(target.attempt_id, call, target.operator_login, time.monotonic())
        self._customer = cc
        self._calls[call.key] = call
        prm = pj.CallOpParam(True)
        prm.opt.audioCount = 1
        prm.opt.videoCount = 0
        if caller:
            _add_header(prm, "P-Asserted-Identity", f"<sip:{caller}@{self._domain}>")
        uri = self._with_transport(cfg.trunk_pattern.replace("{e164}", target.e164))
        try:
            call.makeCall(uri, prm)
        except pj.Error as exc:
            log.error("INVITE for attempt %s failed: %s", target.attempt_id, _pj_text(exc))
            cc.local_reason = ev.TECHNICAL_FAILURE
            self._calls.pop(call.key, None)
            self._end_customer(cc, None, _pj_text(exc))
            return
        self._emit(ev.CallProgress(target.attempt_id, ev.DIALING))

    def _cmd_hangup(self, _arg: object) -> None:
        cc = self._customer
        if cc is None or cc.local_reason is not None:
            return
        self._later(functools.partial(
            records.record_event, actor_label=cc.actor, action="hangup",
            target=f"attempt:{cc.attempt_id}", details={"state": cc.state}))
        self._hangup_local(cc, ev.OPERATOR_HANGUP)

    def _cmd_mute(self, muted: bool) -> None:
        cc = self._customer
        if cc is not None:
            cc.muted = muted
            self._apply_links(cc)

    def _cmd_hold(self, held: bool) -> None:
        cc = self._customer
        if cc is None or cc.state != ev.CONNECTED or cc.held == held:
            return
        prm = pj.CallOpParam(True)
        if held:
            cc.call.setHold(prm)
        else:
            prm.opt.flag = pj.PJSUA_CALL_UNHOLD
            cc.call.reinvite(prm)
        cc.held = held
        self._apply_links(cc)

    def _cmd_dtmf(self, digits: str) -> None:
        cc = self._customer
        if cc is None or cc.state != ev.CONNECTED:
            self._error(_("Digits can only be sent during a connected call."))
            return
        digits = digits.upper()
        if not digits or len(digits) > MAX_DTMF or not set(digits) <= DTMF_DIGITS:
            self._error(_("Only the digits 0-9, * and # can be sent."))
            return
        allowed = self.config.max_dtmf_digits_per_call
        if cc.dtmf_sent + len(digits) > allowed:
            # A long run of digits may be an outside number keyed through a switchboard.
            self._later(functools.partial(
                records.record_event, actor_label=cc.actor, action="dtmf.refused",
                target=f"attempt:{cc.attempt_id}",
                details={"digits": digits, "sent_before": cc.dtmf_sent, "allowed": allowed}))
            self._error(ngettext(
                "This call may take only {n} digit: ask a supervisor.",
                "This call may take only {n} digits: ask a supervisor.", allowed).format(
                    n=allowed))
            return
        cc.dtmf_sent += len(digits)
        self._later(functools.partial(
            records.record_event, actor_label=cc.actor, action="dtmf",
            target=f"attempt:{cc.attempt_id}", details={"digits": digits}))
        try:
            cc.call.dialDtmf(digits)
        except pj.Error:
            # The customer's side does not take RFC 2833 events: send SIP INFO instead.
            prm = pj.CallSendDtmfParam()
            prm.digits = digits
            prm.method = pj.PJSUA_DTMF_METHOD_SIP_INFO
            cc.call.sendDtmf(prm)

    # --- callback events -------------------------------------------------------------------
    def _handle_callbacks(self) -> None:
        for item in self._sink.pending():
            try:
                self._on_callback(item)
            except CellcallError as exc:
                self._error(str(exc))
            except Exception:
                log.exception("handling %s failed", item[0])

    def _on_callback(self, item: tuple[Any, ...]) -> None:
        kind = item[0]
        if kind == "state":
            self._on_call_state(item[1], item[2], item[3], item[4])
        elif kind == "incoming":
            self._incoming(item[1], item[2], item[3])
        elif kind == "invite_result":
            self._on_invite_result(item[1], item[2])
        elif kind == "monitor_mode":
            self._on_monitor_mode(item[1])
        elif kind == "reg":
            self._on_reg_state(item[1], item[2], item[3])
        elif kind in ("refer", "replace", "redirect"):
            cc = self._customer
            attempt = cc.attempt_id if cc is not None and cc.call.key == item[1] else None
            action = {"refer": "call.transfer.refused", "replace": "call.replace.refused",
                      "redirect": "call.redirect.refused"}[kind]
            self._later(functools.partial(
                records.record_event, actor_label=self._actor_label(),
                action=action, target=f"attempt:{attempt}",
                details={"to": item[2] if len(item) > 2 else ""}))

    def _refuse_incoming(self, call: _Call, reason: str = "unsigned") -> None:
        """Refuse an incoming call with 403, audited (by the outbox: a flood of INVITEs
        must not stall the SIP stack)."""
        self._calls[call.key] = call
        try:
            remote = str(call.getInfo().remoteUri)[:200]
        except pj.Error:
            remote = ""
        prm = pj.CallOpParam(True)
        prm.statusCode = 403
        try:
            call.hangup(prm)
        except pj.Error as exc:
            log.warning("refusing an incoming call: %s", _pj_text(exc))
        self._later(functools.partial(
            records.record_event, actor_label=self._settings.station_label,
            action="call.incoming.refused", target="incoming",
            details={"from": remote, "status": 403, "reason": reason}))

    # --- monitor calls: the station's side -------------------------------------------------
    def _check_token(self, token: str, source: str) -> monitor_token.MonitorClaims | str:
        """The claims of a token good for our connected customer call, or why not."""
        key = self._monitor_key
        if key is None:
            return "no_key"
        if not _is_loopback(source.rpartition(":")[0]):
            return "not_loopback"
        try:
            claims = monitor_token.verify(key, token)
        except monitor_token.TokenError as exc:
            return exc.code
        now = time.time()
        for nonce, expires in list(self._used_nonces.items()):
            if expires < now:
                del self._used_nonces[nonce]
        if claims.nonce in self._used_nonces:
            return "replayed"
        if self.station_id is None or claims.station_id != self.station_id:
            return "other_station"
        cc = self._customer
        if (cc is None or cc.state != ev.CONNECTED or cc.local_reason is not None
                or claims.attempt_id != cc.attempt_id):
            return "other_call"
        self._used_nonces[claims.nonce] = claims.expires + 1.0
        return claims

    def _incoming(self, call: _Call, token: str, source: str) -> None:
        """Only a supervisor's monitor call with a valid token for our call gets in."""
        if not token:
            self._refuse_incoming(call)
            return
        checked = self._check_token(token, source)
        if isinstance(checked, str):
            self._refuse_incoming(call, checked)
            return
        if self._monitor_in is not None:
            self._refuse_incoming(call, "already_monitored")
            return
        if not records.monitor_session_open(self.engine, monitor_id=checked.monitor_id,
                                            station_id=checked.station_id,
                                            attempt_id=checked.attempt_id):
            self._refuse_incoming(call, "session_closed")
            return
        self._calls[call.key] = call
        call.role = "monitor_in"
        self._monitor_in = _MonitorIn(call, checked.monitor_id, checked.attempt_id,
                                      checked.mode, checked.supervisor)
        prm = pj.CallOpParam(True)
        prm.statusCode = 200
        prm.opt.audioCount = 1
        prm.opt.videoCount = 0
        try:
            call.answer(prm)
        except pj.Error as exc:
            log.warning("answering a monitor call: %s", _pj_text(exc))
            self._end_monitor_in("answer failed")
            return
        self._later(functools.partial(
            records.record_event, actor_label=checked.supervisor, action="monitor.connected",
            target=f"attempt:{checked.attempt_id}",
            details={"monitor_id": checked.monitor_id, "mode": checked.mode,
                     "station_id": self.station_id}))

    def _on_reinvite(self, call: _Call, message: str, source: str) -> int:
        """A re-INVITE (in pjsua's callback): a monitor call changes mode only with a
        fresh token for the same session; anything else keeps its media as it was."""
        mon = self._monitor_in
        if mon is None or call is not mon.call:
            return 200
        token = monitor_token.header_value(message)
        if not token:
            return 200  # a refresh: the mode stays
        checked = self._check_token(token, source)
        if isinstance(checked, str) or checked.monitor_id != mon.monitor_id \
                or checked.supervisor != mon.supervisor:
            code = checked if isinstance(checked, str) else "other_session"
            self._later(functools.partial(
                records.record_event, actor_label=mon.supervisor,
                action="monitor.mode.refused", target=f"attempt:{mon.attempt_id}",
                details={"monitor_id": mon.monitor_id, "reason": code}))
            return 488
        mon.mode = checked.mode
        self._sink.put(("monitor_mode", call.key))
        return 200

    def _on_monitor_mode(self, key: int) -> None:
        mon, cc = self._monitor_in, self._customer
        if mon is None or mon.call.key != key:
            return
        if cc is not None:
            self._apply_links(cc)
        self._emit(ev.MonitorChanged(True, mon.mode))

    def _end_monitor_in(self, reason: str, *, hang_up: bool = True) -> None:
        mon = self._monitor_in
        if mon is None:
            return
        self._monitor_in = None
        if hang_up:
            with contextlib.suppress(pj.Error):
                mon.call.hangup(pj.CallOpParam(True))
        self._later(functools.partial(
            records.close_monitor, monitor_id=mon.monitor_id,
            actor_label=self._settings.station_label, reason=reason),
            ev.MonitorChanged(False, None))

    # --- monitor calls: the supervisor's side ----------------------------------------------
    def _cmd_monitor(self, ticket: MonitorTicket) -> None:
        account = self._loopback_account
        if account is None:
            self._error(_("The telephone cannot place monitor calls."))
            return
        if not _is_loopback(_host_of(ticket.target_uri)) \
                or ticket.target_uri == self.monitor_uri:
            self._error(_("This station cannot be listened to from here."))
            return
        self._hangup_monitor_out()
        call = _Call(account, self._sink, next(self._keys), "monitor_out",
                     weakref.WeakMethod(self._on_media))
        prm = pj.CallOpParam(True)
        prm.opt.audioCount = 1
        prm.opt.videoCount = 0
        _add_header(prm, monitor_token.TOKEN_HEADER, ticket.token)
        mon = _MonitorOut(call, ticket.monitor_id, ticket.station_name, ticket.mode)
        self._monitor_out = mon
        self._calls[call.key] = call
        try:
            call.makeCall(ticket.target_uri, prm)
        except pj.Error as exc:
            self._calls.pop(call.key, None)
            self._monitor_out = None
            self._later(functools.partial(
                records.close_monitor, monitor_id=ticket.monitor_id,
                actor_label=self._actor_label(), reason="call failed"),
                ev.MonitorStateChanged(False, None, ticket.station_name, ticket.monitor_id,
                                       _pj_text(exc)))

    def _cmd_monitor_mode(self, arg: tuple[str, MonitorTicket | None]) -> None:
        mode, ticket = arg
        mon = self._monitor_out
        if mon is None or not mon.connected:
            self._error(_("You are not listening to any call."))
            return
        if ticket is None or ticket.monitor_id != mon.monitor_id or ticket.mode != mode:
            self._error(_("The mode cannot change without a new ticket from the "
                          "monitoring service."))
            return
        prm = pj.CallOpParam(True)
        prm.opt.audioCount = 1
        prm.opt.videoCount = 0
        _add_header(prm, monitor_token.TOKEN_HEADER, ticket.token)
        mon.pending = ticket
        try:
            mon.call.reinvite(prm)
        except pj.Error as exc:
            mon.pending = None
            self._error(_("The mode could not change: {error}").format(error=_pj_text(exc)))

    def _on_invite_result(self, key: int, status: int) -> None:
        mon = self._monitor_out
        if mon is None or mon.call.key != key or mon.pending is None:
            return
        ticket, mon.pending = mon.pending, None
        if 200 <= status < 300:
            mon.mode = ticket.mode
        else:
            # One sentence per mode: the mode is a word of the sentence, in its language.
            self._error({
                "listen": _("The station refused the new mode; you are still listening."),
                "whisper": _("The station refused the new mode; you are still whispering."),
                "barge": _("The station refused the new mode; you are still in the call "
                           "(barge)."),
            }.get(str(mon.mode), _("The station refused the new mode.")))
        self._emit(ev.MonitorStateChanged(True, mon.mode, mon.station_name, mon.monitor_id))

    def _cmd_monitor_stop(self, _arg: object) -> None:
        self._hangup_monitor_out()

    def _hangup_monitor_out(self) -> None:
        mon = self._monitor_out
        if mon is None or mon.ending:
            return
        mon.ending = True
        with contextlib.suppress(pj.Error):
            mon.call.hangup(pj.CallOpParam(True))

    # --- recordings played on the supervisor's audio -------------------------------------
    def _cmd_play(self, attempt_id: int) -> None:
        operator = self._operator
        if operator is None or operator.role not in (Role.SUPERVISOR, Role.ADMIN):
            self._error(_("Only a supervisor can play recordings."))
            return
        self._stop_playback()
        sink = self._agent.sink
        if sink is None and self._agent.mode == "null":
            sink = self._ep.audDevManager().getPlaybackDevMedia()  # the null device
        if sink is None or not self._agent.up:
            self._error(_("Your phone is disconnected: the recording cannot be played."))
            return
        # Allowed and audited by the quality service; the path comes from the row.
        path = records.recording_for_playback(
            self.engine, attempt_id=attempt_id, actor=operator,
            recordings_root=self._settings.recordings_dir)
        info = _wav_info(path)
        if info is None:
            self._error(_("This recording cannot be read."))
            return
        player = pj.AudioMediaPlayer()
        player.createPlayer(str(path), pj.PJMEDIA_FILE_NO_LOOP)
        player.startTransmit(sink)
        self._playback = _Playback(attempt_id, player, sink, info[0], info[1],
                                   moved_at=time.monotonic())
        self._playback_progress(force=True)

    def _cmd_playback_pause(self, paused: bool) -> None:
        pb = self._playback
        if pb is None or pb.paused == paused:
            return
        if paused:
            pb.player.stopTransmit(pb.sink)
            pb.paused_at = int(pb.player.getPos())
        else:
            pb.player.setPos(pb.paused_at)
            pb.player.startTransmit(pb.sink)
            pb.moved_at = time.monotonic()
        pb.paused = paused
        self._playback_progress(force=True)

    def _cmd_playback_skip(self, seconds: float) -> None:
        pb = self._playback
        if pb is None:
            return
        total = int(pb.duration_s * pb.rate)
        current = pb.paused_at if pb.paused else int(pb.player.getPos())
        target = max(0, min(total - 1, current + int(seconds * pb.rate)))
        pb.player.setPos(target)
        pb.paused_at = target
        pb.moved_at = time.monotonic()
        pb.last_pos = -1
        self._playback_progress(force=True, position=target)

    def _cmd_playback_stop(self, _arg: object) -> None:
        self._stop_playback()

    def _stop_playback(self) -> None:
        pb, self._playback = self._playback, None
        if pb is None:
            return
        with contextlib.suppress(pj.Error):
            pb.player.stopTransmit(pb.sink)
        self._emit(ev.PlaybackEnded(pb.attempt_id))

    def _playback_progress(self, *, force: bool = False, position: int | None = None) -> None:
        pb = self._playback
        if pb is None:
            return
        now = time.monotonic()
        pos = position if position is not None else (
            pb.paused_at if pb.paused else int(pb.player.getPos()))
        if not pb.paused:
            # The player stops where the file ends (no loop): its end, or no progress for
            # a while (a file shorter than its header says).
            if pos != pb.last_pos:
                pb.last_pos, pb.moved_at = pos, now
            if pos >= int(pb.duration_s * pb.rate) - pb.rate // 50 \
                    or now - pb.moved_at > PLAYBACK_STALL_S:
                self._stop_playback()
                return
        if force or now >= pb.next_progress:
            pb.next_progress = now + PLAYBACK_PROGRESS_S
            self._emit(ev.PlaybackProgress(pb.attempt_id, round(pos / pb.rate, 2),
                                           pb.duration_s, pb.paused))

    # --- the site stop ---------------------------------------------------------------------
    def _poll_site_stop(self) -> None:
        try:
            stop = records.active_site_stop(self.engine)
        except Exception:
            if not self._stop_poll_failing:  # once per outage, not four times a second
                log.exception("reading the site stop failed")
            self._stop_poll_failing = True
            return
        self._stop_poll_failing = False
        was, self._site_stop = self._site_stop, stop
        if (stop is None) != (was is None):
            self._emit(ev.SiteStopChanged(stop is not None, stop[1] if stop else ""))
        cc = self._customer
        if stop is not None and cc is not None and cc.local_reason is None:
            self._hangup_local(cc, ev.SITE_STOP)
            # The row now, without waiting for the far end's answer to the BYE.
            self._end_customer(cc, None, "site stop")

    def _on_reg_state(self, code: int, reason: str, expiration: int) -> None:
        registered = 200 <= code < 300 and expiration > 0
        text = f"{code} {reason}".strip()
        if not 200 <= code < 300 and not self._stopping:
            cfg = self._settings.config
            wait = self._reg_backoff
            self._reg_retry_at = time.monotonic() + wait
            self._reg_backoff = min(wait * 2, float(cfg.register_retry_s))
            self._registered = False
            self._emit(ev.RegistrationChanged(False, text, retry_in_s=wait))
            return
        if registered:
            self._reg_backoff = float(self._settings.config.register_retry_first_s)
            self._reg_retry_at = None
        if registered != self._registered:
            self._registered = registered
            self._emit(ev.RegistrationChanged(registered, text))

    def _on_call_state(self, key: int, state: int, status: int, reason: str) -> None:
        call = self._calls.get(key)
        if call is None:
            return
        mon_in, mon_out = self._monitor_in, self._monitor_out
        if mon_in is not None and call is mon_in.call:
            if state == pj.PJSIP_INV_STATE_CONFIRMED:
                self._emit(ev.MonitorChanged(True, mon_in.mode))
            elif state == pj.PJSIP_INV_STATE_DISCONNECTED:
                self._calls.pop(key, None)
                self._end_monitor_in("supervisor hung up", hang_up=False)
            return
        if mon_out is not None and call is mon_out.call:
            if state == pj.PJSIP_INV_STATE_CONFIRMED and not mon_out.connected:
                mon_out.connected = True
                self._emit(ev.MonitorStateChanged(True, mon_out.mode, mon_out.station_name,
                                                  mon_out.monitor_id))
            elif state == pj.PJSIP_INV_STATE_DISCONNECTED:
                self._calls.pop(key, None)
                self._monitor_out = None
                if status == 403:
                    why = _("The station refused to be listened to.")
                elif mon_out.connected or mon_out.ending:
                    why = ""
                else:
                    why = f"{status} {reason}".strip()
                # Closed from this side too: a refused or broken call ends the session
                # even when the station never saw it.
                self._later(functools.partial(
                    records.close_monitor, monitor_id=mon_out.monitor_id,
                    actor_label=self._actor_label(),
                    reason="refused" if status == 403 else "monitor call ended"),
                    ev.MonitorStateChanged(False, None, mon_out.station_name,
                                           mon_out.monitor_id, why))
            return
        cc = self._customer
        if cc is not None and call is cc.call:
            self._customer_state(cc, state, status, reason)
        elif call.role == "agent":
            if state == pj.PJSIP_INV_STATE_CONFIRMED:
                self._agent.backoff = AGENT_RETRY_FIRST_S
                self._agent.retry_at = None
                self._agent_up(True, "desk_phone")
            elif state == pj.PJSIP_INV_STATE_DISCONNECTED:
                self._calls.pop(key, None)
                if call is self._agent.call:
                    self._agent_down(f"{status} {reason}".strip())
        elif state == pj.PJSIP_INV_STATE_DISCONNECTED:
            self._calls.pop(key, None)

    def _customer_state(self, cc: _CustomerCall, state: int, status: int,
                        reason: str) -> None:
        if state == pj.PJSIP_INV_STATE_EARLY and cc.state == ev.DIALING:
            cc.state = ev.RINGING
            self._later(functools.partial(records.mark_ringing, attempt_id=cc.attempt_id),
                        ev.CallProgress(cc.attempt_id, ev.RINGING))
        elif state == pj.PJSIP_INV_STATE_CONFIRMED and cc.state != ev.CONNECTED:
            cc.state = ev.CONNECTED
            cc.connected_at = time.monotonic()
            cc.answered_at = utcnow()
            cc.recording_path = self._recording_path(cc.attempt_id, cc.answered_at)
            if cc.local_reason is None:
                self._start_recorder(cc)
                self._apply_links(cc)
            self._later(functools.partial(records.mark_connected, attempt_id=cc.attempt_id,
                                          answered_at=cc.answered_at,
                                          recording_path=str(cc.recording_path)),
                        ev.CallProgress(cc.attempt_id, ev.CONNECTED))
        elif state == pj.PJSIP_INV_STATE_DISCONNECTED:
            self._calls.pop(cc.call.key, None)
            self._end_customer(cc, status or None, reason)

    def _hangup_local(self, cc: _CustomerCall, reason: str) -> None:
        if cc.local_reason is None:
            cc.local_reason = reason
        cc.hangup_at = time.monotonic()
        try:
            cc.call.hangup(pj.CallOpParam(True))
        except pj.Error as exc:
            log.warning("hang-up of attempt %s: %s", cc.attempt_id, _pj_text(exc))

    def _end_customer(self, cc: _CustomerCall, sip_status: int | None, reason: str) -> None:
        """Write the row and tell the listeners; the pjsua2 call may still be going."""
        if self._customer is not cc:
            return
        self._customer = None
        self._end_monitor_in("call ended")
        recorder, cc.recorder, cc.media = cc.recorder, None, None
        seconds: float | None = None
        path: str | None = None
        if recorder is not None:
            # The last reference: the destructor removes the port from the bridge, and the
            # bridge's clock thread then closes the file (asynchronously since pjsip 2.14).
            del recorder
            if cc.recording_path is not None and cc.recording_path.exists():
                seconds = self._finished_wav_seconds(cc.recording_path)
                if seconds is None and cc.recording_started is not None:
                    # The bridge has not closed the file yet (a loaded machine): its
                    # length is the time it recorded.
                    seconds = round(time.monotonic() - cc.recording_started, 2)
                path = str(cc.recording_path)
        result = classify_end(answered=cc.answered_at is not None, sip_status=sip_status,
                              local_reason=cc.local_reason, peer_responded=cc.call.responded)
        self._later(
            functools.partial(records.finish_call, attempt_id=cc.attempt_id,
                              actor_label=cc.actor, result=result.result,
                              counts_against_caps=result.counts_against_caps,
                              sip_status=sip_status, reason=reason, recording_path=path,
                              recording_seconds=seconds, ended_at=utcnow()),
            ev.CallEnded(cc.attempt_id, result.result, sip_status, reason),
            failure=_("The end of the call could not be saved; it will be closed at the "
                      "next start."))

    def _finished_wav_seconds(self, path: Path) -> float | None:
        deadline = time.monotonic() + WAV_CLOSE_WAIT_S
        while True:
            seconds = wav_seconds(path)
            if seconds is not None or time.monotonic() >= deadline:
                return seconds
            self._ep.libHandleEvents(POLL_MS)

    # --- timers ----------------------------------------------------------------------------
    def _tick(self, now: float) -> None:
        if now >= self._next_stop_poll:
            self._next_stop_poll = now + SITE_STOP_POLL_S
            self._poll_site_stop()
        if self._playback is not None:
            self._playback_progress()
        cfg = self._settings.config
        cc = self._customer
        if cc is not None:
            if cc.local_reason is not None:
                if cc.hangup_at is not None and now - cc.hangup_at > HANGUP_GRACE_S:
                    self._end_customer(cc, None, "no disconnect after hang-up")
            elif cc.connected_at is None:
                if not cc.call.responded and now - cc.started >= cfg.no_response_timeout_s:
                    self._hangup_local(cc, ev.TECHNICAL_FAILURE)
                elif now - cc.started >= cfg.ring_timeout_s:
                    self._hangup_local(cc, ev.NO_ANSWER)
            else:
                left = cfg.call_time_limit_s - (now - cc.connected_at)
                if left <= 0:
                    self._hangup_local(cc, ev.TIME_LIMIT)
                elif not cc.warned and left <= cfg.call_time_warning_s:
                    cc.warned = True
                    self._emit(ev.CallTimeWarning(cc.attempt_id, max(1, round(left))))
        if self._reg_retry_at is not None and now >= self._reg_retry_at:
            self._retry_registration()
        agent = self._agent
        if agent.mode == "desk_phone" and agent.call is None and agent.retry_at is not None \
                and now >= agent.retry_at:
            agent.retry_at = None
            self._call_desk_phone()

    def _retry_registration(self) -> None:
        self._reg_retry_at = None
        if self._main_account is None:
            return
        try:
            self._main_account.setRegistration(True)
        except pj.Error as exc:  # e.g. no route to the registrar: wait longer, try again
            self._on_reg_state(503, _pj_text(exc), 0)

    # --- shutdown --------------------------------------------------------------------------
    def _shutdown(self) -> None:
        self._stopping = True
        try:
            self._stop_playback()
            self._hangup_monitor_out()
            self._end_monitor_in("engine stopped")
            if self.station_id is not None and self.monitor_uri and \
                    self._monitor_key is not None:
                self._later(functools.partial(records.clear_monitor_uri,
                                              station_id=self.station_id,
                                              uri=self.monitor_uri))
            cc = self._customer
            if cc is not None:
                self._hangup_local(cc, ev.SITE_STOP)
            if self._agent.call is not None:
                with contextlib.suppress(pj.Error):
                    self._agent.call.hangup(pj.CallOpParam(True))
            deadline = time.monotonic() + SHUTDOWN_WAIT_S
            while self._calls and time.monotonic() < deadline:
                self._ep.libHandleEvents(POLL_MS)
                self._handle_callbacks()
            if self._customer is not None:
                self._end_customer(self._customer, None, "engine stopped")
            for account in [self._main_account, *self._accounts.values()]:
                if account is not None:
                    account.shutdown()
            if self._settings.config.registrar:
                deadline = time.monotonic() + 1.0
                while self._registered and time.monotonic() < deadline:
                    self._ep.libHandleEvents(POLL_MS)
                    self._handle_callbacks()
        except Exception:
            log.exception("error while stopping the SIP engine")

    def _destroy_library(self) -> None:
        agent = self._agent
        agent.player = agent.source = agent.sink = agent.call = None
        self._agent_recorder = None
        self._playback = None
        self._monitor_in = None
        self._monitor_out = None
        self._loopback_account = None
        self._customer = None
        self._calls.clear()
        self._main_account = None
        self._accounts.clear()
        self._sink.discard()  # the queued items may hold the calls being destroyed
        if self._ep is not None:
            try:
                self._ep.libDestroy(pj.PJSUA_DESTROY_NO_NETWORK)
            except pj.Error as exc:
                log.error("libDestroy: %s", _pj_text(exc))
            self._ep = None
        self._writer = None

    # --- helpers ---------------------------------------------------------------------------
    def _with_transport(self, uri: str) -> str:
        transport = self._settings.config.transport
        if transport == "udp" or ";transport=" in uri.lower():
            return uri
        return f"{uri};transport={transport}"


def _link(source: Any, sink: Any, on: bool) -> None:
    if source is None or sink is None:
        return
    try:
        if on:
            source.startTransmit(sink)
        else:
            source.stopTransmit(sink)
    except pj.Error as exc:
        log.debug("conference link: %s", _pj_text(exc))


def _add_header(prm: Any, name: str, value: str) -> None:
    header = pj.SipHeader()
    header.hName = name
    header.hValue = value
    prm.txOption.headers.append(header)


def _host_of(uri: str) -> str:
    if not uri:
        return ""
    rest = uri.split(":", 1)[1] if ":" in uri else uri
    return rest.split("@")[-1].split(";")[0].split(":")[0].strip("<>")


def _wav_info(path: Path) -> tuple[int, float] | None:
    """Sample rate and length (s) of a WAV file, or None."""
    import wave

    try:
        with wave.open(str(path), "rb") as wav:
            rate, frames = wav.getframerate(), wav.getnframes()
    except (OSError, EOFError, wave.Error):
        return None
    return (rate, round(frames / rate, 2)) if rate and frames else None


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _free_mb(directory: Path) -> float | None:
    path = directory
    while not path.exists() and path != path.parent:
        path = path.parent
    try:
        return shutil.disk_usage(path).free / 1_000_000
    except OSError:
        return None


def _pj_text(exc: BaseException) -> str:
    info = getattr(exc, "info", None)
    if callable(info):
        try:
            return str(info())
        except Exception:
            return str(exc)
    return str(exc)

"""The simulated line: a local SIP peer that plays the demo contacts' callees.

    python -m cellcall.telephony.simline --db URL [--port N] [--record-dir DIR] ...

Its own process with its own pjsua2 endpoint on 127.0.0.1. For each INVITE it reads the
dialled number (the request's user part, E.164), looks up ``contacts.demo_behaviour``:

* ``answer``: 180, then 200 after ``--ring-seconds``; plays ``--prompt`` in a loop;
* ``busy``: 486;
* ``no_answer``: 180 and never answers (the caller gives up);
* ``hangup``: answers like ``answer``, then hangs up after ``--hangup-after`` seconds;
* ``wrong_number``: 404, ``failure``: 503 (for tests; imports do not offer them);
* a contact without a behaviour is answered; a number no contact has gets 404.

With ``--record-dir`` it records what it hears on each answered call to
``<dir>/<digits>-<n>.wav`` (the tests check the agent's tone in it). It prints
``LISTENING host:port`` once it accepts calls, and exits on SIGTERM or when the process
given by ``--parent-pid`` is gone. ``SimulatedLine`` runs it as a child process.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import os
import re
import select
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import pjsua2 as pj
from sqlalchemy.engine import Engine
from sqlmodel import col
from sqlmodel import select as sql_select

from cellcall.db import make_engine, read_session
from cellcall.errors import CellcallError
from cellcall.i18n import _
from cellcall.models.contacts import Contact
from cellcall.telephony.pjlib import (
    CallbackSink,
    LogToPython,
    endpoint_config,
    media_transport_config,
    quiet_pjlib,
    set_codec_priorities,
)
from cellcall.telephony.prompts import CALLEE_PROMPT, prompt

log = logging.getLogger("cellcall.telephony.simline")

BEHAVIOURS = ("answer", "busy", "no_answer", "hangup", "wrong_number", "failure")
_REFUSALS = {"busy": 486, "wrong_number": 404, "failure": 503}
_USER_RE = re.compile(r"sips?:([^@;>]+)@")
READY_PREFIX = "LISTENING "


def dialled_number(uri: str) -> str:
    """The user part of a SIP URI, unescaped ('sip:%2B33...@h' -> '+33...')."""
    match = _USER_RE.search(uri)
    return urllib.parse.unquote(match.group(1)) if match else ""


def behaviour_of(engine: Engine, number: str) -> str | None:
    """The demo behaviour of the contact with this number; None when nobody has it."""
    with read_session(engine) as session:
        rows = session.exec(sql_select(Contact.demo_behaviour).where(
            col(Contact.phone_e164) == number).limit(20)).all()
    if not rows:
        return None
    known = [b for b in rows if b in BEHAVIOURS]
    return known[0] if known else "answer"


class _SimCall(pj.Call):  # type: ignore[misc]
    def __init__(self, account: Any, sink: CallbackSink, key: int,
                 media_handler: weakref.WeakMethod[Callable[[_SimCall], None]],
                 call_id: int) -> None:
        super().__init__(account, call_id)
        self.sink = sink
        self.key = key
        self._media_handler = media_handler

    def onCallState(self, prm: Any) -> None:
        self.sink.put(("state", self.key, self.getInfo().state))

    def onCallMediaState(self, prm: Any) -> None:
        handler = self._media_handler()
        if handler is not None:
            handler(self)

    def onDtmfDigit(self, prm: Any) -> None:
        self.sink.put(("dtmf", self.key, str(prm.digit)))


class _SimAccount(pj.Account):  # type: ignore[misc]
    def __init__(self, sink: CallbackSink,
                 media_handler: weakref.WeakMethod[Callable[[_SimCall], None]]) -> None:
        super().__init__()
        self.sink = sink
        self.keys = itertools.count(1)
        self.media_handler = media_handler

    def onIncomingCall(self, prm: Any) -> None:
        call = _SimCall(self, self.sink, next(self.keys), self.media_handler, prm.callId)
        self.sink.put(("incoming", call))


@dataclass(eq=False)
class _Callee:
    call: _SimCall
    number: str
    behaviour: str
    answer_at: float | None = None
    bye_at: float | None = None
    answered: bool = False
    recorder: Any = None


class SimulatedLineServer:
    """The line itself (runs in the calling thread until ``stop``)."""

    def __init__(self, *, engine: Engine, port: int = 0, bind: str = "127.0.0.1",
                 record_dir: Path | None = None, prompt_wav: Path | None = None,
                 ring_seconds: float = 1.0, hangup_after: float = 4.0,
                 log_level: int = 1) -> None:
        self.engine = engine
        self.port = port
        self.bind = bind
        self.record_dir = record_dir
        self.prompt_wav = prompt_wav or prompt(CALLEE_PROMPT)
        self.ring_seconds = ring_seconds
        self.hangup_after = hangup_after
        self.log_level = log_level
        self._stop = threading.Event()
        self._sink = CallbackSink()
        self._callees: dict[int, _Callee] = {}
        self._recordings = itertools.count(1)
        self._player: Any = None

    def stop(self) -> None:
        self._stop.set()

    def run(self, on_ready: Callable[[str, int], None],
            keep_running: Callable[[], bool] = lambda: True) -> None:
        quiet_pjlib()
        ep = pj.Endpoint()
        ep.libCreate()
        writer = LogToPython()
        ep.libInit(endpoint_config(log_level=self.log_level, writer=writer, clock_rate=8000))
        ep.audDevManager().setNullDev()
        tc = pj.TransportConfig()
        tc.boundAddress = self.bind
        tc.port = self.port
        tid = ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tc)
        host, _sep, port = str(ep.transportGetInfo(tid).localName).rpartition(":")
        ep.libStart()
        set_codec_priorities(ep, ("PCMA", "PCMU"))
        acfg = pj.AccountConfig()
        acfg.idUri = f"sip:simline@{self.bind}"
        acfg.sipConfig.transportId = tid
        acfg.mediaConfig.transportConfig = media_transport_config(self.bind)
        acfg.mediaConfig.lockCodecEnabled = False
        account = _SimAccount(self._sink, weakref.WeakMethod(self._on_media))
        account.create(acfg, True)
        self._player = pj.AudioMediaPlayer()
        self._player.createPlayer(str(self.prompt_wav), 0)
        on_ready(host, int(port))
        try:
            while not self._stop.is_set() and keep_running():
                ep.libHandleEvents(10)
                self._handle_events()
                self._tick(time.monotonic())
        finally:
            ep.hangupAllCalls()
            deadline = time.monotonic() + 2.0
            while self._callees and time.monotonic() < deadline:
                ep.libHandleEvents(10)
                self._handle_events()
            for callee in self._callees.values():
                callee.recorder = None
            self._callees.clear()
            self._player = None
            account.shutdown()
            del account
            ep.libDestroy(pj.PJSUA_DESTROY_NO_NETWORK)
            del ep

    def _handle_events(self) -> None:
        for item in self._sink.pending():
            try:
                if item[0] == "incoming":
                    self._incoming(item[1])
                elif item[0] == "state":
                    self._state(item[1], item[2])
                elif item[0] == "dtmf":
                    callee = self._callees.get(item[1])
                    log.info("DTMF %s from the caller of %s", item[2],
                             callee.number if callee else "?")
            except pj.Error as exc:
                log.warning("simulated line: %s", exc.info())

    def _incoming(self, call: _SimCall) -> None:
        number = dialled_number(str(call.getInfo().localUri))
        behaviour = behaviour_of(self.engine, number) if number else None
        callee = _Callee(call, number, behaviour or "unknown")
        self._callees[call.key] = callee
        log.info("call to %s: %s", number, callee.behaviour)
        if behaviour is None:
            self._respond(call, 404)
        elif behaviour in _REFUSALS:
            self._respond(call, _REFUSALS[behaviour])
        else:
            self._respond(call, 180)
            if behaviour != "no_answer":
                callee.answer_at = time.monotonic() + self.ring_seconds

    @staticmethod
    def _respond(call: _SimCall, code: int) -> None:
        prm = pj.CallOpParam(True)
        prm.statusCode = code
        if code >= 300:
            call.hangup(prm)
        else:
            call.answer(prm)

    def _state(self, key: int, state: int) -> None:
        callee = self._callees.get(key)
        if callee is not None and state == pj.PJSIP_INV_STATE_DISCONNECTED:
            callee.recorder = None  # closes the WAV file
            del self._callees[key]

    def _tick(self, now: float) -> None:
        for callee in list(self._callees.values()):
            try:
                if callee.answer_at is not None and now >= callee.answer_at:
                    callee.answer_at = None
                    callee.answered = True
                    self._respond(callee.call, 200)
                    if callee.behaviour == "hangup":
                        callee.bye_at = now + self.hangup_after
                elif callee.bye_at is not None and now >= callee.bye_at:
                    callee.bye_at = None
                    callee.call.hangup(pj.CallOpParam(True))
            except pj.Error as exc:
                log.warning("simulated line: %s", exc.info())

    def _on_media(self, call: _SimCall) -> None:
        callee = self._callees.get(call.key)
        try:
            ci = call.getInfo()
            for mi in ci.media:
                if mi.type == pj.PJMEDIA_TYPE_AUDIO and mi.status == \
                        pj.PJSUA_CALL_MEDIA_ACTIVE:
                    media = call.getAudioMedia(mi.index)
                    self._player.startTransmit(media)
                    if self.record_dir is not None and callee is not None \
                            and callee.recorder is None:
                        self.record_dir.mkdir(parents=True, exist_ok=True)
                        digits = callee.number.lstrip("+") or "unknown"
                        path = self.record_dir / f"{digits}-{next(self._recordings)}.wav"
                        recorder = pj.AudioMediaRecorder()
                        recorder.createRecorder(str(path))
                        media.startTransmit(recorder)
                        callee.recorder = recorder
                    break
        except pj.Error as exc:
            log.warning("simulated line media: %s", exc.info())


# --- the child process ------------------------------------------------------------------------
def _parent_alive(pid: int | None) -> Callable[[], bool]:
    def alive() -> bool:
        if pid is None:
            return True
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    return alive


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cellcall.telephony.simline",
                                     description="cellcall's simulated SIP line (demo).")
    parser.add_argument("--db", required=True, help="database URL or SQLite path")
    parser.add_argument("--port", type=int, default=0, help="UDP port (0: any free port)")
    parser.add_argument("--bind", default="127.0.0.1")
    parser.add_argument("--record-dir", type=Path, default=None)
    parser.add_argument("--prompt", type=Path, default=None, help="WAV played to callers")
    parser.add_argument("--ring-seconds", type=float, default=1.0)
    parser.add_argument("--hangup-after", type=float, default=4.0)
    parser.add_argument("--parent-pid", type=int, default=None)
    parser.add_argument("--log-level", type=int, default=1)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s simline %(levelname)s %(message)s")
    url = args.db if "://" in args.db else f"sqlite:///{Path(args.db).resolve()}"
    server = SimulatedLineServer(
        engine=make_engine(url), port=args.port, bind=args.bind, record_dir=args.record_dir,
        prompt_wav=args.prompt, ring_seconds=args.ring_seconds,
        hangup_after=args.hangup_after, log_level=args.log_level)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_args: server.stop())

    def ready(host: str, port: int) -> None:
        print(f"{READY_PREFIX}{host}:{port}", flush=True)
        # Nothing more on stdout: the parent stopped reading the pipe.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)

    server.run(ready, keep_running=_parent_alive(args.parent_pid))
    return 0


class SimulatedLine:
    """Runs the simulated line as a child process and waits until it listens."""

    def __init__(self, db_url: str, *, port: int = 0, record_dir: Path | None = None,
                 prompt_wav: Path | None = None, ring_seconds: float = 1.0,
                 hangup_after: float = 4.0, log_file: Path | None = None) -> None:
        self.db_url = db_url
        self.port = port
        self.record_dir = record_dir
        self.prompt_wav = prompt_wav
        self.ring_seconds = ring_seconds
        self.hangup_after = hangup_after
        self.log_file = log_file
        self.address: tuple[str, int] | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def trunk_pattern(self) -> str:
        if self.address is None:
            raise CellcallError(_("The simulated line is not running."))
        return f"sip:{{e164}}@{self.address[0]}:{self.address[1]}"

    def start(self, timeout: float = 20.0) -> tuple[str, int]:
        args = [sys.executable, "-m", "cellcall.telephony.simline", "--db", self.db_url,
                "--port", str(self.port), "--ring-seconds", str(self.ring_seconds),
                "--hangup-after", str(self.hangup_after), "--parent-pid", str(os.getpid())]
        if self.record_dir is not None:
            args += ["--record-dir", str(self.record_dir)]
        if self.prompt_wav is not None:
            args += ["--prompt", str(self.prompt_wav)]
        log_handle = open(self.log_file, "ab") if self.log_file else None  # noqa: SIM115
        try:
            self._process = subprocess.Popen(
                args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=log_handle if log_handle else subprocess.DEVNULL,
                start_new_session=True)
        finally:
            if log_handle:
                log_handle.close()
        assert self._process.stdout is not None
        deadline = time.monotonic() + timeout
        line = b""
        while not line.endswith(b"\n"):
            remaining = deadline - time.monotonic()
            ready, _w, _x = select.select([self._process.stdout], [], [], max(0, remaining))
            chunk = os.read(self._process.stdout.fileno(), 200) if ready else b""
            if not chunk:
                self.stop()
                raise CellcallError(_("The simulated line did not start."))
            line += chunk
        text = line.decode("ascii", "replace").strip()
        if not text.startswith(READY_PREFIX):
            self.stop()
            raise CellcallError(_("The simulated line did not start."))
        host, _sep, port = text.removeprefix(READY_PREFIX).rpartition(":")
        self.address = (host, int(port))
        return self.address

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        if process.stdout is not None:
            process.stdout.close()

    def __enter__(self) -> SimulatedLine:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


if __name__ == "__main__":
    sys.exit(main())

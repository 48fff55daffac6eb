"""pjsua2 plumbing shared by the station engine and the simulated line.

pjlib prints to the process's stdout before any configuration applies, which would write
over a terminal UI; ``quiet_pjlib`` sets its log level to 0 first (pj_log_set_level is an
exported C symbol of the binding), and ``LogToPython`` sends pjsip's log to ``logging``.
"""

from __future__ import annotations

import ctypes
import logging
import math
import queue
import struct
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pjsua2 as pj

log = logging.getLogger("cellcall.telephony.pjsip")

_LEVELS = {0: logging.CRITICAL, 1: logging.ERROR, 2: logging.WARNING, 3: logging.INFO}


CallbackItem = tuple[Any, ...]
"""What a pjsua2 callback queues: its kind first ("state", "incoming", …), then its data."""


class CallbackSink:
    """pjsua2 callbacks only queue what happened; the owning thread handles it later, outside
    pjsip's locks. ``put`` may be called from any thread."""

    def __init__(self) -> None:
        self._items: queue.SimpleQueue[CallbackItem] = queue.SimpleQueue()

    def put(self, item: CallbackItem) -> None:
        self._items.put(item)

    def pending(self) -> Iterator[CallbackItem]:
        """Every item queued so far, oldest first, each taken off the queue."""
        while True:
            try:
                yield self._items.get_nowait()
            except queue.Empty:
                return

    def discard(self) -> None:
        """Drop what is queued (at shutdown: the items may hold calls being destroyed)."""
        for _item in self.pending():
            pass


def quiet_pjlib() -> None:
    """Silence pjlib's console output before ``libCreate`` (it logs at level 4 by default)."""
    try:
        from pjsua2 import _pjsua2

        ctypes.CDLL(_pjsua2.__file__).pj_log_set_level(0)
    except (ImportError, OSError, AttributeError):  # another build: accept the noise
        log.debug("pj_log_set_level is not available")


class LogToPython(pj.LogWriter):  # type: ignore[misc]
    """pjsip's log lines to the ``cellcall.telephony.pjsip`` logger (any thread)."""

    def write(self, entry: Any) -> None:
        level = _LEVELS.get(int(entry.level), logging.DEBUG)
        log.log(level, "%s", str(entry.msg).rstrip())


def endpoint_config(*, log_level: int, writer: LogToPython, clock_rate: int,
                    echo_canceller: bool = False) -> Any:
    """EpConfig for a pjsua2 endpoint driven by one application thread.

    threadCnt = 0: no pjsua worker thread; the owning thread polls ``libHandleEvents`` and
    every SIP callback runs on it. The media endpoint keeps its own RTP thread.
    """
    cfg = pj.EpConfig()
    cfg.uaConfig.threadCnt = 0
    cfg.uaConfig.mainThreadOnly = False
    cfg.uaConfig.userAgent = "cellcall"
    # Room for the customer call and the desk phone while refused calls are torn down.
    cfg.uaConfig.maxCalls = 16
    cfg.logConfig.level = log_level
    cfg.logConfig.consoleLevel = log_level
    cfg.logConfig.writer = writer
    cfg.logConfig.decor = 0
    cfg.medConfig.clockRate = clock_rate
    cfg.medConfig.sndClockRate = clock_rate
    cfg.medConfig.noVad = True
    if not echo_canceller:
        cfg.medConfig.ecTailLen = 0
    return cfg


def media_transport_config(bind_address: str) -> Any:
    """RTP sockets on the same address as SIP, on any free port."""
    tc = pj.TransportConfig()
    tc.boundAddress = bind_address
    tc.port = 0
    return tc


def set_codec_priorities(ep: Any, codecs: tuple[str, ...]) -> None:
    """Enable ``codecs`` in that order (prefix match, e.g. 'PCMA'), disable the others."""
    if not codecs:
        return
    wanted = [c.lower() for c in codecs]
    for info in ep.codecEnum2():
        codec_id = str(info.codecId)
        rank = next((i for i, c in enumerate(wanted) if codec_id.lower().startswith(c)), None)
        ep.codecSetPriority(codec_id, 0 if rank is None else 255 - rank)


def wav_seconds(path: Path) -> float | None:
    """Length of a finished WAV file in seconds, or None when it cannot be read."""
    try:
        with wave.open(str(path), "rb") as wav:
            rate = wav.getframerate()
            return round(wav.getnframes() / rate, 2) if rate else None
    except (OSError, EOFError, wave.Error):
        return None


def write_tone_wav(path: Path, *, freqs: tuple[float, ...], seconds: float,
                   rate: int = 8000, amplitude: float = 0.3,
                   envelope_hz: float = 0.0) -> None:
    """A 16-bit mono WAV of ``freqs`` mixed; ``envelope_hz`` > 0 shapes it into syllables
    (a rough stand-in for speech). A whole number of cycles keeps loops click-free."""
    frames = int(seconds * rate)
    peak = 32767 * amplitude / max(1, len(freqs))
    data = bytearray()
    for n in range(frames):
        t = n / rate
        value = sum(math.sin(2 * math.pi * f * t) for f in freqs)
        if envelope_hz:
            value *= max(0.0, math.sin(math.pi * envelope_hz * t)) ** 2
        data += struct.pack("<h", int(peak * value))
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(bytes(data))

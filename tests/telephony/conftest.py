"""Fixtures: a site in a real SQLite file, the real engine, sipp and the simulated line,
all on 127.0.0.1; every process started here is killed at the end of its test."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from cellcall.telephony.config import TelephonyConfig
from cellcall.telephony.engine import SipPhone
from cellcall.telephony.prompts import AGENT_TONE, CALLEE_TONE, prompt
from cellcall.telephony.simline import SimulatedLine
from telephony.monitor_support import site_cfg, start_station, supervisor  # noqa: F401
from telephony.support import EventLog, Site, free_port, make_site

SCENARIOS = Path(__file__).parent / "sipp"


@pytest.fixture
def site(engine: Engine) -> Site:
    return make_site(engine)


@dataclass
class PhoneHandle:
    phone: SipPhone
    events: EventLog
    config: TelephonyConfig


@pytest.fixture
def make_phone(site: Site, tmp_path: Path) -> Iterator[Callable[..., PhoneHandle]]:
    """Build and start the real engine; ``**overrides`` change the test configuration."""
    phones: list[SipPhone] = []

    def build(*, start: bool = True, operator: Any = None, **overrides: Any) -> PhoneHandle:
        config = TelephonyConfig(recordings_dir=str(tmp_path / "recordings"),
                                 agent_tone_wav=str(prompt(AGENT_TONE)),
                                 min_free_disk_mb=1, ring_timeout_s=10.0)
        config = replace(config, **overrides)
        phone = SipPhone(engine=site.engine, config=config, station_id=site.station_id,
                         operator=operator)
        events = EventLog()
        phone.subscribe(events)
        phones.append(phone)
        if start:
            phone.start()
            assert phone.wait_ready(), phone.failed
        return PhoneHandle(phone, events, config)

    yield build
    for phone in phones:
        phone.stop()
        assert not phone.running


class Sipp:
    """One sipp process (UAS or UAC) with its message trace."""

    def __init__(self, tmp_path: Path, name: str) -> None:
        self.tmp_path = tmp_path
        self.name = name
        self.port = free_port()
        self.media_port = free_port()
        self.messages = tmp_path / f"sipp-{name}-messages.log"
        self.errors = tmp_path / f"sipp-{name}-errors.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def uri_pattern(self) -> str:
        return f"sip:{{e164}}@127.0.0.1:{self.port}"

    def start(self, scenario: str, *args: str, remote: str | None = None,
              rtp_echo: bool = False, fill: dict[str, str] | None = None) -> Sipp:
        path = SCENARIOS / scenario
        if fill:  # sipp checks status codes when it loads the file: fill them in first
            text = path.read_text(encoding="utf-8")
            for key, value in fill.items():
                text = text.replace(f"@{key}@", value)
            path = self.tmp_path / f"{self.name}-{scenario}"
            path.write_text(text, encoding="utf-8")
        command = [
            "sipp", "-sf", str(path), "-i", "127.0.0.1",
            "-p", str(self.port), "-m", "1", "-nostdin", "-timeout", "40s",
            "-trace_msg", "-message_file", str(self.messages),
            "-trace_err", "-error_file", str(self.errors),
            "-mi", "127.0.0.1", "-mp", str(self.media_port), *args]
        if rtp_echo:
            command.append("-rtp_echo")
        if remote:
            command.append(remote)
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL, cwd=self.tmp_path)
        return self

    def wait(self, timeout: float = 30.0) -> int:
        assert self.process is not None
        return self.process.wait(timeout=timeout)

    def trace(self) -> str:
        return self.messages.read_text(errors="replace") if self.messages.exists() else ""

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


@pytest.fixture
def sipp(tmp_path: Path) -> Iterator[Callable[[str], Sipp]]:
    if shutil.which("sipp") is None:
        pytest.fail("sipp is not installed (apt-get install sip-tester)")
    started: list[Sipp] = []

    def make(name: str) -> Sipp:
        handle = Sipp(tmp_path, name)
        started.append(handle)
        return handle

    yield make
    for handle in started:
        handle.kill()


@pytest.fixture
def simline(site: Site, db_path: Path, tmp_path: Path) -> Iterator[SimulatedLine]:
    """The simulated line on the test database: plays 1 kHz, records what it hears."""
    line = SimulatedLine(f"sqlite:///{db_path}", record_dir=tmp_path / "callee",
                         prompt_wav=prompt(CALLEE_TONE), ring_seconds=0.3, hangup_after=1.5,
                         log_file=tmp_path / "simline.log")
    line.start()
    yield line
    line.stop()

"""Fixtures for monitor, site-stop and playback tests: station engines in processes of
their own (one pjsua2 Endpoint per process, as in production: one TUI process per
terminal), a supervisor's engine in the test process, the simulated line as the callee."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from cellcall.config import Config, DatabaseConfig
from cellcall.models.users import Role, Station, User
from cellcall.services.actors import Actor
from cellcall.telephony.config import TelephonyConfig
from cellcall.telephony.engine import SipPhone
from cellcall.telephony.monitor_token import key_path
from cellcall.telephony.pjlib import write_tone_wav
from cellcall.telephony.prompts import AGENT_TONE, prompt
from telephony.station_proc import StationProcess
from telephony.support import EventLog, Site

# Goertzel bins in tones.shares are 40 Hz apart: every test tone is a multiple of 40.
SUPERVISOR_HZ = 720.0
RECORDING_HZ = 880.0


@dataclass
class Supervisor:
    phone: SipPhone
    events: EventLog
    actor: Actor
    hears: Path


def site_config(tmp_path: Path, db_path: Path) -> Config:
    return Config(data_dir=tmp_path / "data", database=DatabaseConfig(url=str(db_path)))


def add_user(engine: Engine, login: str, role: str) -> Actor:
    with Session(engine) as s:
        user = User(login=login, display_name=login.title(), role=role, password_hash="x",
                    must_change_password=False)
        s.add(user)
        s.commit()
        return Actor(login=login, role=Role(role), user_id=user.id)


def add_station(engine: Engine, name: str) -> int:
    with Session(engine) as s:
        station = Station(name=name)
        s.add(station)
        s.commit()
        return station.id or 0


@pytest.fixture
def site_cfg(tmp_path: Path, db_path: Path) -> Config:
    return site_config(tmp_path, db_path)


@pytest.fixture
def start_station(site: Site, db_path: Path, tmp_path: Path,
                  site_cfg: Config) -> Iterator[Callable[..., StationProcess]]:
    """A station engine in its own process; ``hears`` records what its operator hears."""
    started: list[StationProcess] = []

    def start(*, station_id: int | None = None, trunk_pattern: str, name: str = "st",
              **overrides: Any) -> StationProcess:
        fields: dict[str, Any] = {
            "recordings_dir": str(tmp_path / "recordings"),
            "agent_tone_wav": str(prompt(AGENT_TONE)),
            "agent_record_wav": str(tmp_path / f"{name}-operator-hears.wav"),
            "min_free_disk_mb": 1, "ring_timeout_s": 10.0, "trunk_pattern": trunk_pattern}
        fields.update(overrides)
        process = StationProcess(
            db_url=f"sqlite:///{db_path}",
            station_id=site.station_id if station_id is None else station_id,
            key_file=key_path(site_cfg.data_dir), config=fields,
            log_file=tmp_path / f"{name}.log")
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


@pytest.fixture
def supervisor(site: Site, tmp_path: Path, site_cfg: Config) -> Iterator[Supervisor]:
    """The supervisor's engine (this process's one Endpoint): a 720 Hz voice, and a
    recording of everything the supervisor hears."""
    voice = tmp_path / "supervisor-720hz.wav"
    write_tone_wav(voice, freqs=(SUPERVISOR_HZ,), seconds=1.0)
    hears = tmp_path / "supervisor-hears.wav"
    tcfg = TelephonyConfig(recordings_dir=str(tmp_path / "recordings"),
                           agent_tone_wav=str(voice), agent_record_wav=str(hears),
                           min_free_disk_mb=1)
    actor = add_user(site.engine, "sup1", "supervisor")
    phone = SipPhone(engine=site.engine, config=tcfg, station_id=None,
                     station_label="supervisor:sup1",
                     monitor_key_file=key_path(site_cfg.data_dir))
    events = EventLog()
    phone.subscribe(events)
    phone.set_operator(actor)
    phone.start()
    assert phone.wait_ready(), phone.failed
    yield Supervisor(phone, events, actor, hears)
    phone.stop()
    assert not phone.running

"""Fixtures of the console's tests: the floor of 12 stations (``floor_world``), built once
per test process under a frozen clock and copied into each test's tmp_path."""

from __future__ import annotations

import dataclasses
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
from sqlmodel import col, select

from cellcall.config import load_config
from cellcall.db import make_engine, unit_of_work
from cellcall.models.calls import CallAttempt
from cellcall.models.users import User
from cellcall.services import schema
from floor_world import START, build_floor_world, cheap_passwords, world_config
from tui.phone_double import PhoneDouble
from tui.support import Site, copy_database, freeze_clock

# Two finished calls of poste-03's operator get a recording each (the engine's WAV files).
RECORDED_STATION_OPERATOR = "op03"
RECORDING_SECONDS = 30


@dataclass(frozen=True)
class FloorTemplate:
    db_path: Path
    recordings: Path
    now: datetime
    recorded: tuple[int, ...]


def _silent_wav(path: Path, seconds: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\0\0" * 8000 * seconds)


@pytest.fixture(scope="session")
def floor_template(tmp_path_factory: pytest.TempPathFactory) -> FloorTemplate:
    """The floor world, its users in English (the pictures must not move with the French
    catalogue), and two recorded calls."""
    folder = tmp_path_factory.mktemp("floor-template")
    db_path = folder / "floor.sqlite3"
    recordings = folder / "recordings"
    with pytest.MonkeyPatch.context() as mp:
        clock = freeze_clock(mp, START)
        cheap_passwords(mp)
        engine = make_engine(f"sqlite:///{db_path}")
        schema.init_schema(engine)
        world = build_floor_world(engine, clock)
        world.close()
        with unit_of_work(engine) as session:
            for user in session.exec(select(User)).all():
                user.ui_language = "en"
                user.must_change_password = False  # the supervisor too, like the operators
                session.add(user)
            operator = session.exec(select(User).where(
                User.login == RECORDED_STATION_OPERATOR)).one()
            calls = session.exec(select(CallAttempt).where(
                CallAttempt.operator_id == operator.id,
                col(CallAttempt.ended_at).is_not(None)).order_by(
                col(CallAttempt.id)).limit(2)).all()
            recorded = []
            for call in calls:
                path = recordings / f"attempt-{call.id}.wav"
                _silent_wav(path, RECORDING_SECONDS)
                call.recording_path = str(path)
                call.recording_seconds = float(RECORDING_SECONDS)
                session.add(call)
                recorded.append(int(call.id or 0))
        now = world.now
        engine.dispose()
    return FloorTemplate(db_path, recordings, now, tuple(recorded))


@pytest.fixture
def floor_site(floor_template: FloorTemplate, tmp_path: Path,
               monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    """A fresh copy of the floor world, the clock frozen where the world ends."""
    clock = freeze_clock(monkeypatch, floor_template.now)
    cheap_passwords(monkeypatch)
    db_path = tmp_path / "floor.sqlite3"
    copy_database(floor_template.db_path, db_path)
    config = world_config(load_config(None, db=str(db_path)))
    config = dataclasses.replace(
        config, data_dir=tmp_path,
        telephony=dataclasses.replace(config.telephony,
                                      recordings_dir=str(floor_template.recordings)))
    engine = make_engine(config.database_url)
    yield Site(db_path=db_path, config=config, engine=engine, phone=PhoneDouble(),
               clock=clock)
    engine.dispose()

"""Several processes: three operators, each in the real ``cellcall`` command in a terminal
of their own (tmux), on one SQLite database; the supervisor's floor (``floor_snapshot``
through the service, as the console reads it) shows each station's state within 2 s of
the station's screen showing it.

The site is ``floor_world``'s (operators op01–op11 assigned to poste-01–11, a campaign
callable around the clock); the site's hours are opened around the clock by the
configuration file, so the test runs at any hour. No telephony is configured: the
stations claim, preview, pause and log out, which is what the floor is about here.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlmodel import Session, col, select

from cellcall.config import Config, load_config
from cellcall.db import make_engine, read_session, run_write
from cellcall.models.users import Role, User
from cellcall.services import floor, schema
from cellcall.services.actors import Actor
from e2e.test_tmux_operator import Terminal, processes_using
from floor_world import PASSWORD, _site

pytestmark = pytest.mark.slow

STATIONS = ("poste-01", "poste-02", "poste-03")
FLOOR_DELAY = 2.0  # the promise: the floor shows a station's change within 2 s
CONFIG = """
[site]
timezone = "Europe/Paris"
working_hours = ["00:00", "24:00"]

[supervision]
heartbeat_seconds = 1.0
silent_after_seconds = 3.0
"""


class Floor:
    """The supervisor's view of the floor, read the way the console reads it."""

    def __init__(self, db: Path, config: Config) -> None:
        self.engine = make_engine(f"sqlite:///{db}")
        self.config = config
        with read_session(self.engine) as session:
            chef = session.exec(select(User).where(User.login == "chef")).one()
        self.actor = Actor(login="chef", role=Role.SUPERVISOR, user_id=chef.id)

    def states(self) -> dict[str, tuple[str, str | None, bool]]:
        with read_session(self.engine) as session:
            snapshot = floor.floor_snapshot(session=session, actor=self.actor,
                                            config=self.config)
        return {row.station_name: (row.state, row.operator_login, row.silent)
                for row in snapshot.stations if row.station_name in STATIONS}

    def shows(self, station: str, state: str, login: str | None) -> float:
        """Seconds until the floor shows ``station`` in ``state`` (fails after 2 s)."""
        start = time.monotonic()
        while True:
            seen = self.states()[station]
            if seen[:2] == (state, login) and not seen[2]:
                return time.monotonic() - start
            if time.monotonic() - start > FLOOR_DELAY:
                raise AssertionError(f"{station}: the floor shows {seen}, not {state} "
                                     f"({login}) {FLOOR_DELAY} s after its screen did")
            time.sleep(0.05)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[Path, Path, Config]]:
    db = tmp_path / "floor.sqlite3"
    engine = make_engine(f"sqlite:///{db}")
    schema.init_schema(engine)

    def build(session: Session) -> None:
        _site(session, ru_contacts=0, fr_contacts=30)

    run_write(engine, build)
    engine.dispose()
    config_file = tmp_path / "cellcall.toml"
    config_file.write_text(CONFIG, encoding="utf-8")
    yield db, config_file, load_config(config_file, db=str(db))
    # Whatever happened, no process of ours stays behind.
    deadline = time.monotonic() + 15
    while processes_using(str(db)) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid in processes_using(str(db)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, 9)


def start_station(tmp_path: Path, db: Path, config_file: Path,
                  station: str | None) -> Terminal:
    exe = Path(sys.executable).parent / "cellcall"
    env = {"CELLCALL_DATA_DIR": str(tmp_path), "CELLCALL_LANG": "en",
           "PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path),
           "TERM": "xterm-256color", "CELLCALL_STATION": ""}
    where = ["--station", station] if station else []
    return Terminal([str(exe), "--db", str(db), "--config", str(config_file), *where], env)


def log_in(term: Terminal, login: str) -> None:
    term.log_in(login, PASSWORD)


def row_of(screen: str, station: str) -> str:
    """The line of the supervisor's floor table that shows ``station``."""
    return next((line for line in screen.splitlines() if station in line), "")


def test_three_operator_sessions_appear_on_the_floor(
        site: tuple[Path, Path, Config], tmp_path: Path) -> None:
    db, config_file, config = site
    watcher = Floor(db, config)
    assert {s: v[0] for s, v in watcher.states().items()} == dict.fromkeys(
        STATIONS, "logged_out")
    # The supervisor's console too, in its own terminal (no station: a monitoring
    # terminal without telephony), in English.
    run_write(watcher.engine, lambda s: s.execute(
        update(User).where(col(User.login) == "chef").values(ui_language="en",
                                                              must_change_password=False)))
    terms: list[Terminal] = []
    try:
        console = start_station(tmp_path, db, config_file, None)
        terms.append(console)
        log_in(console, "chef")
        console.wait_for(lambda s: "Stations" in s and "poste-03" in s, "the floor")
        operators = [start_station(tmp_path, db, config_file, station) for station in STATIONS]
        terms.extend(operators)
        # Each operator logs in: a contact in preview (its number masked) on their screen.
        for n, term in enumerate(operators, start=1):
            log_in(term, f"op{n:02d}")
        for n, (term, station) in enumerate(zip(operators, STATIONS, strict=True), start=1):
            term.wait_for(lambda s: "••" in s and "f5" in s, f"{station} in preview")
            watcher.shows(station, "preview", f"op{n:02d}")
            console.wait_for(lambda s, at=station: "Preview" in row_of(s, at),  # type: ignore[misc]
                             f"{station} in preview on the console")

        # poste-02 pauses (a technical problem: no approval needed).
        operators[1].keys("F8")
        operators[1].wait_for(lambda s: "esc" in s and "f5" not in s, "the pause menu")
        operators[1].keys("Down", "Down", "Down", "Enter")
        operators[1].wait_for(lambda s: "f8" in s and "••" not in s, "poste-02 paused")
        watcher.shows("poste-02", "paused", "op02")
        console.wait_for(lambda s: "Paused (technical)" in row_of(s, "poste-02"),
                         "poste-02 paused on the console")

        # poste-03 logs out: the login screen again, and an empty station on the floor.
        operators[2].keys("F10")
        operators[2].wait_for(lambda s: "Password" in s and "Log in" in s, "poste-03 left")
        watcher.shows("poste-03", "logged_out", None)
        console.wait_for(lambda s: "Logged out" in row_of(s, "poste-03"),
                         "poste-03 empty on the console")

        # The stations still working keep their heartbeat: none turns silent.
        time.sleep(config.supervision.silent_after_seconds + 1)
        states = watcher.states()
        assert states["poste-01"] == ("preview", "op01", False)
        assert states["poste-02"] == ("paused", "op02", False)
    finally:
        for term in terms:
            term.kill()

"""What the TUI tests share: a demo database in tmp_path, the app built by ``build_app``,
a frozen clock, and small Pilot helpers.

The database is the real demo site (``ensure_demo_site``) in a real SQLite file, built
once per test process under the frozen clock and copied into each test's tmp_path. The
phone is ``PhoneDouble``: the app's edge, the only double these tests use.
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
import sqlite3
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from sqlalchemy.engine import Engine
from sqlmodel import select
from syrupy import SnapshotAssertion
from textual.app import App
from textual.pilot import Pilot
from textual.widget import Widget
from textual.widgets import DataTable, Input, OptionList, TextArea

import frozen_clock
from cellcall.config import Config, load_config
from cellcall.db import make_engine, read_session, unit_of_work
from cellcall.models.campaigns import Campaign
from cellcall.models.contacts import Contact
from cellcall.models.users import User
from cellcall.services import demo, schema
from cellcall.services.actors import SYSTEM
from cellcall.services.queue import ClaimedContact
from cellcall.services.workstation import StationState
from cellcall.tui.app import CellcallApp
from cellcall.tui.main import build_app
from frozen_clock import FrozenClock
from tui.phone_double import PhoneDouble

DEMO_PASSWORD = demo.DEMO_PASSWORD
STATION = demo.DEMO_STATION
# A Tuesday, 10:30 in Paris: inside every demo window and the appointment calendar's week.
FROZEN_AT = datetime(2026, 11, 17, 9, 30, tzinfo=UTC)


# --- the clock ---------------------------------------------------------------------------------
def freeze_clock(monkeypatch: pytest.MonkeyPatch, at: datetime = FROZEN_AT) -> FrozenClock:
    """Freeze ``utcnow`` at the TUI tests' moment (or at ``at``)."""
    return frozen_clock.freeze_clock(monkeypatch, at)


# --- the database -----------------------------------------------------------------------------
def _build_demo(path: Path) -> None:
    with pytest.MonkeyPatch.context() as mp:
        freeze_clock(mp)
        engine = make_engine(f"sqlite:///{path}")
        schema.init_schema(engine)
        demo.ensure_demo_site(engine=engine, actor=SYSTEM)
        engine.dispose()


def copy_database(source: Path, target: Path) -> None:
    """A consistent copy through SQLite's backup API (the source may be in WAL mode)."""
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    dst.close()
    src.close()


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo site, built once per test process."""
    path = tmp_path_factory.mktemp("demo-template") / "demo.sqlite3"
    _build_demo(path)
    return path


@dataclass
class Site:
    """One test's demo database, its configuration and its phone double."""

    db_path: Path
    config: Config
    engine: Engine
    phone: PhoneDouble
    clock: FrozenClock
    apps: list[CellcallApp] = field(default_factory=list)

    def app(self, *, idle_lock_seconds: float | None = None,
            station: str | None = STATION, supervisor_phone: Any = None) -> CellcallApp:
        app = build_app(config=self.config, engine=self.engine, station=station,
                        phone=self.phone, idle_lock_seconds=idle_lock_seconds,
                        supervisor_phone=supervisor_phone)
        self.apps.append(app)
        return app

    def configure(self, section: str, **values: Any) -> None:
        """Change configuration keys of ``section`` for the apps built afterwards."""
        current = getattr(self.config, section)
        self.config = dataclasses.replace(
            self.config, **{section: dataclasses.replace(current, **values)})

    def set_contact(self, contact_id: int, **values: Any) -> None:
        with unit_of_work(self.engine) as session:
            row = session.get(Contact, contact_id)
            assert row is not None
            for name, value in values.items():
                setattr(row, name, value)
            session.add(row)

    # Reading the database as it is now (each call its own read transaction).
    def rows(self, model: type[Any], *where: Any) -> list[Any]:
        with read_session(self.engine) as session:
            return list(session.exec(select(model).where(*where)).all())

    def one(self, model: type[Any], *where: Any) -> Any:
        rows = self.rows(model, *where)
        assert len(rows) == 1, f"expected one {model.__name__}, found {len(rows)}"
        return rows[0]

    def contact(self, contact_id: int) -> Contact:
        with read_session(self.engine) as session:
            row = session.get(Contact, contact_id)
            assert row is not None
            return row

    def user_id(self, login: str) -> int:
        user = self.one(User, User.login == login)
        assert user.id is not None
        return int(user.id)

    def campaign_id(self, slug: str) -> int:
        campaign = self.one(Campaign, Campaign.slug == slug)
        return int(campaign.id)

    def only_campaign(self, slug: str) -> None:
        """Close every other campaign, so that the queue gives contacts of ``slug`` only."""
        with unit_of_work(self.engine) as session:
            for campaign in session.exec(select(Campaign)).all():
                if campaign.slug != slug:
                    campaign.status = "closed"
                    session.add(campaign)


@pytest.fixture
def site(demo_template: Path, tmp_path: Path,
         monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    """A fresh copy of the demo database, the frozen clock, a phone double."""
    clock = freeze_clock(monkeypatch)
    db_path = tmp_path / "demo.sqlite3"
    copy_database(demo_template, db_path)
    config = load_config(None, db=str(db_path))
    # Pauses start at once in these tests, as they did before approvals existed; the tests
    # of the approval flow turn it back on (``site.configure``).
    config = dataclasses.replace(config, supervision=dataclasses.replace(
        config.supervision, pause_needs_approval=False))
    engine = make_engine(config.database_url)
    yield Site(db_path=db_path, config=config, engine=engine, phone=PhoneDouble(),
               clock=clock)
    engine.dispose()


# --- Pilot helpers ----------------------------------------------------------------------------
Scenario = Callable[[Pilot[Any]], Awaitable[None]]


def drive(app: App[Any], scenario: Scenario, *, size: tuple[int, int] = (100, 30)) -> None:
    """Run ``app`` headless at ``size`` and play ``scenario`` on it (no async plugin needed)."""

    async def main() -> None:
        async with app.run_test(size=size) as pilot:
            await scenario(pilot)

    asyncio.run(main())


async def wait_until(pilot: Pilot[Any], condition: Callable[[], object], what: str,
                     *, limit: float = 60.0) -> None:
    """Let the app run until ``condition()`` holds; ``limit`` only guards against a hang."""
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        await pilot.pause(0.02)


async def wait_for_screen(pilot: Pilot[Any], screen: type[Any], what: str) -> None:
    """Until ``screen`` is the active screen, composed and mounted (a pushed screen is on
    the stack at once, its widgets a moment later)."""
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, screen)
                     and pilot.app.screen.is_mounted, what)
    await settle(pilot)


async def settle(pilot: Pilot[Any]) -> None:
    """Let workers finish and the messages they posted be handled.

    A worker that failed is part of the app's normal life (a refused login, a refused
    outcome: the app shows it), so its exception is not this helper's business.
    """
    for _round in range(2):
        await asyncio.gather(*(worker.wait() for worker in list(pilot.app.workers)),
                             return_exceptions=True)
        await pilot.pause()


async def type_into(pilot: Pilot[Any], selector: str, text: str) -> None:
    """Focus an input and type, key by key, as the operator would."""
    widget = pilot.app.screen.query_one(selector)
    widget.focus()
    await pilot.pause()
    if text:
        await pilot.press(*[_key(c) for c in text])


def _key(char: str) -> str:
    names = {" ": "space", "/": "slash", ":": "colon", "-": "minus", ".": "full_stop",
             "'": "apostrophe", "@": "at", "[": "left_square_bracket",
             "]": "right_square_bracket"}
    return names.get(char, char)


async def fill(pilot: Pilot[Any], selector: str, text: str) -> None:
    """Focus an input and set its text at once (typing key by key costs ~70 ms a key)."""
    widget = pilot.app.screen.query_one(selector, Input)
    widget.focus()
    widget.value = text
    await pilot.pause()


async def log_in(pilot: Pilot[Any], login: str, password: str = DEMO_PASSWORD,
                 *, typed: bool = False) -> None:
    """Fill the login form and press Enter in each field (``typed``: key by key)."""
    enter = type_into if typed else fill
    await enter(pilot, "#login", login)
    await pilot.press("enter")
    await enter(pilot, "#password", password)
    await pilot.press("enter")


def station_state(app: App[Any]) -> StationState:
    return app.workstation.clock.state  # type: ignore[attr-defined,no-any-return]


async def log_in_operator(pilot: Pilot[Any], login: str = "operateur",
                          password: str = DEMO_PASSWORD,
                          until: StationState = StationState.PREVIEW) -> None:
    await log_in(pilot, login, password)
    await wait_until(pilot, lambda: station_state(pilot.app) == until,
                     f"the station reaches {until}")
    await settle(pilot)


def current_contact(app: App[Any]) -> ClaimedContact:
    contact = app.workstation.current  # type: ignore[attr-defined]
    assert isinstance(contact, ClaimedContact)
    return contact


async def dial_and_answer(pilot: Pilot[Any], phone: PhoneDouble) -> int:
    """F5 from Preview, the callee answers; returns the attempt id the phone received."""
    attempt_id = current_contact(pilot.app).attempt_id
    await pilot.press("f5")
    await wait_until(pilot, lambda: attempt_id in phone.dialed, "the phone is asked to dial")
    assert station_state(pilot.app) == StationState.DIALING
    phone.answer(attempt_id)
    await wait_until(pilot, lambda: station_state(pilot.app) == StationState.TALKING,
                     "the call is connected")
    return attempt_id


async def remote_hang_up(pilot: Pilot[Any], phone: PhoneDouble, attempt_id: int) -> None:
    """The callee hangs up: the wrap-up form opens."""
    from cellcall.tui.screens.wrapup import WrapUpScreen

    phone.remote_hangup(attempt_id)
    await wait_for_screen(pilot, WrapUpScreen, "the wrap-up form opens")


async def choose_outcome(pilot: Pilot[Any], key: str) -> None:
    """Move to the outcome in the list with the arrows and press Enter."""
    options = pilot.app.screen.query_one("#dispositions", OptionList)
    options.focus()
    target = next(i for i in range(options.option_count)
                  if options.get_option_at_index(i).id == key)
    await pilot.press("home", *["down"] * target, "enter")
    await settle(pilot)
    screen = pilot.app.screen
    from cellcall.tui.screens.wrapup import WrapUpScreen

    assert isinstance(screen, WrapUpScreen)
    assert screen.disposition is not None and screen.disposition.key == key


def screen_text(app: App[Any]) -> str:
    """Everything the terminal shows now (every screen in view), as plain text."""
    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), force_terminal=True,
                      color_system="truecolor", record=True, legacy_windows=False,
                      safe_box=False)
    console.print(app.screen._compositor.render_update(
        full=True, screen_stack=app._background_screens))
    return console.export_text(styles=False)


def visible_widgets(app: App[Any]) -> list[Widget]:
    return list(app.screen.query("*"))


# --- snapshots ------------------------------------------------------------------------------
SIZES = ((80, 24), (120, 40))


class Shots:
    """Pictures of one session, by name; compared once the session is over."""

    def __init__(self) -> None:
        self.pictures: dict[str, str] = {}

    async def take(self, pilot: Pilot[Any], name: str) -> None:
        app = pilot.app
        for width, height in SIZES:
            await pilot.resize_terminal(width, height)
            await settle(pilot)
            for text_field in [*app.screen.query(Input), *app.screen.query(TextArea)]:
                text_field.cursor_blink = False
            await pilot.wait_for_scheduled_animations()
            await pilot.pause()
            self.pictures[f"{name}-{width}x{height}"] = await _steady_picture(pilot)
        await pilot.resize_terminal(*SIZES[0])
        await settle(pilot)

    def check(self, svg: SnapshotAssertion) -> None:
        mismatched = [name for name, picture in self.pictures.items()
                      if svg(name=name) != picture]
        if mismatched:  # kept for a look: the report shows only the names
            kept = Path(tempfile.mkdtemp(prefix="cellcall-shots-"))
            for name in mismatched:
                (kept / f"{name}.svg").write_text(self.pictures[name], encoding="utf-8")
        assert not mismatched, (f"snapshots differ: {mismatched} (see pytest --snapshot-update;"
                                f" this run's pictures are in {kept})")


def _tables_sized(app: App[Any]) -> bool:
    """Whether every table on screen has measured its rows: a DataTable sizes its columns
    when its message queue is idle, which a loaded machine may put off."""
    return not any(table._require_update_dimensions or table._updated_cells
                   for table in app.screen.query(DataTable))


async def _steady_picture(pilot: Pilot[Any], tries: int = 20) -> str:
    """The screen once its tables are sized and two pictures in a row agree: on a loaded
    machine a table may still be painting the rows it was just given."""
    await wait_until(pilot, lambda: _tables_sized(pilot.app), "the tables sized")
    picture = pilot.app.export_screenshot(title="cellcall", simplify=True)
    for _try in range(tries):
        await pilot.pause(0.05)
        again = pilot.app.export_screenshot(title="cellcall", simplify=True)
        if again == picture:
            return picture
        picture = again
    return picture

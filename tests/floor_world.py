"""A supervisor's floor of 12 stations in mixed states, built through the real services.

Reusable by the integration tests and the TUI tests (snapshots of the console)::

    from floor_world import build_floor_world, freeze_clock
    clock = freeze_clock(monkeypatch)            # or the TUI tests' own frozen clock
    cheap_passwords(monkeypatch)                 # optional: 1 s instead of 10
    world = build_floor_world(engine, clock)     # engine: an initialised SQLite file
    snapshot = floor.floor_snapshot(session=..., actor=world.supervisor, config=world.config,
                                    max_age_seconds=0)

Every station is a real ``Workstation`` (login with the station gate, clock-in, claim,
pause, pause request, heartbeat); the calls go through the telephony engine's own record
functions (``begin_dial``, ``mark_connected``, ``finish_call``) as the engine writes them;
outcomes through ``Workstation.record_outcome``. The clock is frozen and moved forward
between steps, so every duration and alert is exact. At the end (``world.now``):

==========  ======  ===============================================  ======================
station     who     state                                            alerts
==========  ======  ===============================================  ======================
poste-01    op01    paused (meal) for 30 min                         long_pause
poste-02    op02    talking for 20 min (answered at start)           long_call
poste-03    op03    ready
poste-04    op04    preview (a contact claimed)
poste-05    op05    talking 1 min, newcomer, monitored (listen)      newcomer_call
poste-06    op06    dialing, newcomer                                newcomer_call
poste-07    op07    wrap-up after a 2-min call
poste-08    op08    paused (technical) for 5 min
poste-09    op09    ready, no heartbeat for 20 min                   silent
poste-10    op10    ready, phone leg down, a break request pending   phone_down
poste-11    -       logged out (op11 worked and left)
poste-12    -       never used (no presence row)
==========  ======  ===============================================  ======================

op01–op04 and op07 made ``NEWCOMER_CALLS`` connected calls before (not newcomers); op05,
op06, op08–op10 made none. Campaign ``floor-b2b`` (active, around the clock) has French
contacts and a few in Russian, which nobody on the floor speaks; ``floor-sunday`` is active
but open on Sundays only, so nothing in it is callable (alert ``nothing_callable``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

import frozen_clock
from cellcall.config import Config, SiteConfig, SupervisionConfig
from cellcall.db import run_write
from cellcall.models.calls import CallAttempt
from cellcall.models.campaigns import Audience, CampaignCreate, CampaignType
from cellcall.models.contacts import Contact
from cellcall.models.floor import MonitorMode, MonitorSession
from cellcall.models.timeclock import PauseReason
from cellcall.models.users import Role, Station, StationCreate, UserCreate
from cellcall.services import campaigns, outcomes, queue, site_controls, stations, users
from cellcall.services.actors import SYSTEM, Actor
from cellcall.services.workstation import StationState, Workstation
from cellcall.telephony import records
from frozen_clock import FrozenClock

PASSWORD = "floor-world-2026"
NEWCOMER_CALLS = 3
# A Tuesday, 09:00 in Paris (inside the site's working hours).
START = datetime(2026, 11, 17, 8, 0, tzinfo=UTC)
STATIONS = tuple(f"poste-{n:02d}" for n in range(1, 13))
OPERATORS = tuple(f"op{n:02d}" for n in range(1, 12))
ALL_HOURS = {"days": [0, 1, 2, 3, 4, 5, 6], "ranges": [["00:00", "24:00"]]}
SUNDAYS = {"days": [6], "ranges": [["09:00", "18:00"]]}


class Clock(Protocol):
    at: datetime

    def advance(self, **delta: float) -> None: ...


def freeze_clock(monkeypatch: pytest.MonkeyPatch, at: datetime = START) -> FrozenClock:
    """Freeze ``utcnow`` at the world's start (or at ``at``)."""
    return frozen_clock.freeze_clock(monkeypatch, at)


def cheap_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2 with the smallest cost for the test's users (their hashes carry the cost, so
    a login verifies at that cost and is not rehashed): building the world takes a second
    instead of ten. The policy and the login path are unchanged."""
    from argon2 import PasswordHasher

    from cellcall.services import passwords

    monkeypatch.setattr(passwords, "HASHER", PasswordHasher(time_cost=1, memory_cost=8,
                                                            parallelism=1))


def world_config(base: Config | None = None) -> Config:
    """The configuration the world is built for: Paris, 07:00–19:00, newcomers' first
    ``NEWCOMER_CALLS`` calls, the default alert thresholds (15 min call, 20 min pause,
    10 s silence)."""
    config = base or Config()
    return dataclasses.replace(
        config, site=dataclasses.replace(config.site if base else SiteConfig(),
                                         timezone="Europe/Paris",
                                         working_hours=("07:00", "19:00")),
        supervision=dataclasses.replace(config.supervision if base else SupervisionConfig(),
                                        newcomer_calls=NEWCOMER_CALLS,
                                        pause_needs_approval=True))


@dataclass
class FloorWorld:
    engine: Engine
    config: Config
    clock: Clock
    supervisor: Actor
    stations: dict[str, Workstation] = field(default_factory=dict)
    station_ids: dict[str, int] = field(default_factory=dict)
    campaign_ids: dict[str, int] = field(default_factory=dict)

    @property
    def now(self) -> datetime:
        return self.clock.at

    def heartbeat_all(self, *, except_: tuple[str, ...] = ()) -> None:
        for name, ws in self.stations.items():
            if name not in except_:
                ws.heartbeat()

    def close(self) -> None:
        for ws in self.stations.values():
            ws.flush_presence()
            ws.close()


# --- the site ---------------------------------------------------------------------------------
def _site(session: Session, *, ru_contacts: int, fr_contacts: int) -> dict[str, int]:
    actor = SYSTEM
    users.add_user(session=session, actor=actor, password=PASSWORD, data=UserCreate(
        login="chef", display_name="Chef Supervision", role=Role.SUPERVISOR,
        languages=["fr"]))
    for login in OPERATORS:
        user, _pw = users.add_user(session=session, actor=actor, password=PASSWORD,
                                   data=UserCreate(login=login,
                                                   display_name=f"Opérateur {login[2:]}",
                                                   role=Role.OPERATOR, languages=["fr"]))
        user.must_change_password = False
        session.add(user)
    for name in STATIONS:
        stations.add_station(session=session, actor=actor, data=StationCreate(name=name))
    for n, login in enumerate(OPERATORS, start=1):
        site_controls.assign_station(session=session, actor=actor, login=login,
                                     station_name=STATIONS[n - 1])
    campaigns.add_client(session=session, actor=actor, name="Floor Client")
    ids: dict[str, int] = {}
    for slug, hours in (("floor-b2b", ALL_HOURS), ("floor-sunday", SUNDAYS)):
        campaign = campaigns.create_campaign(session=session, actor=actor, data=CampaignCreate(
            slug=slug, client_name="Floor Client", type=CampaignType.PROSPECTING,
            audience=Audience.BUSINESS, country="FR", languages=["fr", "ru"],
            name=f"Campagne {slug}"))
        campaign.working_hours = dict(hours)
        campaign.ignore_calling_hours = slug == "floor-b2b"
        # The Sunday campaign comes after the other in the queue: never claimed first.
        campaign.priority = 10 if slug == "floor-b2b" else 0
        session.add(campaign)
        session.flush()
        assert campaign.id is not None
        ids[slug] = campaign.id
    number = 0
    for slug, count_fr, count_ru in (("floor-b2b", fr_contacts, ru_contacts),
                                     ("floor-sunday", 6, 0)):
        for index in range(count_fr + count_ru):
            number += 1
            session.add(Contact(
                campaign_id=ids[slug], first_name=f"Prénom{number}", last_name="Client",
                company=f"Société {number}", phone_e164=f"+3361{number:07d}",
                time_zones=["Europe/Paris"], language="fr" if index < count_fr else "ru"))
    session.flush()
    return ids


def _station_ids(engine: Engine) -> dict[str, int]:
    with Session(engine) as session:
        return {s.name: s.id or 0 for s in session.exec(select(Station)).all()}


# --- what the telephony engine writes for a call ----------------------------------------------
def dial(world: FloorWorld, ws: Workstation) -> int:
    """The engine starts the call of the claimed contact; the screen shows Dialing."""
    assert ws.current is not None and ws.user is not None
    target = records.begin_dial(engine=world.engine, attempt_id=ws.current.attempt_id,
                                station_id=ws.station_id, operator_id=ws.user.user_id,
                                actor_label=ws.user.login)
    assert isinstance(target, records.DialTarget), target
    ws.clock.move(StationState.DIALING)
    return ws.current.attempt_id


def answer(world: FloorWorld, ws: Workstation) -> None:
    assert ws.current is not None
    attempt_id = ws.current.attempt_id
    run_write(world.engine, lambda s: records.mark_connected(
        s, attempt_id=attempt_id, answered_at=world.now, recording_path=None))
    ws.clock.move(StationState.TALKING)


def hang_up(world: FloorWorld, ws: Workstation) -> None:
    assert ws.current is not None and ws.user is not None
    attempt_id, login = ws.current.attempt_id, ws.user.login
    run_write(world.engine, lambda s: records.finish_call(
        s, attempt_id=attempt_id, actor_label=login, result="answered",
        counts_against_caps=True, sip_status=200, reason="hangup", recording_path=None,
        recording_seconds=None, ended_at=world.now))
    ws.clock.move(StationState.WRAP_UP)


def complete_call(world: FloorWorld, ws: Workstation, *, talk_minutes: float = 1.0,
                  wrapup_seconds: float = 30.0, disposition: str = "not_interested") -> int:
    """Claim, dial, answer, talk, hang up and record the outcome."""
    claimed = ws.claim_next()
    assert isinstance(claimed, queue.ClaimedContact), claimed
    attempt_id = dial(world, ws)
    answer(world, ws)
    world.clock.advance(minutes=talk_minutes)
    hang_up(world, ws)
    world.clock.advance(seconds=wrapup_seconds)
    ws.record_outcome(outcomes.OutcomeInput(disposition=disposition,
                                            wrapup_seconds=wrapup_seconds))
    return attempt_id


def open_station(world: FloorWorld, name: str, login: str) -> Workstation:
    """A real station: login (station gate), clock-in, Ready."""
    ws = Workstation(engine=world.engine, config=world.config, station_name=name)
    ws.login(login, PASSWORD)
    ws.start_shift()
    world.stations[name] = ws
    return ws


_open = open_station


def build_site(engine: Engine, clock: Clock, *, config: Config | None = None,
               fr_contacts: int = 60, ru_contacts: int = 5) -> FloorWorld:
    """The site alone: supervisor ``chef``, operators op01–op11 each assigned to the
    station of the same number, the two campaigns and their contacts; no station open."""
    cfg = world_config(config)
    ids = run_write(engine, lambda s: _site(s, ru_contacts=ru_contacts,
                                            fr_contacts=fr_contacts))
    supervisor_id = run_write(engine, lambda s: users.get_user(session=s, login="chef").id)
    assert supervisor_id is not None
    return FloorWorld(engine=engine, config=cfg, clock=clock,
                      supervisor=Actor(login="chef", role=Role.SUPERVISOR,
                                       user_id=supervisor_id),
                      campaign_ids=ids, station_ids=_station_ids(engine))


def build_floor_world(engine: Engine, clock: Clock, *, config: Config | None = None,
                      fr_contacts: int = 60, ru_contacts: int = 5) -> FloorWorld:
    """The 12 stations of the module's table; ``clock`` is frozen (``freeze_clock``) and
    ends about an hour after where it was (``world.now``)."""
    world = build_site(engine, clock, config=config, fr_contacts=fr_contacts,
                       ru_contacts=ru_contacts)
    supervisor_id = world.supervisor.user_id
    assert supervisor_id is not None
    t0 = clock.at

    def at(minutes: float) -> None:
        # Minutes after the history of calls below (which takes its own time). The time
        # goes by a minute at a time, the stations keeping their leases as the screen does.
        target = t0 + timedelta(minutes=minutes)
        assert target >= clock.at, "the world's steps go forward in time"
        while clock.at < target:
            clock.advance(seconds=min(60.0, (target - clock.at).total_seconds()))
            for station in world.stations.values():
                if station.current is not None:
                    station.renew_lease()

    # op11 works a little at poste-11 and leaves.
    ws11 = _open(world, "poste-11", "op11")
    ws11.logout()
    ws = {name: _open(world, name, login) for name, login in zip(STATIONS[:10], OPERATORS,
                                                                  strict=False)}
    world.stations.update(ws)
    # The experienced operators' past calls.
    for name in ("poste-01", "poste-02", "poste-03", "poste-04", "poste-07"):
        for n in range(NEWCOMER_CALLS):
            complete_call(world, ws[name], talk_minutes=1,
                          disposition="not_interested" if n % 2 == 0 else "wrong_number")
    t0 = clock.at
    at(10)
    ws["poste-01"].pause(PauseReason.MEAL)
    at(20)
    ws["poste-02"].claim_next()
    dial(world, ws["poste-02"])
    answer(world, ws["poste-02"])
    ws["poste-09"].heartbeat()  # the last word from poste-09
    at(35)
    ws["poste-08"].pause(PauseReason.TECHNICAL)
    at(37)
    ws["poste-07"].claim_next()
    dial(world, ws["poste-07"])
    answer(world, ws["poste-07"])
    at(39)
    hang_up(world, ws["poste-07"])
    ws["poste-05"].claim_next()
    dial(world, ws["poste-05"])
    answer(world, ws["poste-05"])
    ws["poste-04"].claim_next()
    ws["poste-06"].claim_next()
    dial(world, ws["poste-06"])
    ws["poste-10"].set_phone_up(False)
    request = ws["poste-10"].request_pause(PauseReason.BREAK)
    assert request is not None
    attempt_05 = ws["poste-05"].current.attempt_id if ws["poste-05"].current else None
    run_write(engine, lambda s: s.add(MonitorSession(
        supervisor_id=supervisor_id, station_id=world.station_ids["poste-05"],
        attempt_id=attempt_05, mode=MonitorMode.LISTEN, started_at=clock.at)))
    at(40)
    for name, station in ws.items():
        station.flush_presence()
        if name != "poste-09":
            station.heartbeat(phone_up=name != "poste-10")
    return world


def expected_states() -> dict[str, str]:
    return {"poste-01": "paused", "poste-02": "talking", "poste-03": "ready",
            "poste-04": "preview", "poste-05": "talking", "poste-06": "dialing",
            "poste-07": "wrap_up", "poste-08": "paused", "poste-09": "ready",
            "poste-10": "ready", "poste-11": "logged_out", "poste-12": "logged_out"}


def attempts(engine: Engine, **where: Any) -> list[CallAttempt]:
    with Session(engine) as session:
        query = select(CallAttempt)
        for key, value in where.items():
            query = query.where(getattr(CallAttempt, key) == value)
        return list(session.exec(query).all())


__all__ = ["NEWCOMER_CALLS", "PASSWORD", "START", "STATIONS", "Clock", "FloorWorld",
           "FrozenClock", "answer", "attempts", "build_floor_world", "build_site",
           "cheap_passwords", "complete_call", "dial", "expected_states", "freeze_clock",
           "hang_up", "open_station", "world_config"]

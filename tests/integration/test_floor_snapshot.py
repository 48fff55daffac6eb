"""The supervisor's floor read from a real SQLite file: 12 stations in mixed states built
through real workstations (``floor_world``), each figure, each alert at its threshold,
and the refusal to an operator."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy.engine import Engine

from cellcall.config import Config
from cellcall.db import read_session
from cellcall.errors import PermissionDeniedError
from cellcall.models.timeclock import PauseReason
from cellcall.services import floor, queue
from cellcall.services.actors import Actor
from cellcall.services.workstation import Workstation
from floor_world import (
    NEWCOMER_CALLS,
    PASSWORD,
    FloorWorld,
    FrozenClock,
    answer,
    build_floor_world,
    build_site,
    complete_call,
    dial,
    expected_states,
    open_station,
)


def snapshot(world: FloorWorld, actor: Actor | None = None,
             config: Config | None = None) -> floor.FloorSnapshot:
    with read_session(world.engine) as session:
        return floor.floor_snapshot(session=session, actor=actor or world.supervisor,
                                    config=config or world.config, now=world.now,
                                    max_age_seconds=0)


def alerts(snap: floor.FloorSnapshot) -> set[tuple[str, str | None]]:
    return {(a.kind, a.station_name or a.campaign_slug) for a in snap.alerts}


# --- the 12 stations -----------------------------------------------------------------------------
@pytest.fixture
def world(engine: Engine, clock: FrozenClock) -> Iterator[FloorWorld]:
    built = build_floor_world(engine, clock)
    yield built
    built.close()


def test_the_floor_shows_every_station_as_it_is(world: FloorWorld) -> None:
    snap = snapshot(world)
    assert snap.at == world.now
    by_name = {row.station_name: row for row in snap.stations}
    assert [r.station_name for r in snap.stations] == sorted(by_name)
    assert {n: r.state for n, r in by_name.items()} == expected_states()

    first = by_name["poste-01"]
    assert (first.operator_login, first.pause_reason, first.state_seconds) == (
        "op01", "meal", 30 * 60)
    assert (first.calls_today, first.talk_seconds, first.wrapup_seconds) == (
        NEWCOMER_CALLS, 60.0 * NEWCOMER_CALLS, 30.0 * NEWCOMER_CALLS)
    assert first.pause_seconds == 30 * 60 and not first.newcomer

    talking = by_name["poste-02"]
    assert talking.state_seconds == 20 * 60 and talking.campaign_slug == "floor-b2b"
    assert talking.attempt_id is not None
    assert talking.talk_seconds == 60.0 * NEWCOMER_CALLS + 20 * 60  # the call goes on

    newcomer = by_name["poste-05"]
    assert newcomer.newcomer and newcomer.calls_today == 1
    assert (newcomer.monitored_by, newcomer.monitor_mode) == ("chef", "listen")
    assert by_name["poste-06"].newcomer and by_name["poste-06"].talk_seconds == 0
    assert by_name["poste-07"].wrapup_seconds == 30.0 * NEWCOMER_CALLS
    assert by_name["poste-08"].pause_reason == "technical"
    assert by_name["poste-08"].pause_seconds == 5 * 60
    assert by_name["poste-09"].silent and not by_name["poste-03"].silent
    assert not by_name["poste-10"].phone_up and by_name["poste-03"].phone_up
    for name in ("poste-11", "poste-12"):
        row = by_name[name]
        assert row.operator_login is None and row.calls_today == 0 and not row.silent

    assert [(p.operator_login, p.reason) for p in snap.pending_pauses] == [("op10", "break")]
    assert snap.site_stop is None


def test_the_floor_raises_the_expected_alerts(world: FloorWorld) -> None:
    assert alerts(snapshot(world)) == {
        ("long_pause", "poste-01"), ("long_call", "poste-02"),
        ("newcomer_call", "poste-05"), ("newcomer_call", "poste-06"),
        ("silent", "poste-09"), ("phone_down", "poste-10"),
        ("nothing_callable", "floor-sunday")}


def test_campaign_progress(world: FloorWorld) -> None:
    snap = snapshot(world)
    b2b, sunday = snap.campaigns
    assert (b2b.slug, sunday.slug) == ("floor-b2b", "floor-sunday")
    done = 5 * NEWCOMER_CALLS
    in_hand = 5  # poste-02, 04, 05, 06 and 07 (wrap-up) hold a contact
    assert (b2b.total, b2b.done, b2b.remaining) == (65, done, 65 - done)
    assert b2b.exact and b2b.sampled == 65 - done - in_hand
    reasons = dict(b2b.not_callable)
    assert reasons["with an operator right now"] == in_hand
    assert reasons["no operator on the floor speaks 'ru'"] == 5
    assert b2b.callable_now == 65 - done - in_hand - 5
    assert dict(b2b.outcomes) == {"not_interested": 10, "wrong_number": 5}
    dialled = done + 4  # poste-02, 05, 06, 07
    assert b2b.contact_rate == pytest.approx((done + 3) / dialled)
    assert b2b.appointments == 0
    assert len(b2b.calls_per_hour) == 24 and sum(b2b.calls_per_hour) == dialled
    # 09:00–10:02 in Paris: the two last calls started after 10:00.
    assert (b2b.calls_per_hour[9], b2b.calls_per_hour[10]) == (dialled - 2, 2)

    assert (sunday.total, sunday.remaining, sunday.callable_now) == (6, 6, 0)
    assert [n for _reason, n in sunday.not_callable] == [6]
    assert "Tuesday" in sunday.not_callable[0][0]


def test_a_sample_stands_for_a_big_campaign(world: FloorWorld,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(floor, "SAMPLE_SIZE", 10)
    b2b = snapshot(world).campaigns[0]
    assert not b2b.exact and b2b.sampled == 10
    waiting = 65 - 5 * NEWCOMER_CALLS - 5
    estimated = b2b.callable_now + sum(n for r, n in b2b.not_callable
                                       if r != "with an operator right now")
    assert abs(estimated - waiting) <= 2  # rounding of the scaled counts


def test_operator_figures_for_coaching(world: FloorWorld) -> None:
    with read_session(world.engine) as session:
        figures = floor.operator_figures(session=session, actor=world.supervisor,
                                         operator_login="op07", config=world.config,
                                         now=world.now)
    assert (figures.calls, figures.connected) == (NEWCOMER_CALLS + 1, NEWCOMER_CALLS + 1)
    assert figures.calls_today == NEWCOMER_CALLS + 1 and figures.contact_rate == 1.0
    assert figures.avg_talk_seconds == pytest.approx((60 * NEWCOMER_CALLS + 120) /
                                                     (NEWCOMER_CALLS + 1), abs=0.1)
    assert dict(figures.outcomes) == {"not_interested": 2, "wrong_number": 1}
    assert not figures.newcomer


def test_an_operator_cannot_read_the_floor(world: FloorWorld) -> None:
    actor = world.stations["poste-03"].actor
    with read_session(world.engine) as session:
        with pytest.raises(PermissionDeniedError):
            floor.floor_snapshot(session=session, actor=actor, config=world.config)
        with pytest.raises(PermissionDeniedError):
            floor.operator_figures(session=session, actor=actor, operator_login="op03",
                                   config=world.config)


def test_costly_figures_are_reused_then_refreshed_in_the_background(
        world: FloorWorld) -> None:
    def read(max_age: float) -> floor.FloorSnapshot:
        with read_session(world.engine) as session:
            return floor.floor_snapshot(session=session, actor=world.supervisor,
                                        config=world.config, now=world.now,
                                        max_age_seconds=max_age)

    first = read(3600)
    assert first.figures_at == world.now and first.campaigns[0].figures_at == world.now
    poste_03 = world.stations["poste-03"]
    complete_call(world, poste_03)
    poste_03.pause(PauseReason.BREAK)
    poste_03.heartbeat()
    cached = read(3600)
    # Counts and today's call figures come from the cache; the floor itself is live.
    assert cached.campaigns == first.campaigns
    by_name = {r.station_name: r for r in cached.stations}
    assert by_name["poste-03"].state == "paused"
    assert by_name["poste-03"].calls_today == NEWCOMER_CALLS
    # Allowed no age, they are recomputed in the background; the call does not wait.
    time.sleep(0.01)
    stale = read(0.001)
    assert stale.campaigns[0].done == first.campaigns[0].done
    deadline = time.monotonic() + 30  # only guards a hang
    while read(3600).campaigns[0].done == first.campaigns[0].done:
        assert time.monotonic() < deadline, "never refreshed"
        time.sleep(0.05)
    while {r.station_name: r for r in read(3600).stations}["poste-03"].calls_today \
            == NEWCOMER_CALLS:
        assert time.monotonic() < deadline, "never refreshed"
        time.sleep(0.05)
    fresh = read(0)
    assert fresh.campaigns[0].done == first.campaigns[0].done + 1
    assert sum(n for _d, n in fresh.campaigns[0].outcomes) == \
        sum(n for _d, n in first.campaigns[0].outcomes) + 1


# --- each alert at its threshold ---------------------------------------------------------------
@pytest.fixture
def site(engine: Engine, clock: FrozenClock) -> Iterator[FloorWorld]:
    built = build_site(engine, clock, fr_contacts=12, ru_contacts=0)
    yield built
    built.close()


def station_alerts(world: FloorWorld, *beating: Workstation) -> set[str]:
    for ws in beating:
        ws.heartbeat()
    return {a.kind for a in snapshot(world).alerts if a.station_name}


def test_long_call_alert_at_its_threshold(site: FloorWorld, clock: FrozenClock) -> None:
    ws = open_station(site, "poste-01", "op01")
    for _n in range(NEWCOMER_CALLS):
        complete_call(site, ws)  # not a newcomer: only the long call may alert
    assert isinstance(ws.claim_next(), queue.ClaimedContact)
    dial(site, ws)
    answer(site, ws)
    limit = timedelta(minutes=site.config.supervision.long_call_minutes)
    clock.advance(seconds=limit.total_seconds() - 1)
    assert station_alerts(site, ws) == set()
    clock.advance(seconds=1)
    assert station_alerts(site, ws) == {"long_call"}
    long_call = next(a for a in snapshot(site).alerts if a.kind == "long_call")
    assert long_call.since == site.now and long_call.campaign_slug == "floor-b2b"


def test_long_pause_alert_at_its_threshold(site: FloorWorld, clock: FrozenClock) -> None:
    ws = open_station(site, "poste-02", "op02")
    ws.pause(PauseReason.BREAK)
    clock.advance(minutes=site.config.supervision.long_pause_minutes, seconds=-1)
    assert station_alerts(site, ws) == set()
    clock.advance(seconds=1)
    assert station_alerts(site, ws) == {"long_pause"}
    ws.resume()
    assert station_alerts(site, ws) == set()


def test_silent_station_alert_at_its_threshold(site: FloorWorld, clock: FrozenClock) -> None:
    ws = open_station(site, "poste-03", "op03")
    ws.heartbeat()
    clock.advance(seconds=site.config.supervision.silent_after_seconds)
    assert station_alerts(site) == set()
    clock.advance(seconds=0.5)
    assert station_alerts(site) == {"silent"}
    assert station_alerts(site, ws) == set()
    # A logged-out station is never silent.
    ws.logout()
    clock.advance(minutes=10)
    assert station_alerts(site) == set()


def test_phone_down_alert(site: FloorWorld) -> None:
    ws = open_station(site, "poste-04", "op04")
    assert station_alerts(site, ws) == set()
    ws.set_phone_up(False)
    assert ws.flush_presence()
    assert station_alerts(site) == {"phone_down"}
    assert station_alerts(site, ws) == {"phone_down"}
    ws.set_phone_up(True)
    assert station_alerts(site, ws) == set()


def test_newcomer_call_alert_until_the_newcomer_limit(site: FloorWorld) -> None:
    ws = open_station(site, "poste-05", "op05")
    assert isinstance(ws.claim_next(), queue.ClaimedContact)
    assert station_alerts(site, ws) == set()  # preview is not a call yet
    dial(site, ws)
    assert station_alerts(site, ws) == {"newcomer_call"}
    answer(site, ws)
    from floor_world import hang_up

    hang_up(site, ws)
    ws.record_automatic("no_answer")
    for _n in range(NEWCOMER_CALLS - 2):
        complete_call(site, ws)
    # NEWCOMER_CALLS - 1 connected calls so far: still a newcomer.
    assert isinstance(ws.claim_next(), queue.ClaimedContact)
    dial(site, ws)
    assert station_alerts(site, ws) == {"newcomer_call"}
    answer(site, ws)
    hang_up(site, ws)
    ws.record_automatic("no_answer")
    assert isinstance(ws.claim_next(), queue.ClaimedContact)
    dial(site, ws)
    assert station_alerts(site, ws) == set()


def test_nothing_callable_alert(site: FloorWorld, clock: FrozenClock) -> None:
    # An empty floor: the rules and the languages of every operator decide.
    snap = snapshot(site)
    assert {(a.kind, a.campaign_slug) for a in snap.alerts} == {
        ("nothing_callable", "floor-sunday")}
    # On Sunday the Sunday campaign is open.
    clock.advance(days=5)
    assert {(a.kind, a.campaign_slug) for a in snapshot(site).alerts} == set()


def test_an_operator_refused_at_another_station_does_not_appear(site: FloorWorld) -> None:
    ws = Workstation(engine=site.engine, config=site.config, station_name="poste-09")
    with pytest.raises(Exception, match="not assigned"):
        ws.login("op01", PASSWORD)
    assert {r.station_name: r.state for r in snapshot(site).stations}["poste-09"] == \
        "logged_out"

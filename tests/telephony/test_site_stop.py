"""Site stop: three station engines (three processes, as three terminals' TUIs are) end
their calls by themselves once the stop row is written, and dial nothing until it is
lifted."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from sqlmodel import Session

from cellcall.models.base import utcnow
from cellcall.models.calls import AttemptState
from cellcall.models.floor import SiteStop
from cellcall.telephony import events as ev
from cellcall.telephony import records
from cellcall.telephony.simline import SimulatedLine
from telephony.monitor_support import add_station, add_user
from telephony.station_proc import StationProcess
from telephony.support import Site, attempt_row, audit_rows, claim

StartStation = Callable[..., StationProcess]
# What the issue asks of a site stop; the engines poll every 0.25 s.
STOP_WITHIN = timedelta(seconds=2)


def _stop(site: Site) -> SiteStop:
    with Session(site.engine) as s:
        stop = SiteStop(reason="Drill", started_by="sup1")
        s.add(stop)
        s.commit()
        s.refresh(stop)
        return stop


def _lift(site: Site, stop_id: int) -> None:
    with Session(site.engine) as s:
        stop = s.get(SiteStop, stop_id)
        assert stop is not None
        stop.lifted_at = utcnow()
        stop.lifted_by = "sup1"
        s.add(stop)
        s.commit()


def test_a_site_stop_ends_every_call_and_stops_dialing(
        site: Site, start_station: StartStation, simline: SimulatedLine) -> None:
    third_station = add_station(site.engine, "st-3")
    third_operator = add_user(site.engine, "op3", "operator").user_id
    seats = [(site.station_id, site.operator_id), (site.other_station_id,
                                                   site.other_operator_id),
             (third_station, third_operator)]
    stations = [start_station(station_id=station_id, name=f"st{n}",
                              trunk_pattern=simline.trunk_pattern)
                for n, (station_id, _op) in enumerate(seats, start=1)]
    attempts = []
    for station, (station_id, operator_id) in zip(stations, seats, strict=True):
        station.wait_ready()
        attempt_id = claim(site, None, "answer", station_id=station_id,
                           operator_id=operator_id)
        station.send(cmd="dial", attempt_id=attempt_id)
        attempts.append(attempt_id)
    for station, attempt_id in zip(stations, attempts, strict=True):
        station.wait_for("CallProgress", attempt_id=attempt_id, state="connected")

    stop = _stop(site)
    for station, attempt_id in zip(stations, attempts, strict=True):
        ended = station.wait_for("CallEnded", attempt_id=attempt_id, timeout=10)
        assert ended["result"] == ev.SITE_STOP
        station.wait_for("SiteStopChanged", active=True, reason="Drill")
    for attempt_id in attempts:
        row = attempt_row(site, attempt_id)
        assert (row.state, row.result) == (AttemptState.ENDED, ev.SITE_STOP)
        assert row.ended_at is not None and row.ended_at - stop.started_at < STOP_WITHIN

    # Nothing dials while the stop holds: the engine refuses, the attempt stays claimed.
    later = claim(site, None, "answer")
    stations[0].send(cmd="dial", attempt_id=later)
    refused = stations[0].wait_for("EngineError")
    assert "stopped on the whole site" in refused["message"]
    assert attempt_row(site, later).state == AttemptState.CLAIMED
    assert any(r.target == f"attempt:{later}" and '"site_stop"' in r.details
               for r in audit_rows(site, "dial.refused"))

    # Lifted: the same station dials again.
    assert stop.id is not None
    _lift(site, stop.id)
    stations[0].wait_for("SiteStopChanged", active=False)
    stations[0].send(cmd="dial", attempt_id=later)
    stations[0].wait_for("CallProgress", attempt_id=later, state="connected")
    stations[0].send(cmd="hangup")
    assert stations[0].wait_for("CallEnded", attempt_id=later)["result"] == \
        ev.OPERATOR_HANGUP


def test_the_dial_transaction_itself_sees_a_stop(site: Site) -> None:
    """A stop written between the engine's last poll and a dial still wins: the check is
    in the dial's own write transaction."""
    _stop(site)
    attempt_id = claim(site)
    refusal = records.begin_dial(engine=site.engine, attempt_id=attempt_id,
                                 station_id=site.station_id, operator_id=site.operator_id,
                                 actor_label="op1")
    assert isinstance(refusal, records.DialRefusal) and refusal.code == "site_stop"
    assert attempt_row(site, attempt_id).state == AttemptState.CLAIMED
    assert records.active_site_stop(site.engine) is not None

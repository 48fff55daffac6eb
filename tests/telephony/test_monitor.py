"""Supervisors listening to a station's call: real SIP on 127.0.0.1 between a supervisor's
engine (this process) and a station's engine (its own process), the simulated line as the
callee; who hears whom is checked in the audio itself."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, col, select

from cellcall.config import Config
from cellcall.db import read_session, unit_of_work
from cellcall.errors import PermissionDeniedError, ValidationError
from cellcall.models.floor import MonitorSession, StationPresence
from cellcall.services import monitoring
from cellcall.services.actors import Actor
from cellcall.telephony import events as ev
from cellcall.telephony import monitor_token
from cellcall.telephony.simline import SimulatedLine
from telephony.conftest import Sipp
from telephony.monitor_support import SUPERVISOR_HZ, Supervisor, add_user
from telephony.station_proc import StationProcess
from telephony.support import Site, attempt_row, audit_rows, claim
from telephony.tones import peak_shares, shares

StartStation = Callable[..., StationProcess]
MakeSipp = Callable[[str], Sipp]
TALK_S = 1.5
# Tone shares in the loudest half second: a voice heard, and one never heard at all.
PRESENT = 0.05
ABSENT = 0.01


def _refusal_reasons(site: Site, count: int) -> list[str]:
    """The reasons of the refused incoming calls, once ``count`` are written (the
    station's outbox writes them just after it answered 403)."""
    deadline = time.monotonic() + 10
    while True:
        rows = audit_rows(site, "call.incoming.refused")
        if len(rows) >= count or time.monotonic() > deadline:
            return [json.loads(r.details)["reason"] for r in rows]
        time.sleep(0.05)


def _call_up(site: Site, station: StationProcess, number: str) -> int:
    station.wait_ready()
    attempt_id = claim(site, number, "answer")
    station.send(cmd="dial", attempt_id=attempt_id)
    station.wait_for("CallProgress", attempt_id=attempt_id, state="connected")
    return attempt_id


def _start(site: Site, site_cfg: Config, actor: Actor, mode: str) -> monitoring.MonitorTicket:
    with unit_of_work(site.engine) as session:
        return monitoring.start_monitor(session=session, actor=actor,
                                        station_id=site.station_id, mode=mode, config=site_cfg)


def _listen(site: Site, site_cfg: Config, sup: Supervisor, station: StationProcess,
            mode: str) -> monitoring.MonitorTicket:
    ticket = _start(site, site_cfg, sup.actor, mode)
    sup.phone.monitor(ticket)
    sup.events.wait_for(ev.MonitorStateChanged, active=True, mode=mode)
    station.wait_for("MonitorChanged", active=True, mode=mode)
    return ticket


def _hang_up(station: StationProcess, sup: Supervisor, attempt_id: int) -> None:
    station.send(cmd="hangup")
    station.wait_for("CallEnded", attempt_id=attempt_id)
    # The monitor call ends with the customer call, on both sides.
    station.wait_for("MonitorChanged", active=False)
    sup.events.wait_for(ev.MonitorStateChanged, active=False)


def _heard_by_callee(tmp_path: Path, number: str) -> Path:
    heard = sorted((tmp_path / "callee").glob(f"{number.lstrip('+')}-*.wav"))
    assert len(heard) == 1
    return heard[0]


def test_station_publishes_its_monitor_uri(site: Site, start_station: StartStation,
                                           simline: SimulatedLine) -> None:
    station = start_station(trunk_pattern=simline.trunk_pattern)
    uri = station.wait_ready()
    assert uri.startswith("sip:monitor@127.0.0.1:")
    with read_session(site.engine) as session:
        presence = session.get(StationPresence, site.station_id)
        assert presence is not None and presence.monitor_uri == uri
    station.stop()
    with read_session(site.engine) as session:
        presence = session.get(StationPresence, site.station_id)
        assert presence is not None and presence.monitor_uri == ""


def test_listen_hears_both_sides_and_nobody_hears_the_supervisor(
        site: Site, site_cfg: Config, start_station: StartStation, simline: SimulatedLine,
        supervisor: Supervisor, tmp_path: Path) -> None:
    station = start_station(trunk_pattern=simline.trunk_pattern)
    attempt_id = _call_up(site, station, "+33612310001")
    ticket = _listen(site, site_cfg, supervisor, station, "listen")
    time.sleep(TALK_S)
    _hang_up(station, supervisor, attempt_id)
    supervisor.phone.stop()  # closes the supervisor's recording

    heard = peak_shares(supervisor.hears, (440.0, 1000.0))
    assert heard[440.0] > PRESENT and heard[1000.0] > PRESENT, heard  # agent and callee
    callee = peak_shares(_heard_by_callee(tmp_path, "+33612310001"), (440.0, SUPERVISOR_HZ))
    assert callee[440.0] > PRESENT and callee[SUPERVISOR_HZ] < ABSENT, callee
    station.stop()
    operator = peak_shares(tmp_path / "st-operator-hears.wav", (1000.0, SUPERVISOR_HZ))
    assert operator[1000.0] > PRESENT and operator[SUPERVISOR_HZ] < ABSENT, operator

    with read_session(site.engine) as session:
        row = session.get(MonitorSession, ticket.monitor_id)
        assert row is not None and row.ended_at is not None
        assert (row.mode, row.attempt_id) == ("listen", attempt_id)
    actions = [r.action for r in audit_rows(site) if r.action.startswith("monitor.")]
    assert actions == ["monitor.start", "monitor.connected", "monitor.end"]


def test_whisper_reaches_the_operator_and_never_the_callee(
        site: Site, site_cfg: Config, start_station: StartStation, simline: SimulatedLine,
        supervisor: Supervisor, tmp_path: Path) -> None:
    station = start_station(trunk_pattern=simline.trunk_pattern)
    attempt_id = _call_up(site, station, "+33612310002")
    _listen(site, site_cfg, supervisor, station, "whisper")
    time.sleep(TALK_S)
    _hang_up(station, supervisor, attempt_id)
    station.stop()

    operator = peak_shares(tmp_path / "st-operator-hears.wav", (1000.0, SUPERVISOR_HZ))
    assert operator[SUPERVISOR_HZ] > PRESENT and operator[1000.0] > PRESENT, operator
    callee = peak_shares(_heard_by_callee(tmp_path, "+33612310002"), (440.0, SUPERVISOR_HZ))
    assert callee[440.0] > PRESENT, callee
    # No trace of the supervisor in any half second of what the callee heard...
    assert callee[SUPERVISOR_HZ] < ABSENT, callee
    assert shares(_heard_by_callee(tmp_path, "+33612310002"),
                  (SUPERVISOR_HZ,))[SUPERVISOR_HZ] < 0.001
    row = attempt_row(site, attempt_id)
    assert row.recording_path is not None  # ... nor in the call's recording
    assert peak_shares(Path(row.recording_path), (SUPERVISOR_HZ,))[SUPERVISOR_HZ] < ABSENT


def test_barge_reaches_the_callee_and_a_mode_change_is_a_signed_reinvite(
        site: Site, site_cfg: Config, start_station: StartStation, simline: SimulatedLine,
        supervisor: Supervisor, tmp_path: Path) -> None:
    station = start_station(trunk_pattern=simline.trunk_pattern)
    attempt_id = _call_up(site, station, "+33612310003")
    ticket = _listen(site, site_cfg, supervisor, station, "listen")
    # A new mode without the service's ticket is refused by our own phone...
    supervisor.phone.set_monitor_mode("barge")
    assert "ticket" in supervisor.events.wait_for(ev.EngineError).message
    # ... and with it, the same call changes mode.
    with unit_of_work(site.engine) as session:
        barge = monitoring.change_mode(session=session, actor=supervisor.actor,
                                       monitor_id=ticket.monitor_id, mode="barge",
                                       config=site_cfg)
    supervisor.phone.set_monitor_mode("barge", barge)
    supervisor.events.wait_for(ev.MonitorStateChanged, active=True, mode="barge")
    station.wait_for("MonitorChanged", active=True, mode="barge")
    # Three voices mix in the recording: give a loaded machine time for a clean stretch.
    time.sleep(2 * TALK_S)
    _hang_up(station, supervisor, attempt_id)
    station.stop()

    callee = peak_shares(_heard_by_callee(tmp_path, "+33612310003"), (440.0, SUPERVISOR_HZ))
    assert callee[SUPERVISOR_HZ] > PRESENT and callee[440.0] > PRESENT, callee
    operator = peak_shares(tmp_path / "st-operator-hears.wav", (SUPERVISOR_HZ,))
    assert operator[SUPERVISOR_HZ] > PRESENT, operator
    row = attempt_row(site, attempt_id)
    assert row.recording_path is not None
    assert peak_shares(Path(row.recording_path), (SUPERVISOR_HZ,))[SUPERVISOR_HZ] > PRESENT
    modes = [json.loads(r.details)["mode"] for r in audit_rows(site, "monitor.mode")]
    assert modes == ["barge"]


def test_bad_tokens_are_refused(site: Site, site_cfg: Config, start_station: StartStation,
                                simline: SimulatedLine, supervisor: Supervisor) -> None:
    station = start_station(trunk_pattern=simline.trunk_pattern)
    attempt_id = _call_up(site, station, "+33612310004")
    ticket = _start(site, site_cfg, supervisor.actor, "listen")
    key = monitor_token.load_or_create_key(monitor_token.key_path(site_cfg.data_dir))
    fields: dict[str, Any] = {"monitor_id": ticket.monitor_id, "station_id": site.station_id,
              "attempt_id": attempt_id, "mode": "listen", "supervisor": "sup1"}
    bad = {
        "unsigned": "",
        "bad_signature": monitor_token.sign(b"another site's key 0123456789", **fields),
        "expired": monitor_token.sign(key, now=time.time() - 60, **fields),
        "other_call": monitor_token.sign(key, **{**fields, "attempt_id": attempt_id + 99}),
        "other_station": monitor_token.sign(key, **{**fields, "station_id": 999}),
    }
    for token in bad.values():
        supervisor.phone.monitor(dataclasses.replace(ticket, token=token))
        refused = supervisor.events.wait_for(ev.MonitorStateChanged, active=False)
        assert "refused" in refused.reason
    assert _refusal_reasons(site, len(bad)) == list(bad)
    # A refused call ended that session (closed by the supervisor's side).
    with read_session(site.engine) as session:
        row = session.get(MonitorSession, ticket.monitor_id)
        assert row is not None and row.ended_at is not None
    # A genuine ticket gets in, once: the same token again is a replay.
    ticket = _start(site, site_cfg, supervisor.actor, "listen")
    fields["monitor_id"] = ticket.monitor_id
    supervisor.phone.monitor(ticket)
    supervisor.events.wait_for(ev.MonitorStateChanged, active=True, mode="listen")
    station.wait_for("MonitorChanged", active=True, mode="listen")
    # A mode change with a stale token: the station answers 488, the mode stays.
    stale = monitor_token.sign(key, now=time.time() - 60, **{**fields, "mode": "barge"})
    supervisor.phone.set_monitor_mode(
        "barge", dataclasses.replace(ticket, mode="barge", token=stale))
    assert "refused" in supervisor.events.wait_for(ev.EngineError).message
    supervisor.events.wait_for(ev.MonitorStateChanged, active=True, mode="listen")
    supervisor.phone.stop_monitor()
    supervisor.events.wait_for(ev.MonitorStateChanged, active=False)
    station.wait_for("MonitorChanged", active=False)
    assert not [e for e in station.seen if e.get("mode") == "barge"]
    assert [json.loads(r.details)["reason"] for r in audit_rows(
        site, "monitor.mode.refused")] == ["expired"]
    supervisor.phone.monitor(ticket)
    supervisor.events.wait_for(ev.MonitorStateChanged, active=False)
    assert _refusal_reasons(site, len(bad) + 1)[-1] == "replayed"
    # The call itself went on, untouched.
    station.send(cmd="hangup")
    assert station.wait_for("CallEnded", attempt_id=attempt_id)["result"] == \
        ev.OPERATOR_HANGUP
    with read_session(site.engine) as session:
        row = session.get(MonitorSession, ticket.monitor_id)
        assert row is not None and row.ended_at is not None


def test_the_service_refuses_operators_and_stations_without_a_call(
        site: Site, site_cfg: Config, start_station: StartStation,
        simline: SimulatedLine) -> None:
    operator = Actor(login="op1", role="operator", user_id=site.operator_id)  # type: ignore[arg-type]
    supervisor = add_user(site.engine, "sup2", "supervisor")
    with unit_of_work(site.engine) as session, pytest.raises(PermissionDeniedError):
        monitoring.start_monitor(session=session, actor=operator,
                                 station_id=site.station_id, mode="listen", config=site_cfg)
    with unit_of_work(site.engine) as session, pytest.raises(ValidationError):
        # No engine has published the station yet.
        monitoring.start_monitor(session=session, actor=supervisor,
                                 station_id=site.station_id, mode="listen", config=site_cfg)
    station = start_station(trunk_pattern=simline.trunk_pattern)
    station.wait_ready()
    with unit_of_work(site.engine) as session, pytest.raises(ValidationError, match="call"):
        monitoring.start_monitor(session=session, actor=supervisor,
                                 station_id=site.station_id, mode="listen", config=site_cfg)
    attempt_id = _call_up(site, station, "+33612310005")
    with unit_of_work(site.engine) as session, pytest.raises(ValidationError):
        monitoring.start_monitor(session=session, actor=supervisor,
                                 station_id=site.station_id, mode="shout", config=site_cfg)
    ticket = _start(site, site_cfg, supervisor, "whisper")
    assert ticket.attempt_id == attempt_id and ticket.station_name == "st-1"
    for call in (
            lambda s: monitoring.change_mode(session=s, actor=operator,
                                             monitor_id=ticket.monitor_id, mode="barge",
                                             config=site_cfg),
            lambda s: monitoring.end_monitor(session=s, actor=operator,
                                             monitor_id=ticket.monitor_id)):
        with unit_of_work(site.engine) as session, pytest.raises(PermissionDeniedError):
            call(session)
    with unit_of_work(site.engine) as session:
        monitoring.end_monitor(session=session, actor=supervisor,
                               monitor_id=ticket.monitor_id)
    with Session(site.engine) as session:
        rows = session.exec(select(MonitorSession).order_by(col(MonitorSession.id))).all()
        assert [(r.mode, r.ended_at is not None) for r in rows] == [("whisper", True)]
    assert [r.action for r in audit_rows(site) if r.action.startswith("monitor.")] == \
        ["monitor.start", "monitor.end"]
    station.send(cmd="hangup")
    station.wait_for("CallEnded", attempt_id=attempt_id)


def test_either_engine_stopping_ends_the_monitor_call(
        site: Site, site_cfg: Config, start_station: StartStation, simline: SimulatedLine,
        supervisor: Supervisor) -> None:
    station = start_station(trunk_pattern=simline.trunk_pattern)
    attempt_id = _call_up(site, station, "+33612310006")
    ticket = _listen(site, site_cfg, supervisor, station, "listen")
    supervisor.phone.stop()  # the supervisor's app exits while listening
    station.wait_for("MonitorChanged", active=False)
    with read_session(site.engine) as session:
        row = session.get(MonitorSession, ticket.monitor_id)
        assert row is not None and row.ended_at is not None
    # The customer call goes on without the supervisor.
    station.send(cmd="hangup")
    assert station.wait_for("CallEnded", attempt_id=attempt_id)["result"] == \
        ev.OPERATOR_HANGUP


def test_monitor_calls_keep_to_loopback_when_the_station_faces_the_pbx_otherwise(
        site: Site, site_cfg: Config, start_station: StartStation, sipp: MakeSipp,
        supervisor: Supervisor) -> None:
    """A station whose SIP socket is not loopback UDP (here: TCP to the trunk) takes
    monitor calls on a loopback UDP transport of its own."""
    uas = sipp("tcp").start("uas_answer.xml", "-t", "t1", rtp_echo=True)
    station = start_station(trunk_pattern=uas.uri_pattern, transport="tcp")
    uri = station.wait_ready()
    assert uri.startswith("sip:monitor@127.0.0.1:") and "transport" not in uri
    attempt_id = claim(site)
    station.send(cmd="dial", attempt_id=attempt_id)
    station.wait_for("CallProgress", attempt_id=attempt_id, state="connected")
    _listen(site, site_cfg, supervisor, station, "listen")
    time.sleep(TALK_S)
    station.send(cmd="hangup")
    station.wait_for("CallEnded", attempt_id=attempt_id)
    supervisor.events.wait_for(ev.MonitorStateChanged, active=False)
    supervisor.phone.stop()
    assert peak_shares(supervisor.hears, (440.0,))[440.0] > PRESENT  # the operator
    assert "TCP message received" in uas.trace()

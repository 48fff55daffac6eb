"""The timeclock on a real SQLite file: clocking in and out, pauses, daily totals."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select

from cellcall.db import read_session, run_write, unit_of_work
from cellcall.errors import PermissionDeniedError, ValidationError
from cellcall.models import AuditEvent, PauseReason, Role, Station, TimeEntry, User
from cellcall.services import timeclock
from cellcall.services.actors import Actor

PARIS = "Europe/Paris"


def at(hour: int, minute: int = 0, day: int = 2) -> datetime:
    """A Paris wall time on a March 2026 day before the clock change (UTC+1), as UTC."""
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC) - timedelta(hours=1)


@pytest.fixture
def people(engine: Engine) -> tuple[Actor, Actor, int]:
    with unit_of_work(engine) as s:
        station = Station(name="poste-01")
        users = [User(login=login, display_name=login, role=role, languages=["fr"],
                      password_hash="x") for login, role in
                 (("karim", Role.OPERATOR), ("lea", Role.OPERATOR))]
        s.add(station)
        s.add_all(users)
        s.flush()
        return (Actor("karim", Role.OPERATOR, users[0].id, station.id),
                Actor("lea", Role.OPERATOR, users[1].id, station.id), station.id or 0)


def do(engine: Engine, fn, **kwargs):  # type: ignore[no-untyped-def]
    return run_write(engine, lambda s: fn(session=s, **kwargs))


def worked(engine: Engine, user_id: int | None, now: datetime) -> timedelta:
    assert user_id is not None
    with read_session(engine) as s:
        return timeclock.worked_today(session=s, user_id=user_id, now=now, site_timezone=PARIS)


def summary(engine: Engine, actor: Actor, user_id: int | None,
            now: datetime) -> timeclock.DaySummary:
    assert user_id is not None
    with read_session(engine) as s:
        return timeclock.day_summary(session=s, actor=actor, user_id=user_id, now=now,
                                     site_timezone=PARIS)


def entries(engine: Engine) -> list[TimeEntry]:
    with read_session(engine) as s:
        return list(s.exec(select(TimeEntry).order_by(TimeEntry.id)).all())  # type: ignore[arg-type]


def audit_rows(engine: Engine) -> list[tuple[str, dict[str, object]]]:
    with read_session(engine) as s:
        return [(e.action, json.loads(e.details)) for e in s.exec(select(AuditEvent)).all()]


def test_a_day_with_pauses(engine: Engine, people: tuple[Actor, Actor, int]) -> None:
    op, _, station = people
    do(engine, timeclock.clock_in, actor=op, station_id=station, now=at(7))
    do(engine, timeclock.start_pause, actor=op, reason=PauseReason.BREAK, now=at(9, 30))
    assert worked(engine, op.user_id, at(9, 40)) == timedelta(hours=2, minutes=30)
    do(engine, timeclock.end_pause, actor=op, now=at(9, 45))
    do(engine, timeclock.start_pause, actor=op, reason="meal", now=at(12))
    do(engine, timeclock.end_pause, actor=op, now=at(12, 45))
    do(engine, timeclock.start_pause, actor=op, reason=PauseReason.BREAK, now=at(14))
    do(engine, timeclock.end_pause, actor=op, now=at(14, 10))
    # Still working: the open entry counts until now.
    assert worked(engine, op.user_id, at(15)) == timedelta(hours=6, minutes=50)
    closed = do(engine, timeclock.clock_out, actor=op, now=at(16))
    assert closed is not None and closed.ended_at == at(16)
    day = summary(engine, op, op.user_id, at(20))
    assert day.work == timedelta(hours=7, minutes=50)
    assert dict(day.pauses) == {"break": timedelta(minutes=25), "meal": timedelta(minutes=45)}
    assert day.paused == timedelta(minutes=70)
    assert worked(engine, op.user_id, at(20)) == day.work
    kinds = [(e.kind, e.reason, e.station_id) for e in entries(engine)]
    assert kinds == [("work", None, station), ("pause", "break", station),
                     ("work", None, station), ("pause", "meal", station),
                     ("work", None, station), ("pause", "break", station),
                     ("work", None, station)]
    assert all(e.ended_at is not None for e in entries(engine))
    actions = audit_rows(engine)
    assert [a for a, _ in actions] == ["clock.in"] + ["pause.start", "pause.end"] * 3 + [
        "clock.out"]
    assert actions[1][1]["reason"] == "break" and actions[3][1]["reason"] == "meal"
    assert actions[4][1]["reason"] == "meal" and actions[4][1]["seconds"] == 45 * 60


def test_totals_are_per_user_and_per_local_day(engine: Engine,
                                              people: tuple[Actor, Actor, int]) -> None:
    op, other, station = people
    do(engine, timeclock.clock_in, actor=op, station_id=station, now=at(22, day=2))
    do(engine, timeclock.clock_in, actor=other, station_id=None, now=at(8, day=3))
    do(engine, timeclock.clock_out, actor=op, now=at(2, day=3))
    # 22:00-24:00 on the 2nd, 00:00-02:00 on the 3rd, in Paris.
    assert worked(engine, op.user_id, at(23, 59, day=2)) == timedelta(hours=1, minutes=59)
    assert worked(engine, op.user_id, at(10, day=3)) == timedelta(hours=2)
    assert worked(engine, other.user_id, at(10, day=3)) == timedelta(hours=2)
    assert worked(engine, op.user_id, at(10, day=4)) == timedelta(0)


def test_the_day_of_the_clock_change_has_23_hours(engine: Engine,
                                                 people: tuple[Actor, Actor, int]) -> None:
    op, _, station = people
    # 29 March 2026: Paris goes from UTC+1 to UTC+2 at 02:00 local.
    start = datetime(2026, 3, 28, 23, 0, tzinfo=UTC)  # 00:00 local on the 29th
    end = datetime(2026, 3, 29, 22, 0, tzinfo=UTC)  # 24:00 local on the 29th
    do(engine, timeclock.clock_in, actor=op, station_id=station, now=start - timedelta(hours=1))
    do(engine, timeclock.clock_out, actor=op, now=end + timedelta(hours=1))
    assert worked(engine, op.user_id, end - timedelta(minutes=1)) == timedelta(
        hours=22, minutes=59)
    assert worked(engine, op.user_id, end + timedelta(hours=3)) == timedelta(hours=1)


def test_refusals(engine: Engine, people: tuple[Actor, Actor, int]) -> None:
    op, _, station = people
    with pytest.raises(ValidationError, match="not clocked in"):
        do(engine, timeclock.start_pause, actor=op, reason=PauseReason.MEAL, now=at(8))
    with pytest.raises(ValidationError, match="not on a pause"):
        do(engine, timeclock.end_pause, actor=op, now=at(8))
    do(engine, timeclock.clock_in, actor=op, station_id=station, now=at(8))
    with pytest.raises(ValidationError, match="already clocked in"):
        do(engine, timeclock.clock_in, actor=op, station_id=station, now=at(8, 5))
    with pytest.raises(ValidationError, match="not on a pause"):
        do(engine, timeclock.end_pause, actor=op, now=at(8, 10))
    with pytest.raises(ValidationError, match="Unknown pause reason 'nap'"):
        do(engine, timeclock.start_pause, actor=op, reason="nap", now=at(9))
    do(engine, timeclock.start_pause, actor=op, reason=PauseReason.TRAINING, now=at(9))
    with pytest.raises(ValidationError, match="already on a pause"):
        do(engine, timeclock.start_pause, actor=op, reason=PauseReason.BREAK, now=at(9, 5))
    with pytest.raises(ValidationError, match="already clocked in"):
        do(engine, timeclock.clock_in, actor=op, station_id=station, now=at(9, 6))
    assert len(entries(engine)) == 2
    with pytest.raises(PermissionDeniedError):
        do(engine, timeclock.clock_in, actor=Actor("root", Role.ADMIN, op.user_id),
           station_id=None, now=at(9))


def test_clock_out_closes_a_pause_and_is_idempotent(engine: Engine,
                                                   people: tuple[Actor, Actor, int]) -> None:
    op, _, station = people
    assert do(engine, timeclock.clock_out, actor=op, now=at(7)) is None
    do(engine, timeclock.clock_in, actor=op, station_id=station, now=at(8))
    do(engine, timeclock.start_pause, actor=op, reason=PauseReason.TECHNICAL, now=at(9))
    closed = do(engine, timeclock.clock_out, actor=op, now=at(9, 20))
    assert closed.kind == "pause" and closed.reason == "technical"
    assert do(engine, timeclock.clock_out, actor=op, now=at(9, 30)) is None
    assert [a for a, _ in audit_rows(engine)].count("clock.out") == 1
    day = summary(engine, op, op.user_id, at(12))
    assert (day.work, dict(day.pauses)) == (timedelta(hours=1),
                                            {"technical": timedelta(minutes=20)})
    # A new shift may start once everything is closed.
    do(engine, timeclock.clock_in, actor=op, station_id=station, now=at(13))


def test_who_may_read_a_day(engine: Engine, people: tuple[Actor, Actor, int]) -> None:
    op, other, station = people
    do(engine, timeclock.clock_in, actor=other, station_id=station, now=at(8))
    with pytest.raises(PermissionDeniedError):
        summary(engine, op, other.user_id, at(9))
    supervisor = Actor("sup", Role.SUPERVISOR, None)
    assert summary(engine, supervisor, other.user_id, at(9)).work == timedelta(hours=1)


def test_a_supervisor_closes_an_entry_left_open(engine: Engine,
                                                people: tuple[Actor, Actor, int]) -> None:
    op, _, station = people
    do(engine, timeclock.clock_in, actor=op, station_id=station, now=at(8))
    supervisor = Actor("sup", Role.SUPERVISOR, None)
    with pytest.raises(PermissionDeniedError):
        do(engine, timeclock.close_open_entry, actor=op, user_id=op.user_id, at=at(9))
    with pytest.raises(ValidationError, match="before the entry started"):
        do(engine, timeclock.close_open_entry, actor=supervisor, user_id=op.user_id, at=at(7))
    closed = do(engine, timeclock.close_open_entry, actor=supervisor, user_id=op.user_id,
                at=at(10))
    assert closed.ended_at == at(10)
    assert worked(engine, op.user_id, at(18)) == timedelta(hours=2)
    do(engine, timeclock.clock_in, actor=op, station_id=station, now=at(18))
    assert "clock.close" in [a for a, _ in audit_rows(engine)]

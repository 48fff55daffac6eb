"""``cellcall-admin stop-all | lift-stop | station assign|unassign|assignments |
callbacks reassign`` on a real SQLite file: what they write, and one line and nothing
written on bad input."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select

from cellcall.db import read_session, run_write
from cellcall.models.calls import Callback
from cellcall.models.contacts import Contact
from cellcall.services import users
from floor_world import FloorWorld, build_site
from foundation_support import assert_refused, run_admin_process, snapshot
from frozen_clock import FrozenClock


@pytest.fixture
def world(engine: Engine, clock: FrozenClock) -> Iterator[FloorWorld]:
    built = build_site(engine, clock, fr_contacts=3, ru_contacts=0)
    yield built
    built.close()


def query(db: Path, sql: str, *args: object) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(db)
    try:
        return list(conn.execute(sql, args).fetchall())
    finally:
        conn.close()


def last_audit(db: Path) -> tuple[str, str, str, dict[str, Any]]:
    actor, action, target, details = query(
        db, "SELECT actor, action, target, details FROM audit_events ORDER BY id DESC "
            "LIMIT 1")[0]
    return actor, action, target, json.loads(details)


def test_stop_all_and_lift_stop(world: FloorWorld, admin: Any, db_path: Path) -> None:
    result = admin("stop-all", "--reason", "Alerte incendie")
    assert result.code == 0, result.err
    assert "Alerte incendie" in result.out
    assert query(db_path, "SELECT reason, lifted_at FROM site_stops") == [
        ("Alerte incendie", None)]
    actor, action, _target, details = last_audit(db_path)
    assert actor.startswith("shell:") and action == "site.stop"
    assert details == {"reason": "Alerte incendie"}

    before = snapshot(db_path)
    assert_refused(admin("stop-all", "--reason", "encore"), before=before, db=db_path)

    result = admin("lift-stop")
    assert result.code == 0, result.err
    assert query(db_path, "SELECT COUNT(*) FROM site_stops WHERE lifted_at IS NULL") == [(0,)]
    assert last_audit(db_path)[1] == "site.stop_lifted"
    before = snapshot(db_path)
    assert_refused(admin("lift-stop"), before=before, db=db_path)


def test_stop_all_needs_a_reason(world: FloorWorld, admin: Any, db_path: Path) -> None:
    before = snapshot(db_path)
    assert_refused(admin("stop-all"), before=before, db=db_path)
    assert_refused(admin("stop-all", "--reason", "   "), before=before, db=db_path)


def test_station_assign_unassign_and_list(world: FloorWorld, admin: Any,
                                          db_path: Path) -> None:
    result = admin("station", "assign", "op01", "poste-12")
    assert result.code == 0, result.err
    assert "op01" in result.out and "poste-12" in result.out
    assert last_audit(db_path)[1:3] == ("station.assign", "poste-12")
    listed = admin("station", "assignments", "op01")
    assert listed.code == 0
    assert [line.split("\t")[2] for line in listed.out.strip().splitlines()[1:]] == [
        "poste-01", "poste-12"]
    result = admin("station", "unassign", "op01", "poste-12")
    assert result.code == 0, result.err
    assert last_audit(db_path)[1] == "station.unassign"
    assert query(db_path, "SELECT COUNT(*) FROM station_assignments") == [(11,)]


@pytest.mark.parametrize("args", [
    ("station", "assign", "op01", "poste-01"),      # already assigned
    ("station", "assign", "ghost", "poste-01"),     # unknown login
    ("station", "assign", "op01", "poste-99"),      # unknown station
    ("station", "assign", "chef", "poste-01"),      # not an operator
    ("station", "assign", "op01"),                  # missing argument
    ("station", "unassign", "op01", "poste-02"),    # not assigned
    ("callbacks", "reassign", "--from", "ghost"),
    ("callbacks", "reassign", "--from", "op02", "--to", "op02"),
    ("callbacks", "reassign", "--from", "op02", "--to", "chef"),
    ("callbacks", "reassign", "--to", "op01"),      # --from is required
])
def test_bad_input_is_one_line_and_writes_nothing(world: FloorWorld, admin: Any,
                                                   db_path: Path, args: tuple[str, ...]) -> None:
    before = snapshot(db_path)
    assert_refused(admin(*args), before=before, db=db_path)


def test_callbacks_reassign(world: FloorWorld, admin: Any, db_path: Path) -> None:
    def make(session: Any) -> None:
        owner = users.get_user(session=session, login="op02").id
        for contact in session.exec(select(Contact)).all()[:2]:
            session.add(Callback(contact_id=contact.id, campaign_id=contact.campaign_id,
                                 due_at=datetime(2026, 11, 18, 9, tzinfo=UTC),
                                 personal_operator_id=owner))

    run_write(world.engine, make)
    result = admin("callbacks", "reassign", "--from", "op02", "--to", "op03")
    assert result.code == 0, result.err
    assert result.out.startswith("2 ")
    op03 = query(db_path, "SELECT id FROM users WHERE login = 'op03'")[0][0]
    assert query(db_path, "SELECT DISTINCT personal_operator_id FROM callbacks") == [(op03,)]
    _actor, action, target, details = last_audit(db_path)
    assert (action, target, details["to"], details["count"]) == (
        "callbacks.reassign", "user:op02", "op03", 2)
    result = admin("callbacks", "reassign", "--from", "op03")
    assert result.code == 0, result.err
    with read_session(world.engine) as session:
        assert {c.personal_operator_id for c in session.exec(select(Callback)).all()} == {None}


@pytest.mark.slow
def test_the_real_command_stops_the_site(world: FloorWorld, db_path: Path) -> None:
    done = run_admin_process(db_path, "stop-all", "--reason", "Exercice")
    assert done.returncode == 0, done.stderr
    assert query(db_path, "SELECT reason FROM site_stops WHERE lifted_at IS NULL") == [
        ("Exercice",)]

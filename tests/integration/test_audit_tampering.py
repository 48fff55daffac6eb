"""The audit log: triggers refuse edits, and the hash chain catches an attacker who drops
them and edits, deletes or forges rows with plain sqlite3."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from cellcall.db import read_session, run_write
from cellcall.models.users import StationCreate
from cellcall.services import audit, stations
from cellcall.services.actors import shell_admin

ROWS = 6


@pytest.fixture
def chained(engine: Engine, db_path: Path) -> Path:
    actor = shell_admin()
    for i in range(ROWS):
        def work(session: Session, i: int = i) -> None:
            stations.add_station(session=session, actor=actor,
                                 data=StationCreate(name=f"poste-{i}"))
        run_write(engine, work)
    engine.dispose()
    return db_path


def verify(db_path: Path, engine: Engine) -> audit.VerifyResult:
    with read_session(engine) as session:
        return audit.verify(session=session)


def attacker(db_path: Path, *statements: str) -> None:
    conn = sqlite3.connect(db_path)
    conn.execute("DROP TRIGGER IF EXISTS audit_events_no_update")
    conn.execute("DROP TRIGGER IF EXISTS audit_events_no_delete")
    for statement in statements:
        conn.execute(statement)
    conn.commit()
    conn.close()


def test_intact_chain_verifies(admin, chained: Path, engine: Engine) -> None:  # type: ignore[no-untyped-def]
    result = verify(chained, engine)
    assert result.ok and result.rows_checked == ROWS
    r = admin("audit", "verify")
    assert r.code == 0
    assert f"{ROWS} rows" in r.out and result.head_hash in r.out


@pytest.mark.parametrize("statement", [
    "UPDATE audit_events SET details = '{\"x\": 1}' WHERE id = 3",
    "DELETE FROM audit_events WHERE id = 3",
])
def test_triggers_refuse_update_and_delete(chained: Path, statement: str) -> None:
    conn = sqlite3.connect(chained)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute(statement)
    conn.close()


@pytest.mark.parametrize(("column", "value"), [
    ("details", "'{\"desk_phone_uri\": \"sip:evil@pbx\"}'"),
    ("actor", "'someone-else'"),
    ("action", "'station.remove'"),
    ("target", "'poste-99'"),
    ("at", "'2020-01-01 00:00:00.000000'"),
])
def test_edited_row_is_named(admin, chained: Path, engine: Engine,  # type: ignore[no-untyped-def]
                             column: str, value: str) -> None:
    attacker(chained, f"UPDATE audit_events SET {column} = {value} WHERE id = 3")
    result = verify(chained, engine)
    assert not result.ok and result.first_bad_id == 3
    r = admin("audit", "verify")
    assert r.code != 0 and r.code != 70
    assert r.err.strip().splitlines() == [
        "cellcall-admin: error: Audit log BROKEN at row 3: content altered."]
    assert "Traceback" not in r.out + r.err


def test_edited_row_with_recomputed_hash_breaks_the_next_link(chained: Path,
                                                                engine: Engine) -> None:
    with read_session(engine) as session:
        row = session.get(audit.AuditEvent, 3)
        assert row is not None
        forged = audit.compute_hash(prev_hash=row.prev_hash, event_id=3, at=row.at,
                                    actor=row.actor, action=row.action, target="poste-evil",
                                    details=row.details)
    attacker(chained, f"UPDATE audit_events SET target = 'poste-evil', hash = '{forged}' "
                      "WHERE id = 3")
    result = verify(chained, engine)
    assert not result.ok and result.first_bad_id == 4


def test_deleted_middle_row_is_found_at_the_next_id(admin, chained: Path,  # type: ignore[no-untyped-def]
                                                    engine: Engine) -> None:
    attacker(chained, "DELETE FROM audit_events WHERE id = 3")
    result = verify(chained, engine)
    assert not result.ok and result.first_bad_id == 4
    r = admin("audit", "verify")
    assert r.code != 0 and "row 4" in r.err


def test_deleted_newest_row_is_found(admin, chained: Path, engine: Engine) -> None:  # type: ignore[no-untyped-def]
    attacker(chained, f"DELETE FROM audit_events WHERE id = {ROWS}")
    result = verify(chained, engine)
    assert not result.ok
    assert result.first_bad_id == ROWS
    assert "deleted" in result.reason
    r = admin("audit", "verify")
    assert r.code != 0 and f"row {ROWS}" in r.err
    # New rows after the deletion do not hide it.
    run_write(engine, lambda s: stations.add_station(
        session=s, actor=shell_admin(), data=StationCreate(name="poste-late")))
    later = verify(chained, engine)
    assert not later.ok and later.first_bad_id == ROWS + 1


def test_forged_row_appended_by_hand_is_found(chained: Path, engine: Engine) -> None:
    attacker(chained, "INSERT INTO audit_events (id, at, actor, action, target, details, "
                      f"prev_hash, hash) SELECT {ROWS + 1}, at, actor, 'user.add', 'mallory', "
                      f"'{{}}', hash, 'f00d' FROM audit_events WHERE id = {ROWS}")
    result = verify(chained, engine)
    assert not result.ok and result.first_bad_id == ROWS + 1

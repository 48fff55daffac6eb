"""The append-only, hash-chained audit log.

Each row's hash covers its own fields and the previous row's hash, from a fixed genesis
value, so editing, inserting or deleting a row in the middle breaks the chain at that row.
Ids come from an AUTOINCREMENT sequence: deleting the newest rows leaves the sequence above
the last id, which ``verify`` reports too. Rows are appended inside the caller's write
transaction, so an action and its audit row commit or fail together.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, text
from sqlalchemy.engine import Connection
from sqlmodel import Session, col, select

from cellcall.models.audit import AuditEvent
from cellcall.models.base import utcnow
from cellcall.services.actors import Actor

GENESIS = "0" * 64


def canonical_details(details: dict[str, Any] | None) -> str:
    return json.dumps(details or {}, sort_keys=True, ensure_ascii=False, default=str)


def compute_hash(*, prev_hash: str, event_id: int, at: datetime, actor: str, action: str,
                 target: str, details: str) -> str:
    payload = json.dumps(
        [prev_hash, event_id, at.isoformat(), actor, action, target, details],
        ensure_ascii=False, separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


_EVENTS = AuditEvent.__table__  # type: ignore[attr-defined]
# The chain's head and, on SQLite, the AUTOINCREMENT sequence, in one lean Core query (the
# ORM's select + flush cost more than the rest of a queue claim, under the write lock).
_HEAD = select(_EVENTS.c.id, _EVENTS.c.hash).order_by(_EVENTS.c.id.desc()).limit(1)
_HEAD_SQLITE = text(
    "SELECT e.id, e.hash, (SELECT seq FROM sqlite_sequence WHERE name = 'audit_events') "
    "FROM (SELECT 1) LEFT JOIN (SELECT id, hash FROM audit_events ORDER BY id DESC LIMIT 1)"
    " AS e")
_APPEND = insert(_EVENTS).values(
    id=bindparam("id"), at=bindparam("at"), actor=bindparam("actor"),
    action=bindparam("action"), target=bindparam("target"), details=bindparam("details"),
    prev_hash=bindparam("prev_hash"), hash=bindparam("hash"))


def record(*, session: Session, actor: Actor | str, action: str, target: str = "",
           details: dict[str, Any] | None = None) -> AuditEvent:
    """Append one audit row in the session's (write) transaction."""
    # Pending ORM changes go first, as the ORM flush did before (same errors, same order).
    if session.new or session.dirty or session.deleted:
        session.flush()
    row = _append(session.connection(), actor=actor, action=action, target=target,
                  details=details)
    return AuditEvent(**row)


def append(conn: Connection, *, actor: Actor | str, action: str, target: str = "",
           details: dict[str, Any] | None = None) -> int:
    """``record`` on a Core connection inside a write transaction (no ORM session, for
    hot paths); returns the new row's id."""
    return int(_append(conn, actor=actor, action=action, target=target,
                       details=details)["id"])


def _append(conn: Connection, *, actor: Actor | str, action: str, target: str,
            details: dict[str, Any] | None) -> dict[str, Any]:
    # The write transaction's lock makes reading the head and appending atomic.
    body = canonical_details(details)
    actor_label = actor if isinstance(actor, str) else actor.label
    target = target[:200]
    if conn.dialect.name == "sqlite":
        last_id, prev_hash, seq = conn.execute(_HEAD_SQLITE).one()
    else:
        head = conn.execute(_HEAD).first()
        last_id, prev_hash, seq = (head[0], head[1], None) if head else (None, None, None)
    prev_hash = prev_hash or GENESIS
    event_id = (last_id or 0) + 1
    # Never reuse an id that was once used (and later deleted by someone tampering).
    if seq is not None and seq >= event_id:
        event_id = seq + 1
    at = utcnow()
    row = {"id": event_id, "at": at, "actor": actor_label, "action": action,
           "target": target, "details": body, "prev_hash": prev_hash,
           "hash": compute_hash(prev_hash=prev_hash, event_id=event_id, at=at,
                                actor=actor_label, action=action, target=target,
                                details=body)}
    conn.execute(_APPEND, row)
    return row


def _sequence_value(session: Session) -> int | None:
    if session.get_bind().dialect.name != "sqlite":
        return None
    row = session.execute(
        text("SELECT seq FROM sqlite_sequence WHERE name = 'audit_events'")).first()
    return int(row[0]) if row else None


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    rows_checked: int
    first_bad_id: int | None = None
    reason: str = ""
    head_hash: str = GENESIS


def _rows(session: Session, batch: int = 5000) -> Iterator[AuditEvent]:
    last_id = 0
    while True:
        rows = session.exec(
            select(AuditEvent).where(col(AuditEvent.id) > last_id)
            .order_by(col(AuditEvent.id)).limit(batch)).all()
        if not rows:
            return
        yield from rows
        last_id = rows[-1].id or last_id


def verify(*, session: Session) -> VerifyResult:
    """Walk the chain from the first row; report the first row where it breaks."""
    prev_hash = GENESIS
    count = 0
    last_id = 0
    for event in _rows(session):
        count += 1
        assert event.id is not None
        # Ids are contiguous (a rolled-back row rolls its id back too): a gap means deleted
        # rows, even when a later row was chained onto the last surviving one.
        if event.id != last_id + 1:
            return VerifyResult(False, count, event.id, "rows missing before this one",
                                prev_hash)
        if event.prev_hash != prev_hash:
            return VerifyResult(False, count, event.id, "previous-hash mismatch", prev_hash)
        expected = compute_hash(prev_hash=prev_hash, event_id=event.id, at=event.at,
                                actor=event.actor, action=event.action, target=event.target,
                                details=event.details)
        if expected != event.hash:
            return VerifyResult(False, count, event.id, "content altered", prev_hash)
        prev_hash = event.hash
        last_id = event.id
    seq = _sequence_value(session)
    if seq is not None and seq > last_id:
        return VerifyResult(False, count, last_id + 1, "newest rows deleted", prev_hash)
    return VerifyResult(True, count, None, "", prev_hash)

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

from sqlalchemy import text
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


def record(*, session: Session, actor: Actor | str, action: str, target: str = "",
           details: dict[str, Any] | None = None) -> AuditEvent:
    """Append one audit row in the session's (write) transaction."""
    last = session.exec(select(AuditEvent).order_by(col(AuditEvent.id).desc()).limit(1)).first()
    prev_hash = last.hash if last else GENESIS
    event_id = (last.id or 0) + 1 if last else 1
    # Never reuse an id that was once used (and later deleted by someone tampering).
    seq = _sequence_value(session)
    if seq is not None and seq >= event_id:
        event_id = seq + 1
    at = utcnow()
    actor_label = actor if isinstance(actor, str) else actor.label
    body = canonical_details(details)
    event = AuditEvent(
        id=event_id, at=at, actor=actor_label, action=action, target=target[:200],
        details=body, prev_hash=prev_hash,
        hash=compute_hash(prev_hash=prev_hash, event_id=event_id, at=at, actor=actor_label,
                          action=action, target=target[:200], details=body),
    )
    session.add(event)
    session.flush()
    return event


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

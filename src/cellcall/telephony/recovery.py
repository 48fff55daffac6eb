"""Crash safety: calls a dead process left open are closed when the station starts again."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from cellcall.db import read_session, run_write
from cellcall.models.base import utcnow
from cellcall.models.calls import AttemptState, CallAttempt
from cellcall.models.contacts import Contact, ContactStatus
from cellcall.services import audit
from cellcall.services.actors import SYSTEM

OPEN_STATES = (AttemptState.DIALING, AttemptState.RINGING, AttemptState.CONNECTED)


def recover_interrupted(*, engine: Engine, station_id: int | None = None,
                        all_stations: bool = False) -> list[int]:
    """Close the attempts a dead process left dialing, ringing or connected.

    They become ``interrupted`` (ended now, not counted against the callee's caps) and
    their contacts, if still leased to the attempt's operator, go back to the queue.
    A station's engine passes its own ``station_id`` so that it never touches another
    station's live call; ``all_stations=True`` is for a server-wide start-up when no
    station runs. Returns the ids of the attempts closed.
    """

    query = select(CallAttempt).where(col(CallAttempt.state).in_(OPEN_STATES))
    if not all_stations:
        query = query.where(col(CallAttempt.station_id) == station_id if station_id
                            is not None else col(CallAttempt.station_id).is_(None))
    # A read first: the usual answer is "nothing", and every station starting at once
    # should not queue for the write lock to learn it.
    with read_session(engine) as session:
        if session.exec(query.limit(1)).first() is None:
            return []

    def work(session: Session) -> list[int]:
        attempts = session.exec(query).all()
        now = utcnow()
        closed: list[int] = []
        for attempt in attempts:
            assert attempt.id is not None
            attempt.state = AttemptState.INTERRUPTED
            attempt.ended_at = now
            attempt.counts_against_caps = False
            session.add(attempt)
            session.execute(
                update(Contact)
                .where(col(Contact.id) == attempt.contact_id,
                       col(Contact.status) == ContactStatus.CLAIMED,
                       col(Contact.lease_user_id) == attempt.operator_id)
                .values(status=ContactStatus.PENDING, lease_user_id=None,
                        lease_station_id=None, lease_expires_at=None)
                .execution_options(synchronize_session=False))
            closed.append(attempt.id)
        if closed:
            session.flush()
            audit.record(session=session, actor=SYSTEM, action="call.interrupted",
                         target=f"attempts:{len(closed)}",
                         details={"attempt_ids": closed[:100], "station_id": station_id})
        return closed

    return run_write(engine, work)

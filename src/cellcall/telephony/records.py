"""The engine's writes: the attempt row through a call's life, and its audit rows.

Every write is one short ``run_write`` transaction. ``begin_dial`` is the gate of the
whole product's promise: it reads the number by attempt id and lets the call go only for
an attempt the queue claimed for this station's operator, with a live lease, in an active
campaign; a refusal is audited in the same transaction that would have recorded the dial.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import exists, insert, select, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from cellcall.db import run_write
from cellcall.i18n import _
from cellcall.models.base import utcnow
from cellcall.models.calls import AttemptState, CallAttempt
from cellcall.models.campaigns import Campaign, CampaignStatus
from cellcall.models.contacts import Contact, ContactStatus, DoNotCallEntry
from cellcall.models.floor import MonitorSession, SiteStop, StationPresence
from cellcall.models.users import User
from cellcall.services import audit
from cellcall.services.actors import Actor
from cellcall.services.phones import is_e164
from cellcall.services.quality import open_recording

OPEN_STATES = (AttemptState.DIALING, AttemptState.RINGING, AttemptState.CONNECTED)


@dataclass(frozen=True)
class DialTarget:
    attempt_id: int
    contact_id: int
    e164: str
    campaign_slug: str
    operator_login: str


@dataclass(frozen=True)
class DialRefusal:
    code: str
    message: str


def _refusal(code: str) -> DialRefusal:
    messages = {
        "not_found": _("This call cannot be placed: the station has no such contact."),
        "other_station": _("This call cannot be placed: the contact belongs to another "
                           "station."),
        "other_operator": _("This call cannot be placed: the contact belongs to another "
                            "operator."),
        "not_claimed": _("This contact was already called: record its outcome instead."),
        "lease": _("This contact went back to the queue: it is no longer yours."),
        "campaign": _("This call cannot be placed: the campaign is not active."),
        "number": _("This call cannot be placed: the contact's number is not valid."),
        "dnc": _("This call cannot be placed: the number is on a do-not-call list."),
        "site_stop": _("Calls are stopped on the whole site until a supervisor lifts the "
                       "stop."),
    }
    return DialRefusal(code, messages[code])


@dataclass(frozen=True)
class _Row:
    """What the gate needs, read in one query."""

    state: str
    station_id: int | None
    operator_id: int
    contact_id: int
    phone_e164: str
    contact_status: str | None
    contact_phone: str | None
    lease_user_id: int | None
    lease_station_id: int | None
    lease_expires_at: datetime | None
    campaign_status: str | None
    campaign_slug: str
    operator_login: str | None
    listed: bool


def _read(session: Session, attempt_id: int) -> _Row | None:
    listed = exists().where(col(DoNotCallEntry.phone_e164) == col(CallAttempt.phone_e164))
    row = session.execute(
        select(col(CallAttempt.state), col(CallAttempt.station_id),
               col(CallAttempt.operator_id), col(CallAttempt.contact_id),
               col(CallAttempt.phone_e164), col(Contact.status), col(Contact.phone_e164),
               col(Contact.lease_user_id), col(Contact.lease_station_id),
               col(Contact.lease_expires_at), col(Campaign.status), col(Campaign.slug),
               col(User.login), listed)
        .select_from(CallAttempt)
        .outerjoin(Contact, col(Contact.id) == col(CallAttempt.contact_id))
        .outerjoin(Campaign, col(Campaign.id) == col(CallAttempt.campaign_id))
        .outerjoin(User, col(User.id) == col(CallAttempt.operator_id))
        .where(col(CallAttempt.id) == attempt_id)).first()
    if row is None:
        return None
    return _Row(state=row[0], station_id=row[1], operator_id=row[2], contact_id=row[3],
                phone_e164=row[4], contact_status=row[5], contact_phone=row[6],
                lease_user_id=row[7], lease_station_id=row[8], lease_expires_at=row[9],
                campaign_status=row[10], campaign_slug=row[11] or "",
                operator_login=row[12], listed=bool(row[13]))


def _check(row: _Row | None, *, station_id: int | None, operator_id: int | None,
           now: datetime) -> str | None:
    """The refusal code, or None when the call may go."""
    if row is None:
        return "not_found"
    if row.station_id != station_id:
        return "other_station"
    if operator_id is not None and row.operator_id != operator_id:
        return "other_operator"
    if row.state != AttemptState.CLAIMED:
        return "not_claimed"
    if (row.contact_status != ContactStatus.CLAIMED or row.lease_user_id != row.operator_id
            or row.lease_station_id != row.station_id or row.lease_expires_at is None
            or _aware(row.lease_expires_at) <= now):
        return "lease"
    if row.campaign_status != CampaignStatus.ACTIVE:
        return "campaign"
    if not is_e164(row.phone_e164) or row.phone_e164 != row.contact_phone:
        return "number"
    if row.listed:
        return "dnc"
    return None


def _aware(value: datetime) -> datetime:
    # UTCDateTime gives aware values; a naive one would be UTC too.
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def begin_dial(*, engine: Engine, attempt_id: int, station_id: int | None,
               operator_id: int | None, actor_label: str,
               now: datetime | None = None) -> DialTarget | DialRefusal:
    """Check the attempt and mark it ``dialing`` (audited ``dial``), or audit the refusal
    (``dial.refused``); one transaction either way. Runs before the INVITE leaves."""

    def work(session: Session) -> DialTarget | DialRefusal:
        at = now or utcnow()
        row = _read(session, attempt_id)
        code = _check(row, station_id=station_id, operator_id=operator_id, now=at)
        # In the dial's own write transaction: a stop written before it is always seen,
        # one written after it finds the call and ends it.
        if code is None and _site_stop(session) is not None:
            code = "site_stop"
        if code is not None or row is None:
            refusal = _refusal(code or "not_found")
            audit.record(session=session, actor=actor_label, action="dial.refused",
                         target=f"attempt:{attempt_id}",
                         details={"reason": refusal.code, "station_id": station_id})
            return refusal
        # Conditional: a concurrent writer cannot have moved it (we hold the write lock on
        # SQLite; the condition keeps it right elsewhere too).
        changed = session.execute(
            update(CallAttempt)
            .where(col(CallAttempt.id) == attempt_id,
                   col(CallAttempt.state) == AttemptState.CLAIMED)
            .values(state=AttemptState.DIALING, dialed_at=at)
            .returning(col(CallAttempt.id))
            .execution_options(synchronize_session=False)).first()
        if changed is None:
            refusal = _refusal("not_claimed")
            audit.record(session=session, actor=actor_label, action="dial.refused",
                         target=f"attempt:{attempt_id}",
                         details={"reason": refusal.code, "station_id": station_id})
            return refusal
        login = row.operator_login or actor_label
        audit.record(session=session, actor=login, action="dial",
                     target=f"attempt:{attempt_id}",
                     details={"contact_id": row.contact_id, "campaign": row.campaign_slug,
                              "to": row.phone_e164, "station_id": station_id})
        return DialTarget(attempt_id, row.contact_id, row.phone_e164, row.campaign_slug,
                          login)

    return run_write(engine, work)


# --- writes the engine's outbox makes (each takes the session of a shared transaction) ---
def audit_refusal(session: Session, *, actor_label: str, attempt_id: int, code: str,
                  station_id: int | None) -> None:
    """A dial refused before the database was asked (call up, disk full, no phone)."""
    record_event(session, actor_label=actor_label, action="dial.refused",
                 target=f"attempt:{attempt_id}",
                 details={"reason": code, "station_id": station_id})


def mark_ringing(session: Session, *, attempt_id: int) -> None:
    session.execute(
        update(CallAttempt)
        .where(col(CallAttempt.id) == attempt_id,
               col(CallAttempt.state) == AttemptState.DIALING)
        .values(state=AttemptState.RINGING)
        .execution_options(synchronize_session=False))


def mark_connected(session: Session, *, attempt_id: int, answered_at: datetime,
                   recording_path: str | None) -> None:
    session.execute(
        update(CallAttempt)
        .where(col(CallAttempt.id) == attempt_id,
               col(CallAttempt.state).in_((AttemptState.DIALING, AttemptState.RINGING)))
        .values(state=AttemptState.CONNECTED, answered_at=answered_at,
                recording_path=recording_path)
        .execution_options(synchronize_session=False))


def finish_call(session: Session, *, attempt_id: int, actor_label: str, result: str,
                counts_against_caps: bool, sip_status: int | None, reason: str,
                recording_path: str | None, recording_seconds: float | None,
                ended_at: datetime | None = None) -> None:
    """The call is over: state ``ended`` with its result (the Outcome is wrap-up's)."""
    values: dict[str, Any] = {
        "state": AttemptState.ENDED, "ended_at": ended_at or utcnow(),
        "sip_status": sip_status, "result": result,
        "counts_against_caps": counts_against_caps, "recording_path": recording_path,
        "recording_seconds": recording_seconds}
    session.execute(
        update(CallAttempt)
        .where(col(CallAttempt.id) == attempt_id, col(CallAttempt.state).in_(OPEN_STATES))
        .values(**values)
        .execution_options(synchronize_session=False))
    audit.record(session=session, actor=actor_label, action="call.end",
                 target=f"attempt:{attempt_id}",
                 details={"result": result, "sip_status": sip_status, "reason": reason,
                          "recording_seconds": recording_seconds})


def record_event(session: Session, *, actor_label: str, action: str, target: str,
                 details: dict[str, Any]) -> None:
    """One audit row (hang-up asked, DTMF, refused incoming call, REFER)."""
    audit.record(session=session, actor=actor_label, action=action, target=target,
                 details=details)


# --- the site stop ---------------------------------------------------------------------------
_ACTIVE_STOP = (select(col(SiteStop.id), col(SiteStop.reason))
                .where(col(SiteStop.lifted_at).is_(None))
                .order_by(col(SiteStop.id)).limit(1))


def _site_stop(session: Session) -> tuple[int, str] | None:
    row = session.execute(_ACTIVE_STOP).first()
    return (int(row[0] or 0), str(row[1])) if row is not None else None


def active_site_stop(engine: Engine) -> tuple[int, str] | None:
    """The active site stop (id, reason), or None: one indexed read (the engine polls)."""
    with engine.connect() as conn:
        row = conn.execute(_ACTIVE_STOP).first()
    return (int(row[0] or 0), str(row[1])) if row is not None else None


# --- where supervisors reach this station's engine ---------------------------------------------
_PRESENCE = StationPresence.__table__  # type: ignore[attr-defined]


def publish_monitor_uri(session: Session, *, station_id: int, uri: str) -> None:
    """Only ``monitor_uri`` of the station's presence row (the rest is the station's
    heartbeat's): updated, or a row with defaults when there is none yet."""
    changed = session.execute(
        update(_PRESENCE).where(_PRESENCE.c.station_id == station_id)
        .values(monitor_uri=uri).returning(_PRESENCE.c.station_id)).first()
    if changed is None:
        session.execute(insert(_PRESENCE).values(station_id=station_id, monitor_uri=uri,
                                                 state="logged_out",
                                                 state_since=utcnow(),
                                                 heartbeat_at=utcnow(),
                                                 phone_up=False))


def clear_monitor_uri(session: Session, *, station_id: int, uri: str) -> None:
    """Forget the URI, unless another engine of this station published its own since."""
    session.execute(update(_PRESENCE).where(_PRESENCE.c.station_id == station_id,
                                            _PRESENCE.c.monitor_uri == uri)
                    .values(monitor_uri=""))


# --- monitor sessions and playback --------------------------------------------------------------
def monitor_session_open(engine: Engine, *, monitor_id: int, station_id: int,
                         attempt_id: int | None) -> bool:
    """The supervisor's session is still open, on this station's call."""
    with engine.connect() as conn:
        row = conn.execute(
            select(col(MonitorSession.id))
            .where(col(MonitorSession.id) == monitor_id,
                   col(MonitorSession.station_id) == station_id,
                   col(MonitorSession.attempt_id) == attempt_id,
                   col(MonitorSession.ended_at).is_(None))).first()
    return row is not None


def close_monitor(session: Session, *, monitor_id: int, actor_label: str, reason: str,
                  ended_at: datetime | None = None) -> None:
    """The station's engine saw the monitor call end: close the session (audited once)."""
    changed = session.execute(
        update(MonitorSession)
        .where(col(MonitorSession.id) == monitor_id, col(MonitorSession.ended_at).is_(None))
        .values(ended_at=ended_at or utcnow())
        .returning(col(MonitorSession.id))
        .execution_options(synchronize_session=False)).first()
    if changed is not None:
        audit.record(session=session, actor=actor_label, action="monitor.end",
                     target=f"monitor:{monitor_id}", details={"reason": reason})


def recording_for_playback(engine: Engine, *, attempt_id: int, actor: Actor,
                           recordings_root: Path) -> Path:
    """The recording of the attempt row, through ``quality.open_recording`` (the role
    check, the ``recording_played`` audit row, and nothing outside the recordings folder);
    its ``CellcallError`` says why not."""
    return run_write(engine, lambda session: open_recording(
        session=session, actor=actor, attempt_id=attempt_id,
        recordings_root=recordings_root))

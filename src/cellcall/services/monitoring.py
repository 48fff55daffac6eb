"""Supervisors listening to a station's customer call: listen, whisper, barge.

The service decides and audits; the phones carry it out. ``start_monitor`` checks the
role and that the station is in a connected call, writes a ``MonitorSession`` row and
returns a ``MonitorTicket`` whose signed token the station's engine checks before it lets
the supervisor's call in (``telephony.monitor_token``). A mode change gives a new ticket
(the supervisor's phone sends its token in a re-INVITE of the same call); the session's
row keeps the last mode, the audit rows each change.

Both engines close the row themselves when the monitor call ends for any reason (the
customer hung up, the station refused, either process stopped), so ``end_monitor`` may
find it closed (then it does nothing).

How a supervisor's screen drives it (``phone`` is ``factory.supervisor_phone(...)``, told
who is logged in with ``phone.set_operator(actor)``)::

    ticket = run_write(engine, lambda s: start_monitor(session=s, actor=actor,
                       station_id=station_id, mode="listen", config=config))
    phone.monitor(ticket)                      # -> MonitorStateChanged(active=True, ...)
    ticket = run_write(engine, lambda s: change_mode(session=s, actor=actor,
                       monitor_id=ticket.monitor_id, mode="whisper", config=config))
    phone.set_monitor_mode("whisper", ticket)  # -> MonitorStateChanged(mode="whisper")
    phone.stop_monitor()                       # -> MonitorStateChanged(active=False)
    run_write(engine, lambda s: end_monitor(session=s, actor=actor,
                                            monitor_id=ticket.monitor_id))

The station's own phone posts ``MonitorChanged(active, mode)`` for the operator's mark.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, col, select

from cellcall.config import Config
from cellcall.errors import NotFoundError, PermissionDeniedError, ValidationError
from cellcall.i18n import _
from cellcall.models.base import utcnow
from cellcall.models.calls import AttemptState, CallAttempt
from cellcall.models.floor import MonitorMode, MonitorSession, StationPresence
from cellcall.models.users import Role, Station
from cellcall.services import audit
from cellcall.services.actors import Actor, require_role
from cellcall.telephony import monitor_token

SUPERVISING = (Role.SUPERVISOR, Role.ADMIN)


@dataclass(frozen=True)
class MonitorTicket:
    """What the supervisor's phone needs to reach the station's engine."""

    monitor_id: int
    station_id: int
    station_name: str
    attempt_id: int | None
    mode: str
    target_uri: str
    token: str


def _mode(mode: str) -> MonitorMode:
    try:
        return MonitorMode(mode)
    except ValueError:
        raise ValidationError(_("Unknown monitoring mode '{mode}'.").format(mode=mode)) \
            from None


def _supervisor_id(actor: Actor) -> int:
    if actor.user_id is None:
        raise PermissionDeniedError(_("Monitoring needs a supervisor logged in at a station."))
    return actor.user_id


def _station(session: Session, station_id: int) -> Station:
    station = session.get(Station, station_id)
    if station is None:
        raise NotFoundError(_("No such station."))
    return station


def _connected_attempt(session: Session, station_id: int) -> CallAttempt | None:
    return session.exec(
        select(CallAttempt)
        .where(col(CallAttempt.station_id) == station_id,
               col(CallAttempt.state) == AttemptState.CONNECTED)
        .order_by(col(CallAttempt.id).desc()).limit(1)).first()


def _ticket(config: Config, row: MonitorSession, station: Station, uri: str,
            supervisor: str) -> MonitorTicket:
    key = monitor_token.load_or_create_key(monitor_token.key_path(config.data_dir))
    assert row.id is not None and station.id is not None
    token = monitor_token.sign(key, monitor_id=row.id, station_id=station.id,
                               attempt_id=row.attempt_id, mode=row.mode,
                               supervisor=supervisor)
    return MonitorTicket(monitor_id=row.id, station_id=station.id, station_name=station.name,
                         attempt_id=row.attempt_id, mode=row.mode, target_uri=uri,
                         token=token)


def _monitor_uri(session: Session, station_id: int) -> str:
    presence = session.get(StationPresence, station_id)
    uri = presence.monitor_uri if presence is not None else ""
    if not uri:
        raise ValidationError(_("This station's telephone is not running: it cannot be "
                                "listened to."))
    return uri


def start_monitor(*, session: Session, actor: Actor, station_id: int, mode: str,
                  config: Config) -> MonitorTicket:
    """Open a monitor session on the station's connected call (supervisor or admin)."""
    require_role(actor, SUPERVISING)
    supervisor_id = _supervisor_id(actor)
    monitor_mode = _mode(mode)
    station = _station(session, station_id)
    uri = _monitor_uri(session, station_id)
    attempt = _connected_attempt(session, station_id)
    if attempt is None or attempt.id is None:
        raise ValidationError(_("Station {name} is not in a call.").format(name=station.name))
    now = utcnow()
    for open_row in session.exec(select(MonitorSession).where(
            col(MonitorSession.station_id) == station_id,
            col(MonitorSession.ended_at).is_(None))).all():
        if open_row.attempt_id == attempt.id and open_row.supervisor_id != supervisor_id:
            raise ValidationError(_("Someone else is already listening to station "
                                    "{name}.").format(name=station.name))
        # Left open by a call that is over, or our own earlier try: close it.
        open_row.ended_at = now
        session.add(open_row)
        audit.record(session=session, actor=actor, action="monitor.end",
                     target=f"station:{station.name}",
                     details={"monitor_id": open_row.id, "attempt_id": open_row.attempt_id,
                              "reason": "superseded"})
    row = MonitorSession(supervisor_id=supervisor_id, station_id=station_id,
                         attempt_id=attempt.id, mode=monitor_mode.value, started_at=now)
    session.add(row)
    session.flush()
    audit.record(session=session, actor=actor, action="monitor.start",
                 target=f"station:{station.name}",
                 details={"monitor_id": row.id, "attempt_id": attempt.id,
                          "mode": monitor_mode.value})
    return _ticket(config, row, station, uri, actor.login)


def change_mode(*, session: Session, actor: Actor, monitor_id: int, mode: str,
                config: Config) -> MonitorTicket:
    """A new mode for the supervisor's running session: its ticket carries a fresh token."""
    require_role(actor, SUPERVISING)
    row = _own_open_session(session, actor, monitor_id)
    monitor_mode = _mode(mode)
    station = _station(session, row.station_id)
    uri = _monitor_uri(session, row.station_id)
    attempt = _connected_attempt(session, row.station_id)
    if attempt is None or attempt.id != row.attempt_id:
        raise ValidationError(_("The call you were listening to is over."))
    previous = row.mode
    row.mode = monitor_mode.value
    session.add(row)
    audit.record(session=session, actor=actor, action="monitor.mode",
                 target=f"station:{station.name}",
                 details={"monitor_id": row.id, "attempt_id": row.attempt_id,
                          "from": previous, "mode": monitor_mode.value})
    return _ticket(config, row, station, uri, actor.login)


def end_monitor(*, session: Session, actor: Actor, monitor_id: int) -> None:
    """Close the session (nothing to do when the station's engine already closed it)."""
    require_role(actor, SUPERVISING)
    row = session.get(MonitorSession, monitor_id)
    if row is None:
        raise NotFoundError(_("No such monitoring session."))
    if actor.role != Role.ADMIN and row.supervisor_id != actor.user_id:
        raise PermissionDeniedError(_("This is another supervisor's monitoring session."))
    if row.ended_at is not None:
        return
    row.ended_at = utcnow()
    session.add(row)
    station = session.get(Station, row.station_id)
    audit.record(session=session, actor=actor, action="monitor.end",
                 target=f"station:{station.name if station else row.station_id}",
                 details={"monitor_id": row.id, "attempt_id": row.attempt_id,
                          "mode": row.mode})


def _own_open_session(session: Session, actor: Actor, monitor_id: int) -> MonitorSession:
    row = session.get(MonitorSession, monitor_id)
    if row is None:
        raise NotFoundError(_("No such monitoring session."))
    if row.supervisor_id != _supervisor_id(actor):
        raise PermissionDeniedError(_("This is another supervisor's monitoring session."))
    if row.ended_at is not None:
        raise ValidationError(_("This monitoring session is over."))
    return row

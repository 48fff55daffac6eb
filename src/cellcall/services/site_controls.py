"""The site's controls: site stop, force logout, pause approval, station-bound logins,
reassigning a missing operator's personal callbacks.

A supervisor never reaches into a station's process: orders go through
``station_commands`` rows that the station reads with its heartbeat
(``Workstation.heartbeat``) and carries out itself. The site stop is a row every station
and engine polls: while it has no ``lifted_at``, nothing dials anywhere.

Station-bound logins (``login_refusal``): an operator may log in only at a station they are
assigned to, and only within the site's working hours in the site's time zone. An operator
with no assignment at all may log in nowhere (the security office assigns every operator
explicitly; the demo site assigns its operator to ``demo-1``). Supervisors and admins are
not bound.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select as sa_select
from sqlalchemy import update
from sqlmodel import Session, col, select

from cellcall.config import SiteConfig
from cellcall.errors import NotFoundError, PermissionDeniedError, ValidationError
from cellcall.i18n import _
from cellcall.models.base import utcnow
from cellcall.models.calls import Callback, CallbackStatus
from cellcall.models.floor import (
    PauseRequest,
    PauseRequestStatus,
    SiteStop,
    StationAssignment,
    StationCommand,
    StationCommandKind,
    StationPresence,
)
from cellcall.models.timeclock import PauseReason
from cellcall.models.users import Role, Station, User
from cellcall.services import audit, timeclock
from cellcall.services.actors import Actor, require_role
from cellcall.services.calling_rules.loading import site_windows

SUPERVISORS = (Role.SUPERVISOR, Role.ADMIN)
# Pauses that wait for a supervisor when [supervision] pause_needs_approval is on. A
# technical problem never waits; training is organised by the supervisors themselves.
NEEDS_APPROVAL = frozenset({PauseReason.BREAK, PauseReason.MEAL})
MAX_REASON_LENGTH = 500


@dataclass(frozen=True)
class SiteStopView:
    id: int
    reason: str
    started_at: datetime
    started_by: str


@dataclass(frozen=True)
class PauseRequestView:
    id: int
    station_name: str | None
    operator_login: str
    operator_name: str
    reason: str
    requested_at: datetime
    status: str = PauseRequestStatus.PENDING


@dataclass(frozen=True)
class AssignmentView:
    login: str
    display_name: str
    station_name: str
    assigned_at: datetime


def _stop_view(row: SiteStop) -> SiteStopView:
    assert row.id is not None
    return SiteStopView(row.id, row.reason, row.started_at, row.started_by)


def _user(session: Session, login: str) -> User:
    user = session.exec(select(User).where(User.login == login.strip().lower())).first()
    if user is None:
        raise NotFoundError(_("No user with login '{login}'.").format(login=login))
    return user


def _station(session: Session, *, name: str | None = None,
             station_id: int | None = None) -> Station:
    if name is not None:
        station = session.exec(select(Station).where(Station.name == name)).first()
        if station is None:
            raise NotFoundError(_("No station named '{name}'.").format(name=name))
        return station
    station = session.get(Station, station_id) if station_id is not None else None
    if station is None:
        raise NotFoundError(_("This station does not exist."))
    return station


def _issuer(actor: Actor) -> int:
    """Station commands name the user who gave them (a logged-in supervisor)."""
    if actor.user_id is None:
        raise PermissionDeniedError(_("Only a logged-in supervisor can give a station an "
                                      "order."))
    return actor.user_id


# --- site stop -----------------------------------------------------------------------------
def active_site_stop(*, session: Session) -> SiteStopView | None:
    """The stop in force, if any. No role check: every station and engine polls it."""
    row = session.exec(select(SiteStop).where(col(SiteStop.lifted_at).is_(None))
                       .order_by(col(SiteStop.id).desc())).first()
    return None if row is None else _stop_view(row)


def start_site_stop(*, session: Session, actor: Actor, reason: str,
                    now: datetime | None = None) -> SiteStopView:
    """Stop every call and all dialing on the site until lifted (audited)."""
    require_role(actor, SUPERVISORS)
    why = " ".join(reason.split())
    if not why:
        raise ValidationError(_("Give the reason for the site stop."))
    if len(why) > MAX_REASON_LENGTH:
        raise ValidationError(_("The reason is too long ({n} characters at most).").format(
            n=MAX_REASON_LENGTH))
    current = active_site_stop(session=session)
    if current is not None:
        raise ValidationError(_("A site stop is already in force (since {time} UTC, by "
                                "{who}).").format(time=current.started_at.strftime("%H:%M"),
                                                  who=current.started_by))
    row = SiteStop(reason=why, started_at=now or utcnow(), started_by=actor.login[:64])
    session.add(row)
    session.flush()
    audit.record(session=session, actor=actor, action="site.stop", target=f"stop:{row.id}",
                 details={"reason": why})
    return _stop_view(row)


def lift_site_stop(*, session: Session, actor: Actor,
                   now: datetime | None = None) -> SiteStopView:
    """Lift the stop in force; dialing may start again (audited)."""
    require_role(actor, SUPERVISORS)
    row = session.exec(select(SiteStop).where(col(SiteStop.lifted_at).is_(None))
                       .order_by(col(SiteStop.id).desc())).first()
    if row is None:
        raise ValidationError(_("No site stop is in force."))
    at = now or utcnow()
    # Every open row is closed (there is one, unless two supervisors raced).
    for open_row in session.exec(select(SiteStop).where(col(SiteStop.lifted_at).is_(None))):
        open_row.lifted_at = at
        open_row.lifted_by = actor.login[:64]
        session.add(open_row)
    session.flush()
    audit.record(session=session, actor=actor, action="site.stop_lifted",
                 target=f"stop:{row.id}",
                 details={"seconds": int((at - row.started_at).total_seconds())})
    return _stop_view(row)


# --- orders to a station -------------------------------------------------------------------
def force_logout(*, session: Session, actor: Actor, station_id: int,
                 now: datetime | None = None,
                 silent_after_seconds: float | None = None) -> int:
    """Order a station to log its user out (it releases its contact, clocks out and goes
    back to the login screen on its next heartbeat). Returns the command's id.

    With ``silent_after_seconds`` (the floor passes ``[supervision]
    silent_after_seconds``), a station that has not been heard from for that long is
    also cleared here, since nobody will obey: its presence shows it logged out and its
    user's open time entry is closed at the last heartbeat (the dead time is not paid);
    its contact goes back to the queue when its lease runs out. The order stays pending
    for the station, should it come back."""
    require_role(actor, SUPERVISORS)
    issuer = _issuer(actor)
    station = _station(session, station_id=station_id)
    at = now or utcnow()
    command = StationCommand(station_id=station_id, kind=StationCommandKind.FORCE_LOGOUT,
                             payload={}, issued_by=issuer, issued_at=at)
    session.add(command)
    session.flush()
    assert command.id is not None
    presence = session.get(StationPresence, station_id)
    silent = (silent_after_seconds is not None and presence is not None
              and presence.user_id is not None and presence.state != "logged_out"
              and (at - presence.heartbeat_at).total_seconds() > silent_after_seconds)
    audit.record(session=session, actor=actor, action="station.force_logout",
                 target=station.name, details={"command_id": command.id, "silent": silent})
    if silent:
        assert presence is not None and presence.user_id is not None
        entry = timeclock.open_entry(session=session, user_id=presence.user_id)
        if entry is not None:
            timeclock.close_open_entry(session=session, actor=actor, user_id=presence.user_id,
                                       at=max(presence.heartbeat_at, entry.started_at))
        presence.user_id = None
        presence.state = "logged_out"
        presence.state_since = at
        presence.pause_reason = None
        presence.campaign_id = None
        presence.attempt_id = None
        presence.session_started_at = None
        session.add(presence)
        session.flush()
    return command.id


def _request_view(session: Session, row: PauseRequest) -> PauseRequestView:
    assert row.id is not None
    user = session.get(User, row.user_id)
    station = session.get(Station, row.station_id) if row.station_id is not None else None
    return PauseRequestView(row.id, station.name if station else None,
                            user.login if user else "?", user.display_name if user else "?",
                            row.reason, row.requested_at, row.status)


def request_pause(*, session: Session, actor: Actor, station_id: int | None,
                  reason: PauseReason | str, now: datetime | None = None) -> PauseRequestView:
    """An operator asks for a pause; it waits for a supervisor's decision. A newer request
    replaces a pending one of the same operator."""
    require_role(actor, [Role.OPERATOR])
    if actor.user_id is None:
        raise PermissionDeniedError(_("Nobody is logged in."))
    try:
        why = PauseReason(reason)
    except ValueError:
        raise ValidationError(_("Unknown pause reason '{reason}'.").format(
            reason=reason)) from None
    session.execute(update(PauseRequest).where(
        col(PauseRequest.user_id) == actor.user_id,
        col(PauseRequest.status) == PauseRequestStatus.PENDING,
    ).values(status=PauseRequestStatus.CANCELLED))
    row = PauseRequest(user_id=actor.user_id, station_id=station_id, reason=str(why),
                       requested_at=now or utcnow())
    session.add(row)
    session.flush()
    audit.record(session=session, actor=actor, action="pause.request",
                 target=f"user:{actor.user_id}",
                 details={"request_id": row.id, "reason": str(why), "station_id": station_id})
    return _request_view(session, row)


def cancel_pause_request(*, session: Session, actor: Actor) -> int:
    """The operator withdraws their pending request(s); returns how many."""
    require_role(actor, [Role.OPERATOR])
    rows = session.exec(select(PauseRequest).where(
        PauseRequest.user_id == actor.user_id,
        PauseRequest.status == PauseRequestStatus.PENDING)).all()
    for row in rows:
        row.status = PauseRequestStatus.CANCELLED
        session.add(row)
    if rows:
        session.flush()
        audit.record(session=session, actor=actor, action="pause.request_cancelled",
                     target=f"user:{actor.user_id}",
                     details={"request_ids": [r.id for r in rows]})
    return len(rows)


def pending_pauses(*, session: Session, actor: Actor) -> tuple[PauseRequestView, ...]:
    require_role(actor, SUPERVISORS)
    # One join (the floor reads it every second).
    rows = session.connection().execute(
        sa_select(col(PauseRequest.id), col(Station.name), col(User.login),
                  col(User.display_name), col(PauseRequest.reason),
                  col(PauseRequest.requested_at))
        .join(User, col(User.id) == col(PauseRequest.user_id))
        .outerjoin(Station, col(Station.id) == col(PauseRequest.station_id))
        .where(col(PauseRequest.status) == PauseRequestStatus.PENDING.value)
        .order_by(col(PauseRequest.requested_at), col(PauseRequest.id))).all()
    return tuple(PauseRequestView(rid or 0, station, login, name, reason, requested)
                 for rid, station, login, name, reason, requested in rows)


def decide_pause(*, session: Session, actor: Actor, request_id: int, approve: bool,
                 now: datetime | None = None) -> PauseRequestView:
    """Approve or refuse a pending pause request; the station learns it on its next
    heartbeat (an approved pause starts there, after the call in progress if any)."""
    require_role(actor, SUPERVISORS)
    issuer = _issuer(actor)
    row = session.get(PauseRequest, request_id)
    if row is None:
        raise NotFoundError(_("No pause request {id}.").format(id=request_id))
    if row.status != PauseRequestStatus.PENDING:
        raise ValidationError(_("This pause request was already decided or withdrawn."))
    at = now or utcnow()
    row.status = PauseRequestStatus.APPROVED if approve else PauseRequestStatus.REFUSED
    row.decided_by = issuer
    row.decided_at = at
    session.add(row)
    if row.station_id is not None:
        session.add(StationCommand(
            station_id=row.station_id, kind=StationCommandKind.PAUSE_DECISION,
            payload={"request_id": row.id, "approved": approve, "reason": row.reason,
                     "user_id": row.user_id},
            issued_by=issuer, issued_at=at))
    session.flush()
    audit.record(session=session, actor=actor,
                 action="pause.approved" if approve else "pause.refused",
                 target=f"user:{row.user_id}",
                 details={"request_id": row.id, "reason": row.reason})
    return _request_view(session, row)


# --- station-bound logins ------------------------------------------------------------------
def assign_station(*, session: Session, actor: Actor, login: str, station_name: str,
                   now: datetime | None = None) -> AssignmentView:
    """Allow an operator to log in at a station (audited)."""
    require_role(actor, SUPERVISORS)
    user = _user(session, login)
    station = _station(session, name=station_name)
    if user.role != Role.OPERATOR:
        # One sentence per role: the role is a word of the sentence, in its language.
        refusal = {str(Role.SUPERVISOR): _("Only operators are bound to stations; {login} is a "
                                           "supervisor."),
                   str(Role.ADMIN): _("Only operators are bound to stations; {login} is an "
                                      "admin.")}
        raise ValidationError(refusal.get(user.role, _(
            "Only operators are bound to stations; {login} is not an operator.")).format(
            login=user.login))
    assert user.id is not None and station.id is not None
    if session.get(StationAssignment, (user.id, station.id)) is not None:
        raise ValidationError(_("{login} is already assigned to {station}.").format(
            login=user.login, station=station.name))
    row = StationAssignment(user_id=user.id, station_id=station.id,
                            assigned_at=now or utcnow())
    session.add(row)
    session.flush()
    audit.record(session=session, actor=actor, action="station.assign", target=station.name,
                 details={"login": user.login})
    return AssignmentView(user.login, user.display_name, station.name, row.assigned_at)


def unassign_station(*, session: Session, actor: Actor, login: str, station_name: str) -> None:
    """Withdraw an operator's right to log in at a station (audited)."""
    require_role(actor, SUPERVISORS)
    user = _user(session, login)
    station = _station(session, name=station_name)
    row = session.get(StationAssignment, (user.id, station.id))
    if row is None:
        raise ValidationError(_("{login} is not assigned to {station}.").format(
            login=user.login, station=station.name))
    session.delete(row)
    session.flush()
    audit.record(session=session, actor=actor, action="station.unassign", target=station.name,
                 details={"login": user.login})


def list_assignments(*, session: Session, actor: Actor,
                     login: str | None = None) -> list[AssignmentView]:
    require_role(actor, SUPERVISORS)
    query = select(StationAssignment, User, Station).where(
        StationAssignment.user_id == User.id, StationAssignment.station_id == Station.id)
    if login is not None:
        query = query.where(User.login == _user(session, login).login)
    rows = session.exec(query.order_by(col(User.login), col(Station.name))).all()
    return [AssignmentView(u.login, u.display_name, s.name, a.assigned_at)
            for a, u, s in rows]


def login_refusal(*, session: Session, user: User, station_id: int | None,
                  site: SiteConfig, now: datetime) -> str | None:
    """Why this user may not log in here now (a translated sentence), or None.

    Called by the login once the password is known to be right, so the answer tells
    nothing to someone who does not have it."""
    if user.role != Role.OPERATOR:
        return None
    if station_id is None:
        return _("Operators log in only at their own station. Ask your supervisor.")
    if session.get(StationAssignment, (user.id, station_id)) is None:
        return _("This station is not assigned to you. Ask your supervisor.")
    local = now.astimezone(ZoneInfo(site.timezone))
    if site_windows(site).closed_why(local) is not None:
        start, end = site.working_hours
        return _("Logins are open during the site's working hours only ({start}–{end}).") \
            .format(start=start, end=end)
    return None


# --- callbacks -----------------------------------------------------------------------------
def reassign_callbacks(*, session: Session, actor: Actor, from_login: str,
                       to_login: str | None) -> int:
    """Give a missing operator's pending personal callbacks to another operator, or to
    anyone (``to_login=None``). Returns how many moved (audited when any did)."""
    require_role(actor, SUPERVISORS)
    source = _user(session, from_login)
    target: User | None = None
    if to_login is not None:
        target = _user(session, to_login)
        if target.id == source.id:
            raise ValidationError(_("Choose an operator other than {login}.").format(
                login=source.login))
        if target.role != Role.OPERATOR or target.disabled:
            raise ValidationError(_("{login} is not an active operator.").format(
                login=target.login))
    ids = list(session.exec(select(Callback.id).where(
        Callback.personal_operator_id == source.id,
        Callback.status == CallbackStatus.PENDING)).all())
    if not ids:
        return 0
    session.execute(update(Callback).where(col(Callback.id).in_(ids)).values(
        personal_operator_id=target.id if target is not None else None))
    session.flush()
    audit.record(session=session, actor=actor, action="callbacks.reassign",
                 target=f"user:{source.login}",
                 details={"to": target.login if target is not None else None,
                          "count": len(ids), "callback_ids": ids[:100]})
    return len(ids)

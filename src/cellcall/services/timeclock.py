"""The timeclock: worked time and pauses, for pay.

A user has at most one open entry at a time: work while clocked in, a pause (with its
reason) while paused. Starting a pause closes the work entry and opens a pause; ending it
does the reverse; clocking out (at logout) closes whatever is open. Totals are counted in
the site's local day, cut at local midnight, so a shift over midnight counts on both days.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from types import MappingProxyType
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, or_, select

from cellcall.errors import NotFoundError, PermissionDeniedError, ValidationError
from cellcall.i18n import _
from cellcall.models.timeclock import PauseReason, TimeEntry, TimeEntryKind
from cellcall.models.users import Role, Station
from cellcall.services import audit
from cellcall.services.actors import Actor, require_role

WORKERS = (Role.OPERATOR, Role.SUPERVISOR)


@dataclass(frozen=True)
class TimeEntryView:
    id: int
    user_id: int
    station_id: int | None
    kind: str
    reason: str | None
    started_at: datetime
    ended_at: datetime | None


@dataclass(frozen=True)
class DaySummary:
    """One user's local day: worked time, paused time, and pauses by reason."""

    day: date
    work: timedelta
    paused: timedelta
    pauses: Mapping[str, timedelta]


def _view(entry: TimeEntry) -> TimeEntryView:
    assert entry.id is not None
    return TimeEntryView(entry.id, entry.user_id, entry.station_id, entry.kind, entry.reason,
                         entry.started_at, entry.ended_at)


def _aware(now: datetime) -> datetime:
    if now.tzinfo is None:
        raise ValueError("naive datetime given to the timeclock")
    return now.astimezone(UTC)


def _user_id(actor: Actor) -> int:
    require_role(actor, WORKERS)
    if actor.user_id is None:
        raise PermissionDeniedError(_("Nobody is logged in."))
    return actor.user_id


def open_entry(*, session: Session, user_id: int) -> TimeEntry | None:
    """The user's open entry, if any (there is at most one)."""
    return session.exec(select(TimeEntry).where(
        TimeEntry.user_id == user_id, col(TimeEntry.ended_at).is_(None))
        .order_by(col(TimeEntry.started_at).desc())).first()


def _close(session: Session, entry: TimeEntry, now: datetime) -> None:
    # A clock that stepped back must not make a negative entry.
    entry.ended_at = max(now, entry.started_at)
    session.add(entry)


def _open(session: Session, *, user_id: int, station_id: int | None, kind: TimeEntryKind,
          reason: PauseReason | None, now: datetime) -> TimeEntry:
    entry = TimeEntry(user_id=user_id, station_id=station_id, kind=kind,
                      reason=None if reason is None else str(reason), started_at=now)
    session.add(entry)
    session.flush()
    return entry


def clock_in(*, session: Session, actor: Actor, station_id: int | None,
             now: datetime) -> TimeEntryView:
    """Start a work entry; refused while the user already has an open entry."""
    user_id = _user_id(actor)
    at = _aware(now)
    if station_id is not None and session.get(Station, station_id) is None:
        raise NotFoundError(_("This station does not exist."))
    current = open_entry(session=session, user_id=user_id)
    if current is not None:
        raise ValidationError(_(
            "You are already clocked in (since {time} UTC). If your previous session ended "
            "abruptly, ask your supervisor to close it.").format(
                time=current.started_at.strftime("%H:%M")))
    entry = _open(session, user_id=user_id, station_id=station_id, kind=TimeEntryKind.WORK,
                  reason=None, now=at)
    audit.record(session=session, actor=actor, action="clock.in", target=f"user:{user_id}",
                 details={"entry_id": entry.id, "station_id": station_id})
    return _view(entry)


def start_pause(*, session: Session, actor: Actor, reason: PauseReason | str,
                now: datetime) -> TimeEntryView:
    """Close the open work entry and open a pause with its reason."""
    user_id = _user_id(actor)
    at = _aware(now)
    try:
        why = PauseReason(reason)
    except ValueError:
        raise ValidationError(_("Unknown pause reason '{reason}'.").format(
            reason=reason)) from None
    current = open_entry(session=session, user_id=user_id)
    if current is None:
        raise ValidationError(_("You are not clocked in."))
    if current.kind == TimeEntryKind.PAUSE:
        raise ValidationError(_("You are already on a pause."))
    _close(session, current, at)
    entry = _open(session, user_id=user_id, station_id=current.station_id,
                  kind=TimeEntryKind.PAUSE, reason=why, now=at)
    audit.record(session=session, actor=actor, action="pause.start", target=f"user:{user_id}",
                 details={"entry_id": entry.id, "reason": str(why)})
    return _view(entry)


def end_pause(*, session: Session, actor: Actor, now: datetime) -> TimeEntryView:
    """Close the open pause and open a work entry."""
    user_id = _user_id(actor)
    at = _aware(now)
    current = open_entry(session=session, user_id=user_id)
    if current is None or current.kind != TimeEntryKind.PAUSE:
        raise ValidationError(_("You are not on a pause."))
    _close(session, current, at)
    entry = _open(session, user_id=user_id, station_id=current.station_id,
                  kind=TimeEntryKind.WORK, reason=None, now=at)
    audit.record(session=session, actor=actor, action="pause.end", target=f"user:{user_id}",
                 details={"entry_id": entry.id, "reason": current.reason,
                          "seconds": int((at - current.started_at).total_seconds())})
    return _view(entry)


def clock_out(*, session: Session, actor: Actor, now: datetime) -> TimeEntryView | None:
    """Close whatever is open (at logout). Nothing open: nothing happens, nothing audited."""
    user_id = _user_id(actor)
    at = _aware(now)
    current = open_entry(session=session, user_id=user_id)
    if current is None:
        return None
    _close(session, current, at)
    audit.record(session=session, actor=actor, action="clock.out", target=f"user:{user_id}",
                 details={"entry_id": current.id, "kind": current.kind})
    session.flush()
    return _view(current)


def close_open_entry(*, session: Session, actor: Actor, user_id: int,
                     at: datetime) -> TimeEntryView | None:
    """A supervisor closes a user's entry left open by a session that died, at the time
    they establish (not now: the gap is not paid by default)."""
    require_role(actor, [Role.SUPERVISOR, Role.ADMIN])
    moment = _aware(at)
    current = open_entry(session=session, user_id=user_id)
    if current is None:
        return None
    if moment < current.started_at:
        raise ValidationError(_("The closing time is before the entry started."))
    _close(session, current, moment)
    audit.record(session=session, actor=actor, action="clock.close", target=f"user:{user_id}",
                 details={"entry_id": current.id, "kind": current.kind,
                          "ended_at": moment.isoformat()})
    session.flush()
    return _view(current)


# --- totals -------------------------------------------------------------------------------

def local_day_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """[start, end) of a local calendar day as aware UTC (23 or 25 hours on DST days)."""
    start = datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)
    return start, end


def _summary(session: Session, user_id: int, now: datetime, site_timezone: str) -> DaySummary:
    at = _aware(now)
    zone = ZoneInfo(site_timezone)
    day = at.astimezone(zone).date()
    start, end = local_day_bounds(day, zone)
    until = min(end, at)
    entries = session.exec(select(TimeEntry).where(
        TimeEntry.user_id == user_id,
        col(TimeEntry.started_at) < until,
        or_(col(TimeEntry.ended_at).is_(None), col(TimeEntry.ended_at) > start))).all()
    work = timedelta(0)
    pauses: dict[str, timedelta] = {}
    for entry in entries:
        # Clip to the local day; an open entry runs until now.
        begin = max(entry.started_at, start)
        finish = min(entry.ended_at or at, until)
        if finish <= begin:
            continue
        length = finish - begin
        if entry.kind == TimeEntryKind.WORK:
            work += length
        else:
            reason = entry.reason or ""
            pauses[reason] = pauses.get(reason, timedelta(0)) + length
    return DaySummary(day, work, sum(pauses.values(), timedelta(0)), MappingProxyType(pauses))


def worked_today(*, session: Session, user_id: int, now: datetime,
                 site_timezone: str) -> timedelta:
    """Time worked (pauses excluded) in the site's local day containing ``now``.

    For the logged-in user's own counter; reading someone else's goes through
    ``day_summary``, which checks the role.
    """
    return _summary(session, user_id, now, site_timezone).work


def day_summary(*, session: Session, actor: Actor, user_id: int, now: datetime,
                site_timezone: str) -> DaySummary:
    """Worked time and pauses by reason for the local day; operators see only their own."""
    require_role(actor, [Role.OPERATOR, Role.SUPERVISOR, Role.ADMIN])
    if actor.role == Role.OPERATOR and actor.user_id != user_id:
        raise PermissionDeniedError(_("You are not allowed to do this."))
    return _summary(session, user_id, now, site_timezone)

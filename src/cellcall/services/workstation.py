"""The operator's working loop as plain Python: the TUI drives this, never SQL.

``Workstation`` binds one logged-in user to one station and one engine, and exposes the
few things a station does: claim the next contact, keep its lease, record the outcome,
pause, log out. Every call opens its own short transaction (``run_write``), so the TUI can
run each in a worker thread. ``StationState`` is the state machine the screen shows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from cellcall.config import Config
from cellcall.db import read_session, run_write
from cellcall.errors import CellcallError, PermissionDeniedError
from cellcall.i18n import _
from cellcall.models.audit import AuditEvent
from cellcall.models.base import utcnow
from cellcall.models.campaigns import Campaign
from cellcall.models.contacts import Contact
from cellcall.models.timeclock import PauseReason
from cellcall.models.users import Role, Station
from cellcall.services import auth, outcomes, queue, scripts, timeclock
from cellcall.services.actors import SYSTEM, Actor
from cellcall.services.auth import LoggedIn


class StationState(StrEnum):
    LOGGED_OUT = "logged_out"
    READY = "ready"
    PREVIEW = "preview"
    DIALING = "dialing"
    TALKING = "talking"
    WRAP_UP = "wrap_up"
    PAUSED = "paused"


# Which state may follow which: anything else is a bug in the caller, refused loudly.
TRANSITIONS: dict[StationState, frozenset[StationState]] = {
    StationState.LOGGED_OUT: frozenset({StationState.READY}),
    StationState.READY: frozenset({StationState.PREVIEW, StationState.PAUSED,
                                   StationState.LOGGED_OUT}),
    StationState.PREVIEW: frozenset({StationState.DIALING, StationState.READY,
                                     StationState.PAUSED, StationState.LOGGED_OUT,
                                     StationState.WRAP_UP}),
    # Back to Preview when the engine refused the dial before any INVITE left.
    StationState.DIALING: frozenset({StationState.TALKING, StationState.WRAP_UP,
                                     StationState.PREVIEW}),
    StationState.TALKING: frozenset({StationState.WRAP_UP}),
    StationState.WRAP_UP: frozenset({StationState.READY, StationState.PAUSED,
                                     StationState.LOGGED_OUT}),
    StationState.PAUSED: frozenset({StationState.READY, StationState.LOGGED_OUT}),
}


@dataclass
class StateClock:
    """The current state and since when (each state shows its own timer)."""

    state: StationState = StationState.LOGGED_OUT
    since: datetime = field(default_factory=utcnow)
    pause_reason: PauseReason | None = None

    def move(self, new: StationState, *, now: datetime | None = None,
             pause_reason: PauseReason | None = None) -> None:
        if new != self.state and new not in TRANSITIONS[self.state]:
            raise CellcallError(_("This action is not possible now."))
        self.state = new
        self.since = now or utcnow()
        self.pause_reason = pause_reason if new == StationState.PAUSED else None

    def elapsed(self, now: datetime | None = None) -> timedelta:
        return (now or utcnow()) - self.since


@dataclass(frozen=True)
class WrapUpContext:
    """What the wrap-up form needs, as plain data."""

    dispositions: tuple[outcomes.DispositionSpec, ...]
    script: scripts.CallScript | None
    free_slots: tuple[datetime, ...]
    callee_time_zone: str


def _last_activity(session: Session, login: str, floor: datetime) -> datetime:
    """When the user last did something before the login that just happened."""
    mine = select(AuditEvent).where(AuditEvent.actor == login).order_by(
        col(AuditEvent.id).desc())
    events = session.exec(mine.limit(50)).all()
    # events[0] is the login of this session; what came before it is the dead session.
    for event in events[1:]:
        if event.action != "login":
            return max(event.at, floor)
    return floor


class Workstation:
    """One user at one station: the services a station uses, each its own transaction."""

    def __init__(self, *, engine: Engine, config: Config, station_name: str | None) -> None:
        self.engine = engine
        self.config = config
        self.station_name = station_name
        self.station_id: int | None = self._station_id(station_name)
        self.user: LoggedIn | None = None
        self.clock = StateClock()
        self.current: queue.ClaimedContact | None = None
        self._script_cache: dict[tuple[str, str], scripts.CallScript] = {}

    def _station_id(self, name: str | None) -> int | None:
        if not name:
            return None
        with read_session(self.engine) as session:
            station = session.exec(select(Station).where(Station.name == name)).first()
        if station is None:
            raise CellcallError(_("Unknown station '{name}'.").format(name=name))
        return station.id

    @property
    def in_call(self) -> bool:
        return self.clock.state in (StationState.DIALING, StationState.TALKING)

    @property
    def actor(self) -> Actor:
        if self.user is None:
            raise PermissionDeniedError(_("Nobody is logged in."))
        return Actor(login=self.user.login, role=self.user.role, user_id=self.user.user_id,
                     station_id=self.station_id)

    # --- session --------------------------------------------------------------------
    def login(self, login: str, password: str) -> LoggedIn:
        user = auth.authenticate(engine=self.engine, login=login, password=password,
                                 security=self.config.security)
        self.user = user
        return user

    def unlock(self, password: str) -> LoggedIn:
        """After an idle lock: only the same user may come back."""
        if self.user is None:
            raise PermissionDeniedError(_("Nobody is logged in."))
        return auth.authenticate(engine=self.engine, login=self.user.login, password=password,
                                 security=self.config.security)

    def change_password(self, old: str, new: str) -> None:
        if self.user is None:
            raise PermissionDeniedError(_("Nobody is logged in."))
        auth.change_password(engine=self.engine, user_id=self.user.user_id, old_password=old,
                             new_password=new, security=self.config.security)
        self.user = LoggedIn(**{**self.user.__dict__, "must_change_password": False})

    def start_shift(self) -> None:
        """Clock in and become Ready (operators only)."""
        actor = self.actor
        if actor.role != Role.OPERATOR:
            raise PermissionDeniedError(_("Only operators work at a station."))

        def work(session: Session) -> None:
            stale = timeclock.open_entry(session=session, user_id=actor.user_id or 0)
            if stale is not None:
                # A terminal died with the shift open: close it at the user's last traced
                # action, so the dead time is neither paid nor blocking today's clock-in.
                timeclock.close_open_entry(session=session, actor=SYSTEM,
                                           user_id=actor.user_id or 0,
                                           at=_last_activity(session, actor.login,
                                                             stale.started_at))
            timeclock.clock_in(session=session, actor=actor, station_id=self.station_id,
                               now=utcnow())

        run_write(self.engine, work)
        self.clock.move(StationState.READY)

    def logout(self) -> None:
        if self.user is None:
            return
        actor = self.actor
        if self.current is not None:
            self.release_current()
        if actor.role == Role.OPERATOR:
            run_write(self.engine, lambda s: timeclock.clock_out(
                session=s, actor=actor, now=utcnow()))
        auth.logout(engine=self.engine, actor=actor)
        self.clock = StateClock()
        self.user = None

    # --- the queue ------------------------------------------------------------------
    def claim_next(self) -> queue.ClaimedContact | queue.NothingCallable:
        actor = self.actor
        rules = queue.load_rules(Path(self.config.queue.rules_file)
                                 if self.config.queue.rules_file else None,
                                 site=self.config.site)
        result = queue.claim(engine=self.engine, actor=actor, station_id=self.station_id,
                             rules=rules, lease_seconds=self.config.queue.lease_seconds)
        if isinstance(result, queue.ClaimedContact):
            self.current = result
            self.clock.move(StationState.PREVIEW)
        return result

    def renew_lease(self) -> datetime | None:
        if self.current is None:
            return None
        actor, attempt_id = self.actor, self.current.attempt_id
        return run_write(self.engine, lambda s: queue.renew_lease(
            session=s, actor=actor, attempt_id=attempt_id,
            lease_seconds=self.config.queue.lease_seconds))

    def forget_current(self) -> None:
        """The lease was lost (long lock): the contact is someone else's now."""
        self.current = None

    def release_current(self) -> None:
        if self.current is None:
            return
        actor, attempt_id = self.actor, self.current.attempt_id
        run_write(self.engine, lambda s: queue.release(
            session=s, actor=actor, attempt_id=attempt_id))
        self.current = None

    # --- script and wrap-up -----------------------------------------------------------
    def script(self) -> scripts.CallScript | None:
        contact = self.current
        if contact is None or not contact.script_path:
            return None
        key = (contact.script_path, contact.language)
        if key not in self._script_cache:
            self._script_cache[key] = scripts.script_for(Path(contact.script_path),
                                                         contact.language)
        return self._script_cache[key]

    def wrap_up_context(self) -> WrapUpContext:
        contact = self.current
        if contact is None:
            raise CellcallError(_("There is no contact to wrap up."))
        script = self.script()
        with read_session(self.engine) as session:
            campaign = session.get(Campaign, contact.campaign_id)
            assert campaign is not None
            slots: list[datetime] = []
            if script is not None and script.calendar is not None:
                slots = outcomes.free_slots(session=session, campaign_id=contact.campaign_id,
                                            calendar=script.calendar, now=utcnow())
            specs = outcomes.dispositions_for(campaign_type=campaign.type, script=script,
                                              configured=list(campaign.dispositions))
            row = session.get(Contact, contact.contact_id)
            assert row is not None
            zone = str(outcomes.callee_zone(row))
        return WrapUpContext(tuple(specs), script, tuple(slots), zone)

    def record_outcome(self, data: outcomes.OutcomeInput) -> int:
        contact = self.current
        if contact is None:
            raise CellcallError(_("There is no contact to wrap up."))
        actor, script = self.actor, self.script()
        outcome_id = run_write(self.engine, lambda s: outcomes.record_outcome(
            session=s, actor=actor, attempt_id=contact.attempt_id, data=data, script=script))
        self.current = None
        self.clock.move(StationState.READY)
        return outcome_id

    def record_automatic(self, result: str) -> int:
        """Busy, no answer, wrong number, technical failure: no form to fill."""
        return self.record_outcome(outcomes.OutcomeInput(disposition=result))

    # --- pauses and hours -------------------------------------------------------------
    def pause(self, reason: PauseReason) -> None:
        actor = self.actor
        if self.current is not None and self.clock.state == StationState.PREVIEW:
            self.release_current()
        run_write(self.engine, lambda s: timeclock.start_pause(
            session=s, actor=actor, reason=reason, now=utcnow()))
        self.clock.move(StationState.PAUSED, pause_reason=reason)

    def resume(self) -> None:
        actor = self.actor
        run_write(self.engine, lambda s: timeclock.end_pause(session=s, actor=actor,
                                                             now=utcnow()))
        self.clock.move(StationState.READY)

    def worked_today(self) -> timedelta:
        if self.user is None:
            return timedelta(0)
        user_id = self.user.user_id
        with read_session(self.engine) as session:
            summary: timedelta = timeclock.worked_today(
                session=session, user_id=user_id, now=utcnow(),
                site_timezone=self.config.site.timezone)
        return summary

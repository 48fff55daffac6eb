"""The operator's working loop as plain Python: the TUI drives this, never SQL.

``Workstation`` binds one logged-in user to one station and one engine, and exposes the
few things a station does: claim the next contact, keep its lease, record the outcome,
pause, log out. Every call opens its own short transaction (``run_write``), so the TUI can
run each in a worker thread. ``StationState`` is the state machine the screen shows.

Presence: the station writes its own ``station_presence`` row (one UPDATE; an INSERT the
first time) on every state change and in ``heartbeat()``, which the TUI calls every
``[supervision] heartbeat_seconds`` from a worker thread. Changes made by the station's
own methods are written at once (they already run in a worker); a state moved by the
screen itself (``clock.move`` on the UI thread: dialing, talking, wrap-up) is written by a
small background thread, so the UI thread never waits for the database. The heartbeat
also returns the station's orders (force logout, pause decided, site stop) and carries out
what it can itself.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar

from sqlalchemy import Table, insert, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlmodel import Session, col, select

from cellcall.config import Config
from cellcall.db import read_session, run_core_write, run_write
from cellcall.errors import CellcallError, PermissionDeniedError
from cellcall.i18n import _
from cellcall.models.audit import AuditEvent
from cellcall.models.base import utcnow
from cellcall.models.campaigns import Campaign
from cellcall.models.contacts import Contact
from cellcall.models.floor import StationCommand, StationCommandKind, StationPresence
from cellcall.models.timeclock import PauseReason
from cellcall.models.users import Role, Station, User
from cellcall.services import auth, outcomes, queue, scripts, site_controls, timeclock
from cellcall.services.actors import SYSTEM, Actor
from cellcall.services.auth import LoggedIn

log = logging.getLogger(__name__)


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
    # Told of every move (the workstation publishes its presence).
    listener: Callable[[StationState], None] | None = field(
        default=None, repr=False, compare=False)

    def move(self, new: StationState, *, now: datetime | None = None,
             pause_reason: PauseReason | None = None) -> None:
        if new != self.state and new not in TRANSITIONS[self.state]:
            raise CellcallError(_("This action is not possible now."))
        self.state = new
        self.since = now or utcnow()
        self.pause_reason = pause_reason if new == StationState.PAUSED else None
        if self.listener is not None:
            self.listener(new)

    def elapsed(self, now: datetime | None = None) -> timedelta:
        return (now or utcnow()) - self.since


@dataclass(frozen=True)
class WrapUpContext:
    """What the wrap-up form needs, as plain data."""

    dispositions: tuple[outcomes.DispositionSpec, ...]
    script: scripts.CallScript | None
    free_slots: tuple[datetime, ...]
    callee_time_zone: str


# --- what the heartbeat tells the station ------------------------------------------------------
@dataclass(frozen=True)
class ForceLogout:
    """A supervisor logged this station out. ``done``: the station has released its
    contact, clocked out and logged out (show the login screen). Not done: a call is in
    progress; hang it up, the logout follows on the heartbeat after the call ended (the
    outcome is then recorded as a technical failure: the contact goes back to the queue
    without counting against the callee's caps)."""

    KIND: ClassVar[str] = "force_logout"
    done: bool
    issued_at: datetime


@dataclass(frozen=True)
class PauseDecided:
    """A supervisor decided on this operator's pause request. ``started``: the station is
    now paused (approved while ready or in preview). Approved but not started: a call is
    in progress; the pause starts on the heartbeat after it (this order repeats until)."""

    KIND: ClassVar[str] = "pause_decided"
    request_id: int
    approved: bool
    reason: str
    started: bool


@dataclass(frozen=True)
class SiteStopActive:
    """A site stop is in force: nothing dials (repeated on every heartbeat until lifted)."""

    KIND: ClassVar[str] = "site_stop"
    reason: str
    since: datetime
    started_by: str


StationOrder = ForceLogout | PauseDecided | SiteStopActive
IN_CALL = frozenset({StationState.DIALING, StationState.TALKING})
_PRESENCE: Table = StationPresence.__table__  # type: ignore[attr-defined]
_COMMANDS: Table = StationCommand.__table__  # type: ignore[attr-defined]


class _PresencePublisher:
    """Writes the presence row in its own thread when poked, always with the station's
    state at the time of writing (pokes in a burst make one write)."""

    def __init__(self, write: Callable[[], None]) -> None:
        self._write = write
        self._cond = threading.Condition()
        self._wanted = 0
        self._written = 0
        self._closed = False
        self._thread: threading.Thread | None = None

    def poke(self) -> None:
        with self._cond:
            if self._closed:
                return
            self._wanted += 1
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="cellcall-presence",
                                                daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._closed or self._written < self._wanted)
                if self._written >= self._wanted:
                    return  # closed, nothing left to write
                target = self._wanted
            try:
                self._write()
            except Exception:  # the next heartbeat writes it again
                log.warning("presence not written", exc_info=True)
            with self._cond:
                self._written = target
                self._cond.notify_all()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every poke so far is written (tests; shutting down)."""
        with self._cond:
            target = self._wanted
            return self._cond.wait_for(lambda: self._written >= target, timeout)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()


def _write_presence(conn: Connection, station_id: int, values: dict[str, Any]) -> None:
    """One UPDATE; the first time, an INSERT. ``monitor_uri`` is the engine's: never set
    here except to its empty default on insert."""
    where = _PRESENCE.c.station_id == station_id
    if conn.execute(update(_PRESENCE).where(where).values(**values)).rowcount:
        return
    try:
        with conn.begin_nested():
            conn.execute(insert(_PRESENCE).values(station_id=station_id, monitor_uri="",
                                                  **values))
    except IntegrityError:  # the engine inserted the row meanwhile
        conn.execute(update(_PRESENCE).where(where).values(**values))


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
        self.current: queue.ClaimedContact | None = None
        self._script_cache: dict[tuple[str, str], scripts.CallScript] = {}
        # Whether the agent leg (desk phone) and the PBX are up, for the floor: the screen
        # sets it from the phone's events (set_phone_up, or heartbeat(phone_up=...)).
        self.phone_up = True
        # When this operator's shift began here: orders older than that are not theirs.
        self.session_started_at: datetime | None = None
        self.pending_pause: site_controls.PauseRequestView | None = None
        self._inline = threading.local()
        self._publisher = _PresencePublisher(self.publish_presence)
        self.clock = self._new_clock()

    def _station_id(self, name: str | None) -> int | None:
        if not name:
            return None
        with read_session(self.engine) as session:
            station = session.exec(select(Station).where(Station.name == name)).first()
        if station is None:
            raise CellcallError(_("Unknown station '{name}'.").format(name=name))
        return station.id

    # --- presence ---------------------------------------------------------------------
    def _new_clock(self) -> StateClock:
        return StateClock(listener=self._moved)

    def _moved(self, _state: StationState) -> None:
        # A move made by the station's own methods is published by them, at once.
        if not getattr(self._inline, "active", False):
            self._publisher.poke()

    def _move(self, new: StationState, *, pause_reason: PauseReason | None = None) -> None:
        """Move the clock and publish the presence now (in the caller's thread)."""
        self._inline.active = True
        try:
            self.clock.move(new, pause_reason=pause_reason)
        finally:
            self._inline.active = False
        self._publish_quietly()

    def _presence_values(self, now: datetime) -> dict[str, Any]:
        user, clock, current = self.user, self.clock, self.current
        working = (user is not None and user.role == Role.OPERATOR
                   and clock.state != StationState.LOGGED_OUT)
        if not working:
            return {"user_id": None, "state": StationState.LOGGED_OUT.value,
                    "state_since": clock.since if user is not None else now,
                    "pause_reason": None, "campaign_id": None, "attempt_id": None,
                    "phone_up": self.phone_up, "session_started_at": None,
                    "heartbeat_at": now}
        assert user is not None
        return {"user_id": user.user_id, "state": clock.state.value,
                "state_since": clock.since,
                "pause_reason": clock.pause_reason.value if clock.pause_reason else None,
                "campaign_id": current.campaign_id if current is not None else None,
                "attempt_id": current.attempt_id if current is not None else None,
                "phone_up": self.phone_up, "session_started_at": self.session_started_at,
                "heartbeat_at": now}

    def publish_presence(self) -> None:
        """Write this station's presence row as it is now (one short transaction)."""
        station_id = self.station_id
        if station_id is None:
            return
        values = self._presence_values(utcnow())
        run_core_write(self.engine, lambda conn: _write_presence(conn, station_id, values))

    def _publish_quietly(self) -> None:
        # The presence is what the floor shows, never a reason to fail the operator's
        # action: the next heartbeat writes it again.
        try:
            self.publish_presence()
        except (SQLAlchemyError, CellcallError):
            log.warning("presence not written", exc_info=True)

    def flush_presence(self, timeout: float = 10.0) -> bool:
        """Wait for the background presence writes (tests, shutdown)."""
        return self._publisher.flush(timeout)

    def close(self) -> None:
        """Stop the background presence writer (the process is ending)."""
        self._publisher.close()

    def set_phone_up(self, up: bool) -> None:
        """The screen reports the agent leg / registration state (from phone events)."""
        if up != self.phone_up:
            self.phone_up = up
            self._publisher.poke()

    def heartbeat(self, *, phone_up: bool | None = None) -> tuple[StationOrder, ...]:
        """Publish the presence and return this station's orders, carrying out those it can
        (force logout, an approved pause); call it from a worker thread."""
        if phone_up is not None:
            self.phone_up = phone_up
        station_id = self.station_id
        if station_id is None:
            return ()
        with read_session(self.engine) as session:
            commands = list(session.exec(select(StationCommand).where(
                StationCommand.station_id == station_id,
                col(StationCommand.done_at).is_(None)).order_by(col(StationCommand.id))).all())
            stop = site_controls.active_site_stop(session=session)
        orders: list[StationOrder] = []
        done: list[int] = []
        for command in commands:
            order, finished = self._obey(command)
            if order is not None:
                orders.append(order)
            if finished and command.id is not None:
                done.append(command.id)
        if stop is not None:
            orders.append(SiteStopActive(stop.reason, stop.started_at, stop.started_by))
        now = utcnow()
        values = self._presence_values(now)

        def write(conn: Connection) -> None:
            _write_presence(conn, station_id, values)
            if done:
                conn.execute(update(_COMMANDS).where(_COMMANDS.c.id.in_(done))
                             .values(done_at=now))

        run_core_write(self.engine, write)
        return tuple(orders)

    def _obey(self, command: StationCommand) -> tuple[StationOrder | None, bool]:
        """(the order to report, whether the command is finished)."""
        user, state = self.user, self.clock.state
        started = self.session_started_at
        # An order given before this operator's shift began was meant for someone else.
        if user is None or started is None or command.issued_at < started:
            return None, True
        if command.kind == StationCommandKind.FORCE_LOGOUT:
            if state in IN_CALL:
                return ForceLogout(False, command.issued_at), False
            if state == StationState.WRAP_UP and self.current is not None:
                try:
                    self.record_automatic("technical_failure")
                except CellcallError:
                    # The form was saved meanwhile, or the attempt is settled already.
                    self.current = None
            self.logout()
            return ForceLogout(True, command.issued_at), True
        if command.kind == StationCommandKind.PAUSE_DECISION:
            payload = command.payload or {}
            if payload.get("user_id") != user.user_id:
                return None, True
            request_id = int(payload.get("request_id") or 0)
            reason = str(payload.get("reason") or "")
            if self.pending_pause is not None and self.pending_pause.id == request_id:
                self.pending_pause = None
            if not payload.get("approved"):
                return PauseDecided(request_id, False, reason, False), True
            if state in (StationState.READY, StationState.PREVIEW):
                self.pause(PauseReason(reason))
                return PauseDecided(request_id, True, reason, True), True
            if state in IN_CALL or state == StationState.WRAP_UP:
                return PauseDecided(request_id, True, reason, False), False
            return PauseDecided(request_id, True, reason, False), True
        return None, True

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
    def _gate(self, session: Session, user: User, at: datetime) -> str | None:
        return site_controls.login_refusal(session=session, user=user,
                                           station_id=self.station_id,
                                           site=self.config.site, now=at)

    def login(self, login: str, password: str) -> LoggedIn:
        """Station-bound: an operator only at an assigned station, within the site's
        working hours (``LoginRefusedError`` says which)."""
        user = auth.authenticate(engine=self.engine, login=login, password=password,
                                 security=self.config.security, gate=self._gate)
        self.user = user
        return user

    def unlock(self, password: str) -> LoggedIn:
        """After an idle lock: only the same user may come back, and an operator only
        while the login gate would let them in (a lock past closing time stays locked)."""
        if self.user is None:
            raise PermissionDeniedError(_("Nobody is logged in."))
        return auth.authenticate(engine=self.engine, login=self.user.login, password=password,
                                 security=self.config.security, gate=self._gate)

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
        self.session_started_at = utcnow()
        self._move(StationState.READY)

    def logout(self) -> None:
        if self.user is None:
            return
        actor = self.actor
        if self.current is not None:
            self.release_current()
        if actor.role == Role.OPERATOR:
            def close(s: Session) -> None:
                timeclock.clock_out(session=s, actor=actor, now=utcnow())
                site_controls.cancel_pause_request(session=s, actor=actor)

            run_write(self.engine, close)
        auth.logout(engine=self.engine, actor=actor)
        self.clock = self._new_clock()
        self.user = None
        self.session_started_at = None
        self.pending_pause = None
        self._publish_quietly()

    # --- the queue ------------------------------------------------------------------
    def site_stop(self) -> site_controls.SiteStopView | None:
        with read_session(self.engine) as session:
            return site_controls.active_site_stop(session=session)

    def claim_next(self) -> queue.ClaimedContact | queue.NothingCallable:
        actor = self.actor
        stop = self.site_stop()
        if stop is not None:
            return queue.NothingCallable(_("The site is stopped: {reason}").format(
                reason=stop.reason), None)
        rules = queue.load_rules(Path(self.config.queue.rules_file)
                                 if self.config.queue.rules_file else None,
                                 site=self.config.site)
        result = queue.claim(engine=self.engine, actor=actor, station_id=self.station_id,
                             rules=rules, lease_seconds=self.config.queue.lease_seconds)
        if isinstance(result, queue.ClaimedContact):
            self.current = result
            self._move(StationState.PREVIEW)
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
        if self.clock.state == StationState.PREVIEW:
            self._publish_quietly()

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
        self._move(StationState.READY)
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
        self.pending_pause = None
        self._move(StationState.PAUSED, pause_reason=reason)

    def request_pause(self, reason: PauseReason) -> site_controls.PauseRequestView | None:
        """Pause now when no approval is needed (technical, training, or approval off) and
        return None; otherwise ask a supervisor and return the pending request: the
        station keeps working until the decision comes with a heartbeat."""
        why = PauseReason(reason)
        if not self.config.supervision.pause_needs_approval \
                or why not in site_controls.NEEDS_APPROVAL:
            self.pause(why)
            return None
        actor, station_id = self.actor, self.station_id
        view = run_write(self.engine, lambda s: site_controls.request_pause(
            session=s, actor=actor, station_id=station_id, reason=why))
        self.pending_pause = view
        return view

    def cancel_pause_request(self) -> None:
        actor = self.actor
        run_write(self.engine, lambda s: site_controls.cancel_pause_request(
            session=s, actor=actor))
        self.pending_pause = None

    def resume(self) -> None:
        actor = self.actor
        run_write(self.engine, lambda s: timeclock.end_pause(session=s, actor=actor,
                                                             now=utcnow()))
        self._move(StationState.READY)

    def worked_today(self) -> timedelta:
        if self.user is None:
            return timedelta(0)
        user_id = self.user.user_id
        with read_session(self.engine) as session:
            summary: timedelta = timeclock.worked_today(
                session=session, user_id=user_id, now=utcnow(),
                site_timezone=self.config.site.timezone)
        return summary

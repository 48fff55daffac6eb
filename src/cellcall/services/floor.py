"""The supervisor's live floor: what every station is doing, how the campaigns stand, and
what needs a supervisor now. Read-only, supervisors and admins only.

Stations write their own presence rows (``services/workstation.py``); every refresh reads
them (one join over the stations), with today's pauses, newcomers, open monitor sessions,
pending pause requests and the site stop: states, timers and alerts are never older than
the stations' last writes.

Two sets of figures cost too much to recompute every second on a big site (200 stations,
1,000,000 contacts, 5,000,000 attempts: see ``scripts/bench_floor.py``) and are kept in a
per-process cache, recomputed in a background thread when older than their limit (a
refresh never waits for them, only the very first one does):

- today's call figures (``TODAY_FIGURES_SECONDS``): calls, talk and wrap-up time per
  operator, outcomes, contact rate, appointments and calls per hour per campaign, from the
  day's attempts along the covering index ``ix_call_attempts_day``;
- the campaigns' counts (``SLOW_FIGURES_SECONDS``): contacts by status (the whole table),
  and why the waiting ones are not callable now. These reasons come from the queue's own
  calling rules (``calling_rules.check_callable``) applied to a random sample of up to
  ``SAMPLE_SIZE`` waiting contacts per campaign (all of them when fewer) and scaled to
  the campaign: ``CampaignProgress.exact`` says which, ``sampled`` how many. A contact
  the rules allow is callable now only if an operator on the floor speaks its language
  (with nobody on the floor: any enabled operator).

``FloorSnapshot.figures_at`` and ``CampaignProgress.figures_at`` say when each set was
computed, for the console to show.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Float, and_, case, func, literal, or_, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement
from sqlmodel import Session, SQLModel

from cellcall.config import Config
from cellcall.db import read_session
from cellcall.errors import NotFoundError
from cellcall.i18n import _, ngettext
from cellcall.models.base import UTCDateTime, utcnow
from cellcall.models.campaigns import Campaign, CampaignStatus
from cellcall.models.contacts import Contact, ContactStatus
from cellcall.models.timeclock import TimeEntryKind
from cellcall.models.users import Role
from cellcall.services import site_controls
from cellcall.services.actors import Actor, require_role
from cellcall.services.calling_rules import check_callable, load_rules
from cellcall.services.site_controls import PauseRequestView, SiteStopView
from cellcall.services.timeclock import local_day_bounds

log = logging.getLogger(__name__)

SUPERVISORS = (Role.SUPERVISOR, Role.ADMIN)
SLOW_FIGURES_SECONDS = 10.0
TODAY_FIGURES_SECONDS = 5.0
SAMPLE_SIZE = 200
_PACE_SECONDS = 0.0005
IN_CALL_STATES = ("dialing", "talking")
LOGGED_OUT = "logged_out"
PAUSED = "paused"

_T = SQLModel.metadata.tables
STATIONS, PRESENCE, USERS = _T["stations"], _T["station_presence"], _T["users"]
CAMPAIGNS, CONTACTS, ATTEMPTS = _T["campaigns"], _T["contacts"], _T["call_attempts"]
OUTCOMES, APPOINTMENTS, ENTRIES = _T["outcomes"], _T["appointments"], _T["time_entries"]
MONITORS = _T["monitor_sessions"]
_QUEUED = (ContactStatus.NEW.value, ContactStatus.PENDING.value)


# --- portable SQL: seconds between two timestamps, and the UTC hour of one -----------------
class _SecondsBetween(FunctionElement[float]):
    type = Float()
    inherit_cache = True
    name = "seconds_between"


@compiles(_SecondsBetween, "sqlite")
def _seconds_sqlite(element: _SecondsBetween, compiler: Any, **kw: Any) -> str:
    later, earlier = list(element.clauses)
    return (f"((julianday({compiler.process(later, **kw)}) - "
            f"julianday({compiler.process(earlier, **kw)})) * 86400.0)")


@compiles(_SecondsBetween)
def _seconds_default(element: _SecondsBetween, compiler: Any, **kw: Any) -> str:
    later, earlier = list(element.clauses)
    return (f"EXTRACT(EPOCH FROM ({compiler.process(later, **kw)} - "
            f"{compiler.process(earlier, **kw)}))")


class _UtcHour(FunctionElement[str]):
    inherit_cache = True
    name = "utc_hour"


@compiles(_UtcHour, "sqlite")
def _hour_sqlite(element: _UtcHour, compiler: Any, **kw: Any) -> str:
    (value,) = list(element.clauses)
    return f"substr({compiler.process(value, **kw)}, 1, 13)"


@compiles(_UtcHour)
def _hour_default(element: _UtcHour, compiler: Any, **kw: Any) -> str:
    (value,) = list(element.clauses)
    return f"to_char({compiler.process(value, **kw)}, 'YYYY-MM-DD HH24')"


# --- what the console receives -------------------------------------------------------------
@dataclass(frozen=True)
class StationRow:
    station_id: int
    station_name: str
    operator_login: str | None
    operator_name: str | None
    state: str
    state_seconds: float
    pause_reason: str | None
    campaign_slug: str | None
    calls_today: int
    talk_seconds: float
    wrapup_seconds: float
    pause_seconds: float
    newcomer: bool
    phone_up: bool
    silent: bool
    attempt_id: int | None
    monitored_by: str | None
    monitor_mode: str | None = None
    heartbeat_at: datetime | None = None


@dataclass(frozen=True)
class CampaignProgress:
    campaign_id: int
    slug: str
    name: str
    total: int
    done: int
    remaining: int
    callable_now: int
    not_callable: tuple[tuple[str, int], ...]   # (translated reason, count), largest first
    outcomes: tuple[tuple[str, int], ...]       # today, by disposition
    contact_rate: float                         # today: answered / dialled
    appointments: int                           # booked today
    calls_per_hour: tuple[int, ...]             # today, site-local hours 0..23
    status: str = CampaignStatus.ACTIVE.value
    exact: bool = True          # callable_now / not_callable counted on every contact
    sampled: int = 0            # how many waiting contacts the rules were applied to
    figures_at: datetime | None = None   # when total/done/callable were computed


@dataclass(frozen=True)
class Alert:
    kind: str       # long_call, long_pause, silent, phone_down, nothing_callable, newcomer_call
    text: str
    since: datetime
    station_name: str | None
    campaign_slug: str | None


@dataclass(frozen=True)
class FloorSnapshot:
    at: datetime
    stations: tuple[StationRow, ...]
    campaigns: tuple[CampaignProgress, ...]
    alerts: tuple[Alert, ...]
    pending_pauses: tuple[PauseRequestView, ...]
    site_stop: SiteStopView | None
    figures_at: datetime | None = None   # when the day's call figures were computed


@dataclass(frozen=True)
class OperatorFigures:
    """Coaching figures, for the supervisor's eyes only (never shown to operators)."""

    operator_login: str
    operator_name: str
    days: int                       # the period: the last ``days`` site-local days
    calls: int                      # dialled
    connected: int
    contact_rate: float
    avg_talk_seconds: float
    outcomes: tuple[tuple[str, int], ...]
    calls_today: int
    connected_today: int
    connected_ever_capped: int      # connected calls ever, counted up to the newcomer limit
    newcomer: bool


# --- the slow figures (whole contacts table, calling rules) --------------------------------
@dataclass(frozen=True)
class _CampaignSlow:
    counts: dict[str, int]
    # One entry per sampled waiting contact: (its language, why not callable or None).
    sample: tuple[tuple[str, str | None], ...]
    exact: bool


@dataclass
class _Slow:
    campaigns: dict[int, _CampaignSlow]


@dataclass
class _Entry:
    at: float                       # time.monotonic() of the computation
    computed_at: datetime
    tag: object                     # what the value was computed for (recomputed if it differs)
    value: Any


class _Cache:
    """Figures too costly for every refresh: kept per database, recomputed in a background
    thread once older than the caller allows (the caller gets the previous value
    meanwhile, with its age); computed in the call the first time, when what they are
    about changed (``tag``), or when the caller allows no age at all."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, _Entry] = {}
        self._refreshing: set[str] = set()

    def get(self, key: str, tag: object, max_age: float, *, now: datetime,
            compute: Callable[[Session, datetime, bool], Any], session: Session) -> _Entry:
        with self._lock:
            entry = self._entries.get(key)
        if entry is None or max_age <= 0 or entry.tag != tag:
            entry = _Entry(time.monotonic(), now, tag, compute(session, now, False))
            with self._lock:
                self._entries[key] = entry
            return entry
        if time.monotonic() - entry.at > max_age:
            with self._lock:
                start = key not in self._refreshing
                self._refreshing.add(key)
            if start:
                engine = session.get_bind()
                threading.Thread(target=self._refresh, name="cellcall-floor-figures",
                                 args=(engine, key, tag, compute), daemon=True).start()
        return entry

    def _refresh(self, engine: Engine, key: str, tag: object,
                 compute: Callable[[Session, datetime, bool], Any]) -> None:
        try:
            at = utcnow()
            with read_session(engine) as session:
                value = compute(session, at, True)
            with self._lock:
                self._entries[key] = _Entry(time.monotonic(), at, tag, value)
        except Exception:  # the floor keeps showing the previous figures, with their age
            log.warning("floor figures not refreshed", exc_info=True)
        finally:
            with self._lock:
                self._refreshing.discard(key)


_CACHE = _Cache()
# Operators known to have passed the newcomer limit (it never goes back), per database.
_EXPERIENCED: dict[tuple[str, int], set[int]] = defaultdict(set)

_STATUS_COUNTS = select(
    CONTACTS.c.campaign_id, CONTACTS.c.status, func.count(), func.min(CONTACTS.c.id),
    func.max(CONTACTS.c.id)).group_by(CONTACTS.c.campaign_id, CONTACTS.c.status)


def _probe_sample(conn: Connection, campaign_id: int, low: int, high: int,
                  size: int) -> list[int]:
    """Up to ``size`` waiting contacts of a campaign, near-uniformly: random points of its
    id span, each moved to the next waiting contact (a short primary-key walk)."""
    probe = select(CONTACTS.c.id).where(
        CONTACTS.c.campaign_id == campaign_id,
        CONTACTS.c.status.in_(_QUEUED))
    found: set[int] = set()
    rng = random.Random(campaign_id)  # the same sample for the same table: stable figures
    for _n in range(size * 2):
        if len(found) >= size:
            break
        start = rng.randint(low, high)
        row = conn.execute(probe.where(CONTACTS.c.id >= start).order_by(CONTACTS.c.id)
                           .limit(1)).first()
        if row is not None:
            found.add(int(row[0]))
    return sorted(found)


def _compute_slow(session: Session, config: Config, now: datetime,
                  campaign_ids: frozenset[int], background: bool = False) -> _Slow:
    conn = session.connection()
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    spans: dict[int, tuple[int, int]] = {}
    if campaign_ids:
        for cid, status, count, low, high in conn.execute(
                _STATUS_COUNTS.where(CONTACTS.c.campaign_id.in_(sorted(campaign_ids)))):
            counts[cid][status] = int(count)
            if status in _QUEUED:
                was = spans.get(cid)
                spans[cid] = (low, high) if was is None else (min(was[0], low),
                                                              max(was[1], high))
    rules = load_rules(Path(config.queue.rules_file) if config.queue.rules_file else None,
                       site=config.site)
    result: dict[int, _CampaignSlow] = {}
    for cid in campaign_ids:
        campaign = session.get(Campaign, cid)
        if campaign is None:
            continue
        waiting = sum(counts[cid].get(s, 0) for s in _QUEUED)
        if waiting <= SAMPLE_SIZE:
            ids = [int(r[0]) for r in conn.execute(select(CONTACTS.c.id).where(
                CONTACTS.c.campaign_id == cid, CONTACTS.c.status.in_(_QUEUED)))]
            exact = True
        else:
            low, high = spans.get(cid, (0, 0))
            ids = _probe_sample(conn, cid, low, high, SAMPLE_SIZE)
            exact = False
        sample: list[tuple[str, str | None]] = []
        for contact_id in ids:
            if background:
                # Let the console's refresh thread have the interpreter between two
                # contacts: it never waits long behind this pure-Python work.
                time.sleep(_PACE_SECONDS)
            contact = session.get(Contact, contact_id)
            if contact is None:
                continue
            verdict = check_callable(session=session, contact=contact, campaign=campaign,
                                     now=now, rules=rules)
            sample.append((contact.language, None if verdict.callable else verdict.reason))
        session.expunge_all()  # the sampled rows are not needed again: keep memory flat
        result[cid] = _CampaignSlow(dict(counts[cid]), tuple(sample), exact)
    return _Slow(result)



# --- today ---------------------------------------------------------------------------------
@dataclass
class _Today:
    calls: dict[int, int] = field(default_factory=dict)          # operator -> dialled
    talk: dict[int, float] = field(default_factory=dict)         # operator -> seconds
    wrapup: dict[int, float] = field(default_factory=dict)
    hours: dict[int, list[int]] = field(default_factory=dict)    # campaign -> 24 counts
    dialled: Counter[int] = field(default_factory=Counter)       # campaign -> dialled
    answered: Counter[int] = field(default_factory=Counter)
    outcomes: dict[int, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    appointments: Counter[int] = field(default_factory=Counter)


def _in_day(start: datetime, end: datetime) -> ColumnElement[bool]:
    return and_(ATTEMPTS.c.claimed_at >= start, ATTEMPTS.c.claimed_at < end)


def _bind(value: datetime) -> Any:
    """A UTC instant as a bound value of the columns' own type."""
    return literal(value, UTCDateTime())


def _today(conn: Connection, *, start: datetime, end: datetime, now: datetime,
           zone: ZoneInfo) -> _Today:
    """Today's figures per operator and per campaign (each a grouped query along the
    covering index of the day's attempts)."""
    today = _Today()
    talked = case((ATTEMPTS.c.answered_at.is_not(None), _SecondsBetween(
        func.coalesce(ATTEMPTS.c.ended_at, _bind(now)), ATTEMPTS.c.answered_at)))
    for operator_id, calls, talk in conn.execute(
            select(ATTEMPTS.c.operator_id, func.count(ATTEMPTS.c.dialed_at), func.sum(talked))
            .where(_in_day(start, end)).group_by(ATTEMPTS.c.operator_id)):
        today.calls[operator_id] = int(calls)
        today.talk[operator_id] = max(0.0, round(float(talk or 0.0), 1))
    for campaign_id, hour, dialled, answered in conn.execute(
            select(ATTEMPTS.c.campaign_id, _UtcHour(ATTEMPTS.c.dialed_at), func.count(),
                   func.count(ATTEMPTS.c.answered_at))
            .where(_in_day(start, end), ATTEMPTS.c.dialed_at.is_not(None))
            .group_by(ATTEMPTS.c.campaign_id, _UtcHour(ATTEMPTS.c.dialed_at))):
        at = datetime.strptime(hour, "%Y-%m-%d %H").replace(tzinfo=UTC)
        local_hour = at.astimezone(zone).hour
        today.hours.setdefault(campaign_id, [0] * 24)[local_hour] += int(dialled)
        today.dialled[campaign_id] += int(dialled)
        today.answered[campaign_id] += int(answered)
    joined = ATTEMPTS.join(OUTCOMES, OUTCOMES.c.attempt_id == ATTEMPTS.c.id)
    for campaign_id, operator_id, disposition, count, wrapup in conn.execute(
            select(ATTEMPTS.c.campaign_id, OUTCOMES.c.operator_id, OUTCOMES.c.disposition,
                   func.count(), func.sum(OUTCOMES.c.wrapup_seconds))
            .select_from(joined).where(_in_day(start, end))
            .group_by(ATTEMPTS.c.campaign_id, OUTCOMES.c.operator_id,
                      OUTCOMES.c.disposition)):
        today.outcomes[campaign_id][disposition] += int(count)
        today.wrapup[operator_id] = today.wrapup.get(operator_id, 0.0) + float(wrapup or 0)
    for campaign_id, count in conn.execute(
            select(APPOINTMENTS.c.campaign_id, func.count())
            .where(APPOINTMENTS.c.created_at >= start, APPOINTMENTS.c.created_at < end)
            .group_by(APPOINTMENTS.c.campaign_id)):
        today.appointments[campaign_id] = int(count)
    return today


def _pauses(conn: Connection, *, start: datetime, end: datetime,
            now: datetime) -> dict[int, float]:
    """Seconds paused today per user (a few rows a day per operator: read every refresh,
    so a pause's time goes on with its timer)."""
    pauses: dict[int, float] = {}
    until = min(end, now)
    # A pause longer than a day is not one: entries from the day before suffice.
    for user_id, started, ended in conn.execute(
            select(ENTRIES.c.user_id, ENTRIES.c.started_at, ENTRIES.c.ended_at).where(
                ENTRIES.c.started_at >= start - timedelta(days=1),
                ENTRIES.c.started_at < until, ENTRIES.c.kind == TimeEntryKind.PAUSE.value,
                or_(ENTRIES.c.ended_at.is_(None), ENTRIES.c.ended_at > start))):
        seconds = (min(ended or until, until) - max(started, start)).total_seconds()
        if seconds > 0:
            pauses[user_id] = pauses.get(user_id, 0.0) + seconds
    return pauses


def _newcomers(conn: Connection, key: str, users: Iterable[int], limit: int) -> set[int]:
    """Operators with fewer than ``limit`` connected calls ever (each count stops at
    ``limit``; operators past it are remembered)."""
    known = _EXPERIENCED[(key, limit)]
    found: set[int] = set()
    for user_id in sorted(set(users) - known):
        if _connected_capped(conn, user_id, limit) >= limit:
            known.add(user_id)
        else:
            found.add(user_id)
    return found


def _connected_capped(conn: Connection, user_id: int, limit: int) -> int:
    inner = select(ATTEMPTS.c.id).where(ATTEMPTS.c.operator_id == user_id,
                                        ATTEMPTS.c.answered_at.is_not(None)).limit(limit)
    return int(conn.execute(select(func.count()).select_from(inner.subquery())).scalar_one())


# --- the snapshot --------------------------------------------------------------------------
def _station_rows(*, config: Config, now: datetime, today: _Today,
                  pauses: dict[int, float], newcomers: set[int],
                  monitors: dict[int, tuple[str, str]], rows: list[Any]) -> list[StationRow]:
    silent_after = config.supervision.silent_after_seconds
    result = []
    for r in rows:
        state = r.state or LOGGED_OUT
        working = state != LOGGED_OUT and r.user_id is not None
        uid = r.user_id if working else None
        heartbeat = r.heartbeat_at
        since = r.state_since or now
        monitor = monitors.get(r.id)
        result.append(StationRow(
            station_id=r.id, station_name=r.name,
            operator_login=r.login if working else None,
            operator_name=r.display_name if working else None,
            state=state if working else LOGGED_OUT,
            state_seconds=max(0.0, (now - since).total_seconds()) if working else 0.0,
            pause_reason=r.pause_reason if working and state == PAUSED else None,
            campaign_slug=r.slug if working else None,
            calls_today=today.calls.get(uid, 0) if uid is not None else 0,
            talk_seconds=today.talk.get(uid, 0.0) if uid is not None else 0.0,
            wrapup_seconds=today.wrapup.get(uid, 0.0) if uid is not None else 0.0,
            pause_seconds=pauses.get(uid, 0.0) if uid is not None else 0.0,
            newcomer=uid in newcomers if uid is not None else False,
            phone_up=bool(r.phone_up) if r.phone_up is not None else False,
            silent=working and heartbeat is not None
            and (now - heartbeat).total_seconds() > silent_after,
            attempt_id=r.attempt_id if working else None,
            monitored_by=monitor[0] if monitor else None,
            monitor_mode=monitor[1] if monitor else None,
            heartbeat_at=heartbeat))
    return result


def _progress(campaigns: list[Any], slow: _Slow, slow_at: datetime, today: _Today,
              languages: frozenset[str]) -> list[CampaignProgress]:
    result = []
    for c in campaigns:
        figures = slow.campaigns.get(c.id)
        counts = figures.counts if figures is not None else {}
        total = sum(counts.values())
        waiting = sum(counts.get(s, 0) for s in _QUEUED)
        claimed = counts.get(ContactStatus.CLAIMED.value, 0)
        reasons: Counter[str] = Counter()
        callable_in_sample = 0
        sample = figures.sample if figures is not None else ()
        for language, reason in sample:
            if reason is None and language not in languages:
                reason = _("no operator on the floor speaks '{language}'").format(
                    language=language)
            if reason is None:
                callable_in_sample += 1
            else:
                reasons[reason] += 1
        scale = waiting / len(sample) if sample else 0.0
        not_callable = [(reason, round(n * scale)) for reason, n in reasons.most_common()]
        if claimed:
            not_callable.insert(0, (_("with an operator right now"), claimed))
        if c.status != CampaignStatus.ACTIVE.value:
            not_callable = [(_("the campaign is not running"), waiting + claimed)]
            callable_in_sample = 0
        dialled = today.dialled.get(c.id, 0)
        result.append(CampaignProgress(
            campaign_id=c.id, slug=c.slug, name=c.name, total=total,
            done=total - waiting - claimed, remaining=waiting + claimed,
            callable_now=round(callable_in_sample * scale),
            not_callable=tuple((r, n) for r, n in not_callable if n > 0),
            outcomes=tuple(sorted(today.outcomes.get(c.id, Counter()).items(),
                                  key=lambda kv: (-kv[1], kv[0]))),
            contact_rate=today.answered.get(c.id, 0) / dialled if dialled else 0.0,
            appointments=today.appointments.get(c.id, 0),
            calls_per_hour=tuple(today.hours.get(c.id, [0] * 24)),
            status=c.status, exact=figures.exact if figures is not None else True,
            sampled=len(sample), figures_at=slow_at))
    return result


def _alerts(config: Config, now: datetime, stations: list[StationRow],
            campaigns: list[CampaignProgress]) -> list[Alert]:
    sup = config.supervision
    long_call = timedelta(minutes=sup.long_call_minutes)
    long_pause = timedelta(minutes=sup.long_pause_minutes)
    alerts: list[Alert] = []
    for row in stations:
        if row.state == LOGGED_OUT:
            continue
        since = now - timedelta(seconds=row.state_seconds)
        who = row.operator_name or row.operator_login or ""
        if row.silent and row.heartbeat_at is not None:
            alerts.append(Alert("silent", _(
                "Station {station} ({who}) has not been heard from since {time}.").format(
                station=row.station_name, who=who, time=_hhmm(row.heartbeat_at, config)),
                row.heartbeat_at, row.station_name, None))
        if not row.phone_up:
            alerts.append(Alert("phone_down", _(
                "Station {station} ({who}): the phone line is down.").format(
                station=row.station_name, who=who), since, row.station_name, None))
        if row.state in IN_CALL_STATES and row.state_seconds >= long_call.total_seconds():
            alerts.append(Alert("long_call", ngettext(
                "Station {station} ({who}): a call of more than {n} minute.",
                "Station {station} ({who}): a call of more than {n} minutes.",
                sup.long_call_minutes).format(
                station=row.station_name, who=who, n=sup.long_call_minutes),
                since + long_call, row.station_name, row.campaign_slug))
        if row.state == PAUSED and row.state_seconds >= long_pause.total_seconds():
            alerts.append(Alert("long_pause", ngettext(
                "Station {station} ({who}): a pause of more than {n} minute.",
                "Station {station} ({who}): a pause of more than {n} minutes.",
                sup.long_pause_minutes).format(
                station=row.station_name, who=who, n=sup.long_pause_minutes),
                since + long_pause, row.station_name, None))
        if row.newcomer and row.state in IN_CALL_STATES:
            alerts.append(Alert("newcomer_call", _(
                "Newcomer {who} is on a call at station {station}: you may listen.").format(
                station=row.station_name, who=who), since, row.station_name,
                row.campaign_slug))
    for progress in campaigns:
        if (progress.status == CampaignStatus.ACTIVE.value and progress.remaining
                and progress.callable_now == 0):
            alerts.append(Alert("nothing_callable", _(
                "Campaign {campaign}: nothing can be called now.").format(
                campaign=progress.slug), progress.figures_at or now, None, progress.slug))
    return alerts


def _hhmm(at: datetime, config: Config) -> str:
    return at.astimezone(ZoneInfo(config.site.timezone)).strftime("%H:%M:%S")


def floor_snapshot(*, session: Session, actor: Actor, config: Config,
                   now: datetime | None = None,
                   max_age_seconds: float | None = None) -> FloorSnapshot:
    """The whole floor, as plain values.

    Read at every call: the stations' presence (state, time in state, phone, silence),
    pauses of the day, newcomers, monitor sessions, pause requests, the site stop.
    Today's call figures (``TODAY_FIGURES_SECONDS``) and the campaigns' counts and
    reasons (``SLOW_FIGURES_SECONDS``) may be that old, recomputed in the background;
    ``max_age_seconds`` sets one limit for both (0: compute them now, in this call).
    ``FloorSnapshot.figures_at`` and ``CampaignProgress.figures_at`` say when they were
    computed."""
    require_role(actor, SUPERVISORS)
    at = now or utcnow()
    zone = ZoneInfo(config.site.timezone)
    start, end = local_day_bounds(at.astimezone(zone).date(), zone)
    conn = session.connection()
    rows = list(conn.execute(_STATIONS))
    present = [r for r in rows if r.user_id is not None and (r.state or LOGGED_OUT) != LOGGED_OUT]
    languages = frozenset(lang for r in present for lang in (r.languages or ()))
    if not present:
        # Nobody on the floor yet: what the site's operators could call once they come.
        languages = frozenset(lang for (langs,) in conn.execute(_OPERATOR_LANGUAGES)
                              for lang in (langs or ()))
    engine = session.get_bind()
    base = f"{getattr(engine, 'url', '')}|{config.site.timezone}"
    today_entry = _CACHE.get(
        f"today|{base}|{start.isoformat()}", None,
        TODAY_FIGURES_SECONDS if max_age_seconds is None else max_age_seconds, now=at,
        session=session, compute=lambda s, when, _bg: _today(
            s.connection(), start=start, end=end, now=when, zone=zone))
    today: _Today = today_entry.value
    newcomers = _newcomers(conn, str(getattr(engine, "url", "")),
                           [r.user_id for r in present], config.supervision.newcomer_calls)
    monitors = {sid: (login, mode) for sid, login, mode in conn.execute(_MONITORS)}
    stations = _station_rows(config=config, now=at, today=today,
                             pauses=_pauses(conn, start=start, end=end, now=at),
                             newcomers=newcomers, monitors=monitors, rows=rows)
    campaign_rows = list(conn.execute(_CAMPAIGNS))
    campaign_ids = frozenset(c.id for c in campaign_rows)
    slow_entry = _CACHE.get(
        f"slow|{base}|{config.queue.rules_file}|{config.site}", campaign_ids,
        SLOW_FIGURES_SECONDS if max_age_seconds is None else max_age_seconds, now=at,
        session=session, compute=lambda s, when, bg: _compute_slow(s, config, when,
                                                                   campaign_ids, bg))
    campaigns = _progress(campaign_rows, slow_entry.value, slow_entry.computed_at, today,
                          languages)
    return FloorSnapshot(
        at=at, stations=tuple(stations), campaigns=tuple(campaigns),
        alerts=tuple(_alerts(config, at, stations, campaigns)),
        pending_pauses=site_controls.pending_pauses(session=session, actor=actor),
        site_stop=site_controls.active_site_stop(session=session),
        figures_at=today_entry.computed_at)


_STATIONS = select(
    STATIONS.c.id, STATIONS.c.name, PRESENCE.c.user_id, PRESENCE.c.state,
    PRESENCE.c.state_since, PRESENCE.c.pause_reason, PRESENCE.c.attempt_id,
    PRESENCE.c.phone_up, PRESENCE.c.heartbeat_at, USERS.c.login, USERS.c.display_name,
    USERS.c.languages, CAMPAIGNS.c.slug,
).select_from(STATIONS.outerjoin(PRESENCE, PRESENCE.c.station_id == STATIONS.c.id)
              .outerjoin(USERS, USERS.c.id == PRESENCE.c.user_id)
              .outerjoin(CAMPAIGNS, CAMPAIGNS.c.id == PRESENCE.c.campaign_id)
              ).order_by(STATIONS.c.name)
_OPERATOR_LANGUAGES = select(USERS.c.languages).where(USERS.c.role == Role.OPERATOR.value,
                                                     USERS.c.disabled.is_(False))
_MONITORS = select(MONITORS.c.station_id, USERS.c.login, MONITORS.c.mode).select_from(
    MONITORS.join(USERS, USERS.c.id == MONITORS.c.supervisor_id)).where(
    MONITORS.c.ended_at.is_(None)).order_by(MONITORS.c.id)
_CAMPAIGNS = select(CAMPAIGNS.c.id, CAMPAIGNS.c.slug, CAMPAIGNS.c.name, CAMPAIGNS.c.status
                    ).where(CAMPAIGNS.c.status.in_([CampaignStatus.ACTIVE.value,
                                                    CampaignStatus.PAUSED.value])
                            ).order_by(CAMPAIGNS.c.slug)


def operator_figures(*, session: Session, actor: Actor, operator_login: str, config: Config,
                     now: datetime | None = None, days: int = 30) -> OperatorFigures:
    """One operator's figures over the last ``days`` site-local days, for coaching."""
    require_role(actor, SUPERVISORS)
    at = now or utcnow()
    conn = session.connection()
    user = conn.execute(select(USERS.c.id, USERS.c.login, USERS.c.display_name).where(
        USERS.c.login == operator_login.strip().lower())).first()
    if user is None:
        raise NotFoundError(_("No user with login '{login}'.").format(login=operator_login))
    zone = ZoneInfo(config.site.timezone)
    day = at.astimezone(zone).date()
    start, _end = local_day_bounds(day - timedelta(days=max(days, 1) - 1), zone)
    today_start, today_end = local_day_bounds(day, zone)
    mine = and_(ATTEMPTS.c.operator_id == user.id, ATTEMPTS.c.claimed_at >= start,
                ATTEMPTS.c.claimed_at < today_end)
    talked = case((ATTEMPTS.c.answered_at.is_not(None), _SecondsBetween(
        func.coalesce(ATTEMPTS.c.ended_at, _bind(at)), ATTEMPTS.c.answered_at)))
    is_today = ATTEMPTS.c.claimed_at >= today_start
    calls, connected, talk, calls_today, connected_today = conn.execute(select(
        func.count(ATTEMPTS.c.dialed_at), func.count(ATTEMPTS.c.answered_at), func.sum(talked),
        func.count(case((is_today, ATTEMPTS.c.dialed_at))),
        func.count(case((is_today, ATTEMPTS.c.answered_at)))).where(mine)).one()
    outcomes = conn.execute(
        select(OUTCOMES.c.disposition, func.count())
        .select_from(ATTEMPTS.join(OUTCOMES, OUTCOMES.c.attempt_id == ATTEMPTS.c.id))
        .where(mine).group_by(OUTCOMES.c.disposition)).all()
    limit = config.supervision.newcomer_calls
    ever = _connected_capped(conn, user.id, limit)
    return OperatorFigures(
        operator_login=user.login, operator_name=user.display_name, days=days,
        calls=int(calls), connected=int(connected),
        contact_rate=connected / calls if calls else 0.0,
        avg_talk_seconds=round(float(talk or 0.0) / connected, 1) if connected else 0.0,
        outcomes=tuple(sorted(((d, int(n)) for d, n in outcomes),
                              key=lambda kv: (-kv[1], kv[0]))),
        calls_today=int(calls_today), connected_today=int(connected_today),
        connected_ever_capped=ever, newcomer=ever < limit)


__all__ = ["Alert", "CampaignProgress", "FloorSnapshot", "OperatorFigures",
           "StationRow", "floor_snapshot", "operator_figures"]

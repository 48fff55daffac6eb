"""The dial queue: which contact an operator gets next, leased so nobody else gets it.

Two ways in, same result:

- ``claim(engine=…)``: for the TUI. The queue is walked and the rules checked in a read
  snapshot (WAL readers never wait for the writer), then a short write transaction leases
  the first chosen candidate still free after checking its number again. "Nothing
  callable" answers never take the write lock.
- ``claim_next(session=…)``: everything inside the caller's write transaction
  (``db.run_write``, ``BEGIN IMMEDIATE`` on SQLite).

Either way the claim

1. puts back contacts whose lease expired (a dead terminal loses nothing);
2. walks the candidates in queue order, in small pages read through the indexes:
   due callbacks first (a personal one only to its operator), then campaign priority
   (higher first), then the oldest next-attempt time (never-called contacts first);
   only active campaigns, only contacts in a language the operator speaks;
3. applies the calling rules (``services/calling_rules``) to each candidate in Python,
   with the facts about the numbers fetched per page, until one passes; it gives up after
   a bounded number of pages rather than evaluate the rules over the whole table;
4. leases the winner with a conditional ``UPDATE … WHERE lease is free RETURNING id``
   (correct even without the write lock, e.g. on PostgreSQL) and creates its CallAttempt
   (state ``claimed``, number copied from the contact) in the same transaction.

When nothing is callable the operator gets ``NothingCallable``: why, and when the next
contact becomes callable. The operator side never receives the number: ``ClaimedContact``
holds a masked form only; the telephony engine reads the number by attempt id.
"""

from __future__ import annotations

import dataclasses
import heapq
import json
import random
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from itertools import islice
from typing import Any
from zoneinfo import ZoneInfo

import phonenumbers
from babel.dates import format_date
from sqlalchemy import (
    Integer,
    String,
    Table,
    bindparam,
    case,
    exists,
    func,
    insert,
    literal_column,
    null,
    or_,
    select,
    tuple_,
    type_coerce,
    union_all,
    update,
)
from sqlalchemy.engine import Connection, Dialect, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.selectable import FromClause, Select
from sqlalchemy.sql.visitors import InternalTraversal
from sqlmodel import Session

from cellcall.db import run_core_write, run_write
from cellcall.errors import CellcallError, NotFoundError, PermissionDeniedError, ValidationError
from cellcall.i18n import _, current_language
from cellcall.models.base import UTCDateTime, utcnow
from cellcall.models.calls import AttemptState, CallAttempt, CallbackStatus, Outcome
from cellcall.models.campaigns import CampaignStatus
from cellcall.models.contacts import ContactStatus
from cellcall.models.users import Role
from cellcall.services import audit, phones
from cellcall.services.actors import SYSTEM, Actor, require_role
from cellcall.services.calling_rules import (
    CallingRules,
    Failure,
    Verdict,
    callee_of,
    check_callable,
    load_rules,
)
from cellcall.services.calling_rules import check as rules_check
from cellcall.services.calling_rules import facts as db_facts
from cellcall.services.calling_rules.check import terms_from
from cellcall.services.calling_rules.facts import ATTEMPTS, CALLBACKS, CONTACTS, OUTCOMES, table
from cellcall.services.calling_rules.kinds import CampaignTerms, NumberFacts, Situation
from cellcall.services.exclusions import EMPTY_SCREEN, Screen, screen_for

__all__ = [
    "DEFAULT_LEASE_SECONDS", "AttemptHistoryItem", "CallingRules", "ClaimedContact",
    "LeaseLostError", "NothingCallable", "Verdict", "check_callable", "claim", "claim_next",
    "expire_leases", "load_rules", "release", "renew_lease",
]

DEFAULT_LEASE_SECONDS = 300
# Attempt results of claims given back without dialling: not shown in the history.
RESULT_RELEASED = "released"
RESULT_EXPIRED = "expired"
_HISTORY_LIMIT = 50


# Fewer digits than this cannot be a phone number of any country (the shortest, with their
# country code, have seven).
MIN_NUMBER_DIGITS = 5


# --- what the operator side receives -----------------------------------------------------------
@dataclass(frozen=True)
class AttemptHistoryItem:
    at: datetime
    disposition: str | None
    notes: str
    operator_login: str


@dataclass(frozen=True)
class ClaimedContact:
    attempt_id: int
    contact_id: int
    campaign_id: int
    campaign_slug: str
    campaign_name: str
    client_name: str
    campaign_type: str
    audience: str
    dialing_mode: str
    first_name: str
    last_name: str
    company: str
    language: str
    custom_fields: tuple[tuple[str, str], ...]
    time_zones: tuple[str, ...]
    lease_expires_at: datetime
    callback_id: int | None
    script_path: str | None
    history: tuple[AttemptHistoryItem, ...]
    # Never the number itself: "+33 6 •• •• •• 78".
    masked_number: str = ""


@dataclass(frozen=True)
class NothingCallable:
    reason: str                 # translated, a whole sentence
    next_at: datetime | None


class LeaseLostError(CellcallError):
    """The contact is no longer leased to this operator (expired and given back)."""


# --- masking -------------------------------------------------------------------------------------
def _mask_numbers_in(text: str, region: str, own_digits: str) -> str:
    """Client files sometimes repeat a phone number in a custom field or a company name,
    and notes may hold one the callee gave: mask any number."""
    if sum(char.isdigit() for char in text) < MIN_NUMBER_DIGITS:
        return text  # too few digits for any phone number: skip the (slow) matcher
    for match in reversed(list(phonenumbers.PhoneNumberMatcher(text, region))):
        e164 = phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164)
        text = text[:match.start] + phones.mask(e164) + text[match.end:]
    if own_digits and own_digits in text:
        text = text.replace(own_digits, "•" * len(own_digits))
    return text


# --- prebuilt statements --------------------------------------------------------------------
class _IndexedBy(FromClause):
    """``contacts INDEXED BY ix_contacts_queue`` on SQLite, plain ``contacts`` elsewhere.

    Once ``ANALYZE`` (or ``PRAGMA optimize``) has run on one big campaign, SQLite's
    statistics say (campaign_id, status) is not selective and it scans the whole table for
    the few leased contacts, or walks finished contacts by rowid. The queue's statements
    depend on ix_contacts_queue, so they name it."""

    __visit_name__ = "cellcall_indexed_by"
    inherit_cache = True
    # The cache key: statements built on this element stay in SQLAlchemy's compiled cache.
    _traverse_internals = [  # noqa: RUF012
        ("table", InternalTraversal.dp_clauseelement), ("index", InternalTraversal.dp_string)]

    def __init__(self, table: Table, index: str) -> None:
        self.table = table
        self.index = index

    @property
    def _hide_froms(self) -> list[FromClause]:
        return [self.table]

    @property
    def _from_objects(self) -> list[FromClause]:
        return [self]


@compiles(_IndexedBy)
def _compile_plain(element: _IndexedBy, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(element.table, **{**kw, "asfrom": True}))


@compiles(_IndexedBy, "sqlite")
def _compile_sqlite(element: _IndexedBy, compiler: Any, **kw: Any) -> str:
    return f"{_compile_plain(element, compiler, **kw)} INDEXED BY {element.index}"


class _Direct:
    """A prebuilt statement run, on SQLite, straight on the DBAPI connection of the
    caller's SQLAlchemy connection (same transaction): compiled once, its parameters and
    result columns converted by the statement's own types, without SQLAlchemy's
    per-execution machinery (about 0.1 ms a statement, several times a claim; a third of
    the time a claim held the write lock). Other databases, and statements with
    expanding parameters, go through ``Connection.execute`` as usual."""

    def __init__(self, statement: Any) -> None:
        self.statement = statement
        self._ready: tuple[Dialect, Any, str, list[tuple[str, Any]], list[Any]] | None = None

    def _prepare(self, dialect: Dialect) -> tuple[Any, str, list[tuple[str, Any]], list[Any]]:
        if self._ready is None or self._ready[0] is not dialect:
            compiled: Any = self.statement.compile(dialect=dialect)
            names = list(compiled.positiontup or ())
            binds = [(name, compiled.binds[name].type.dialect_impl(dialect).bind_processor(
                dialect)) for name in names]
            columns = getattr(self.statement, "selected_columns", ())
            results = [column.type.dialect_impl(dialect).result_processor(dialect, None)
                       for column in columns]
            assert "POSTCOMPILE" not in compiled.string, "expanding parameters: use execute"
            self._ready = (dialect, compiled, compiled.string, binds, results)
        return self._ready[1:]

    def rows(self, conn: Connection, params: dict[str, Any]) -> list[Any]:
        if conn.dialect.name != "sqlite":
            return list(conn.execute(self.statement, params).all())
        compiled, sql, binds, results = self._prepare(conn.dialect)
        full = compiled.construct_params(params)
        args = [full[name] if process is None else process(full[name])
                for name, process in binds]
        raw: Any = conn.connection.driver_connection
        try:
            found = raw.execute(sql, args).fetchall()
        except sqlite3.Error as exc:  # as SQLAlchemy would raise it (lock errors retried)
            raise DBAPIError.instance(sql, args, exc, sqlite3.Error) from exc
        if not any(results):
            return list(found)
        return [tuple(value if process is None or value is None else process(value)
                      for process, value in zip(results, row, strict=False)) for row in found]

    def first(self, conn: Connection, params: dict[str, Any]) -> Any:
        found = self.rows(conn, params)
        return found[0] if found else None


# Built once with bind parameters and run on the session's connection: the claim holds the
# write lock while it runs, so building statements and the ORM's unit of work are avoided
# on this path (the statements are plain SQL on the same indexes, portable to PostgreSQL).
_C = CONTACTS.c
_A = ATTEMPTS.c
_CB = CALLBACKS.c
CAMPAIGNS = table("campaigns")
CLIENTS = table("clients")
USERS = table("users")
_QUEUED_VALUES = [s.value for s in (ContactStatus.NEW, ContactStatus.PENDING)]
_EPOCH = datetime(1, 1, 1, tzinfo=UTC)


def _back_to_queue_status() -> Any:
    # Never-called contacts go back to "new", the others to "pending" (the outcome service
    # counts attempts, so a claim given back untouched leaves the count as it was).
    return case((_C.attempts == 0, ContactStatus.NEW.value),
                else_=ContactStatus.PENDING.value)


_QUEUE_INDEX = _IndexedBy(CONTACTS, "ix_contacts_queue")
DNC = table("dnc_entries")
DNC_IMPORTS = table("dnc_imports")
SITE_STOPS = table("site_stops")
EXCLUSIONS = table("operator_exclusions")
# The first page read from each slice, and the first batch checked: small, since the first
# candidate is usually callable; later pages are [queue] candidates_per_batch.
_FIRST_PAGE = 4


def _queued(status: Any) -> Any:
    # Two equalities rather than IN (…): a literal IN list is rendered again at every
    # execution, and these statements run several times a claim.
    return or_(status == ContactStatus.NEW.value, status == ContactStatus.PENDING.value)


# Every statement that reads candidates returns the same columns, in this order: the
# contact's own (what the rules, the exclusions and the contact card need), the callback
# (id, due time; NULL outside the callbacks), then the hints (see ``_with_hints``).
_CANDIDATE_COLUMNS = (
    _C.id, _C.campaign_id, _C.phone_e164, _C.time_zones, _C.consent_at, _C.consent_source,
    _C.has_contract, _C.attempts, _C.next_attempt_at, _C.first_name, _C.last_name,
    _C.postal_code, _C.company, _C.language,
    # Decoded only for the contact that is leased.
    type_coerce(_C.custom_fields, String).label("custom_raw"))
_NO_CALLBACK = (type_coerce(null(), Integer).label("callback_id"),
                type_coerce(null(), UTCDateTime()).label("due_at"))
_CALLBACK_COLUMNS = (_CB.id.label("callback_id"), _CB.due_at.label("due_at"))
(_ID, _NEXT_AT, _CALLBACK_ID, _DUE_AT, _IN_USE, _N_DNC, _RECENT, _HAS_CALLBACKS,
 _HAS_HISTORY, _SLICE_TAG) = (0, 8, 15, 16, 17, 18, 19, 20, 21, 22)
_OTHER = CONTACTS.alias("other_contact")
_HINT_ATTEMPT = ATTEMPTS.alias("hint_attempt")
_HINT_CALLBACK = CALLBACKS.alias("hint_callback")


def _with_hints(inner: Select[Any], *order: str, tag: int | None = None) -> Select[Any]:
    """``inner`` (a page of candidates, with its LIMIT) with what the rules need to know
    beyond each row, as correlated look-ups evaluated for the page's rows only: is the
    number leased in another contact right now (exact), how many do-not-call entries it
    has, whether it has attempts in the rules' look-back window, pending callbacks,
    earlier attempts of this contact (history). The facts queries then run only for the
    candidates whose hints say they have facts: usually none."""
    page = inner.subquery()
    n = page.c
    hints = (
        exists().where(_OTHER.c.phone_e164 == n.phone_e164,
                       _OTHER.c.status == ContactStatus.CLAIMED.value,
                       _OTHER.c.lease_expires_at >= bindparam("now"),
                       _OTHER.c.id != n.id).label("in_use"),
        select(func.count()).select_from(DNC).where(
            DNC.c.phone_e164 == n.phone_e164).scalar_subquery().label("n_dnc"),
        exists().where(_HINT_ATTEMPT.c.phone_e164 == n.phone_e164,
                       _HINT_ATTEMPT.c.claimed_at > bindparam("since")).label("recent"),
        exists().where(_HINT_CALLBACK.c.contact_id == n.id,
                       _HINT_CALLBACK.c.status == CallbackStatus.PENDING.value
                       ).label("has_callbacks"),
        exists().where(_HINT_ATTEMPT.c.contact_id == n.id).label("has_history"),
    )
    tagged: tuple[Any, ...] = (
        (literal_column(str(tag)).label("slice"),) if tag is not None else ())
    query = select(*n, *hints, *tagged)
    return query.order_by(*(n[name] for name in order)) if order else query


_SLICE = (_C.campaign_id == bindparam("cid"), _C.status == bindparam("status"),
          _C.language == bindparam("lang"))
# Never-scheduled contacts of one (campaign, status, language), in id order.
_NEVER_SCHEDULED = _with_hints(select(*_CANDIDATE_COLUMNS, *_NO_CALLBACK).select_from(
    _QUEUE_INDEX).where(
    *_SLICE, _C.next_attempt_at.is_(None), _C.id > bindparam("after_id")
).order_by(_C.id).limit(bindparam("page")), "id")
# Due contacts of one slice, oldest first; keyset paging on (next_attempt_at, id).
_DUE = _with_hints(select(*_CANDIDATE_COLUMNS, *_NO_CALLBACK).select_from(
    _QUEUE_INDEX).where(
    *_SLICE, _C.next_attempt_at <= bindparam("now"),
    tuple_(_C.next_attempt_at, _C.id) > tuple_(
        bindparam("after_time", type_=UTCDateTime()), bindparam("after_id"))
).order_by(_C.next_attempt_at, _C.id).limit(bindparam("page")), "next_attempt_at", "id")
_CALLBACK_JOIN = CALLBACKS.join(CONTACTS, _C.id == _CB.contact_id)
_DUE_CALLBACKS = _with_hints(select(*_CANDIDATE_COLUMNS, *_CALLBACK_COLUMNS).select_from(
    _CALLBACK_JOIN).where(
    _CB.status == CallbackStatus.PENDING.value,
    _CB.due_at <= bindparam("now"),
    or_(_CB.personal_operator_id.is_(None), _CB.personal_operator_id == bindparam("me")),
    _CB.campaign_id.in_(bindparam("cids", expanding=True)),
    _queued(_C.status),
    _C.language.in_(bindparam("langs", expanding=True)),
    tuple_(_CB.due_at, _CB.id) > tuple_(bindparam("after_time", type_=UTCDateTime()),
                                        bindparam("after_id")),
).order_by(_CB.due_at, _CB.id).limit(bindparam("page")), "due_at", "callback_id")


_FIRST_PAGES: dict[tuple[int, int], _Direct] = {}


def _first_pages(campaigns: int, languages: int) -> _Direct:
    """The first page of every slice of the queue, and of the due callbacks, in ONE
    statement (UNION ALL of the slices, each with its LIMIT, tagged): a claim usually
    needs nothing more. Built once per (campaigns, languages) shape, with bind parameters
    ``cid0…``, ``lang0…``; tag 0 is the callbacks, then 1 + the slice's position in
    ``_slices``."""
    key = (campaigns, languages)
    if key not in _FIRST_PAGES:
        langs: list[Any] = [bindparam(f"lang{j}") for j in range(languages)]
        parts = [_with_hints(select(*_CANDIDATE_COLUMNS, *_CALLBACK_COLUMNS).select_from(
            _CALLBACK_JOIN).where(
            _CB.status == CallbackStatus.PENDING.value, _CB.due_at <= bindparam("now"),
            or_(_CB.personal_operator_id.is_(None), _CB.personal_operator_id == bindparam("me")),
            _CB.campaign_id.in_([bindparam(f"cid{i}") for i in range(campaigns)]),
            _queued(_C.status), _C.language.in_(langs),
        ).order_by(_CB.due_at, _CB.id).limit(bindparam("first_page")), tag=0)]
        for tag, (i, status, j, never) in enumerate(_slices(campaigns, languages), start=1):
            where = [_C.campaign_id == bindparam(f"cid{i}"), _C.status == status,
                     _C.language == langs[j]]
            if never:
                inner = select(*_CANDIDATE_COLUMNS, *_NO_CALLBACK).select_from(
                    _QUEUE_INDEX).where(*where, _C.next_attempt_at.is_(None)).order_by(_C.id)
            else:
                inner = select(*_CANDIDATE_COLUMNS, *_NO_CALLBACK).select_from(
                    _QUEUE_INDEX).where(*where, _C.next_attempt_at <= bindparam("now")
                                        ).order_by(_C.next_attempt_at, _C.id)
            parts.append(_with_hints(inner.limit(bindparam("first_page")), tag=tag))
        _FIRST_PAGES[key] = _Direct(union_all(*parts))
    return _FIRST_PAGES[key]


def _slices(campaigns: int, languages: int) -> list[tuple[int, str, int, bool]]:
    """(campaign position, status, language position, never scheduled?) of every slice."""
    return [(i, status, j, never) for i in range(campaigns) for status in _QUEUED_VALUES
            for j in range(languages) for never in (True, False)]


_EXPIRED = select(_C.id).select_from(_QUEUE_INDEX).where(
    # campaign_id IN (…) walks ix_contacts_queue (campaign_id, status, …) per campaign.
    _C.campaign_id.in_(select(CAMPAIGNS.c.id)),
    _C.status == ContactStatus.CLAIMED.value,
    _C.lease_expires_at < bindparam("now"))
_EXPIRE = update(CONTACTS).where(
    _C.id.in_(bindparam("ids", expanding=True)),
    _C.status == ContactStatus.CLAIMED.value,
    _C.lease_expires_at < bindparam("now"),
).values(status=_back_to_queue_status(), lease_user_id=None, lease_station_id=None,
         lease_expires_at=None).returning(_C.id)
_CLOSE_EXPIRED_ATTEMPTS = update(ATTEMPTS).where(
    _A.contact_id.in_(bindparam("ids", expanding=True)),
    _A.state == AttemptState.CLAIMED.value,
).values(state=AttemptState.ENDED.value, result=RESULT_EXPIRED, counts_against_caps=False,
         ended_at=bindparam("now"))
_LEASE_FREE = (
    _C.id == bindparam("contact_id"),
    _queued(_C.status),
    or_(_C.lease_expires_at.is_(None), _C.lease_expires_at < bindparam("now")),
    # A contact completed by someone else a moment ago may be pending with a later time.
    or_(_C.next_attempt_at.is_(None), _C.next_attempt_at <= bindparam("now")))
_LEASE_VALUES = {"status": ContactStatus.CLAIMED.value, "lease_user_id": bindparam("me"),
                 "lease_station_id": bindparam("station_id"),
                 "lease_expires_at": bindparam("expires")}
# The lease is taken only if nobody holds it: correct even without the write lock.
_LEASE = _Direct(
    update(CONTACTS).where(*_LEASE_FREE).values(**_LEASE_VALUES).returning(_C.id))
# The same, for a candidate chosen in an earlier read snapshot: taken only if, besides,
# nothing the rules read about its number changed since (no other contact with that number
# leased, as many do-not-call entries, no new attempt on it), so the rules need not be
# applied again under the write lock. Any change: the claim walks the queue again there.
_GUARDED_LEASE = _Direct(update(CONTACTS).where(
    *_LEASE_FREE,
    ~exists().where(_OTHER.c.phone_e164 == bindparam("phone"),
                    _OTHER.c.status == ContactStatus.CLAIMED.value,
                    _OTHER.c.lease_expires_at >= bindparam("now"),
                    _OTHER.c.id != bindparam("contact_id")),
    select(func.count()).select_from(DNC).where(
        DNC.c.phone_e164 == bindparam("phone")).scalar_subquery() == bindparam("n_dnc"),
    ~exists().where(_HINT_ATTEMPT.c.phone_e164 == bindparam("phone"),
                    _HINT_ATTEMPT.c.id > bindparam("horizon")),
).values(**_LEASE_VALUES).returning(_C.id))
_RENEW = update(CONTACTS).where(
    _C.id == bindparam("contact_id"), _C.status == ContactStatus.CLAIMED.value,
    _C.lease_user_id == bindparam("me"),
).values(lease_expires_at=bindparam("expires")).returning(_C.id)
_GIVE_BACK = update(CONTACTS).where(
    _C.id == bindparam("contact_id"), _C.status == ContactStatus.CLAIMED.value,
    _C.lease_user_id == bindparam("me"),
).values(status=_back_to_queue_status(), lease_user_id=None, lease_station_id=None,
         lease_expires_at=None)
_NEW_ATTEMPT = _Direct(insert(ATTEMPTS).values(
    contact_id=bindparam("contact_id"), campaign_id=bindparam("campaign_id"),
    operator_id=bindparam("operator_id"), station_id=bindparam("station_id"),
    phone_e164=bindparam("phone"), state=AttemptState.CLAIMED.value,
    claimed_at=bindparam("now"), counts_against_caps=True).returning(_A.id))
_CAMPAIGN_COLUMNS = (
    CAMPAIGNS.c.id, CAMPAIGNS.c.slug, CAMPAIGNS.c.name, CLIENTS.c.name, CAMPAIGNS.c.type,
    CAMPAIGNS.c.audience, CAMPAIGNS.c.country, CAMPAIGNS.c.working_hours,
    CAMPAIGNS.c.dialing_mode, CAMPAIGNS.c.priority, CAMPAIGNS.c.ignore_calling_hours,
    CAMPAIGNS.c.max_attempts, CAMPAIGNS.c.script_path)
_HEADERS: dict[tuple[str, ...], _Direct] = {}
# Positions in the header row (see ``_header``).
_H_ROLE, _H_LANGUAGES, _H_DISABLED, _H_EXPIRED, _H_STOP, _H_EXCLUSIONS, _H_HORIZON = range(
    1, 8)
_H_IMPORTS = 8


def _header(list_sources: tuple[str, ...]) -> _Direct:
    """Everything a claim needs before walking the queue, in one statement: the operator,
    whether leases expired, an active site stop, whether the operator has exclusions, the
    newest attempt id (see ``_GUARDED_LEASE``), the newest import of each list whose
    freshness a rule checks; then one row per active campaign (one row with NULLs when
    none runs). The uncorrelated sub-queries run once, whatever the number of rows."""
    if list_sources not in _HEADERS:
        expired = exists().select_from(_QUEUE_INDEX).where(
            _C.campaign_id.in_(select(CAMPAIGNS.c.id).correlate(None)),
            _C.status == ContactStatus.CLAIMED.value,
            _C.lease_expires_at < bindparam("now")).correlate(None)
        stop = select(SITE_STOPS.c.reason).where(SITE_STOPS.c.lifted_at.is_(None)).order_by(
            SITE_STOPS.c.id.desc()).limit(1).correlate(None).scalar_subquery()
        exclusions = exists().where(
            EXCLUSIONS.c.operator_id == bindparam("me")).correlate(None)
        horizon = select(func.max(_A.id)).correlate(None).scalar_subquery()
        imports = [select(DNC_IMPORTS.c.imported_at).where(
            DNC_IMPORTS.c.source == bindparam(f"source{k}")).order_by(
            DNC_IMPORTS.c.imported_at.desc()).limit(1).correlate(None).scalar_subquery()
            for k in range(len(list_sources))]
        _HEADERS[list_sources] = _Direct(select(
            USERS.c.id, USERS.c.role, USERS.c.languages, USERS.c.disabled, expired, stop,
            exclusions, horizon, *imports, *_CAMPAIGN_COLUMNS,
        ).select_from(USERS.outerjoin(
            CAMPAIGNS.join(CLIENTS, CLIENTS.c.id == CAMPAIGNS.c.client_id),
            CAMPAIGNS.c.status == CampaignStatus.ACTIVE.value)).where(
            USERS.c.id == bindparam("me")).order_by(CAMPAIGNS.c.id))
    return _HEADERS[list_sources]


_HISTORY = select(_A.claimed_at, _A.dialed_at, OUTCOMES.c.disposition, OUTCOMES.c.notes,
                  USERS.c.login).select_from(
    ATTEMPTS.join(USERS, USERS.c.id == _A.operator_id)
    .outerjoin(OUTCOMES, OUTCOMES.c.attempt_id == _A.id)).where(
    _A.contact_id == bindparam("contact_id"), _A.id != bindparam("exclude"),
    or_(_A.result.is_(None), _A.result.not_in([RESULT_RELEASED, RESULT_EXPIRED])),
).order_by(_A.claimed_at.desc(), _A.id.desc()).limit(_HISTORY_LIMIT)


# --- lease bookkeeping ---------------------------------------------------------------------------
def expire_leases(*, session: Session, now: datetime | None = None) -> int:
    """Put back every contact whose lease ran out; its undialled attempt is closed as
    ``expired`` and does not count against the caps. Returns how many came back."""
    now = now or utcnow()
    conn = session.connection()
    candidates = list(conn.execute(_EXPIRED, {"now": now}).scalars())
    if not candidates:
        return 0
    expired = list(conn.execute(_EXPIRE, {"ids": candidates, "now": now}).scalars())
    if not expired:
        return 0
    conn.execute(_CLOSE_EXPIRED_ATTEMPTS, {"ids": expired, "now": now})
    audit.record(session=session, actor=SYSTEM, action="queue.expire",
                 target=f"contacts:{len(expired)}", details={"contact_ids": expired[:100]})
    return len(expired)


def _own_attempt(session: Session, actor: Actor, attempt_id: int) -> CallAttempt:
    attempt = session.get(CallAttempt, attempt_id)
    if attempt is None:
        raise NotFoundError(_("No call attempt {id}.").format(id=attempt_id))
    if actor.user_id is None or attempt.operator_id != actor.user_id:
        raise PermissionDeniedError(_("This contact is not yours."))
    return attempt


def renew_lease(*, session: Session, actor: Actor, attempt_id: int, now: datetime | None = None,
                lease_seconds: int = DEFAULT_LEASE_SECONDS) -> datetime:
    """Keep the contact while it is on screen; ``LeaseLostError`` once it went back to the
    queue. Not audited: it runs every minute or so and changes nothing but the expiry
    (the claim, the release and the expiry are audited)."""
    require_role(actor, [Role.OPERATOR])
    now = now or utcnow()
    attempt = _own_attempt(session, actor, attempt_id)
    lost = LeaseLostError(_("This contact went back to the queue: it is no longer yours."))
    # After the call the outcome is still owed: the lease holds through the wrap-up, and
    # only a given-back, expired, interrupted or already settled attempt has lost it.
    outcomes_table: Table = Outcome.__table__  # type: ignore[attr-defined]
    settled = session.execute(select(outcomes_table.c.id).where(
        outcomes_table.c.attempt_id == attempt.id)).first()
    if (attempt.state == AttemptState.INTERRUPTED or settled is not None
            or attempt.result in (RESULT_RELEASED, RESULT_EXPIRED)):
        raise lost
    expires = now + timedelta(seconds=lease_seconds)
    renewed = session.connection().execute(_RENEW, {
        "contact_id": attempt.contact_id, "me": actor.user_id, "expires": expires}).first()
    if renewed is None:
        raise lost
    return expires


def release(*, session: Session, actor: Actor, attempt_id: int,
            now: datetime | None = None) -> None:
    """Give the contact back untouched (logout, lock, nothing dialled): the attempt ends as
    ``released`` and does not count against the caps; the contact returns to the queue."""
    require_role(actor, [Role.OPERATOR])
    now = now or utcnow()
    attempt = _own_attempt(session, actor, attempt_id)
    if attempt.state == AttemptState.ENDED and attempt.result in (RESULT_RELEASED,
                                                                  RESULT_EXPIRED):
        return  # already back in the queue
    if attempt.state != AttemptState.CLAIMED:
        raise ValidationError(_(
            "A call was already made to this contact: record its outcome instead."))
    attempt.state = AttemptState.ENDED
    attempt.result = RESULT_RELEASED
    attempt.counts_against_caps = False
    attempt.ended_at = now
    session.add(attempt)
    session.flush()
    session.connection().execute(_GIVE_BACK, {"contact_id": attempt.contact_id,
                                              "me": actor.user_id})
    audit.record(session=session, actor=actor, action="queue.release",
                 target=f"contact:{attempt.contact_id}", details={"attempt_id": attempt_id})


# --- candidates ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Campaign:
    id: int
    slug: str
    name: str
    client_name: str
    type: str
    audience: str
    country: str
    working_hours: Any
    dialing_mode: str
    priority: int
    ignore_calling_hours: bool
    max_attempts: int
    script_path: str | None


@dataclass(frozen=True)
class _Candidate:
    sort_key: tuple[Any, ...]
    contact_id: int
    campaign_id: int
    phone_e164: str
    time_zones: tuple[str, ...]
    consent_at: datetime | None
    consent_source: str | None
    has_contract: bool
    attempts: int
    next_attempt_at: datetime | None
    callback_id: int | None
    first_name: str
    last_name: str
    postal_code: str
    company: str
    language: str
    custom_raw: Any
    # Hints, read with the row (see ``_with_hints``).
    in_use: bool
    n_dnc: int
    recent: bool
    has_callbacks: bool
    has_history: bool


def _candidate(row: Sequence[Any], sort_key: tuple[Any, ...]) -> _Candidate:
    return _Candidate(sort_key, row[0], row[1], row[2], tuple(row[3] or ()), row[4], row[5],
                      bool(row[6]), row[7], row[8], row[_CALLBACK_ID], row[9] or "",
                      row[10] or "", row[11] or "", row[12] or "", row[13] or "", row[14],
                      bool(row[_IN_USE]), int(row[_N_DNC] or 0), bool(row[_RECENT]),
                      bool(row[_HAS_CALLBACKS]), bool(row[_HAS_HISTORY]))


def _contact_key(row: Sequence[Any], priority: int, now: datetime) -> tuple[Any, ...]:
    # Queue order: priority (higher first), never-scheduled first, oldest time, id.
    when = row[_NEXT_AT]
    return (1, -priority, when is not None, when or now, row[_ID])


def _callback_key(row: Sequence[Any]) -> tuple[Any, ...]:
    return (0, row[_DUE_AT], row[_CALLBACK_ID])


def _contact_stream(claim: _Claim, first: list[Any], *, campaign_id: int, priority: int,
                    status: str, language: str, page: int,
                    never_scheduled: bool) -> Iterator[_Candidate]:
    """One (campaign, status, language) slice in queue order: its first page (read for
    every slice at once), then further pages read along ix_contacts_queue (keyset paging,
    never OFFSET) only if the claim gets that far."""
    rows = sorted(first, key=lambda r: _contact_key(r, priority, claim.now))
    params: dict[str, Any] = {"cid": campaign_id, "status": status, "lang": language,
                              "now": claim.now, "since": claim.since, "page": page}
    statement = _NEVER_SCHEDULED if never_scheduled else _DUE
    size = min(page, _FIRST_PAGE)
    while True:
        for row in rows:
            yield _candidate(row, _contact_key(row, priority, claim.now))
        if len(rows) < size:
            return
        params["after_id"], params["after_time"] = rows[-1][_ID], rows[-1][_NEXT_AT] or _EPOCH
        rows = list(claim.conn.execute(statement, params).all())
        size = page


def _callback_stream(claim: _Claim, first: list[Any], *, page: int) -> Iterator[_Candidate]:
    """Due callbacks, oldest due first: for anyone, or personal to this operator."""
    rows = sorted(first, key=_callback_key)
    params: dict[str, Any] = {"now": claim.now, "since": claim.since, "me": claim.operator_id,
                              "cids": list(claim.campaigns), "langs": claim.languages,
                              "page": page}
    size = min(page, _FIRST_PAGE)
    while True:
        for row in rows:
            yield _candidate(row, _callback_key(row))
        if len(rows) < size:
            return
        params["after_time"], params["after_id"] = rows[-1][_DUE_AT], rows[-1][_CALLBACK_ID]
        rows = list(claim.conn.execute(_DUE_CALLBACKS, params).all())
        size = page


def _streams(claim: _Claim, page: int) -> list[Iterator[_Candidate]]:
    """Every slice of the queue and the callbacks, their first pages read in one query."""
    campaigns = list(claim.campaigns.values())
    params: dict[str, Any] = {"now": claim.now, "since": claim.since, "me": claim.operator_id,
                              "first_page": min(page, _FIRST_PAGE)}
    params.update({f"cid{i}": c.id for i, c in enumerate(campaigns)})
    params.update({f"lang{j}": lang for j, lang in enumerate(claim.languages)})
    slices = _slices(len(campaigns), len(claim.languages))
    firsts: list[list[Any]] = [[] for _ in range(len(slices) + 1)]
    for row in _first_pages(len(campaigns), len(claim.languages)).rows(claim.conn, params):
        firsts[row[_SLICE_TAG]].append(row)
    streams = [_callback_stream(claim, firsts[0], page=page)]
    for tag, (i, status, j, never) in enumerate(slices, start=1):
        streams.append(_contact_stream(
            claim, firsts[tag], campaign_id=campaigns[i].id, priority=campaigns[i].priority,
            status=status, language=claim.languages[j], page=page, never_scheduled=never))
    return streams


# --- the claim ----------------------------------------------------------------------------------
# How many callable candidates a claim keeps from its read snapshot: enough that stations
# claiming at the same moment rarely all miss. Each costs its rule checks: a wide snapshot
# taken by twenty stations at once costs more CPU than the misses it saves.
_CHOICES = 4
_MAX_CHOICES = 8


class _Width:
    """How many candidates this process's next snapshot keeps, and in which order it
    tries them. When many stations claim at once, each snapshot sees the same queue head,
    and by the time a station holds the write lock the others have leased its first
    choices; when every choice is gone it walks the queue again under the lock (slow for
    everyone). So the width doubles after such a miss or a late hit and halves back after
    a first-choice hit; and while it is wide (stations are colliding), each claim starts at
    a random one of its choices and goes round, so that simultaneous claims spread over
    the head of the queue instead of all queueing for its first contact. Outside
    collisions the first choice still free is taken, in queue order; under them, the
    contacts taken are still the queue's first few, each by someone."""

    def __init__(self) -> None:
        self.value = _CHOICES
        self._random = random.Random()

    def order(self, choices: list[_Candidate]) -> list[_Candidate]:
        if self.value <= _CHOICES or len(choices) < 2:
            return choices
        start = self._random.randrange(len(choices))
        return choices[start:] + choices[:start]

    def after(self, rank: int | None) -> None:
        """``rank``: position of the leased contact in the order tried (None: none)."""
        if rank is None or rank >= self.value // 2:
            self.value = min(self.value * 2, _MAX_CHOICES)
        elif rank == 0:
            self.value = max(self.value // 2, _CHOICES)


_WIDTH = _Width()

_STILL_FREE = select(_C.id).where(
    _C.id.in_(bindparam("ids", expanding=True)),
    _queued(_C.status),
    or_(_C.lease_expires_at.is_(None), _C.lease_expires_at < bindparam("now")),
    or_(_C.next_attempt_at.is_(None), _C.next_attempt_at <= bindparam("now")))


@dataclass
class _Refused:
    candidate: _Candidate
    situation: Situation | None
    failures: list[Failure]
    not_before: datetime | None = None


# Compiled campaign hours, per process: the same few campaigns are claimed from all day.
_TERMS: dict[tuple[Any, ...], CampaignTerms] = {}
_TERMS_MAX = 256


def _terms(c: _Campaign) -> CampaignTerms:
    key = (c.id, c.type, c.audience, json.dumps(c.working_hours, sort_keys=True, default=str),
           c.ignore_calling_hours)
    terms = _TERMS.get(key)
    if terms is None:
        if len(_TERMS) >= _TERMS_MAX:
            _TERMS.clear()
        terms = _TERMS[key] = terms_from(
            campaign_id=c.id, type=c.type, audience=c.audience, working_hours=c.working_hours,
            ignore_calling_hours=c.ignore_calling_hours)
    return terms


@dataclass
class _Claim:
    """One claim's working state (caches shared by all its candidates). ``conn`` is the
    Core connection of the current phase (read snapshot, then the write): no ORM session
    on this path."""

    conn: Connection
    rules: CallingRules
    now: datetime
    operator_id: int
    operator_login: str
    languages: list[str]
    campaigns: dict[int, _Campaign]
    list_imports: dict[str, datetime | None]
    # The newest attempt id when the snapshot was read (see ``_GUARDED_LEASE``).
    horizon: int = 0
    expired_waiting: bool = False
    screen: Screen = EMPTY_SCREEN
    # Contacts kept from this operator by an exclusion: never explained to the operator.
    screened: set[int] = field(default_factory=set)
    terms: dict[int, CampaignTerms] = field(default_factory=dict)
    # The rules' failures by ``sharing_key``: similar contacts are checked once.
    verdicts: dict[tuple[Any, ...], list[Failure]] = field(default_factory=dict)
    refused: list[_Refused] = field(default_factory=list)

    # How far back the rules look at a number's attempts (the hints' window).
    since: datetime = field(init=False)

    def __post_init__(self) -> None:
        # As ``facts.number_facts`` looks back: the caps' window, and the refusals' with a
        # day of margin.
        look_back = [self.now - timedelta(days=self.rules.cap_window_days)] \
            if self.rules.cap_window_days else []
        if self.rules.refusal_days and self.rules.refusal_dispositions:
            look_back.append(self.now - timedelta(days=self.rules.refusal_days + 1))
        self.since = min(look_back) if look_back else self.now

    def imports(self) -> dict[str, datetime | None]:
        return self.list_imports

    def campaign_terms(self, campaign_id: int) -> CampaignTerms:
        if campaign_id not in self.terms:
            self.terms[campaign_id] = _terms(self.campaigns[campaign_id])
        return self.terms[campaign_id]

    def excluded(self, cand: _Candidate) -> bool:
        if self.screen and self.screen.excludes(
                first_name=cand.first_name, last_name=cand.last_name,
                postal_code=cand.postal_code, phone_e164=cand.phone_e164):
            self.screened.add(cand.contact_id)
            return True
        return False


def _situation(claim: _Claim, cand: _Candidate, facts: NumberFacts) -> Situation | Failure:
    callee = callee_of(contact_id=cand.contact_id, phone_e164=cand.phone_e164,
                       time_zones=cand.time_zones, consent_at=cand.consent_at,
                       consent_source=cand.consent_source, has_contract=cand.has_contract)
    if isinstance(callee, Failure):
        return callee
    return rules_check.situation(rules=claim.rules, callee=callee,
                                 campaign=claim.campaign_terms(cand.campaign_id),
                                 facts=facts, list_imports=claim.imports())


def _callable_in(claim: _Claim, page: list[_Candidate], *, want: int,
                 remember: bool = True) -> list[_Candidate]:
    """Check a page of candidates in order; return up to ``want`` that every rule allows.
    The facts are fetched, for the whole page at once, only for the candidates whose hints
    say there are some. Refused ones are kept to explain, later, why nothing was callable;
    contacts excluded for this operator are skipped without a word."""
    conn, now = claim.conn, claim.now
    page = [cand for cand in page if not claim.excluded(cand)]
    if not page:
        return []
    with_facts = [c.phone_e164 for c in page if c.n_dnc or c.recent]
    facts = db_facts.number_facts(session=conn, phones=with_facts, now=now,
                                  rules=claim.rules) if with_facts else {}
    with_callbacks = [c.contact_id for c in page if c.has_callbacks and c.callback_id is None]
    callbacks = db_facts.pending_callbacks(
        session=conn, contact_ids=with_callbacks) if with_callbacks else {}
    me = claim.operator_id
    found: list[_Candidate] = []

    def refuse(cand: _Candidate, failure: Failure) -> None:
        if remember:
            claim.refused.append(_Refused(cand, None, [failure]))

    for cand in page:
        campaign = claim.campaigns[cand.campaign_id]
        # An agreed callback stands even past the attempt limit: the callee asked for it.
        if cand.callback_id is None and cand.attempts >= campaign.max_attempts:
            refuse(cand, Failure(
                "contact", _("the campaign's maximum number of attempts was reached"), None))
            continue
        not_before: datetime | None = None
        if cand.callback_id is None:
            # Outside the callback path, a contact with an agreed callback waits for it,
            # and a personal callback is never handed to another operator.
            agreed = callbacks.get(cand.contact_id, [])
            if any(personal is not None and personal != me for _due, personal in agreed):
                refuse(cand, Failure(
                    "callback", _("a callback reserved for another operator"), None))
                continue
            for due_at, _personal in agreed:
                if due_at > now:
                    not_before = due_at if not_before is None else max(not_before, due_at)
        if cand.in_use:
            refuse(cand, Failure(
                "in_use", _("this number is being called in another campaign"), None))
            continue
        s = _situation(claim, cand, facts.get(cand.phone_e164, _NO_FACTS))
        if isinstance(s, Failure):
            refuse(cand, s)
            continue
        key = rules_check.sharing_key(s) if not_before is None else None
        if key is not None and key in claim.verdicts:
            failures = claim.verdicts[key]
        else:
            failures = rules_check.failures_at(claim.rules, s, now, not_before)
            if key is not None:
                claim.verdicts[key] = failures
        if failures:
            if remember:
                claim.refused.append(_Refused(cand, s, failures, not_before))
            continue
        found.append(cand)
        if len(found) >= want:
            break
    return found


_NO_FACTS = NumberFacts()


def _begin(*, conn: Connection | None = None, session: Session | None = None, actor: Actor,
           now: datetime, rules: CallingRules) -> _Claim | NothingCallable:
    """Who is claiming, from which campaigns, under which site state (one query, on
    ``conn`` or ``session``'s)."""
    require_role(actor, [Role.OPERATOR])
    if conn is None:
        assert session is not None
        conn = session.connection()
    sources = tuple(rules.list_sources)
    params: dict[str, Any] = {"me": actor.user_id, "now": now}
    params.update({f"source{k}": source for k, source in enumerate(sources)})
    rows = _header(sources).rows(conn, params) if actor.user_id is not None else []
    head = rows[0] if rows else None
    if head is None or head[_H_DISABLED] or head[_H_ROLE] != Role.OPERATOR:
        raise PermissionDeniedError(_("You are not allowed to do this."))
    if head[_H_STOP] is not None:
        return NothingCallable(_("Calls are stopped on the whole site: {reason}").format(
            reason=head[_H_STOP]), None)
    at = _H_IMPORTS + len(sources)
    campaigns = {row[at]: _Campaign(*tuple(row[at:at + len(_CAMPAIGN_COLUMNS)]))
                 for row in rows if row[at] is not None}
    languages = sorted(set(head[_H_LANGUAGES] or ()))
    if not campaigns:
        return NothingCallable(_("No campaign is running at the moment."), None)
    if not languages:
        return NothingCallable(_("Your account has no languages: ask a supervisor."), None)
    operator_id: int = head[0]
    return _Claim(conn, rules, now, operator_id, actor.login, languages, campaigns,
                  {source: head[_H_IMPORTS + k] for k, source in enumerate(sources)},
                  horizon=head[_H_HORIZON] or 0, expired_waiting=bool(head[_H_EXPIRED]),
                  screen=screen_for(conn, operator_id) if head[_H_EXCLUSIONS] else EMPTY_SCREEN)


def _choose(claim: _Claim, *, want: int) -> list[_Candidate]:
    """Walk the queue in order, page by page along the indexes, checking the rules per
    candidate, until ``want`` callable ones are found or the page budget is spent."""
    rules = claim.rules
    page = rules.candidates_per_batch
    ordered = heapq.merge(*_streams(claim, page), key=lambda cand: cand.sort_key)
    seen: set[int] = set()
    found: list[_Candidate] = []
    for number in range(rules.max_batches):
        batch: list[_Candidate] = []
        size = min(page, max(_FIRST_PAGE, want)) if number == 0 else page
        for cand in islice(ordered, size):
            # A contact may come both as a callback and from its campaign: once only.
            if cand.contact_id not in seen:
                seen.add(cand.contact_id)
                batch.append(cand)
        if not batch:
            break
        found += _callable_in(claim, batch, want=want - len(found))
        if len(found) >= want:
            break
    return found


def _lease(claim: _Claim, cand: _Candidate, station_id: int | None,
           lease_seconds: int, *, guarded: bool = False) -> datetime | None:
    """The conditional lease: taken only if nobody holds it, so correctness never rests on
    the write lock alone. ``guarded``: for a candidate checked in an earlier snapshot, also
    only if nothing the rules read about its number changed since."""
    expires = claim.now + timedelta(seconds=lease_seconds)
    params: dict[str, Any] = {
        "contact_id": cand.contact_id, "now": claim.now, "me": claim.operator_id,
        "station_id": station_id, "expires": expires}
    if guarded:
        params.update(phone=cand.phone_e164, n_dnc=cand.n_dnc, horizon=claim.horizon)
    won = (_GUARDED_LEASE if guarded else _LEASE).first(claim.conn, params)
    return expires if won is not None else None


def _record_claim(claim: _Claim, actor: Actor, cand: _Candidate, station_id: int | None,
                  expires: datetime) -> int:
    """The attempt row (the engine reads the number from it) and the audit row."""
    attempt_id: int = _NEW_ATTEMPT.first(claim.conn, {
        "contact_id": cand.contact_id, "campaign_id": cand.campaign_id,
        "operator_id": claim.operator_id, "station_id": station_id,
        "phone": cand.phone_e164, "now": claim.now})[0]
    campaign = claim.campaigns[cand.campaign_id]
    audit.append(claim.conn, actor=actor, action="queue.claim",
                 target=f"contact:{cand.contact_id}",
                 details={"attempt_id": attempt_id, "campaign": campaign.slug,
                          "callback_id": cand.callback_id, "station_id": station_id})
    if claim.screened:
        # For the security office: which contacts an exclusion kept from this operator.
        # The system is the actor, under a name no operator screen shows.
        audit.append(claim.conn, actor=SYSTEM, action="queue.screened",
                     target=f"user:{claim.operator_login}",
                     details={"contact_ids": sorted(claim.screened)[:100],
                              "attempt_id": attempt_id})
    return attempt_id


def _history(conn: Connection, contact_id: int, exclude: int) -> tuple[AttemptHistoryItem, ...]:
    rows = conn.execute(_HISTORY, {"contact_id": contact_id, "exclude": exclude}).all()
    return tuple(AttemptHistoryItem(dialed or claimed, disposition, notes or "", login)
                 for claimed, dialed, disposition, notes, login in reversed(rows))


def _custom_fields(raw: Any) -> dict[str, Any]:
    if raw is None or raw == "":
        return {}
    value = json.loads(raw) if isinstance(raw, str | bytes) else raw
    return value if isinstance(value, dict) else {}


def _claimed(claim: _Claim, cand: _Candidate, attempt_id: int, expires: datetime,
             history: tuple[AttemptHistoryItem, ...]) -> ClaimedContact:
    campaign = claim.campaigns[cand.campaign_id]
    try:  # the national digits alone, when it parses
        own_digits = str(phonenumbers.parse(cand.phone_e164, None).national_number)
    except phonenumbers.NumberParseException:
        own_digits = cand.phone_e164.lstrip("+")

    def masked(text: str) -> str:
        return _mask_numbers_in(text, campaign.country, own_digits)

    fields = tuple((str(key), masked("" if value is None else str(value)))
                   for key, value in _custom_fields(cand.custom_raw).items())
    history = tuple(dataclasses.replace(item, notes=masked(item.notes)) for item in history)
    return ClaimedContact(
        attempt_id=attempt_id, contact_id=cand.contact_id, campaign_id=campaign.id,
        campaign_slug=campaign.slug, campaign_name=campaign.name,
        client_name=campaign.client_name, campaign_type=campaign.type,
        audience=campaign.audience, dialing_mode=campaign.dialing_mode,
        first_name=masked(cand.first_name), last_name=masked(cand.last_name),
        company=masked(cand.company), language=cand.language, custom_fields=fields,
        time_zones=cand.time_zones, lease_expires_at=expires, callback_id=cand.callback_id,
        script_path=campaign.script_path, history=history,
        masked_number=phones.mask(cand.phone_e164))


def claim_next(*, session: Session, actor: Actor, station_id: int | None,
               now: datetime | None = None, rules: CallingRules | None = None,
               lease_seconds: int = DEFAULT_LEASE_SECONDS) -> ClaimedContact | NothingCallable:
    """Lease the next callable contact to this operator, or say why there is none and when
    there will be, all in the caller's transaction (run it inside ``db.run_write``).

    ``claim`` does the same with most of the work outside the write lock; prefer it
    where many stations claim at once."""
    now = now or utcnow()
    rules = rules or load_rules()
    require_role(actor, [Role.OPERATOR])
    expire_leases(session=session, now=now)
    claim = _begin(conn=session.connection(), actor=actor, now=now, rules=rules)
    if isinstance(claim, NothingCallable):
        return claim
    found = _lease_first(claim, actor, station_id, lease_seconds)
    if found is None:
        return _nothing_callable(claim)
    cand, attempt_id, expires = found
    history = _history(claim.conn, cand.contact_id, attempt_id) if cand.has_history else ()
    return _claimed(claim, cand, attempt_id, expires, history)


def _lease_first(claim: _Claim, actor: Actor, station_id: int | None,
                 lease_seconds: int) -> tuple[_Candidate, int, datetime] | None:
    """Under the write lock: lease the first callable candidate in queue order."""
    # The first callable one is free under the lock; more are looked for only if the
    # conditional lease failed (a database without that lock, e.g. PostgreSQL).
    first = _choose(claim, want=1)
    if not first:
        return None  # the refused candidates explain why
    for attempt in range(2):
        if attempt:
            claim.refused.clear()
        for cand in first if attempt == 0 else _choose(claim, want=_CHOICES):
            expires = _lease(claim, cand, station_id, lease_seconds)
            if expires is not None:
                return cand, _record_claim(claim, actor, cand, station_id, expires), expires
    return None


def _take(claim: _Claim, conn: Connection | Session, *, actor: Actor,
          choices: list[_Candidate],
          station_id: int | None,
          lease_seconds: int) -> tuple[_Candidate, int, datetime] | NothingCallable:
    """The write phase of ``claim``: the first chosen candidate still free whose number's
    facts did not change since the snapshot, leased with the guarded UPDATE (the rules
    need not run again under the lock). When other stations took every choice meanwhile,
    it walks the queue again here, holding the lock, as ``claim_next`` does (no second
    read round to lose again)."""
    claim.conn = db_facts.connection_of(conn)
    free: set[int] | None = None
    for rank, cand in enumerate(choices):
        if rank == 1:  # the first choice was gone: only the others still free are tried
            free = set(claim.conn.execute(_STILL_FREE, {
                "ids": [c.contact_id for c in choices[1:]], "now": claim.now}).scalars())
        if free is not None and cand.contact_id not in free:
            continue
        expires = _lease(claim, cand, station_id, lease_seconds, guarded=True)
        if expires is not None:
            return cand, _record_claim(claim, actor, cand, station_id, expires), expires
    claim.refused.clear()
    found = _lease_first(claim, actor, station_id, lease_seconds)
    return found if found is not None else _nothing_callable(claim)


def claim(*, engine: Engine, actor: Actor, station_id: int | None,
          now: datetime | None = None, rules: CallingRules | None = None,
          lease_seconds: int = DEFAULT_LEASE_SECONDS) -> ClaimedContact | NothingCallable:
    """``claim_next`` in its own transactions, holding the write lock only to lease.

    The queue is walked and the rules checked in a read snapshot (WAL readers never wait
    for the writer), so stations choose in parallel and "nothing callable" answers never
    take the write lock. A short write transaction then leases the first chosen candidate
    that is still free and whose number did not change (see ``_take``)."""
    rules = rules or load_rules()
    require_role(actor, [Role.OPERATOR])
    at = now or utcnow()
    chosen = _snapshot(engine, actor=actor, now=at, rules=rules, expire_first=True)
    if chosen is None:
        # Expired leases first, so their contacts are in the snapshot that chooses.
        run_write(engine, partial(_expire_at, now=at))
        chosen = _snapshot(engine, actor=actor, now=at, rules=rules, expire_first=False)
    assert chosen is not None  # the second snapshot does not look for expired leases
    if isinstance(chosen, NothingCallable):
        return chosen
    begun, chosen_in_order = chosen
    choices = _WIDTH.order(chosen_in_order)
    taken = run_core_write(engine, partial(_take, begun, actor=actor, choices=choices,
                                      station_id=station_id, lease_seconds=lease_seconds))
    if isinstance(taken, NothingCallable):
        return taken
    cand, attempt_id, expires = taken
    _WIDTH.after(next((rank for rank, c in enumerate(choices)
                       if c.contact_id == cand.contact_id), None))
    history: tuple[AttemptHistoryItem, ...] = ()
    if cand.has_history:  # most contacts have none: no third transaction for them
        with engine.connect() as conn, conn.begin():
            history = _history(conn, cand.contact_id, attempt_id)
    return _claimed(begun, cand, attempt_id, expires, history)


def _snapshot(engine: Engine, *, actor: Actor, now: datetime, rules: CallingRules,
              expire_first: bool) -> tuple[_Claim, list[_Candidate]] | NothingCallable | None:
    """The read phase of ``claim``: the chosen candidates, why there are none, or None
    when leases expired and must be put back first."""
    with engine.connect() as conn, conn.begin():  # a deferred BEGIN: one WAL snapshot
        begun = _begin(conn=conn, actor=actor, now=now, rules=rules)
        if isinstance(begun, NothingCallable):
            return begun
        if expire_first and begun.expired_waiting:
            return None
        choices = _choose(begun, want=_WIDTH.value)
        if not choices:
            return _nothing_callable(begun)
        return begun, choices


def _expire_at(session: Session, *, now: datetime) -> int:
    return expire_leases(session=session, now=now)


# --- when nothing is callable -------------------------------------------------------------------
def _when(next_at: datetime, now: datetime, site_zone: str) -> tuple[str, str | None]:
    tz = ZoneInfo(site_zone)
    local = next_at.astimezone(tz)
    day = None if local.date() == now.astimezone(tz).date() else format_date(
        local.date(), "EEE d MMM", locale=current_language())
    return local.strftime("%H:%M"), day


def _sentence(reason: str, next_at: datetime | None, claim: _Claim) -> NothingCallable:
    if next_at is None:
        return NothingCallable(_("Nothing can be called now: {reason}.").format(reason=reason),
                               None)
    time, day = _when(next_at, claim.now, claim.rules.site_zone)
    if day is None:
        text = _("Next contact at {time}: {reason}").format(time=time, reason=reason)
    else:
        text = _("Next contact on {day} at {time}: {reason}").format(
            day=day, time=time, reason=reason)
    return NothingCallable(text, next_at)


_NEXT_DUE = _with_hints(select(*_CANDIDATE_COLUMNS, *_NO_CALLBACK).select_from(
    _QUEUE_INDEX).where(
    _C.campaign_id == bindparam("cid"), _C.status == bindparam("status"),
    _C.language.in_(bindparam("langs", expanding=True)), _C.next_attempt_at > bindparam("now"),
).order_by(_C.next_attempt_at).limit(1))
_NEXT_CALLBACK = _with_hints(select(*_CANDIDATE_COLUMNS, *_CALLBACK_COLUMNS).select_from(
    _CALLBACK_JOIN).where(
    _CB.status == CallbackStatus.PENDING.value, _CB.due_at > bindparam("now"),
    or_(_CB.personal_operator_id.is_(None), _CB.personal_operator_id == bindparam("me")),
    _CB.campaign_id.in_(bindparam("cids", expanding=True)),
    _queued(_C.status),
    _C.language.in_(bindparam("langs", expanding=True)),
).order_by(_CB.due_at).limit(1))


def _upcoming(claim: _Claim) -> Verdict | None:
    """The earliest contact not yet due (retry time or agreed callback): when it will be
    callable, with the rules applied at that time."""
    conn, now = claim.conn, claim.now
    best: tuple[datetime, _Candidate] | None = None
    for cid in claim.campaigns:
        for status in _QUEUED_VALUES:
            row = conn.execute(_NEXT_DUE, {"cid": cid, "status": status, "since": claim.since,
                                           "langs": claim.languages, "now": now}).first()
            if row is not None and (best is None or row[_NEXT_AT] < best[0]):
                best = (row[_NEXT_AT], _candidate(row, ()))
    callback = conn.execute(_NEXT_CALLBACK, {"now": now, "me": claim.operator_id,
                                             "since": claim.since,
                                             "cids": list(claim.campaigns),
                                             "langs": claim.languages}).first()
    if callback is not None and (best is None or callback[_DUE_AT] < best[0]):
        best = (callback[_DUE_AT], _candidate(callback, ()))
    if best is None:
        return None
    due, cand = best
    if claim.excluded(cand):
        return None  # not this operator's: nothing to announce
    facts = db_facts.number_facts(session=claim.conn, phones=[cand.phone_e164], now=now,
                                  rules=claim.rules)
    s = _situation(claim, cand, facts.get(cand.phone_e164, NumberFacts()))
    if isinstance(s, Failure):
        return Verdict(False, s.reason, None, s.rule)
    return rules_check.verdict(claim.rules, s, now, not_before=due)


def _nothing_callable(claim: _Claim) -> NothingCallable:
    """Never an empty answer: the reason, and the earliest time something is callable."""
    verdicts: list[Verdict] = []
    for refused in claim.refused:
        if refused.situation is None:
            deciding = refused.failures[0]
            verdicts.append(Verdict(False, deciding.reason, deciding.next_at, deciding.rule))
        else:
            verdicts.append(rules_check.verdict_from(
                claim.rules, refused.situation, claim.now, refused.failures,
                refused.not_before))
    upcoming = _upcoming(claim)
    if upcoming is not None:
        verdicts.append(upcoming)
    timed = [v for v in verdicts if v.next_at is not None]
    if timed:
        best = min(timed, key=lambda v: v.next_at or claim.now)
        return _sentence(best.reason, best.next_at, claim)
    if verdicts:
        return _sentence(verdicts[0].reason, None, claim)
    return _empty_queue(claim)


def _empty_queue(claim: _Claim) -> NothingCallable:
    """No candidate at all: say whether it is languages, other operators or the end."""
    conn = claim.conn
    ids = list(claim.campaigns)
    busy = NothingCallable(_("Every remaining contact is with another operator right now."),
                           None)
    if claim.screened:
        # What is left is kept from this operator: to them, it is simply someone else's.
        return busy

    def any_contact(*conditions: Any) -> bool:
        return bool(conn.execute(select(exists().select_from(_QUEUE_INDEX).where(
            _C.campaign_id.in_(ids), *conditions))).scalar())

    if any_contact(_queued(_C.status)):
        return NothingCallable(_("No contact in your languages ({languages}) is waiting.")
                               .format(languages=", ".join(claim.languages)), None)
    if any_contact(_C.status == ContactStatus.CLAIMED.value):
        return busy
    return NothingCallable(_(
        "The campaigns are finished: every contact has been handled."), None)

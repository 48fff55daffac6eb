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

import heapq
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from itertools import islice
from typing import Any
from zoneinfo import ZoneInfo

import phonenumbers
from babel.dates import format_date
from sqlalchemy import Table, bindparam, case, exists, insert, or_, select, tuple_, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.selectable import FromClause
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
from cellcall.services.calling_rules.check import number_info, terms_from
from cellcall.services.calling_rules.facts import ATTEMPTS, CALLBACKS, CONTACTS, OUTCOMES, table
from cellcall.services.calling_rules.kinds import CampaignTerms, NumberFacts, Situation

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
    """Client files sometimes repeat a phone number in a custom field: mask any number."""
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
# The first page read from each slice, and the first batch checked: small, since the first
# candidate is usually callable; later pages are [queue] candidates_per_batch.
_FIRST_PAGE = 4
_CANDIDATE_COLUMNS = (_C.id, _C.campaign_id, _C.phone_e164, _C.time_zones, _C.consent_at,
                      _C.consent_source, _C.has_contract, _C.attempts, _C.next_attempt_at)
_SLICE = (_C.campaign_id == bindparam("cid"), _C.status == bindparam("status"),
          _C.language == bindparam("lang"))
# Never-scheduled contacts of one (campaign, status, language), in id order.
_NEVER_SCHEDULED = select(*_CANDIDATE_COLUMNS).select_from(_QUEUE_INDEX).where(
    *_SLICE, _C.next_attempt_at.is_(None), _C.id > bindparam("after_id")
).order_by(_C.id).limit(bindparam("page"))
# Due contacts of one slice, oldest first; keyset paging on (next_attempt_at, id).
_DUE = select(*_CANDIDATE_COLUMNS).select_from(_QUEUE_INDEX).where(
    *_SLICE, _C.next_attempt_at <= bindparam("now"),
    tuple_(_C.next_attempt_at, _C.id) > tuple_(
        bindparam("after_time", type_=UTCDateTime()), bindparam("after_id"))
).order_by(_C.next_attempt_at, _C.id).limit(bindparam("page"))
_DUE_CALLBACKS = select(*_CANDIDATE_COLUMNS, _CB.id, _CB.due_at).select_from(
    CALLBACKS.join(CONTACTS, _C.id == _CB.contact_id)).where(
    _CB.status == CallbackStatus.PENDING.value,
    _CB.due_at <= bindparam("now"),
    or_(_CB.personal_operator_id.is_(None), _CB.personal_operator_id == bindparam("me")),
    _CB.campaign_id.in_(bindparam("cids", expanding=True)),
    _C.status.in_(_QUEUED_VALUES),
    _C.language.in_(bindparam("langs", expanding=True)),
    tuple_(_CB.due_at, _CB.id) > tuple_(bindparam("after_time", type_=UTCDateTime()),
                                        bindparam("after_id")),
).order_by(_CB.due_at, _CB.id).limit(bindparam("page"))
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
# The lease is taken only if nobody holds it: correct even without the write lock.
_LEASE = update(CONTACTS).where(
    _C.id == bindparam("contact_id"),
    _C.status.in_(_QUEUED_VALUES),
    or_(_C.lease_expires_at.is_(None), _C.lease_expires_at < bindparam("now")),
    # A contact completed by someone else a moment ago may be pending with a later time.
    or_(_C.next_attempt_at.is_(None), _C.next_attempt_at <= bindparam("now")),
).values(status=ContactStatus.CLAIMED.value, lease_user_id=bindparam("me"),
         lease_station_id=bindparam("station_id"),
         lease_expires_at=bindparam("expires")).returning(_C.id)
_RENEW = update(CONTACTS).where(
    _C.id == bindparam("contact_id"), _C.status == ContactStatus.CLAIMED.value,
    _C.lease_user_id == bindparam("me"),
).values(lease_expires_at=bindparam("expires")).returning(_C.id)
_GIVE_BACK = update(CONTACTS).where(
    _C.id == bindparam("contact_id"), _C.status == ContactStatus.CLAIMED.value,
    _C.lease_user_id == bindparam("me"),
).values(status=_back_to_queue_status(), lease_user_id=None, lease_station_id=None,
         lease_expires_at=None)
_NEW_ATTEMPT = insert(ATTEMPTS).values(
    contact_id=bindparam("contact_id"), campaign_id=bindparam("campaign_id"),
    operator_id=bindparam("operator_id"), station_id=bindparam("station_id"),
    phone_e164=bindparam("phone"), state=AttemptState.CLAIMED.value,
    claimed_at=bindparam("now"), counts_against_caps=True).returning(_A.id)
_OPERATOR = select(USERS.c.id, USERS.c.role, USERS.c.languages, USERS.c.disabled).where(
    USERS.c.id == bindparam("id"))
_ACTIVE_CAMPAIGNS = select(
    CAMPAIGNS.c.id, CAMPAIGNS.c.slug, CAMPAIGNS.c.name, CLIENTS.c.name, CAMPAIGNS.c.type,
    CAMPAIGNS.c.audience, CAMPAIGNS.c.country, CAMPAIGNS.c.working_hours,
    CAMPAIGNS.c.dialing_mode, CAMPAIGNS.c.priority, CAMPAIGNS.c.ignore_calling_hours,
    CAMPAIGNS.c.max_attempts, CAMPAIGNS.c.script_path,
).select_from(CAMPAIGNS.join(CLIENTS, CLIENTS.c.id == CAMPAIGNS.c.client_id)).where(
    CAMPAIGNS.c.status == CampaignStatus.ACTIVE.value)
_CONTACT_CARD = select(_C.first_name, _C.last_name, _C.company, _C.language,
                       _C.custom_fields, _C.time_zones).where(_C.id == bindparam("id"))
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
    callback_id: int | None = None


def _candidate(row: Sequence[Any], sort_key: tuple[Any, ...],
               callback_id: int | None = None) -> _Candidate:
    return _Candidate(sort_key, row[0], row[1], row[2], tuple(row[3] or ()), row[4], row[5],
                      bool(row[6]), row[7], row[8], callback_id)


def _contact_stream(conn: Connection, *, campaign_id: int, priority: int, status: str,
                    language: str, now: datetime, page: int,
                    never_scheduled: bool) -> Iterator[_Candidate]:
    """One (campaign, status, language) slice in queue order, read page by page along
    ix_contacts_queue (keyset paging, never OFFSET). The first page is small: the first
    candidate is usually callable."""
    params: dict[str, Any] = {"cid": campaign_id, "status": status, "lang": language,
                              "now": now, "page": min(page, _FIRST_PAGE), "after_id": 0,
                              "after_time": _EPOCH}
    statement = _NEVER_SCHEDULED if never_scheduled else _DUE
    while True:
        rows = conn.execute(statement, params).all()
        for row in rows:
            when = row[8]
            # Queue order: priority (higher first), never-scheduled first, oldest time, id.
            yield _candidate(row, (1, -priority, when is not None, when or now, row[0]))
        if len(rows) < params["page"]:
            return
        params["after_id"], params["after_time"] = rows[-1][0], rows[-1][8] or _EPOCH
        params["page"] = page


def _callback_stream(conn: Connection, *, operator_id: int, campaign_ids: list[int],
                     languages: list[str], now: datetime, page: int) -> Iterator[_Candidate]:
    """Due callbacks, oldest due first: for anyone, or personal to this operator."""
    params: dict[str, Any] = {"now": now, "me": operator_id, "cids": campaign_ids,
                              "langs": languages, "page": min(page, _FIRST_PAGE),
                              "after_id": 0, "after_time": _EPOCH}
    while True:
        rows = conn.execute(_DUE_CALLBACKS, params).all()
        for row in rows:
            yield _candidate(row, (0, row[10], row[9]), callback_id=row[9])
        if len(rows) < params["page"]:
            return
        params["after_time"], params["after_id"] = rows[-1][10], rows[-1][9]
        params["page"] = page


# --- the claim ----------------------------------------------------------------------------------
# How many callable candidates a claim keeps from its read snapshot: enough that stations
# claiming at the same moment rarely all miss.
_CHOICES = 4
_MAX_CHOICES = 32


class _Width:
    """How many candidates this process's next snapshot keeps. When many stations claim
    at once, each snapshot sees the same queue head, and by the time a station holds the
    write lock the others have leased its first choices; when every choice is gone it walks
    the queue again under the lock (slow for everyone). So the width doubles after such a
    miss or a late hit and halves back after a first-choice hit. The write phase still
    takes the first choice still free, in queue order: the width costs rule checks
    outside the lock, never the order."""

    def __init__(self) -> None:
        self.value = _CHOICES

    def after(self, rank: int | None) -> None:
        """``rank``: position of the leased contact among the choices (None: none)."""
        if rank is None or rank >= self.value // 2:
            self.value = min(self.value * 2, _MAX_CHOICES)
        elif rank == 0:
            self.value = max(self.value // 2, _CHOICES)


_WIDTH = _Width()

_HAS_EXPIRED = select(exists().select_from(_QUEUE_INDEX).where(
    _C.campaign_id.in_(select(CAMPAIGNS.c.id)),
    _C.status == ContactStatus.CLAIMED.value,
    _C.lease_expires_at < bindparam("now")))
_STILL_FREE = select(_C.id).where(
    _C.id.in_(bindparam("ids", expanding=True)),
    _C.status.in_(_QUEUED_VALUES),
    or_(_C.lease_expires_at.is_(None), _C.lease_expires_at < bindparam("now")),
    or_(_C.next_attempt_at.is_(None), _C.next_attempt_at <= bindparam("now")))


@dataclass
class _Refused:
    candidate: _Candidate
    situation: Situation | None
    failures: list[Failure]
    not_before: datetime | None = None


@dataclass
class _Claim:
    """One claim's working state (caches shared by all its candidates). ``conn`` is the
    Core connection of the current phase (read snapshot, then the write): no ORM session
    on this path."""

    conn: Connection
    rules: CallingRules
    now: datetime
    operator_id: int
    languages: list[str]
    campaigns: dict[int, _Campaign]
    terms: dict[int, CampaignTerms] = field(default_factory=dict)
    list_imports: dict[str, datetime | None] | None = None
    refused: list[_Refused] = field(default_factory=list)

    def imports(self) -> dict[str, datetime | None]:
        if self.list_imports is None:
            self.list_imports = db_facts.list_imports(session=self.conn, rules=self.rules)
        return self.list_imports

    def campaign_terms(self, campaign_id: int) -> CampaignTerms:
        if campaign_id not in self.terms:
            c = self.campaigns[campaign_id]
            self.terms[campaign_id] = terms_from(
                campaign_id=c.id, type=c.type, audience=c.audience,
                working_hours=c.working_hours, ignore_calling_hours=c.ignore_calling_hours)
        return self.terms[campaign_id]


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
                 remember: bool = True, with_callbacks: bool = True) -> list[_Candidate]:
    """Check a page of candidates in order (facts fetched for the whole page at once);
    return up to ``want`` that every rule allows. Refused ones are kept to explain, later,
    why nothing was callable. ``with_callbacks=False`` skips the callbacks (a re-check:
    a new callback needs an outcome, so a lease, on that very contact)."""
    conn, now = claim.conn, claim.now
    if not page:
        return []
    phones = [c.phone_e164 for c in page]
    facts = db_facts.number_facts(session=conn, phones=phones, now=now, rules=claim.rules)
    in_use = db_facts.numbers_in_use(session=conn, phones=phones, now=now)
    callbacks = db_facts.pending_callbacks(
        session=conn, contact_ids=[c.contact_id for c in page]) if with_callbacks else {}
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
        if in_use.get(cand.phone_e164, set()) - {cand.contact_id}:
            refuse(cand, Failure(
                "in_use", _("this number is being called in another campaign"), None))
            continue
        s = _situation(claim, cand, facts.get(cand.phone_e164, NumberFacts()))
        if isinstance(s, Failure):
            refuse(cand, s)
            continue
        failures = rules_check.failures_at(claim.rules, s, now, not_before)
        if failures:
            if remember:
                claim.refused.append(_Refused(cand, s, failures, not_before))
            continue
        found.append(cand)
        if len(found) >= want:
            break
    return found


def _begin(*, conn: Connection | None = None, session: Session | None = None, actor: Actor,
           now: datetime, rules: CallingRules) -> _Claim | NothingCallable:
    """Who is claiming, and from which campaigns (on ``conn``, or ``session``'s)."""
    require_role(actor, [Role.OPERATOR])
    if conn is None:
        assert session is not None
        conn = session.connection()
    operator = conn.execute(_OPERATOR, {"id": actor.user_id}).first() \
        if actor.user_id is not None else None
    if operator is None or operator.disabled or operator.role != Role.OPERATOR:
        raise PermissionDeniedError(_("You are not allowed to do this."))
    campaigns = {row[0]: _Campaign(*tuple(row)) for row in conn.execute(_ACTIVE_CAMPAIGNS)}
    languages = sorted(set(operator.languages or ()))
    if not campaigns:
        return NothingCallable(_("No campaign is running at the moment."), None)
    if not languages:
        return NothingCallable(_("Your account has no languages: ask a supervisor."), None)
    return _Claim(conn, rules, now, operator.id, languages, campaigns)


def _choose(claim: _Claim, *, want: int) -> list[_Candidate]:
    """Walk the queue in order, page by page along the indexes, checking the rules per
    candidate, until ``want`` callable ones are found or the page budget is spent."""
    conn, now, rules = claim.conn, claim.now, claim.rules
    page = rules.candidates_per_batch
    streams: list[Iterator[_Candidate]] = [
        _contact_stream(conn, campaign_id=cid, priority=c.priority, status=status,
                        language=lang, now=now, page=page, never_scheduled=never)
        for cid, c in claim.campaigns.items() for status in _QUEUED_VALUES
        for lang in claim.languages for never in (True, False)]
    ordered = heapq.merge(
        _callback_stream(conn, operator_id=claim.operator_id,
                         campaign_ids=list(claim.campaigns), languages=claim.languages,
                         now=now, page=page),
        *streams, key=lambda cand: cand.sort_key)
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
           lease_seconds: int) -> datetime | None:
    """The conditional lease: taken only if nobody holds it, so correctness never rests on
    the write lock alone."""
    expires = claim.now + timedelta(seconds=lease_seconds)
    won = claim.conn.execute(_LEASE, {
        "contact_id": cand.contact_id, "now": claim.now, "me": claim.operator_id,
        "station_id": station_id, "expires": expires}).first()
    return expires if won is not None else None


def _record_claim(claim: _Claim, actor: Actor, cand: _Candidate, station_id: int | None,
                  expires: datetime) -> int:
    """The attempt row (the engine reads the number from it) and the audit row."""
    attempt_id: int = claim.conn.execute(_NEW_ATTEMPT, {
        "contact_id": cand.contact_id, "campaign_id": cand.campaign_id,
        "operator_id": claim.operator_id, "station_id": station_id,
        "phone": cand.phone_e164, "now": claim.now}).scalar_one()
    campaign = claim.campaigns[cand.campaign_id]
    audit.append(claim.conn, actor=actor, action="queue.claim",
                 target=f"contact:{cand.contact_id}",
                 details={"attempt_id": attempt_id, "campaign": campaign.slug,
                          "callback_id": cand.callback_id, "station_id": station_id})
    return attempt_id


def _history(conn: Connection, contact_id: int, exclude: int) -> tuple[AttemptHistoryItem, ...]:
    rows = conn.execute(_HISTORY, {"contact_id": contact_id, "exclude": exclude}).all()
    return tuple(AttemptHistoryItem(dialed or claimed, disposition, notes or "", login)
                 for claimed, dialed, disposition, notes, login in reversed(rows))


def _claimed(claim: _Claim, cand: _Candidate, attempt_id: int,
             expires: datetime) -> ClaimedContact:
    conn = claim.conn
    first, last, company, language, custom, zones = conn.execute(
        _CONTACT_CARD, {"id": cand.contact_id}).one()
    campaign = claim.campaigns[cand.campaign_id]
    own_digits = cand.phone_e164.lstrip("+")
    if number_info(cand.phone_e164) is not None:  # parses: the national digits alone
        own_digits = str(phonenumbers.parse(cand.phone_e164, None).national_number)
    fields = tuple(
        (str(key), _mask_numbers_in("" if value is None else str(value), campaign.country,
                                    own_digits))
        for key, value in (custom or {}).items())
    return ClaimedContact(
        attempt_id=attempt_id, contact_id=cand.contact_id, campaign_id=campaign.id,
        campaign_slug=campaign.slug, campaign_name=campaign.name,
        client_name=campaign.client_name, campaign_type=campaign.type,
        audience=campaign.audience, dialing_mode=campaign.dialing_mode,
        first_name=first, last_name=last, company=company, language=language,
        custom_fields=fields, time_zones=tuple(zones or ()), lease_expires_at=expires,
        callback_id=cand.callback_id, script_path=campaign.script_path,
        history=_history(conn, cand.contact_id, attempt_id),
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
    return _claimed(claim, cand, attempt_id, expires)


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
    """The write phase of ``claim``: the first chosen candidate still free, checked again
    against what may have changed since the snapshot (its number leased or called
    elsewhere, a do-not-call entry...), leased with the conditional UPDATE. When other
    stations took every choice meanwhile, it goes on walking the queue here, holding the
    lock, as ``claim_next`` does (no second read round to lose again)."""
    claim.conn = db_facts.connection_of(conn)
    free = set(claim.conn.execute(_STILL_FREE, {
        "ids": [c.contact_id for c in choices], "now": claim.now}).scalars())
    for cand in choices:
        if cand.contact_id in free and _callable_in(claim, [cand], want=1, remember=False,
                                                     with_callbacks=False):
            expires = _lease(claim, cand, station_id, lease_seconds)
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
    that is still free, after checking its number again (see ``_take``)."""
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
    begun, choices = chosen
    taken = run_core_write(engine, partial(_take, begun, actor=actor, choices=choices,
                                      station_id=station_id, lease_seconds=lease_seconds))
    if isinstance(taken, NothingCallable):
        return taken
    cand, attempt_id, expires = taken
    _WIDTH.after(next((rank for rank, c in enumerate(choices)
                       if c.contact_id == cand.contact_id), None))
    with engine.connect() as conn, conn.begin():
        begun.conn = conn
        return _claimed(begun, cand, attempt_id, expires)


def _snapshot(engine: Engine, *, actor: Actor, now: datetime, rules: CallingRules,
              expire_first: bool) -> tuple[_Claim, list[_Candidate]] | NothingCallable | None:
    """The read phase of ``claim``: the chosen candidates, why there are none, or None
    when leases expired and must be put back first."""
    with engine.connect() as conn, conn.begin():  # a deferred BEGIN: one WAL snapshot
        if expire_first and conn.execute(_HAS_EXPIRED, {"now": now}).scalar():
            return None
        begun = _begin(conn=conn, actor=actor, now=now, rules=rules)
        if isinstance(begun, NothingCallable):
            return begun
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


_NEXT_DUE = select(*_CANDIDATE_COLUMNS).select_from(_QUEUE_INDEX).where(
    _C.campaign_id == bindparam("cid"), _C.status == bindparam("status"),
    _C.language.in_(bindparam("langs", expanding=True)), _C.next_attempt_at > bindparam("now"),
).order_by(_C.next_attempt_at).limit(1)
_NEXT_CALLBACK = select(*_CANDIDATE_COLUMNS, _CB.id, _CB.due_at).select_from(
    CALLBACKS.join(CONTACTS, _C.id == _CB.contact_id)).where(
    _CB.status == CallbackStatus.PENDING.value, _CB.due_at > bindparam("now"),
    or_(_CB.personal_operator_id.is_(None), _CB.personal_operator_id == bindparam("me")),
    _CB.campaign_id.in_(bindparam("cids", expanding=True)),
    _C.status.in_(_QUEUED_VALUES),
    _C.language.in_(bindparam("langs", expanding=True)),
).order_by(_CB.due_at).limit(1)


def _upcoming(claim: _Claim) -> Verdict | None:
    """The earliest contact not yet due (retry time or agreed callback): when it will be
    callable, with the rules applied at that time."""
    conn, now = claim.conn, claim.now
    best: tuple[datetime, _Candidate] | None = None
    for cid in claim.campaigns:
        for status in _QUEUED_VALUES:
            row = conn.execute(_NEXT_DUE, {"cid": cid, "status": status,
                                           "langs": claim.languages, "now": now}).first()
            if row is not None and (best is None or row[8] < best[0]):
                best = (row[8], _candidate(row, ()))
    callback = conn.execute(_NEXT_CALLBACK, {"now": now, "me": claim.operator_id,
                                             "cids": list(claim.campaigns),
                                             "langs": claim.languages}).first()
    if callback is not None and (best is None or callback[10] < best[0]):
        best = (callback[10], _candidate(callback, (), callback_id=callback[9]))
    if best is None:
        return None
    due, cand = best
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

    def any_contact(*conditions: Any) -> bool:
        return bool(conn.execute(select(exists().select_from(_QUEUE_INDEX).where(
            _C.campaign_id.in_(ids), *conditions))).scalar())

    if any_contact(_C.status.in_(_QUEUED_VALUES)):
        return NothingCallable(_("No contact in your languages ({languages}) is waiting.")
                               .format(languages=", ".join(claim.languages)), None)
    if any_contact(_C.status == ContactStatus.CLAIMED.value):
        return NothingCallable(_(
            "Every remaining contact is with another operator right now."), None)
    return NothingCallable(_(
        "The campaigns are finished: every contact has been handled."), None)

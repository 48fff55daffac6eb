"""What the database knows about numbers, fetched for a whole batch of candidates at once
(a handful of indexed ``IN`` queries, never a scan of the contacts table).

The statements are built once, with bind parameters, and run on the session's connection:
the queue runs them inside its claim transaction, where every millisecond holds the
write lock."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, bindparam, select
from sqlalchemy.engine import Connection
from sqlalchemy.sql import Executable
from sqlmodel import Session, SQLModel

import cellcall.models  # noqa: F401  (registers every table in the metadata)
from cellcall.models.calls import CallbackStatus
from cellcall.models.contacts import ContactStatus
from cellcall.services.calling_rules.kinds import NumberFacts
from cellcall.services.calling_rules.loading import CallingRules


def table(name: str) -> Table:
    return SQLModel.metadata.tables[name]


def connection_of(session: Session | Connection) -> Connection:
    """The Core connection (the queue's hot path runs on one, without an ORM session)."""
    return session if isinstance(session, Connection) else session.connection()


CONTACTS = table("contacts")
ATTEMPTS = table("call_attempts")
OUTCOMES = table("outcomes")
CALLBACKS = table("callbacks")
DNC = table("dnc_entries")
DNC_IMPORTS = table("dnc_imports")

# Each IN-list query comes in two forms: ``col IN (…)`` for a page of candidates and
# ``col = :x`` for one. An expanding IN is rendered again at every call (twice the cost of a
# cached statement); the claim's write phase, which holds the write lock, asks about one.
@dataclass(frozen=True)
class _InQuery:
    many: Executable
    one: Executable

    @classmethod
    def build(cls, make: Callable[[Callable[[Any], Any]], Executable]) -> _InQuery:
        return cls(make(lambda column: column.in_(bindparam("values", expanding=True))),
                   make(lambda column: column == bindparam("value")))

    def run(self, conn: Connection, values: list[Any], **params: Any) -> Iterable[Any]:
        if len(values) == 1:
            return conn.execute(self.one, {"value": values[0], **params})
        return conn.execute(self.many, {"values": values, **params})


_DNC_SOURCES = _InQuery.build(lambda match: select(DNC.c.phone_e164, DNC.c.source).where(
    match(DNC.c.phone_e164)))
# Attempts are read by number (ix_call_attempts_phone_e164), then their outcomes by attempt
# id (unique index): never through the disposition index, which holds every refusal ever.
_RECENT_ATTEMPTS = _InQuery.build(lambda match: select(
    ATTEMPTS.c.id, ATTEMPTS.c.phone_e164, ATTEMPTS.c.claimed_at,
    ATTEMPTS.c.counts_against_caps).where(
    match(ATTEMPTS.c.phone_e164), ATTEMPTS.c.claimed_at > bindparam("since")))
_OUTCOMES_OF = _InQuery.build(lambda match: select(
    OUTCOMES.c.attempt_id, OUTCOMES.c.created_at, OUTCOMES.c.disposition).where(
    match(OUTCOMES.c.attempt_id), OUTCOMES.c.created_at > bindparam("since")))
_LAST_IMPORT = select(DNC_IMPORTS.c.imported_at).where(
    DNC_IMPORTS.c.source == bindparam("source")).order_by(
    DNC_IMPORTS.c.imported_at.desc()).limit(1)
_IN_USE = _InQuery.build(lambda match: select(CONTACTS.c.phone_e164, CONTACTS.c.id).where(
    match(CONTACTS.c.phone_e164),
    CONTACTS.c.status == ContactStatus.CLAIMED.value,
    CONTACTS.c.lease_expires_at >= bindparam("now")))
_PENDING_CALLBACKS = _InQuery.build(lambda match: select(
    CALLBACKS.c.contact_id, CALLBACKS.c.due_at, CALLBACKS.c.personal_operator_id).where(
    match(CALLBACKS.c.contact_id), CALLBACKS.c.status == CallbackStatus.PENDING.value))


def number_facts(*, session: Session | Connection, phones: Collection[str], now: datetime,
                 rules: CallingRules) -> dict[str, NumberFacts]:
    """Do-not-call sources, recent counted attempts and recent refusals per number."""
    wanted = sorted(set(phones))
    if not wanted:
        return {}
    conn = connection_of(session)
    dnc: dict[str, set[str]] = defaultdict(set)
    for phone, source in _DNC_SOURCES.run(conn, wanted):
        dnc[phone].add(source)
    attempts: dict[str, list[datetime]] = defaultdict(list)
    refusals: dict[str, list[tuple[datetime, str]]] = defaultdict(list)
    cap_since = now - timedelta(days=rules.cap_window_days)
    refusal_since = now - timedelta(days=rules.refusal_days)
    look_back: list[datetime] = []
    if rules.cap_window_days:
        look_back.append(cap_since)
    refusal_wanted = bool(rules.refusal_days and rules.refusal_dispositions)
    if refusal_wanted:
        # An outcome is recorded minutes after its claim; a day of margin keeps a refusal
        # whose attempt was claimed just before the window.
        look_back.append(refusal_since - timedelta(days=1))
    phone_of: dict[int, str] = {}
    if look_back:
        for attempt_id, phone, claimed_at, counts in _RECENT_ATTEMPTS.run(
                conn, wanted, since=min(look_back)):
            phone_of[attempt_id] = phone
            if counts and rules.cap_window_days and claimed_at > cap_since:
                attempts[phone].append(claimed_at)
    if refusal_wanted and phone_of:
        for attempt_id, created_at, disposition in _OUTCOMES_OF.run(
                conn, sorted(phone_of), since=refusal_since):
            if disposition in rules.refusal_dispositions:
                refusals[phone_of[attempt_id]].append((created_at, disposition))
    return {phone: NumberFacts(frozenset(dnc.get(phone, ())),
                               tuple(sorted(attempts.get(phone, ()))),
                               tuple(sorted(refusals.get(phone, ()))))
            for phone in wanted}


def list_imports(*, session: Session | Connection,
                 rules: CallingRules) -> dict[str, datetime | None]:
    """The newest import of each do-not-call list whose freshness a rule checks."""
    conn = connection_of(session)
    return {source: conn.execute(_LAST_IMPORT, {"source": source}).scalar()
            for source in rules.list_sources}


def numbers_in_use(*, session: Session | Connection, phones: Collection[str],
                   now: datetime) -> dict[str, set[int]]:
    """Numbers leased right now (any campaign): number -> the leased contact ids, so that
    one person is never rung by two operators at once."""
    found: dict[str, set[int]] = defaultdict(set)
    wanted = sorted(set(phones))
    if wanted:
        for phone, contact_id in _IN_USE.run(connection_of(session), wanted, now=now):
            found[phone].add(contact_id)
    return found


def pending_callbacks(*, session: Session | Connection,
                      contact_ids: Collection[int]) -> dict[int, list[tuple[datetime, int | None]]]:
    """Pending callbacks of these contacts: contact id -> [(due_at, personal operator)]."""
    found: dict[int, list[tuple[datetime, int | None]]] = defaultdict(list)
    wanted = sorted(set(contact_ids))
    if wanted:
        for contact_id, due_at, personal in _PENDING_CALLBACKS.run(
                connection_of(session), wanted):
            found[contact_id].append((due_at, personal))
    return found

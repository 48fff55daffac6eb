"""Builders for the queue and calling-rules tests: real rows in a real SQLite file."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine

from cellcall.config import SiteConfig
from cellcall.db import read_session, run_write, unit_of_work
from cellcall.models import (
    CallAttempt,
    Callback,
    Campaign,
    Client,
    Contact,
    DoNotCallEntry,
    DoNotCallImport,
    Outcome,
    Role,
    User,
)
from cellcall.services import queue
from cellcall.services.actors import Actor
from cellcall.services.calling_rules import CallingRules, Verdict, check_callable, load_rules

PARIS = ZoneInfo("Europe/Paris")
GUADELOUPE = ZoneInfo("America/Guadeloupe")
ALL_WEEK = {"days": [0, 1, 2, 3, 4, 5, 6], "ranges": [["00:00", "24:00"]]}


def local(zone: ZoneInfo, year: int, month: int, day: int, hour: int = 0,
          minute: int = 0) -> datetime:
    """A wall-clock time in ``zone`` as an aware UTC instant."""
    return datetime(year, month, day, hour, minute, tzinfo=zone).astimezone(UTC)


def open_rules(**site: Any) -> CallingRules:
    """The shipped rules with a site open around the clock (so that only the callee's
    rules decide), unless ``site`` says otherwise."""
    site.setdefault("working_hours", ("00:00", "24:00"))
    return load_rules(site=SiteConfig(**site))


@dataclass
class World:
    engine: Engine
    # True: claims go through queue.claim (read snapshot, then a short write);
    # False: queue.claim_next inside one run_write transaction.
    optimistic: bool = False
    _phone_seq: int = 0

    # --- people -----------------------------------------------------------------------
    def user(self, login: str, *, role: Role = Role.OPERATOR,
             languages: tuple[str, ...] = ("fr",)) -> Actor:
        with unit_of_work(self.engine) as s:
            user = User(login=login, display_name=login.title(), role=role,
                        languages=list(languages), password_hash="x")
            s.add(user)
            s.flush()
            user_id = user.id
        return Actor(login=login, role=role, user_id=user_id)

    def operator(self, login: str, languages: tuple[str, ...] = ("fr",)) -> Actor:
        return self.user(login, languages=languages)

    # --- campaigns and contacts -----------------------------------------------------------
    def campaign(self, slug: str, *, type: str = "prospecting", audience: str = "consumer",
                 country: str = "FR", priority: int = 0, hours: dict[str, Any] | None = None,
                 ignore_calling_hours: bool = False, status: str = "active",
                 max_attempts: int = 4) -> int:
        with unit_of_work(self.engine) as s:
            client = s.get(Client, 1)
            if client is None:
                client = Client(id=1, name="ACME")
                s.add(client)
                s.flush()
            campaign = Campaign(slug=slug, name=slug.title(), client_id=1, type=type,
                                audience=audience, country=country, languages=["fr"],
                                working_hours=hours or ALL_WEEK, priority=priority,
                                ignore_calling_hours=ignore_calling_hours, status=status,
                                max_attempts=max_attempts)
            s.add(campaign)
            s.flush()
            assert campaign.id is not None
            return campaign.id

    def next_phone(self, prefix: str = "+336") -> str:
        self._phone_seq += 1
        return f"{prefix}{self._phone_seq:08d}"

    def contact(self, campaign_id: int, phone: str | None = None, *,
                zones: tuple[str, ...] = ("Europe/Paris",), **fields: Any) -> int:
        fields.setdefault("consent_at", datetime(2026, 1, 5, tzinfo=UTC))
        fields.setdefault("consent_source", "web form")
        with unit_of_work(self.engine) as s:
            contact = Contact(campaign_id=campaign_id, phone_e164=phone or self.next_phone(),
                              time_zones=list(zones), **fields)
            s.add(contact)
            s.flush()
            assert contact.id is not None
            return contact.id

    def get_contact(self, contact_id: int) -> Contact:
        with read_session(self.engine) as s:
            contact = s.get(Contact, contact_id)
            assert contact is not None
            return contact

    def get_attempt(self, attempt_id: int) -> CallAttempt:
        with read_session(self.engine) as s:
            attempt = s.get(CallAttempt, attempt_id)
            assert attempt is not None
            return attempt

    # --- history --------------------------------------------------------------------------
    def attempt(self, contact_id: int, at: datetime, *, counts: bool = True,
                disposition: str | None = None, operator: Actor | None = None,
                notes: str | None = None) -> int:
        """A finished attempt on the contact's number (with an outcome if given)."""
        with unit_of_work(self.engine) as s:
            contact = s.get(Contact, contact_id)
            assert contact is not None
            operator_id = operator.user_id if operator else self._any_user(s)
            attempt = CallAttempt(contact_id=contact_id, campaign_id=contact.campaign_id,
                                  operator_id=operator_id or 0, phone_e164=contact.phone_e164,
                                  state="ended", claimed_at=at, dialed_at=at, ended_at=at,
                                  counts_against_caps=counts, result="answered")
            s.add(attempt)
            s.flush()
            assert attempt.id is not None
            if disposition is not None:
                s.add(Outcome(attempt_id=attempt.id, contact_id=contact_id,
                              operator_id=operator_id or 0, disposition=disposition,
                              notes=notes if notes is not None else f"said {disposition}",
                              created_at=at))
            return attempt.id

    def _any_user(self, s: Any) -> int | None:
        user = s.get(User, 1)
        if user is None:
            user = User(id=1, login="history", display_name="History", role="operator",
                        languages=["fr"], password_hash="x")
            s.add(user)
            s.flush()
        return int(user.id)

    def dnc(self, phone: str, source: str = "internal") -> None:
        with unit_of_work(self.engine) as s:
            s.add(DoNotCallEntry(phone_e164=phone, source=source))

    def dnc_import(self, source: str, at: datetime) -> None:
        with unit_of_work(self.engine) as s:
            s.add(DoNotCallImport(source=source, imported_at=at, rows_read=1, rows_added=1))

    def callback(self, contact_id: int, due: datetime, *,
                 personal: Actor | None = None) -> int:
        with unit_of_work(self.engine) as s:
            contact = s.get(Contact, contact_id)
            assert contact is not None
            callback = Callback(contact_id=contact_id, campaign_id=contact.campaign_id,
                                due_at=due,
                                personal_operator_id=personal.user_id if personal else None)
            s.add(callback)
            s.flush()
            assert callback.id is not None
            return callback.id

    # --- the services -----------------------------------------------------------------------
    def claim(self, actor: Actor, now: datetime, rules: CallingRules | None = None,
              lease_seconds: int = 300) -> queue.ClaimedContact | queue.NothingCallable:
        rules = rules or open_rules()
        if self.optimistic:
            return queue.claim(engine=self.engine, actor=actor, station_id=None, now=now,
                               rules=rules, lease_seconds=lease_seconds)
        return run_write(self.engine, lambda s: queue.claim_next(
            session=s, actor=actor, station_id=None, now=now, rules=rules,
            lease_seconds=lease_seconds))

    def claimed(self, actor: Actor, now: datetime,
                rules: CallingRules | None = None) -> queue.ClaimedContact:
        result = self.claim(actor, now, rules)
        assert isinstance(result, queue.ClaimedContact), result
        return result

    def verdict(self, contact_id: int, now: datetime,
                rules: CallingRules | None = None) -> Verdict:
        rules = rules or open_rules()
        with read_session(self.engine) as s:
            contact = s.get(Contact, contact_id)
            assert contact is not None
            campaign = s.get(Campaign, contact.campaign_id)
            assert campaign is not None
            return check_callable(session=s, contact=contact, campaign=campaign, now=now,
                                  rules=rules)

    def finish(self, contact_id: int, *, attempts: int = 1,
               next_at: datetime | None = None, status: str = "done") -> None:
        """What the outcome service does after a call (enough for the queue's tests)."""
        with unit_of_work(self.engine) as s:
            contact = s.get(Contact, contact_id)
            assert contact is not None
            contact.status = status
            contact.attempts = attempts
            contact.next_attempt_at = next_at
            contact.lease_user_id = contact.lease_station_id = None
            contact.lease_expires_at = None
            s.add(contact)

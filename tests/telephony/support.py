"""Database rows, free ports and an event log for the telephony tests."""

from __future__ import annotations

import queue
import socket
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from cellcall.models.audit import AuditEvent
from cellcall.models.base import utcnow
from cellcall.models.calls import AttemptState, CallAttempt
from cellcall.models.campaigns import Campaign, Client
from cellcall.models.contacts import Contact, ContactStatus
from cellcall.models.users import Station, User

E = TypeVar("E")


@dataclass(frozen=True)
class Site:
    engine: Engine
    operator_id: int
    other_operator_id: int
    station_id: int
    other_station_id: int
    campaign_id: int
    campaign_slug: str


def make_site(engine: Engine, *, campaign_type: str = "survey",
              audience: str = "consumer", country: str = "FR") -> Site:
    with Session(engine) as s:
        operator = User(login="op1", display_name="Op One", role="operator",
                        password_hash="x", must_change_password=False)
        other = User(login="op2", display_name="Op Two", role="operator", password_hash="x",
                     must_change_password=False)
        station = Station(name="st-1")
        other_station = Station(name="st-2")
        client = Client(name="ACME")
        s.add_all([operator, other, station, other_station, client])
        s.flush()
        campaign = Campaign(slug="enquete", name="Enquête", client_id=client.id or 0,
                            type=campaign_type, audience=audience, country=country,
                            languages=["fr"])
        s.add(campaign)
        s.commit()
        return Site(engine, operator.id or 0, other.id or 0, station.id or 0,
                    other_station.id or 0, campaign.id or 0, campaign.slug)


_numbers = iter(range(10_000, 99_999))


def new_number() -> str:
    """A distinct valid French mobile number per call of this function."""
    return f"+336123{next(_numbers):05d}"


def claim(site: Site, phone: str | None = None, behaviour: str | None = None, *,
          station_id: int | None = None, operator_id: int | None = None,
          lease_seconds: int = 600, state: str = AttemptState.CLAIMED) -> int:
    """A contact leased to the operator at the station, and its claimed attempt."""
    station = site.station_id if station_id is None else station_id
    operator = site.operator_id if operator_id is None else operator_id
    phone = phone or new_number()
    now = utcnow()
    with Session(site.engine) as s:
        contact = Contact(campaign_id=site.campaign_id, phone_e164=phone,
                          demo_behaviour=behaviour, status=ContactStatus.CLAIMED,
                          lease_user_id=operator, lease_station_id=station,
                          lease_expires_at=now + timedelta(seconds=lease_seconds))
        s.add(contact)
        s.flush()
        attempt = CallAttempt(contact_id=contact.id or 0, campaign_id=site.campaign_id,
                              operator_id=operator, station_id=station, phone_e164=phone,
                              state=state, claimed_at=now)
        s.add(attempt)
        s.commit()
        return attempt.id or 0


def attempt_row(site: Site, attempt_id: int) -> CallAttempt:
    with Session(site.engine) as s:
        row = s.get(CallAttempt, attempt_id)
        assert row is not None
        return row


def contact_row(site: Site, contact_id: int) -> Contact:
    with Session(site.engine) as s:
        row = s.get(Contact, contact_id)
        assert row is not None
        return row


def audit_rows(site: Site, action: str | None = None) -> list[AuditEvent]:
    with Session(site.engine) as s:
        query = select(AuditEvent).order_by(col(AuditEvent.id))
        if action is not None:
            query = query.where(AuditEvent.action == action)
        return list(s.exec(query).all())


def free_port(kind: int = socket.SOCK_DGRAM) -> int:
    """A port free for UDP (and, probably, TCP) on 127.0.0.1."""
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class EventLog:
    """Collects the phone's events (called from the engine thread)."""

    events: list[object] = field(default_factory=list)
    _queue: queue.Queue[object] = field(default_factory=queue.Queue)

    def __call__(self, event: object) -> None:
        self._queue.put(event)

    def wait_for(self, kind: type[E], timeout: float = 20.0, **match: Any) -> E:
        """The next event of ``kind`` whose fields equal ``match`` (others are kept)."""
        import time

        deadline = time.monotonic() + timeout
        for event in self.events:
            if isinstance(event, kind) and all(getattr(event, k) == v
                                               for k, v in match.items()):
                self.events.remove(event)
                return event
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no {kind.__name__} {match} within {timeout} s; "
                                     f"got {self.events}")
            try:
                event = self._queue.get(timeout=remaining)
            except queue.Empty:
                continue
            if isinstance(event, kind) and all(getattr(event, k) == v
                                               for k, v in match.items()):
                return event
            self.events.append(event)

    def drain(self) -> list[object]:
        while True:
            try:
                self.events.append(self._queue.get_nowait())
            except queue.Empty:
                return list(self.events)

"""A site for the quality, training, timesheet and two-person tests, built through the real
services (users, stations, campaigns, outcomes, timeclock); calls are rows as the engine
writes them."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from cellcall.db import make_engine, run_write
from cellcall.models.calls import AttemptState, CallAttempt
from cellcall.models.campaigns import Audience, CampaignCreate, CampaignType
from cellcall.models.contacts import Contact, ContactStatus
from cellcall.models.users import Role, StationCreate, User, UserCreate
from cellcall.services import audit, auth, campaigns, outcomes, stations, users
from cellcall.services.actors import Actor, shell_admin
from cellcall.services.schema import init_schema

PASSWORD = "a-long-secret-1"
"""Every user's password (changed from the one-time one, except where said)."""

# login, name, role, password changed (False: still on the one-time password), disabled
PEOPLE = (
    ("olga", "Olga Petrova", Role.OPERATOR, True, False),
    ("omar", "=Omar+1", Role.OPERATOR, True, False),  # a name a spreadsheet would run
    ("sam", "Sam Supervisor", Role.SUPERVISOR, True, False),
    ("sue", "Sue Supervisor", Role.SUPERVISOR, True, False),
    ("ada", "Ada Admin", Role.ADMIN, True, False),
    ("newbie", "New Supervisor", Role.SUPERVISOR, False, False),
    ("gone", "Former Supervisor", Role.SUPERVISOR, True, True),
)


@dataclass(frozen=True)
class QualitySite:
    path: Path
    ids: dict[str, int]

    def actor(self, login: str) -> Actor:
        role = {p[0]: p[2] for p in PEOPLE}[login]
        return Actor(login=login, role=role, user_id=self.ids[login])

    def engine(self) -> Engine:
        return make_engine(f"sqlite:///{self.path}")


def build_quality_site(path: Path) -> QualitySite:
    engine = make_engine(f"sqlite:///{path}")
    init_schema(engine)
    admin = shell_admin()

    def setup(session: Session) -> dict[str, int]:
        audit.record(session=session, actor=admin, action="schema.init")
        ids: dict[str, int] = {}
        for login, name, role, _changed, _disabled in PEOPLE:
            user, _pw = users.add_user(session=session, actor=admin, password=PASSWORD,
                                       data=UserCreate(login=login, display_name=name,
                                                       role=role))
            ids[login] = user.id or 0
        stations.add_station(session=session, actor=admin,
                             data=StationCreate(name="poste-1"))
        campaigns.add_client(session=session, actor=admin, name="Acme")
        for slug in ("enquete", "rdv"):
            campaign = campaigns.create_campaign(session=session, actor=admin, data=CampaignCreate(
                slug=slug, client_name="Acme", type=CampaignType("survey"),
                audience=Audience("consumer"), country="FR", languages=["fr"]))
            ids[slug] = campaign.id or 0
        return ids

    ids = run_write(engine, setup)
    for login, _name, _role, changed, _disabled in PEOPLE:
        if changed:
            auth.change_password(engine=engine, user_id=ids[login], old_password=PASSWORD,
                                 new_password=PASSWORD + "!")
    run_write(engine, lambda s: users.disable_user(session=s, actor=admin, login="gone"))
    engine.dispose()
    return QualitySite(path, ids)


def copy_site(template: QualitySite, path: Path) -> QualitySite:
    shutil.copyfile(template.path, path)
    return QualitySite(path, dict(template.ids))


QualityFixtures = tuple[Callable[..., QualitySite], Callable[..., QualitySite],
                        Callable[..., Iterator[Engine]]]


def quality_fixtures(name: str, prepare: Callable[[QualitySite], None] | None = None,
                     ) -> QualityFixtures:
    """The module's fixtures ``template`` (the quality site built once, then ``prepare``d),
    ``site`` (a copy of it for each test) and ``engine`` (on that copy)::

        template, site, engine = quality_fixtures("training")
    """

    @pytest.fixture(scope="module", name="template")
    def template_fixture(tmp_path_factory: pytest.TempPathFactory) -> QualitySite:
        built = build_quality_site(tmp_path_factory.mktemp(name) / "template.sqlite3")
        if prepare is not None:
            prepare(built)
        return built

    @pytest.fixture(name="site")
    def site_fixture(template: QualitySite, db_path: Path) -> QualitySite:
        return copy_site(template, db_path)

    @pytest.fixture(name="engine")
    def engine_fixture(site: QualitySite) -> Iterator[Engine]:
        eng = site.engine()
        yield eng
        eng.dispose()

    return template_fixture, site_fixture, engine_fixture


def password_of(login: str) -> str:
    changed = {p[0]: p[3] for p in PEOPLE}[login]
    return PASSWORD + "!" if changed else PASSWORD


_numbers = iter(range(10_000, 99_999))


def add_call(engine: Engine, *, operator_id: int, campaign_id: int, claimed_at: datetime,
             talk_seconds: float | None = 60.0, recording: Path | None = None,
             disposition: str | None = "not_interested", result: str | None = None,
             ended: bool = True) -> int:
    """A finished call as the engine leaves it (answered when ``talk_seconds`` is given),
    then its outcome through the wrap-up service when ``disposition`` is given."""
    phone = f"+336123{next(_numbers):05d}"
    dialed = claimed_at + timedelta(seconds=5)
    answered = dialed + timedelta(seconds=10) if talk_seconds is not None else None
    end = (answered or dialed) + timedelta(seconds=talk_seconds or 20) if ended else None

    def work(session: Session) -> int:
        contact = Contact(campaign_id=campaign_id, phone_e164=phone,
                          status=ContactStatus.CLAIMED, lease_user_id=operator_id,
                          lease_expires_at=claimed_at + timedelta(minutes=10))
        session.add(contact)
        session.flush()
        attempt = CallAttempt(
            contact_id=contact.id or 0, campaign_id=campaign_id, operator_id=operator_id,
            phone_e164=phone, state=AttemptState.ENDED if ended else AttemptState.CONNECTED,
            claimed_at=claimed_at, dialed_at=dialed, answered_at=answered, ended_at=end,
            result=result, recording_path=str(recording) if recording else None,
            recording_seconds=talk_seconds if recording else None)
        session.add(attempt)
        session.flush()
        return attempt.id or 0

    attempt_id = run_write(engine, work)
    if disposition is not None and ended:
        with Session(engine) as s:
            login = s.exec(select(User.login).where(User.id == operator_id)).one()
        operator = Actor(login=login, role=Role.OPERATOR, user_id=operator_id)
        run_write(engine, lambda s: outcomes.record_outcome(
            session=s, actor=operator, attempt_id=attempt_id,
            data=outcomes.OutcomeInput(disposition=disposition), script=None,
            now=end))
    return attempt_id


def rows(db: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def audit_actions(db: Path, action: str) -> list[tuple[Any, ...]]:
    """(actor, target, details) of the audit rows of one action, oldest first."""
    return rows(db, "SELECT actor, target, details FROM audit_events WHERE action = ? "
                    "ORDER BY id", action)

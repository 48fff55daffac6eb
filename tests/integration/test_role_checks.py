"""Services refuse actors whose role does not allow the action, and write nothing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from cellcall.db import read_session, run_write
from cellcall.errors import PermissionDeniedError
from cellcall.models.campaigns import Audience, CampaignCreate, CampaignType
from cellcall.models.users import Role, StationCreate, UserCreate
from cellcall.services import backup, campaigns, stations, users
from cellcall.services.actors import shell_admin
from foundation_support import actor, snapshot

ADMIN_ONLY: dict[str, Callable[[Session, str], object]] = {
    "add_user": lambda s, role: users.add_user(
        session=s, actor=actor(role), password="a fine long secret",
        data=UserCreate(login="mallory", display_name="M", role=Role.ADMIN)),
    "create_campaign": lambda s, role: campaigns.create_campaign(
        session=s, actor=actor(role), data=CampaignCreate(
            slug="camp-x", client_name="Acme", type=CampaignType.SURVEY,
            audience=Audience.CONSUMER, country="FR")),
    "add_client": lambda s, role: campaigns.add_client(session=s, actor=actor(role),
                                                       name="Initech"),
    "add_station": lambda s, role: stations.add_station(
        session=s, actor=actor(role), data=StationCreate(name="poste-x")),
    "disable_user": lambda s, role: users.disable_user(session=s, actor=actor(role),
                                                       login="alice"),
    "reset_password": lambda s, role: users.reset_password(session=s, actor=actor(role),
                                                           login="alice"),
    "close_campaign": lambda s, role: campaigns.close_campaign(session=s, actor=actor(role),
                                                               slug="camp-1"),
}


@pytest.fixture
def seeded(engine: Engine, db_path: Path) -> Path:
    def work(session: Session) -> None:
        admin = shell_admin()
        users.add_user(session=session, actor=admin, password="alice secret 1",
                       data=UserCreate(login="alice", display_name="A", role=Role.OPERATOR))
        campaigns.add_client(session=session, actor=admin, name="Acme")
        campaigns.create_campaign(session=session, actor=admin, data=CampaignCreate(
            slug="camp-1", client_name="Acme", type=CampaignType.SURVEY,
            audience=Audience.CONSUMER, country="FR"))

    run_write(engine, work)
    return db_path


@pytest.mark.parametrize("role", ["operator", "supervisor"])
@pytest.mark.parametrize("action", sorted(ADMIN_ONLY))
def test_admin_only_services_refuse_other_roles(engine: Engine, seeded: Path, role: str,
                                                 action: str) -> None:
    before = snapshot(seeded)
    with pytest.raises(PermissionDeniedError):
        run_write(engine, lambda s: ADMIN_ONLY[action](s, role))
    assert snapshot(seeded) == before


def test_admin_is_allowed(engine: Engine, seeded: Path) -> None:
    before = snapshot(seeded)
    run_write(engine, lambda s: ADMIN_ONLY["add_station"](s, "admin"))
    assert snapshot(seeded) != before


def test_listing_is_refused_to_operators(engine: Engine, seeded: Path) -> None:
    with read_session(engine) as session:
        for listing in (users.list_users, stations.list_stations, campaigns.list_campaigns):
            with pytest.raises(PermissionDeniedError):
                listing(session=session, actor=actor("operator"))
            assert isinstance(listing(session=session, actor=actor("supervisor")), list)


@pytest.mark.parametrize("role", ["operator", "supervisor"])
def test_backup_is_admin_only(engine: Engine, seeded: Path, tmp_path: Path, role: str) -> None:
    before = snapshot(seeded)
    with pytest.raises(PermissionDeniedError):
        backup.backup_database(engine=engine, actor=actor(role), out=tmp_path / "copy.db")
    assert not (tmp_path / "copy.db").exists()
    assert snapshot(seeded) == before

"""The demo site: a client, two campaigns callable at any hour, a station, three users.

Loaded in one write transaction (all or nothing) by ``cellcall-admin demo`` or by
``cellcall --demo`` on an empty database. The demo users' password is fixed and public
(the README gives it) and need not be changed: this is for trying cellcall, never for a
real site, so loading refuses a database that already has any of these names.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from cellcall.db import read_session, run_write
from cellcall.errors import ValidationError
from cellcall.i18n import _
from cellcall.models.campaigns import (
    Audience,
    CampaignCreate,
    CampaignType,
    Client,
    DialingMode,
)
from cellcall.models.users import Role, Station, StationCreate, UserCreate
from cellcall.resources import data_file
from cellcall.services import audit, campaigns, site_controls, stations, users
from cellcall.services.actors import Actor, require_role
from cellcall.services.imports import import_in_session

DEMO_CLIENT = "Démo Services"
DEMO_PASSWORD = "demo-cellcall-2026"  # noqa: S105 - public by design (README)
DEMO_STATION = "demo-1"
ALL_HOURS = {"days": [0, 1, 2, 3, 4, 5, 6], "ranges": [["00:00", "23:59"]]}


@dataclass(frozen=True)
class DemoCampaign:
    slug: str
    name: str
    type: CampaignType
    audience: Audience
    languages: tuple[str, ...]
    dialing_mode: DialingMode
    script: str
    contacts: str


@dataclass(frozen=True)
class DemoUser:
    login: str
    name: str
    role: Role
    languages: tuple[str, ...]


DEMO_CAMPAIGNS = (
    DemoCampaign("demo-rdv-b2b", "Démo — rendez-vous B2B (audit énergétique)",
                 CampaignType.APPOINTMENT, Audience.BUSINESS, ("fr",), DialingMode.PREVIEW,
                 "scripts/demo-rdv-b2b.yaml", "demo/contacts-rdv-b2b.csv"),
    DemoCampaign("demo-enquete", "Démo — enquête de satisfaction",
                 CampaignType.SURVEY, Audience.CONSUMER, ("fr", "ru", "tr"),
                 DialingMode.PROGRESSIVE, "scripts/demo-enquete.yaml",
                 "demo/contacts-survey.csv"),
)
DEMO_USERS = (
    DemoUser("operateur", "Opérateur démo", Role.OPERATOR, ("fr", "ru", "tr")),
    DemoUser("superviseur", "Superviseur démo", Role.SUPERVISOR, ("fr",)),
    DemoUser("admin", "Admin démo", Role.ADMIN, ("fr",)),
)


@dataclass(frozen=True)
class DemoSummary:
    campaigns: tuple[str, ...]
    contacts: int
    users: tuple[str, ...]


def demo_loaded(*, session: Session) -> bool:
    return session.exec(select(Client).where(Client.name == DEMO_CLIENT)).first() is not None


def _load(*, session: Session, actor: Actor, site_timezone: str) -> DemoSummary:
    require_role(actor, [Role.ADMIN])
    if demo_loaded(session=session):
        raise ValidationError(_("The demo site is already loaded."))
    for spec in DEMO_CAMPAIGNS:
        if not data_file(spec.contacts).is_file():
            raise ValidationError(_("Demo file missing: {path}").format(
                path=data_file(spec.contacts)))
    campaigns.add_client(session=session, actor=actor, name=DEMO_CLIENT)
    contacts = 0
    for spec in DEMO_CAMPAIGNS:
        campaign = campaigns.create_campaign(session=session, actor=actor, data=CampaignCreate(
            slug=spec.slug, client_name=DEMO_CLIENT, type=spec.type, audience=spec.audience,
            country="FR", languages=list(spec.languages), name=spec.name))
        # The script files are referenced even before they exist (written separately).
        campaign.script_path = str(data_file(spec.script))
        campaign.dialing_mode = spec.dialing_mode
        campaign.ignore_calling_hours = True
        campaign.working_hours = dict(ALL_HOURS)
        session.add(campaign)
        session.flush()
        summary = import_in_session(session=session, actor=actor, slug=spec.slug,
                                    path=data_file(spec.contacts), site_timezone=site_timezone)
        contacts += summary.imported
    if session.exec(select(Station).where(Station.name == DEMO_STATION)).first() is None:
        stations.add_station(session=session, actor=actor,
                             data=StationCreate(name=DEMO_STATION))
    for spec_user in DEMO_USERS:
        user, _password = users.add_user(
            session=session, actor=actor, password=DEMO_PASSWORD,
            data=UserCreate(login=spec_user.login, display_name=spec_user.name,
                            role=spec_user.role, languages=list(spec_user.languages)))
        user.must_change_password = False  # demo accounts only: the password is public
        session.add(user)
    session.flush()
    # Operators log in only at the stations they are assigned to.
    for spec_user in DEMO_USERS:
        if spec_user.role == Role.OPERATOR:
            site_controls.assign_station(session=session, actor=actor, login=spec_user.login,
                                         station_name=DEMO_STATION)
    result = DemoSummary(campaigns=tuple(c.slug for c in DEMO_CAMPAIGNS), contacts=contacts,
                         users=tuple(u.login for u in DEMO_USERS))
    audit.record(session=session, actor=actor, action="demo.load", target=DEMO_CLIENT,
                 details={"campaigns": list(result.campaigns), "contacts": contacts,
                          "users": list(result.users)})
    return result


def load_demo_site(*, engine: Engine, actor: Actor,
                   site_timezone: str = "Europe/Paris") -> DemoSummary:
    """Load the demo site in one transaction; refuse if it (or any of its names) exists."""
    require_role(actor, [Role.ADMIN])
    return run_write(engine, lambda s: _load(session=s, actor=actor,
                                             site_timezone=site_timezone))


def ensure_demo_site(*, engine: Engine, actor: Actor,
                     site_timezone: str = "Europe/Paris") -> bool:
    """Load the demo site unless it is there already; True when it was loaded now."""
    with read_session(engine) as session:
        if demo_loaded(session=session):
            return False
    load_demo_site(engine=engine, actor=actor, site_timezone=site_timezone)
    return True

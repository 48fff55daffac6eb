"""Clients and their campaigns."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import phonenumbers
from sqlalchemy import func
from sqlmodel import Session, col, select

from cellcall.errors import NotFoundError, ValidationError
from cellcall.i18n import _
from cellcall.models.campaigns import Campaign, CampaignCreate, CampaignStatus, Client
from cellcall.models.contacts import Contact
from cellcall.models.users import Role
from cellcall.services import audit
from cellcall.services.actors import Actor, require_role
from cellcall.services.languages import parse_languages

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,63}$")


@dataclass(frozen=True)
class CampaignView:
    id: int
    slug: str
    name: str
    client: str
    type: str
    audience: str
    country: str
    languages: tuple[str, ...]
    status: str
    contacts: int


def add_client(*, session: Session, actor: Actor, name: str) -> Client:
    require_role(actor, [Role.ADMIN])
    name = name.strip()
    if not name or len(name) > 200:
        raise ValidationError(_("A client name needs 1 to 200 characters."))
    if session.exec(select(Client).where(Client.name == name)).first():
        raise ValidationError(_("A client named '{name}' already exists.").format(name=name))
    client = Client(name=name)
    session.add(client)
    session.flush()
    audit.record(session=session, actor=actor, action="client.add", target=name)
    return client


def get_client(*, session: Session, name: str) -> Client:
    client = session.exec(select(Client).where(Client.name == name.strip())).first()
    if client is None:
        raise NotFoundError(_("No client named '{name}'.").format(name=name))
    return client


def validate_country(country: str) -> str:
    code = country.strip().upper()
    if code not in phonenumbers.SUPPORTED_REGIONS:
        raise ValidationError(_("Unknown country code '{cc}' (expected e.g. FR, BE).").format(
            cc=country))
    return code


def create_campaign(*, session: Session, actor: Actor, data: CampaignCreate) -> Campaign:
    require_role(actor, [Role.ADMIN])
    if not SLUG_RE.match(data.slug):
        raise ValidationError(_(
            "Invalid campaign slug '{slug}': 2 to 64 lower-case letters, digits or '-'.")
            .format(slug=data.slug))
    if session.exec(select(Campaign).where(Campaign.slug == data.slug)).first():
        raise ValidationError(_("A campaign '{slug}' already exists.").format(slug=data.slug))
    client = get_client(session=session, name=data.client_name)
    country = validate_country(data.country)
    languages = parse_languages(",".join(data.languages))
    script_path = None
    if data.script_path:
        path = Path(data.script_path).expanduser()
        if not path.is_file():
            raise ValidationError(_("Script file not found: {path}").format(path=path))
        script_path = str(path.resolve())
    campaign = Campaign(
        slug=data.slug, name=data.name or data.slug, client_id=client.id or 0,
        type=data.type, audience=data.audience, country=country,
        languages=list(languages), script_path=script_path)
    session.add(campaign)
    session.flush()
    audit.record(session=session, actor=actor, action="campaign.create", target=data.slug,
                 details={"client": client.name, "type": str(data.type),
                          "audience": str(data.audience), "country": country})
    return campaign


def get_campaign(*, session: Session, slug: str) -> Campaign:
    campaign = session.exec(select(Campaign).where(Campaign.slug == slug)).first()
    if campaign is None:
        raise NotFoundError(_("No campaign '{slug}'.").format(slug=slug))
    return campaign


def list_campaigns(*, session: Session, actor: Actor) -> list[CampaignView]:
    require_role(actor, [Role.ADMIN, Role.SUPERVISOR])
    counts = dict(session.exec(
        select(Contact.campaign_id, func.count()).group_by(col(Contact.campaign_id))).all())
    rows = session.exec(select(Campaign, Client).join(Client).order_by(col(Campaign.slug))).all()
    return [CampaignView(c.id or 0, c.slug, c.name, cl.name, c.type, c.audience, c.country,
                         tuple(c.languages), c.status, counts.get(c.id or 0, 0)) for c, cl in rows]


def close_campaign(*, session: Session, actor: Actor, slug: str) -> None:
    require_role(actor, [Role.ADMIN])
    campaign = get_campaign(session=session, slug=slug)
    if campaign.status == CampaignStatus.CLOSED:
        raise ValidationError(_("Campaign '{slug}' is already closed.").format(slug=slug))
    campaign.status = CampaignStatus.CLOSED
    session.add(campaign)
    audit.record(session=session, actor=actor, action="campaign.close", target=slug)

"""Terminal stations."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlmodel import Session, col, select

from cellcall.errors import NotFoundError, ValidationError
from cellcall.i18n import _
from cellcall.models.users import Role, Station, StationCreate
from cellcall.services import audit
from cellcall.services.actors import Actor, require_role

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
SIP_URI_RE = re.compile(r"^sips?:[^\s@<>\"]+@[A-Za-z0-9.\-\[\]:]+(;[^\s<>\"]*)?$")


@dataclass(frozen=True)
class StationView:
    id: int
    name: str
    desk_phone_uri: str | None


def add_station(*, session: Session, actor: Actor, data: StationCreate) -> Station:
    require_role(actor, [Role.ADMIN])
    if not NAME_RE.match(data.name):
        raise ValidationError(_(
            "Invalid station name '{name}': letters, digits, '.', '_' or '-'.").format(
                name=data.name))
    if data.desk_phone_uri is not None and not SIP_URI_RE.match(data.desk_phone_uri):
        raise ValidationError(_(
            "Invalid desk phone '{uri}': expected a SIP URI like sip:poste12@pbx.local.")
            .format(uri=data.desk_phone_uri))
    if session.exec(select(Station).where(Station.name == data.name)).first():
        raise ValidationError(_("A station named '{name}' already exists.").format(
            name=data.name))
    station = Station(name=data.name, desk_phone_uri=data.desk_phone_uri)
    session.add(station)
    session.flush()
    audit.record(session=session, actor=actor, action="station.add", target=data.name,
                 details={"desk_phone_uri": data.desk_phone_uri})
    return station


def list_stations(*, session: Session, actor: Actor) -> list[StationView]:
    require_role(actor, [Role.ADMIN, Role.SUPERVISOR])
    rows = session.exec(select(Station).order_by(col(Station.name))).all()
    return [StationView(s.id or 0, s.name, s.desk_phone_uri) for s in rows]


def get_station(*, session: Session, name: str) -> Station:
    station = session.exec(select(Station).where(Station.name == name)).first()
    if station is None:
        raise NotFoundError(_("No station named '{name}'.").format(name=name))
    return station

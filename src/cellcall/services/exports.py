"""Results export: one CSV line per contact of a campaign, for the client (opened in Excel).

Phone numbers are in the file only when the actor is an admin (and asks for them):
supervisors get exports without numbers. Every cell that a spreadsheet would read as a
formula is defused (``tabular.neutralize_cell``). The file is written under a temporary
name beside the target and moved into place only after the export's audit row is
committed, so a failure never leaves a partial file. The rows are read in one read
transaction (a consistent snapshot); the write lock is taken only for the audit row.
An export with the numbers falls under the two-person rule (``services.two_person``): a
second admin or supervisor confirms it, and the audit row names both.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from cellcall.db import read_session, run_write
from cellcall.models.calls import Appointment, Outcome, SurveyAnswer, VerificationCorrection
from cellcall.models.contacts import Contact
from cellcall.models.users import Role, User
from cellcall.services import audit, two_person
from cellcall.services.actors import Actor, require_role
from cellcall.services.campaigns import get_campaign
from cellcall.services.tabular import AtomicCsv, neutralize_cell

__all__ = ["ExportSummary", "export_results", "neutralize_cell", "write_results"]

_BATCH = 1000
COLUMNS = (
    "reference", "first_name", "last_name", "company", "phone", "language", "status",
    "attempts", "last_disposition", "last_outcome_at", "last_operator", "notes",
    "appointment", "survey_answers", "corrections", "custom_fields",
)


@dataclass(frozen=True)
class ExportSummary:
    slug: str
    path: Path
    rows: int
    with_numbers: bool


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _when(value: datetime | None, zone: ZoneInfo) -> str:
    return value.astimezone(zone).isoformat(timespec="minutes") if value else ""


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str) if value else ""


@dataclass
class _Related:
    last: dict[int, tuple[Outcome, str]]
    notes: dict[int, list[str]]
    appointments: dict[int, Appointment]
    answers: dict[int, dict[str, Any]]
    corrections: dict[int, list[str]]


def _related(session: Session, ids: list[int]) -> _Related:
    related = _Related({}, defaultdict(list), {}, defaultdict(dict), defaultdict(list))
    outcomes = session.execute(
        select(Outcome, col(User.login)).join(User, col(User.id) == col(Outcome.operator_id))
        .where(col(Outcome.contact_id).in_(ids))
        .order_by(col(Outcome.created_at), col(Outcome.id))).all()
    for outcome, login in outcomes:
        related.last[outcome.contact_id] = (outcome, login)
        if outcome.notes.strip():
            related.notes[outcome.contact_id].append(outcome.notes.strip())
    for appointment in session.scalars(
            select(Appointment).where(col(Appointment.contact_id).in_(ids))
            .order_by(col(Appointment.created_at), col(Appointment.id))):
        related.appointments[appointment.contact_id] = appointment
    for answer in session.scalars(
            select(SurveyAnswer).where(col(SurveyAnswer.contact_id).in_(ids))
            .order_by(col(SurveyAnswer.outcome_id), col(SurveyAnswer.id))):
        related.answers[answer.contact_id][answer.question_key] = answer.answer
    for correction in session.scalars(
            select(VerificationCorrection).where(col(VerificationCorrection.contact_id).in_(ids))
            .order_by(col(VerificationCorrection.id))):
        related.corrections[correction.contact_id].append(
            f"{correction.field_name}: {correction.original_value} -> "
            f"{correction.corrected_value}")
    return related


def _contact_batches(session: Session, campaign_id: int) -> Any:
    last_id = 0
    while True:
        batch = list(session.scalars(
            select(Contact).where(col(Contact.campaign_id) == campaign_id,
                                  col(Contact.id) > last_id)
            .order_by(col(Contact.id)).limit(_BATCH)))
        if not batch:
            return
        yield batch
        last_id = batch[-1].id or last_id


def write_results(*, session: Session, actor: Actor, slug: str, out: AtomicCsv,
                  include_numbers: bool = True, site_timezone: str = "Europe/Paris") -> int:
    """Write the campaign's results to ``out``; return the number of contacts. Numbers
    only for admins (``include_numbers`` is ignored for everyone else)."""
    require_role(actor, [Role.ADMIN, Role.SUPERVISOR])
    with_numbers = include_numbers and actor.role == Role.ADMIN
    campaign = get_campaign(session=session, slug=slug)
    assert campaign.id is not None
    zone = _zone(site_timezone)
    columns = [c for c in COLUMNS if with_numbers or c != "phone"]
    out.writerow(columns)
    count = 0
    for batch in _contact_batches(session, campaign.id):
        related = _related(session, [c.id for c in batch if c.id is not None])
        for contact in batch:
            cid = contact.id or 0
            last = related.last.get(cid)
            appointment = related.appointments.get(cid)
            values: dict[str, str] = {
                "reference": contact.external_ref or "",
                "first_name": contact.first_name, "last_name": contact.last_name,
                "company": contact.company, "phone": contact.phone_e164,
                "language": contact.language, "status": contact.status,
                "attempts": str(contact.attempts),
                "last_disposition": last[0].disposition if last else "",
                "last_outcome_at": _when(last[0].created_at, zone) if last else "",
                "last_operator": last[1] if last else "",
                "notes": " | ".join(related.notes.get(cid, [])),
                "appointment": (f"{_when(appointment.slot_start, zone)} / "
                                f"{_when(appointment.slot_end, zone)}" if appointment else ""),
                "survey_answers": _json(related.answers.get(cid)),
                "corrections": "; ".join(related.corrections.get(cid, [])),
                "custom_fields": _json(contact.custom_fields),
            }
            out.writerow([values[c] for c in columns])
            count += 1
    return count


def export_results(*, engine: Engine, actor: Actor, slug: str, out: Path,
                   include_numbers: bool = True,
                   site_timezone: str = "Europe/Paris",
                   second_person: two_person.SecondPerson | None = None) -> ExportSummary:
    """Export campaign ``slug`` to the CSV file ``out`` (audited; all or nothing). With
    the numbers, ``second_person`` must confirm (two-person rule)."""
    require_role(actor, [Role.ADMIN, Role.SUPERVISOR])
    with_numbers = include_numbers and actor.role == Role.ADMIN
    with read_session(engine) as session:
        get_campaign(session=session, slug=slug)  # refuse before creating any file
    target = AtomicCsv(out, delimiter=";")
    try:
        details: dict[str, Any] = {"with_numbers": with_numbers, "file": out.name}
        if with_numbers:
            # After the cheap checks: a bad slug or folder costs nobody a login.
            details["second_person"] = two_person.confirm(
                engine=engine, actor=actor, second=second_person)
        with read_session(engine) as session:
            rows = write_results(session=session, actor=actor, slug=slug, out=target,
                                 include_numbers=with_numbers, site_timezone=site_timezone)
        details["rows"] = rows
        run_write(engine, lambda s: audit.record(
            session=s, actor=actor, action="results.export", target=slug, details=details))
    except BaseException:
        target.discard()
        raise
    target.commit()
    return ExportSummary(slug=slug, path=out, rows=rows, with_numbers=with_numbers)

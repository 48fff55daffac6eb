"""Training toward the professional title, and coaching notes.

The title's modules (``data/training_modules.toml``: the TP CRCD's two CCPs and their
activities) have, per operator, planned and done hours and a supervisor's sign-off. A
record row is created on the first change; until then a module shows its default planned
hours. Coaching notes are written by supervisors and read by the operator they are about,
on their own screen: an operator reads only their own, and marks them read.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from datetime import datetime
from functools import cache

from sqlalchemy import select, update
from sqlmodel import Session, col

from cellcall.errors import NotFoundError, PermissionDeniedError, ValidationError
from cellcall.i18n import _, current_language
from cellcall.models.base import utcnow
from cellcall.models.calls import CallAttempt
from cellcall.models.quality import CoachingNote, TrainingRecord
from cellcall.models.users import Role, User
from cellcall.resources import data_file
from cellcall.services import audit
from cellcall.services.actors import Actor, require_role

MODULES_FILE = "training_modules.toml"
SUPERVISORS = (Role.SUPERVISOR, Role.ADMIN)
MAX_HOURS = 2000.0
MAX_NOTE = 4000


@dataclass(frozen=True)
class Module:
    """One module of the title, as the data file defines it."""

    code: str
    title: str
    title_en: str
    planned_hours: float
    ccp_code: str
    ccp_title: str
    ccp_title_en: str


@dataclass(frozen=True)
class ModuleRow:
    code: str
    title: str
    planned_hours: float
    done_hours: float
    signed_off_by: str | None
    signed_off_at: datetime | None
    ccp_code: str = ""
    ccp_title: str = ""


@dataclass(frozen=True)
class CoachingNoteView:
    id: int
    supervisor_name: str
    created_at: datetime
    text: str
    read: bool
    attempt_id: int | None


# --- the modules --------------------------------------------------------------------------

def _text(value: object, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(_("{file}: {what} is missing.").format(
            file=MODULES_FILE, what=what))
    return value.strip()


@cache
def modules() -> tuple[Module, ...]:
    """The title's modules, in the file's order (read once)."""
    raw = tomllib.loads(data_file(MODULES_FILE).read_text(encoding="utf-8"))
    result: list[Module] = []
    for ccp in raw.get("ccp", []):
        ccp_code = _text(ccp.get("code"), _("the code of a CCP"))
        ccp_title = _text(ccp.get("title"), _("the title of {ccp}").format(ccp=ccp_code))
        for entry in ccp.get("module", []):
            code = _text(entry.get("code"), _("a module code of {ccp}").format(ccp=ccp_code))
            hours = entry.get("planned_hours", 0)
            if isinstance(hours, bool) or not isinstance(hours, int | float) or \
                    not 0 <= hours <= MAX_HOURS:
                raise ValidationError(_("{file}: {code}: planned_hours is not valid.").format(
                    file=MODULES_FILE, code=code))
            result.append(Module(
                code=code, title=_text(entry.get("title"),
                                       _("the title of module {code}").format(code=code)),
                title_en=str(entry.get("title_en") or entry["title"]),
                planned_hours=float(hours), ccp_code=ccp_code, ccp_title=ccp_title,
                ccp_title_en=str(ccp.get("title_en") or ccp_title)))
    if len({m.code for m in result}) != len(result):
        raise ValidationError(_("{file}: a module code appears twice.").format(
            file=MODULES_FILE))
    return tuple(result)


def _module(code: str) -> Module:
    for module in modules():
        if module.code == code:
            return module
    raise NotFoundError(_("No training module '{code}'.").format(code=code))


def _localized(module: Module) -> tuple[str, str]:
    # The titles are the French title's own; an English screen gets their rendering.
    if current_language() == "en":
        return module.title_en, module.ccp_title_en
    return module.title, module.ccp_title


# --- who ----------------------------------------------------------------------------------

def _operator(session: Session, login: str) -> User:
    user = session.scalars(select(User).where(col(User.login) == login.strip().lower())).first()
    if user is None:
        raise NotFoundError(_("No user with login '{login}'.").format(login=login))
    if user.role != Role.OPERATOR:
        raise ValidationError(_("{login} is not an operator.").format(login=user.login))
    return user


def _own_or_supervisor(session: Session, actor: Actor, login: str) -> User:
    """Supervisors and admins reach any operator; an operator only themselves."""
    require_role(actor, (Role.OPERATOR, *SUPERVISORS))
    user = _operator(session, login)
    if actor.role == Role.OPERATOR and actor.user_id != user.id:
        raise PermissionDeniedError(_("You are not allowed to do this."))
    return user


def _supervisor_id(actor: Actor) -> int:
    require_role(actor, [Role.SUPERVISOR])
    if actor.user_id is None:
        raise PermissionDeniedError(_("This needs a supervisor's own login."))
    return actor.user_id


# --- training record ----------------------------------------------------------------------

def training_record(*, session: Session, actor: Actor,
                    operator_login: str) -> tuple[ModuleRow, ...]:
    """Every module of the title for one operator (an operator may read their own)."""
    user = _own_or_supervisor(session, actor, operator_login)
    records = {r.module_code: r for r in session.scalars(
        select(TrainingRecord).where(col(TrainingRecord.operator_id) == user.id))}
    signers = {u.id: u.login for u in session.scalars(select(User).where(col(User.id).in_(
        [r.signed_off_by for r in records.values() if r.signed_off_by is not None])))}
    rows: list[ModuleRow] = []
    for module in modules():
        record = records.get(module.code)
        title, ccp_title = _localized(module)
        rows.append(ModuleRow(
            code=module.code, title=title,
            planned_hours=record.planned_hours if record else module.planned_hours,
            done_hours=record.done_hours if record else 0.0,
            signed_off_by=signers.get(record.signed_off_by) if record else None,
            signed_off_at=record.signed_off_at if record else None,
            ccp_code=module.ccp_code, ccp_title=ccp_title))
    return tuple(rows)


def _record(session: Session, user: User, module: Module) -> TrainingRecord:
    record = session.scalars(select(TrainingRecord).where(
        col(TrainingRecord.operator_id) == user.id,
        col(TrainingRecord.module_code) == module.code)).first()
    if record is None:
        record = TrainingRecord(operator_id=user.id or 0, module_code=module.code,
                                planned_hours=module.planned_hours)
    return record


def _hours(value: float | None, what: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or \
            not math.isfinite(value) or not 0 <= value <= MAX_HOURS:
        raise ValidationError(_("{what}: a number of hours from 0 to {max:g}.").format(
            what=what, max=MAX_HOURS))
    return round(float(value), 2)


def set_module_hours(*, session: Session, actor: Actor, operator_login: str, code: str,
                     planned_hours: float | None = None, done_hours: float | None = None,
                     now: datetime | None = None) -> ModuleRow:
    """Set an operator's planned and/or done hours on one module (audited)."""
    require_role(actor, SUPERVISORS)
    planned = _hours(planned_hours, _("Planned hours"))
    done = _hours(done_hours, _("Done hours"))
    if planned is None and done is None:
        raise ValidationError(_("Give the planned hours, the done hours, or both."))
    user = _operator(session, operator_login)
    module = _module(code)
    record = _record(session, user, module)
    before = {"planned_hours": record.planned_hours, "done_hours": record.done_hours}
    if planned is not None:
        record.planned_hours = planned
    if done is not None:
        record.done_hours = done
    record.updated_at = now or utcnow()
    session.add(record)
    audit.record(session=session, actor=actor, action="training.hours",
                 target=f"user:{user.login}",
                 details={"module": module.code, "before": before,
                          "after": {"planned_hours": record.planned_hours,
                                    "done_hours": record.done_hours}})
    return next(r for r in training_record(session=session, actor=actor,
                                           operator_login=user.login) if r.code == code)


def sign_off(*, session: Session, actor: Actor, operator_login: str, code: str,
             now: datetime | None = None) -> ModuleRow:
    """A supervisor signs off an operator's module (once; audited)."""
    supervisor_id = _supervisor_id(actor)
    user = _operator(session, operator_login)
    module = _module(code)
    record = _record(session, user, module)
    if record.signed_off_at is not None:
        raise ValidationError(_("This module is already signed off."))
    if record.done_hours <= 0:
        raise ValidationError(_("Record the hours done on this module before signing it off."))
    at = now or utcnow()
    record.signed_off_by = supervisor_id
    record.signed_off_at = at
    record.updated_at = at
    session.add(record)
    audit.record(session=session, actor=actor, action="training.sign_off",
                 target=f"user:{user.login}",
                 details={"module": module.code, "done_hours": record.done_hours,
                          "planned_hours": record.planned_hours})
    return next(r for r in training_record(session=session, actor=actor,
                                           operator_login=user.login) if r.code == code)


# --- coaching notes -----------------------------------------------------------------------

def _note_views(session: Session, operator_id: int) -> list[CoachingNoteView]:
    rows = session.execute(
        select(CoachingNote, col(User.display_name))
        .join(User, col(User.id) == col(CoachingNote.supervisor_id))
        .where(col(CoachingNote.operator_id) == operator_id)
        .order_by(col(CoachingNote.created_at).desc(), col(CoachingNote.id).desc())).all()
    return [CoachingNoteView(id=note.id or 0, supervisor_name=name,
                             created_at=note.created_at, text=note.text,
                             read=note.read_at is not None, attempt_id=note.attempt_id)
            for note, name in rows]


def add_coaching_note(*, session: Session, actor: Actor, operator_login: str, text: str,
                      attempt_id: int | None = None,
                      now: datetime | None = None) -> CoachingNoteView:
    """A supervisor writes a note for one operator, maybe about one of their calls."""
    supervisor_id = _supervisor_id(actor)
    user = _operator(session, operator_login)
    if not isinstance(text, str) or not text.strip():
        raise ValidationError(_("Write the note first."))
    if len(text) > MAX_NOTE:
        raise ValidationError(_("A note: at most {n} characters.").format(n=MAX_NOTE))
    if attempt_id is not None:
        attempt = session.get(CallAttempt, attempt_id)
        if attempt is None or attempt.operator_id != user.id:
            raise ValidationError(_("This call is not one of {login}'s.").format(
                login=user.login))
    note = CoachingNote(operator_id=user.id or 0, supervisor_id=supervisor_id,
                        attempt_id=attempt_id, text=text.strip(),
                        created_at=now or utcnow())
    session.add(note)
    session.flush()
    # The text stays out of the audit log: it is the operator's, not an event.
    audit.record(session=session, actor=actor, action="coaching.note",
                 target=f"user:{user.login}",
                 details={"note_id": note.id, "attempt_id": attempt_id})
    return next(v for v in _note_views(session, user.id or 0) if v.id == note.id)


def my_coaching_notes(*, session: Session, actor: Actor) -> list[CoachingNoteView]:
    """The logged-in operator's own notes, newest first."""
    require_role(actor, [Role.OPERATOR])
    if actor.user_id is None:
        raise PermissionDeniedError(_("Nobody is logged in."))
    return _note_views(session, actor.user_id)


def notes_for(*, session: Session, actor: Actor, operator_login: str) -> list[CoachingNoteView]:
    """One operator's notes, for a supervisor (operators use ``my_coaching_notes``)."""
    require_role(actor, SUPERVISORS)
    return _note_views(session, _operator(session, operator_login).id or 0)


def mark_notes_read(*, session: Session, actor: Actor, now: datetime | None = None) -> int:
    """The logged-in operator has read their notes; returns how many were unread."""
    require_role(actor, [Role.OPERATOR])
    if actor.user_id is None:
        raise PermissionDeniedError(_("Nobody is logged in."))
    result = session.execute(
        update(CoachingNote).where(col(CoachingNote.operator_id) == actor.user_id,
                                   col(CoachingNote.read_at).is_(None))
        .values(read_at=now or utcnow()).execution_options(synchronize_session=False))
    count = int(getattr(result, "rowcount", 0) or 0)
    if count:
        audit.record(session=session, actor=actor, action="coaching.read",
                     target=f"user:{actor.login}", details={"notes": count})
    return count

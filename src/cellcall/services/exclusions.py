"""Per-operator exclusions, kept by the prison's security office.

An exclusion keeps one operator away from a named person, a postal-code area or a number
(a victim, a relative, the operator's home town...). The queue checks every contact against
the claiming operator's list before giving it (``Screen``); a match sends the contact to
someone else, and nothing the operator sees says so.

Only admins (``cellcall-admin exclusion``) and supervisors list, add and remove exclusions;
every change is audited; an operator's actor is refused by every service here.

Values are stored normalised, so that matching is a comparison of plain strings:

- person: casefolded "first last", accents, hyphens, apostrophes and extra spaces removed;
  it matches a contact whose first and last names give the same words, in either order
  ("DUPONT Jean" and "Jean Dupont" are one person);
- postal_code: letters and digits only, uppercase; it matches every contact whose postal
  code starts with it ("75" is the whole of Paris, "2A" Southern Corsica);
- number: E.164, from whatever form the admin typed (phonenumbers, through ``phones``).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.engine import Connection
from sqlmodel import Session, col
from sqlmodel import select as sqlmodel_select

from cellcall.errors import NotFoundError, ValidationError
from cellcall.i18n import _
from cellcall.models.calls import Callback, CallbackStatus
from cellcall.models.contacts import Contact
from cellcall.models.exclusions import ExclusionKind, OperatorExclusion
from cellcall.models.users import Role, User
from cellcall.services import audit, phones
from cellcall.services.actors import Actor, require_role

__all__ = [
    "ExclusionView", "Screen", "add_exclusion", "kind_label", "list_exclusions",
    "normalize_number",
    "normalize_person", "normalize_postal_code", "remove_exclusion", "screen_for",
]

# Who keeps the lists: the security office works through cellcall-admin (admin role), and
# supervisors may act from their console.
_KEEPERS = (Role.ADMIN, Role.SUPERVISOR)
_MAX_NOTE = 500
_MAX_VALUE = 200
_MIN_POSTAL = 2
_MAX_POSTAL = 16
_NAME_SEPARATORS = re.compile(r"[\s\-‐‑‒–—'’ʼ`´.,]+")
_POSTAL_SEPARATORS = re.compile(r"[\s\-‐‑–—.]+")


@dataclass(frozen=True)
class ExclusionView:
    id: int
    operator_login: str
    operator_name: str
    kind: str
    value: str
    note: str
    created_by: str
    created_at: datetime


# --- normalising -------------------------------------------------------------------------
def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _name_words(text: str) -> tuple[str, ...]:
    return tuple(w for w in _NAME_SEPARATORS.split(_fold(text)) if w)


def normalize_person(name: str) -> str:
    """'  Jean-Pierre  DUPONT ' -> 'jean pierre dupont'; a first and last name needed."""
    words = _name_words(name)
    if len(words) < 2:  # a first and a last name
        raise ValidationError(_(
            "Give the person's first and last name, e.g. \"Jean Dupont\"."))
    value = " ".join(words)
    if len(value) > _MAX_VALUE:
        raise ValidationError(_("The name is too long ({n} characters at most).").format(
            n=_MAX_VALUE))
    return value


def _postal_key(code: str) -> str:
    return _POSTAL_SEPARATORS.sub("", code).upper()


def normalize_postal_code(code: str) -> str:
    """' 75 011 ' -> '75011'; letters and digits only, a whole code or its first digits."""
    value = _postal_key(code.strip())
    if not (value.isascii() and value.isalnum()) or not (
            _MIN_POSTAL <= len(value) <= _MAX_POSTAL):
        raise ValidationError(_(
            "Not a postal code: '{code}' (letters and digits, {low} to {high} of them, "
            "e.g. 75011 or 75).").format(code=code.strip()[:40], low=_MIN_POSTAL,
                                        high=_MAX_POSTAL))
    return value


def normalize_number(raw: str, default_region: str = "FR") -> str:
    """Any notation the admin types ('06 12 34 56 78', '+33 (0)6…') -> E.164."""
    try:
        return phones.parse_phone(raw, default_region.strip().upper() or "FR").e164
    except phones.InvalidPhoneNumber as exc:
        raise ValidationError(_("Not a phone number: '{raw}' ({reason}).").format(
            raw=raw.strip()[:40], reason=str(exc))) from exc


def _normalize(kind: ExclusionKind, value: str, default_region: str) -> str:
    if kind == ExclusionKind.PERSON:
        return normalize_person(value)
    if kind == ExclusionKind.POSTAL_CODE:
        return normalize_postal_code(value)
    return normalize_number(value, default_region)


# --- what the queue uses ---------------------------------------------------------------------
@dataclass(frozen=True)
class Screen:
    """One operator's exclusions, ready for matching many contacts (loaded once a claim).

    Only the queue holds one; it says whether a contact is excluded, never why."""

    persons: frozenset[tuple[str, ...]] = frozenset()
    postal_prefixes: tuple[str, ...] = ()
    numbers: frozenset[str] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.persons or self.postal_prefixes or self.numbers)

    def excludes(self, *, first_name: str, last_name: str, postal_code: str,
                 phone_e164: str) -> bool:
        if phone_e164 in self.numbers:
            return True
        if self.postal_prefixes and postal_code:
            key = _postal_key(postal_code)
            if key.startswith(self.postal_prefixes):
                return True
        if self.persons:
            first, last = _name_words(first_name), _name_words(last_name)
            if first + last in self.persons or last + first in self.persons:
                return True
        return False


EMPTY_SCREEN = Screen()
_OPERATOR_EXCLUSIONS = select(OperatorExclusion.kind, OperatorExclusion.value).where(  # type: ignore[call-overload]
    OperatorExclusion.operator_id == bindparam("operator_id"))


def screen_for(conn: Connection, operator_id: int) -> Screen:
    """The operator's exclusions in one indexed query (a few rows). For the queue only:
    it runs inside the operator's own claim and reveals nothing to the caller."""
    persons: set[tuple[str, ...]] = set()
    postal: list[str] = []
    numbers: set[str] = set()
    for kind, value in conn.execute(_OPERATOR_EXCLUSIONS, {"operator_id": operator_id}):
        if kind == ExclusionKind.PERSON:
            persons.add(tuple(value.split(" ")))
        elif kind == ExclusionKind.POSTAL_CODE:
            postal.append(value)
        elif kind == ExclusionKind.NUMBER:
            numbers.add(value)
    if not (persons or postal or numbers):
        return EMPTY_SCREEN
    return Screen(frozenset(persons), tuple(sorted(postal)), frozenset(numbers))


# --- the services ---------------------------------------------------------------------------
def _operator(session: Session, login: str) -> User:
    user = session.exec(sqlmodel_select(User).where(User.login == login.strip().lower())).first()
    if user is None:
        raise NotFoundError(_("No user with login '{login}'.").format(login=login.strip()))
    if user.role != Role.OPERATOR:
        raise ValidationError(_(
            "'{login}' is not an operator: exclusions apply to operators only.").format(
            login=user.login))
    return user


def _view(row: OperatorExclusion, user: User) -> ExclusionView:
    assert row.id is not None
    return ExclusionView(id=row.id, operator_login=user.login, operator_name=user.display_name,
                         kind=row.kind, value=row.value, note=row.note,
                         created_by=row.created_by, created_at=row.created_at)


def kind_label(kind: str) -> str:
    """The kind of an exclusion in the reader's language (the stored value is English)."""
    labels = {str(ExclusionKind.PERSON): _("person"),
              str(ExclusionKind.POSTAL_CODE): _("postal-code area"),
              str(ExclusionKind.NUMBER): _("number")}
    return labels.get(kind, kind)


def _already_excluded(kind: ExclusionKind) -> str:
    # One sentence per kind: French needs "cette personne" but "ce numéro".
    return {
        ExclusionKind.PERSON: _("{login} is already kept away from this person "
                                "(exclusion {id})."),
        ExclusionKind.POSTAL_CODE: _("{login} is already kept away from this postal-code "
                                     "area (exclusion {id})."),
        ExclusionKind.NUMBER: _("{login} is already kept away from this number "
                                "(exclusion {id})."),
    }[kind]


def add_exclusion(*, session: Session, actor: Actor, operator_login: str, kind: str,
                  value: str, note: str = "", default_region: str = "FR") -> ExclusionView:
    """Keep ``operator_login`` away from a person, a postal-code area or a number."""
    require_role(actor, _KEEPERS)
    try:
        exclusion_kind = ExclusionKind(kind)
    except ValueError:
        raise ValidationError(_("Unknown kind of exclusion '{kind}' ({known}).").format(
            kind=kind, known=", ".join(k.value for k in ExclusionKind))) from None
    normalized = _normalize(exclusion_kind, value, default_region)
    note = note.strip()
    if len(note) > _MAX_NOTE:
        raise ValidationError(_("The note is too long ({n} characters at most).").format(
            n=_MAX_NOTE))
    user = _operator(session, operator_login)
    assert user.id is not None
    existing = session.execute(select(OperatorExclusion.id).where(  # type: ignore[call-overload]
        OperatorExclusion.operator_id == user.id, OperatorExclusion.kind == exclusion_kind.value,
        OperatorExclusion.value == normalized)).first()
    if existing is not None:
        raise ValidationError(_already_excluded(exclusion_kind).format(
            login=user.login, id=existing[0]))
    row = OperatorExclusion(operator_id=user.id, kind=exclusion_kind.value, value=normalized,
                            note=note, created_by=actor.login)
    session.add(row)
    session.flush()
    released = _release_personal_callbacks(session, user.id, row)
    audit.record(session=session, actor=actor, action="exclusion.add",
                 target=f"user:{user.login}",
                 details={"id": row.id, "kind": row.kind, "value": row.value, "note": note,
                          "callbacks_released": released})
    return _view(row, user)


def _release_personal_callbacks(session: Session, operator_id: int,
                                row: OperatorExclusion) -> int:
    """The operator's pending personal callbacks to contacts the new exclusion matches
    become callbacks for anyone: the excluded operator may no longer take them, and nobody
    else could (so they would wait for a supervisor's reassignment)."""
    screen = Screen(
        persons=frozenset({tuple(row.value.split(" "))})
        if row.kind == ExclusionKind.PERSON else frozenset(),
        postal_prefixes=(row.value,) if row.kind == ExclusionKind.POSTAL_CODE else (),
        numbers=frozenset({row.value}) if row.kind == ExclusionKind.NUMBER else frozenset())
    pending = session.execute(
        select(col(Callback.id), col(Contact.first_name), col(Contact.last_name),
               col(Contact.postal_code), col(Contact.phone_e164))
        .join(Contact, col(Contact.id) == col(Callback.contact_id))
        .where(col(Callback.personal_operator_id) == operator_id,
               col(Callback.status) == CallbackStatus.PENDING)).all()
    ids = [callback_id for callback_id, first, last, postal, e164 in pending
           if screen.excludes(first_name=first or "", last_name=last or "",
                              postal_code=postal or "", phone_e164=e164)]
    if ids:
        session.execute(update(Callback).where(col(Callback.id).in_(ids))
                        .values(personal_operator_id=None))
    return len(ids)


def list_exclusions(*, session: Session, actor: Actor,
                    operator_login: str | None = None) -> list[ExclusionView]:
    """Every exclusion, or one operator's, by operator then id."""
    require_role(actor, _KEEPERS)
    query = sqlmodel_select(OperatorExclusion, User).join(
        User, col(User.id) == col(OperatorExclusion.operator_id))
    if operator_login is not None:
        only = _operator(session, operator_login)
        query = query.where(col(OperatorExclusion.operator_id) == only.id)
    rows = session.exec(query.order_by(col(User.login), col(OperatorExclusion.id))).all()
    return [_view(row, user) for row, user in rows]


def remove_exclusion(*, session: Session, actor: Actor, exclusion_id: int) -> ExclusionView:
    """Remove one exclusion (audited with what it was)."""
    require_role(actor, _KEEPERS)
    row = session.get(OperatorExclusion, exclusion_id)
    if row is None:
        raise NotFoundError(_("No exclusion {id}.").format(id=exclusion_id))
    user = session.get(User, row.operator_id)
    assert user is not None
    view = _view(row, user)
    session.execute(delete(OperatorExclusion).where(col(OperatorExclusion.id) == exclusion_id))
    audit.record(session=session, actor=actor, action="exclusion.remove",
                 target=f"user:{user.login}",
                 details={"id": view.id, "kind": view.kind, "value": view.value,
                          "note": view.note})
    return view

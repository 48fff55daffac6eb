"""Wrap-up: the outcome of a call, validated per disposition, and what it changes.

``record_outcome`` runs inside the caller's write transaction and either writes everything
(outcome, appointment / callback / survey answers / corrections, the attempt's end, the
contact's next state, the do-not-call entry, the audit row) or nothing: every check comes
before the first write, and the one check that only the database can make (a slot booked
by another station a moment ago) raises after a flush, so the caller's rollback undoes it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import timezone as phone_timezone
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from cellcall.errors import NotFoundError, PermissionDeniedError, ValidationError
from cellcall.i18n import _
from cellcall.models.base import utcnow
from cellcall.models.calls import (
    Appointment,
    AttemptState,
    CallAttempt,
    Callback,
    CallbackStatus,
    Outcome,
    SurveyAnswer,
    VerificationCorrection,
)
from cellcall.models.campaigns import Campaign, CampaignType
from cellcall.models.contacts import Contact, ContactStatus, DoNotCallEntry
from cellcall.models.users import Role
from cellcall.services import audit
from cellcall.services.actors import Actor, require_role
from cellcall.services.scripts import Calendar, CallScript, SurveyQuestion

NEEDS = frozenset({"appointment", "callback", "survey", "verification"})

FINAL_DISPOSITIONS: frozenset[str] = frozenset({
    "appointment_set", "not_interested", "do_not_call", "completed", "wrong_number"})

# Results the phone engine decides by itself (SIP status): always accepted, whatever the
# campaign's list says, so an automatic wrap-up can never be refused.
AUTOMATIC_DISPOSITIONS: frozenset[str] = frozenset({
    "busy", "no_answer", "wrong_number", "technical_failure"})

KNOWN_DISPOSITIONS: frozenset[str] = frozenset({
    "appointment_set", "callback", "not_interested", "wrong_number", "no_answer", "busy",
    "answering_machine", "do_not_call", "language_barrier", "completed", "technical_failure"})

DNC_SOURCE_CALLEE = "callee-request"
DEFAULT_RETRY_MINUTES = 60
"""Delay before retrying a non-final disposition the campaign has no retry rule for."""

MAX_NOTES = 4000
MAX_SURVEY_TEXT = 2000
MAX_CORRECTION = 500
MAX_PATH_ENTRIES = 1000
MAX_CALLBACK_DAYS = 90
MAX_WRAPUP_SECONDS = 24 * 3600.0


@dataclass(frozen=True)
class DispositionSpec:
    key: str
    label: str
    needs: frozenset[str]
    final: bool


@dataclass(frozen=True)
class OutcomeInput:
    disposition: str
    notes: str = ""
    script_path: tuple[str, ...] = ()
    wrapup_seconds: float = 0.0
    appointment_start: datetime | None = None
    """Aware; must be one of ``free_slots``."""
    callback_local: datetime | None = None
    """NAIVE wall time in the callee's time zone, as the callee said it."""
    callback_personal: bool = True
    survey_answers: Mapping[str, object] = field(default_factory=dict)
    corrections: Mapping[str, str] = field(default_factory=dict)
    """Verification field key -> corrected value (only fields that changed)."""


def _label(key: str, campaign_type: str) -> str:
    if key == "completed":
        if campaign_type == CampaignType.SURVEY:
            return _("Survey completed")
        if campaign_type == CampaignType.VERIFICATION:
            return _("Data verified")
        return _("Completed")
    labels = {
        "appointment_set": _("Appointment set"),
        "callback": _("Callback"),
        "not_interested": _("Not interested"),
        "wrong_number": _("Wrong number"),
        "no_answer": _("No answer"),
        "busy": _("Busy"),
        "answering_machine": _("Answering machine"),
        "do_not_call": _("Do not call again"),
        "language_barrier": _("Language barrier"),
        "technical_failure": _("Technical failure"),
    }
    return labels[key]


def disposition_label(key: str) -> str:
    """A disposition key as the reader says it (a script's own keys stay as written)."""
    try:
        return _label(key, "")
    except KeyError:
        return key


def _spec(key: str, campaign_type: str, script: CallScript | None) -> DispositionSpec:
    needs: set[str] = set()
    if key == "appointment_set":
        needs.add("appointment")
    elif key == "callback":
        needs.add("callback")
    elif key == "completed" and script is not None:
        # What "completed" means comes from the script: a survey filled, data checked.
        if script.survey:
            needs.add("survey")
        if script.verification:
            needs.add("verification")
    return DispositionSpec(key, _label(key, campaign_type), frozenset(needs),
                           key in FINAL_DISPOSITIONS)


def dispositions_for(*, campaign_type: str, script: CallScript | None,
                     configured: list[str]) -> list[DispositionSpec]:
    """The outcomes an operator may choose, in the order configured.

    The script's own list, when it has one, overrides the campaign's. "Appointment set"
    is left out when there is no calendar to book from (the wrap-up must stay usable).
    """
    keys = list(script.dispositions) if script is not None and script.dispositions else \
        list(configured)
    result: list[DispositionSpec] = []
    seen: set[str] = set()
    for key in keys:
        if key not in KNOWN_DISPOSITIONS:
            raise ValidationError(_("Unknown outcome '{key}' in the campaign's settings.")
                                  .format(key=key))
        if key in seen:
            continue
        seen.add(key)
        if key == "appointment_set" and (script is None or script.calendar is None):
            continue
        result.append(_spec(key, campaign_type, script))
    return result


# --- appointment calendar -----------------------------------------------------------------

def _local_to_utc(wall: datetime, zone: ZoneInfo) -> datetime | None:
    """A naive wall time in ``zone`` as aware UTC; None when the clock skips it (DST)."""
    aware = wall.replace(tzinfo=zone)  # fold=0: the first of two repeated times
    as_utc = aware.astimezone(UTC)
    if as_utc.astimezone(zone).replace(tzinfo=None) != wall:
        return None
    return as_utc


def calendar_slots(calendar: Calendar, *, now: datetime) -> Iterator[datetime]:
    """Every slot start of the calendar from ``now`` over its horizon, aware UTC, in order."""
    zone = calendar.zone
    today = now.astimezone(zone).date()
    step = timedelta(minutes=calendar.slot_minutes)
    for offset in range(calendar.horizon_days):
        day = today + timedelta(days=offset)
        if day.weekday() not in calendar.days:
            continue
        for begin, end in calendar.hours:
            wall = datetime.combine(day, begin)
            last = datetime.combine(day, end)
            while wall + step <= last:
                start = _local_to_utc(wall, zone)
                if start is not None and start > now:
                    yield start
                wall += step


def free_slots(*, session: Session, campaign_id: int, calendar: Calendar, now: datetime,
               limit: int = 50) -> list[datetime]:
    """Bookable slot starts (aware UTC): in the calendar, in the future, not yet booked."""
    _require_aware(now)
    slots = list(calendar_slots(calendar, now=now))
    if not slots:
        return []
    booked = set(session.exec(
        select(Appointment.slot_start).where(
            Appointment.campaign_id == campaign_id,
            col(Appointment.slot_start) >= slots[0],
            col(Appointment.slot_start) <= slots[-1])).all())
    return [s for s in slots if s not in booked][:max(limit, 0)]


# --- validation ----------------------------------------------------------------------------

def _require_aware(moment: datetime) -> None:
    if moment.tzinfo is None:
        raise ValueError("naive datetime where an aware one is required")


def _check_common(data: OutcomeInput, script: CallScript | None) -> None:
    if not isinstance(data.notes, str) or len(data.notes) > MAX_NOTES:
        raise ValidationError(_("Notes: at most {n} characters.").format(n=MAX_NOTES))
    seconds = data.wrapup_seconds
    if not math.isfinite(seconds) or not 0 <= seconds <= MAX_WRAPUP_SECONDS:
        raise ValidationError(_("The wrap-up duration is not valid."))
    if len(data.script_path) > MAX_PATH_ENTRIES:
        raise ValidationError(_("The script path is too long."))
    for entry in data.script_path:
        valid = (script.is_path_entry(entry) if script is not None
                 else isinstance(entry, str) and 0 < len(entry) <= 100)
        if not valid:
            raise ValidationError(_("The script path names a step the script does not have."))


def _check_appointment(data: OutcomeInput, script: CallScript | None,
                       now: datetime) -> tuple[datetime, datetime]:
    if script is None or script.calendar is None:
        raise ValidationError(_("This campaign has no appointment calendar."))
    start = data.appointment_start
    if start is None:
        raise ValidationError(_("Choose an appointment slot."))
    if start.tzinfo is None:
        raise ValidationError(_("The appointment slot must carry its time zone."))
    start = start.astimezone(UTC)
    if start <= now:
        raise ValidationError(_("This appointment slot is in the past."))
    if start not in set(calendar_slots(script.calendar, now=now)):
        raise ValidationError(_("This time is not a slot of the campaign's calendar."))
    return start, start + timedelta(minutes=script.calendar.slot_minutes)


def callee_zone(contact: Contact) -> ZoneInfo:
    """The callee's time zone: the first one the import found, else the number's."""
    names = list(contact.time_zones)
    if not names:
        try:
            names = list(phone_timezone.time_zones_for_number(
                phonenumbers.parse(contact.phone_e164, None)))
        except phonenumbers.NumberParseException:
            names = []
    for name in names:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            continue
    raise ValidationError(_("The callee's time zone is unknown; a callback cannot be set."))


def _check_callback(data: OutcomeInput, contact: Contact, now: datetime) -> datetime:
    wall = data.callback_local
    if wall is None:
        raise ValidationError(_("Enter the callback time."))
    if wall.tzinfo is not None:
        raise ValidationError(_("Enter the callback time as the callee's local time."))
    due = _local_to_utc(wall, callee_zone(contact))
    if due is None:
        raise ValidationError(_(
            "This time does not exist in the callee's time zone (clock change)."))
    if due <= now:
        raise ValidationError(_("The callback time must be in the future."))
    if due > now + timedelta(days=MAX_CALLBACK_DAYS):
        raise ValidationError(_("A callback can be set at most {days} days ahead.").format(
            days=MAX_CALLBACK_DAYS))
    return due


def _answer(question: SurveyQuestion, value: object) -> object:
    """The stored form of one answer; raises with the question's label when it is invalid."""
    label = question.label
    if question.kind == "scale":
        number: int | None = None
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        elif isinstance(value, str) and value.strip().lstrip("-").isdigit():
            number = int(value.strip())
        low, high = question.min or 0, question.max or 0
        if number is None or not low <= number <= high:
            raise ValidationError(_("'{question}': choose a number from {low} to {high}.")
                                  .format(question=label, low=low, high=high))
        return number
    if question.kind == "single":
        if not isinstance(value, str) or value not in question.option_keys:
            raise ValidationError(_("'{question}': choose one of the options.").format(
                question=label))
        return value
    if question.kind == "multiple":
        if not isinstance(value, list | tuple | set | frozenset) or not all(
                isinstance(v, str) for v in value):
            raise ValidationError(_("'{question}': choose among the options.").format(
                question=label))
        chosen = list(value)
        if len(set(chosen)) != len(chosen) or not set(chosen) <= set(question.option_keys):
            raise ValidationError(_("'{question}': choose among the options.").format(
                question=label))
        # Stored in the script's option order, whatever order they were ticked in.
        return [k for k in question.option_keys if k in set(chosen)]
    if not isinstance(value, str):
        raise ValidationError(_("'{question}': write an answer.").format(question=label))
    if len(value) > MAX_SURVEY_TEXT:
        raise ValidationError(_("'{question}': at most {n} characters.").format(
            question=label, n=MAX_SURVEY_TEXT))
    return value


def _is_blank(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    return isinstance(value, list | tuple | set | frozenset) and not value


def _check_survey(data: OutcomeInput, script: CallScript | None) -> dict[str, object]:
    if script is None or not script.survey:
        raise ValidationError(_("This campaign has no survey questions."))
    known = {q.key for q in script.survey}
    for key in data.survey_answers:
        if key not in known:
            raise ValidationError(_("Unknown survey question '{key}'.").format(key=key))
    answers: dict[str, object] = {}
    for question in script.survey:
        value = data.survey_answers.get(question.key)
        if _is_blank(value):
            if question.required:
                raise ValidationError(_("Answer the question '{question}'.").format(
                    question=question.label))
            continue
        answers[question.key] = _answer(question, value)
    return answers


def _original_value(contact: Contact, key: str) -> str:
    if key in ("first_name", "last_name", "company"):
        return str(getattr(contact, key))
    value = contact.custom_fields.get(key)
    return "" if value is None else str(value)


def _check_corrections(data: OutcomeInput, script: CallScript | None,
                       contact: Contact) -> list[tuple[str, str, str]]:
    if script is None or not script.verification:
        raise ValidationError(_("This campaign has no fields to verify."))
    known = {f.key for f in script.verification}
    result: list[tuple[str, str, str]] = []
    for key, corrected in data.corrections.items():
        if key not in known:
            raise ValidationError(_("Unknown field to verify '{key}'.").format(key=key))
        if not isinstance(corrected, str) or len(corrected) > MAX_CORRECTION:
            raise ValidationError(_("Corrected value for '{key}': at most {n} characters.")
                                  .format(key=key, n=MAX_CORRECTION))
        original = _original_value(contact, key)
        if corrected != original:
            result.append((key, original, corrected))
    return result


def _add_to_dnc(session: Session, e164: str, now: datetime) -> None:
    """Put the number on the do-not-call list (one row per number and source)."""
    exists = session.exec(select(DoNotCallEntry.id).where(
        DoNotCallEntry.phone_e164 == e164, DoNotCallEntry.source == DNC_SOURCE_CALLEE)).first()
    if exists is None:
        session.add(DoNotCallEntry(phone_e164=e164, source=DNC_SOURCE_CALLEE, added_at=now))


# --- recording --------------------------------------------------------------------------

def record_outcome(*, session: Session, actor: Actor, attempt_id: int, data: OutcomeInput,
                   script: CallScript | None, now: datetime | None = None) -> int:
    """Validate and save the outcome of ``attempt_id``; returns the outcome's id."""
    require_role(actor, [Role.OPERATOR])
    at = now or utcnow()
    _require_aware(at)
    at = at.astimezone(UTC)
    attempt = session.get(CallAttempt, attempt_id)
    if attempt is None:
        raise NotFoundError(_("This call does not exist."))
    if actor.user_id is None or attempt.operator_id != actor.user_id:
        raise PermissionDeniedError(_("This call is not yours to wrap up."))
    if session.exec(select(Outcome.id).where(Outcome.attempt_id == attempt_id)).first():
        raise ValidationError(_("An outcome was already recorded for this call."))
    contact = session.get(Contact, attempt.contact_id)
    campaign = session.get(Campaign, attempt.campaign_id)
    if contact is None or campaign is None:
        raise NotFoundError(_("This call's contact or campaign no longer exists."))

    key = data.disposition
    allowed = {s.key: s for s in dispositions_for(
        campaign_type=campaign.type, script=script, configured=list(campaign.dispositions))}
    spec = allowed.get(key)
    if spec is None and key in AUTOMATIC_DISPOSITIONS:
        spec = _spec(key, campaign.type, script)
    if spec is None:
        raise ValidationError(_("Choose one of this campaign's outcomes."))

    # Every check before the first write.
    _check_common(data, script)
    slot = _check_appointment(data, script, at) if "appointment" in spec.needs else None
    due = _check_callback(data, contact, at) if "callback" in spec.needs else None
    answers = _check_survey(data, script) if "survey" in spec.needs else {}
    corrections = (_check_corrections(data, script, contact)
                   if "verification" in spec.needs else [])

    outcome = Outcome(attempt_id=attempt_id, contact_id=contact.id or 0,
                      operator_id=actor.user_id, disposition=key, notes=data.notes,
                      script_path=list(data.script_path), wrapup_seconds=data.wrapup_seconds,
                      created_at=at)
    session.add(outcome)
    try:
        session.flush()
    except IntegrityError:
        raise ValidationError(_("An outcome was already recorded for this call.")) from None
    assert outcome.id is not None

    if slot is not None:
        session.add(Appointment(campaign_id=campaign.id or 0, contact_id=contact.id or 0,
                                outcome_id=outcome.id, slot_start=slot[0], slot_end=slot[1],
                                created_at=at))
        try:
            # UNIQUE(campaign_id, slot_start) decides between two stations racing.
            session.flush()
        except IntegrityError:
            raise ValidationError(_("This slot was just taken; choose another one.")) from None
    for question_key, answer in answers.items():
        session.add(SurveyAnswer(outcome_id=outcome.id, contact_id=contact.id or 0,
                                 question_key=question_key, answer=answer))
    for field_name, original, corrected in corrections:
        session.add(VerificationCorrection(outcome_id=outcome.id, contact_id=contact.id or 0,
                                           field_name=field_name, original_value=original,
                                           corrected_value=corrected))

    if attempt.ended_at is None:
        attempt.ended_at = at
    attempt.state = AttemptState.ENDED
    attempt.result = key
    session.add(attempt)

    _settle_callbacks(session, contact, at, replace=spec.final or due is not None)
    if due is not None:
        session.add(Callback(contact_id=contact.id or 0, campaign_id=campaign.id or 0,
                             outcome_id=outcome.id, due_at=due, created_at=at,
                             personal_operator_id=actor.user_id if data.callback_personal
                             else None))
    _update_contact(contact, campaign, attempt, actor, spec, due, at)
    session.add(contact)
    if key == "do_not_call":
        _add_to_dnc(session, attempt.phone_e164, at)

    audit.record(session=session, actor=actor, action="outcome", target=f"attempt:{attempt_id}",
                 details={"attempt_id": attempt_id, "outcome_id": outcome.id,
                          "contact_id": contact.id, "disposition": key})
    session.flush()
    return outcome.id


def _settle_callbacks(session: Session, contact: Contact, at: datetime, *,
                      replace: bool) -> None:
    """A due callback this call served is done; later ones end with a final outcome or a
    new callback (which replaces them)."""
    pending = session.exec(select(Callback).where(
        Callback.contact_id == contact.id, Callback.status == CallbackStatus.PENDING)).all()
    for callback in pending:
        if callback.due_at <= at:
            callback.status = CallbackStatus.DONE
        elif replace:
            callback.status = CallbackStatus.CANCELLED
        else:
            continue
        session.add(callback)


def _update_contact(contact: Contact, campaign: Campaign, attempt: CallAttempt, actor: Actor,
                    spec: DispositionSpec, due: datetime | None, at: datetime) -> None:
    if attempt.counts_against_caps and spec.key != "technical_failure":
        contact.attempts += 1
    lease_live = contact.lease_expires_at is not None and contact.lease_expires_at > at
    if contact.lease_user_id not in (None, actor.user_id) and lease_live:
        # The lease lapsed and another operator holds the contact now: their outcome will
        # set its state; this one only counts the attempt.
        return
    if spec.key == "do_not_call":
        contact.status = ContactStatus.DO_NOT_CALL
        contact.next_attempt_at = None
    elif spec.final:
        contact.status = ContactStatus.DONE
        contact.next_attempt_at = None
    elif due is not None:
        # An agreed callback stands even past the attempt limit: the callee asked for it.
        contact.status = ContactStatus.PENDING
        contact.next_attempt_at = due
    elif contact.attempts >= campaign.max_attempts:
        contact.status = ContactStatus.DONE
        contact.next_attempt_at = None
    else:
        minutes = campaign.retry_rules.get(spec.key, DEFAULT_RETRY_MINUTES)
        contact.status = ContactStatus.PENDING
        contact.next_attempt_at = at + timedelta(minutes=int(minutes))
    contact.lease_user_id = None
    contact.lease_station_id = None
    contact.lease_expires_at = None


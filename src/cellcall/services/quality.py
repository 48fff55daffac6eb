"""Quality: the recordings supervisors listen to, and the scorecards they score calls on.

Supervisors (and admins) only: an operator never browses recordings or sees a score (the
workshop shows no numbers to operators). A recording is found from the attempt's row,
never from a path a caller gives, and every playback is audited. A campaign's scorecard is
its own criteria when it has some (``ScorecardCriterion`` rows), else the defaults in
``data/scorecard.toml``; the seven default criteria are shown in the user's language
through the catalogue, criteria of a site's own carry the label the site wrote.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import aliased
from sqlmodel import Session, col

from cellcall.errors import NotFoundError, PermissionDeniedError, ValidationError
from cellcall.i18n import _
from cellcall.models.base import utcnow
from cellcall.models.calls import CallAttempt, Outcome
from cellcall.models.campaigns import Campaign
from cellcall.models.quality import CallScore, ScorecardCriterion
from cellcall.models.users import Role, User
from cellcall.resources import data_file
from cellcall.services import audit
from cellcall.services.actors import Actor, require_role
from cellcall.services.timeclock import local_day_bounds
from cellcall.untrusted import inert

SUPERVISORS = (Role.SUPERVISOR, Role.ADMIN)
SCORECARD_FILE = "scorecard.toml"
KEY_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
MAX_POINTS = 100
MAX_CRITERIA = 30
MAX_LABEL = 200
MAX_COMMENT = 4000
MAX_CRITERION_COMMENT = 1000
MAX_LIST = 1000


def default_labels() -> dict[str, str]:
    """The default criteria's labels in the current language (built per call: the TUI
    switches language at each login)."""
    return {
        "greeting": _("Greeting and identification"),
        "purpose": _("Purpose of the call stated"),
        "listening": _("Listening"),
        "script": _("Script adherence"),
        "objections": _("Objection handling"),
        "closing": _("Closing"),
        "compliance": _("Compliance statements"),
    }


@dataclass(frozen=True)
class Criterion:
    key: str
    label: str
    max_points: int


@dataclass(frozen=True)
class RecordingRow:
    attempt_id: int
    started_at: datetime
    operator_login: str
    operator_name: str
    campaign_slug: str
    disposition: str | None
    duration_s: float | None
    has_recording: bool
    score_percent: float | None


@dataclass(frozen=True)
class ScoreView:
    id: int
    attempt_id: int
    operator_login: str
    campaign_slug: str
    supervisor_login: str
    points: Mapping[str, int]
    comments: Mapping[str, str]
    comment: str
    percent: float
    scored_at: datetime


# --- scorecards ---------------------------------------------------------------------------

def _label(key: str, label: str) -> str:
    return label or default_labels().get(key, key)


def parse_scorecard(text: str, *, source: str) -> tuple[Criterion, ...]:
    """The criteria of a scorecard file (``[[criterion]]`` key, max_points, label).

    A missing label is allowed for the default keys only (they are translated); the
    returned labels are as written (empty for those)."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValidationError(_("{file}: not a valid TOML file ({error}).").format(
            file=source, error=exc)) from None
    return _check_entries(raw.get("criterion"), source=source)


def _check_entries(entries: object, *, source: str) -> tuple[Criterion, ...]:
    if not isinstance(entries, list) or not entries:
        raise ValidationError(_("{file}: no [[criterion]] in the file.").format(file=source))
    if len(entries) > MAX_CRITERIA:
        raise ValidationError(_("{file}: at most {n} criteria.").format(
            file=source, n=MAX_CRITERIA))
    known = default_labels()
    result: list[Criterion] = []
    seen: set[str] = set()
    for number, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict):
            raise ValidationError(_("{file}: criterion {n} is not a table.").format(
                file=source, n=number))
        unknown = set(entry) - {"key", "label", "max_points"}
        if unknown:
            raise ValidationError(_("{file}: criterion {n}: unknown setting {name}.").format(
                file=source, n=number, name=", ".join(sorted(unknown))))
        key = entry.get("key")
        if not isinstance(key, str) or not KEY_RE.match(key):
            raise ValidationError(_(
                "{file}: criterion {n}: the key must be lowercase letters, digits or '_', "
                "a letter first.").format(file=source, n=number))
        if key in seen:
            raise ValidationError(_("{file}: criterion '{key}' appears twice.").format(
                file=source, key=key))
        seen.add(key)
        points = entry.get("max_points", 4)
        if isinstance(points, bool) or not isinstance(points, int) or \
                not 1 <= points <= MAX_POINTS:
            raise ValidationError(_(
                "{file}: criterion '{key}': max_points must be a whole number from 1 to "
                "{max}.").format(file=source, key=key, max=MAX_POINTS))
        label = entry.get("label", "")
        if not isinstance(label, str) or len(label.strip()) > MAX_LABEL:
            raise ValidationError(_(
                "{file}: criterion '{key}': the label must be text of at most {n} "
                "characters.").format(file=source, key=key, n=MAX_LABEL))
        # One line, and no control character ever reaches a supervisor's terminal.
        label = inert(" ".join(label.split()), max_length=MAX_LABEL)
        if not label and key not in known:
            raise ValidationError(_("{file}: criterion '{key}' needs a label.").format(
                file=source, key=key))
        result.append(Criterion(key, label, points))
    return tuple(result)


def load_scorecard_file(path: Path) -> tuple[Criterion, ...]:
    """Read and check a scorecard file (for ``campaign scorecard --file``)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NotFoundError(_("File not found: {path}").format(path=path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationError(_("Cannot read {path}: {error}").format(
            path=path, error=getattr(exc, "strerror", None) or exc)) from None
    return parse_scorecard(text, source=path.name)


@cache
def _default_scorecard() -> tuple[Criterion, ...]:
    return load_scorecard_file(data_file(SCORECARD_FILE))


def default_scorecard() -> tuple[Criterion, ...]:
    """The shipped default criteria, labels in the current language."""
    return tuple(Criterion(c.key, _label(c.key, c.label), c.max_points)
                 for c in _default_scorecard())


def _criteria(session: Session, campaign_id: int) -> tuple[Criterion, ...]:
    rows = session.scalars(
        select(ScorecardCriterion).where(col(ScorecardCriterion.campaign_id) == campaign_id)
        .order_by(col(ScorecardCriterion.position), col(ScorecardCriterion.id))).all()
    if not rows:
        return default_scorecard()
    return tuple(Criterion(r.key, _label(r.key, r.label), r.max_points) for r in rows)


def scorecard(*, session: Session, actor: Actor, campaign_id: int) -> tuple[Criterion, ...]:
    """The criteria a call of this campaign is scored on, in order."""
    require_role(actor, SUPERVISORS)
    if session.get(Campaign, campaign_id) is None:
        raise NotFoundError(_("This campaign does not exist."))
    return _criteria(session, campaign_id)


def campaign_scorecard(*, session: Session, actor: Actor,
                       slug: str) -> tuple[bool, tuple[Criterion, ...]]:
    """(whether the campaign has its own criteria, the criteria) for campaign ``slug``."""
    require_role(actor, SUPERVISORS)
    campaign = _campaign(session, slug)
    own = session.scalars(select(col(ScorecardCriterion.id)).where(
        col(ScorecardCriterion.campaign_id) == campaign.id).limit(1)).first() is not None
    return own, _criteria(session, campaign.id or 0)


def _campaign(session: Session, slug: str) -> Campaign:
    campaign = session.scalars(select(Campaign).where(col(Campaign.slug) == slug)).first()
    if campaign is None:
        raise NotFoundError(_("No campaign '{slug}'.").format(slug=slug))
    return campaign


def set_scorecard(*, session: Session, actor: Actor, slug: str,
                  criteria: Sequence[Criterion] | None) -> tuple[Criterion, ...]:
    """Give campaign ``slug`` its own criteria, or (``None``) put it back on the defaults.
    Scores already given keep their points and percentage."""
    require_role(actor, SUPERVISORS)
    campaign = _campaign(session, slug)
    if criteria is not None:
        if not criteria:
            raise ValidationError(_("A scorecard needs at least one criterion."))
        # Criteria given in code get the same checks as a file's.
        criteria = _check_entries(
            [{"key": c.key, "max_points": c.max_points, "label": c.label} for c in criteria],
            source=slug)
    session.execute(delete(ScorecardCriterion).where(
        col(ScorecardCriterion.campaign_id) == campaign.id))
    for position, criterion in enumerate(criteria or ()):
        session.add(ScorecardCriterion(campaign_id=campaign.id or 0, key=criterion.key,
                                       label=criterion.label,
                                       max_points=criterion.max_points, position=position))
    audit.record(session=session, actor=actor,
                 action="scorecard.set" if criteria else "scorecard.reset", target=slug,
                 details={"criteria": [[c.key, c.max_points] for c in criteria or ()]})
    session.flush()
    return _criteria(session, campaign.id or 0)


# --- recordings ---------------------------------------------------------------------------

def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def list_recordings(*, session: Session, actor: Actor, operator_login: str | None = None,
                    campaign_slug: str | None = None, day: date | None = None,
                    disposition: str | None = None, limit: int = 200,
                    site_timezone: str = "Europe/Paris") -> list[RecordingRow]:
    """Answered calls, newest first, with whether a recording is kept and their latest
    score. ``day`` is a calendar day in the site's time zone."""
    require_role(actor, SUPERVISORS)
    latest = aliased(CallScore)
    score = (select(col(latest.percent)).where(col(latest.attempt_id) == col(CallAttempt.id))
             .order_by(col(latest.id).desc()).limit(1).correlate(CallAttempt)
             .scalar_subquery())
    outcome = func.coalesce(col(Outcome.disposition), col(CallAttempt.result))
    query = (
        select(col(CallAttempt.id), col(CallAttempt.claimed_at), col(CallAttempt.dialed_at),
               col(CallAttempt.answered_at), col(CallAttempt.ended_at),
               col(CallAttempt.recording_path), col(CallAttempt.recording_seconds),
               col(User.login), col(User.display_name), col(Campaign.slug), outcome, score)
        .join(User, col(User.id) == col(CallAttempt.operator_id))
        .join(Campaign, col(Campaign.id) == col(CallAttempt.campaign_id))
        .outerjoin(Outcome, col(Outcome.attempt_id) == col(CallAttempt.id))
        # Only finished calls someone answered have anything to listen to or score.
        .where(col(CallAttempt.ended_at).is_not(None),
               or_(col(CallAttempt.answered_at).is_not(None),
                   col(CallAttempt.recording_path).is_not(None))))
    if operator_login:
        query = query.where(col(User.login) == operator_login.strip().lower())
    if campaign_slug:
        query = query.where(col(Campaign.slug) == campaign_slug.strip())
    if disposition:
        query = query.where(outcome == disposition.strip())
    if day is not None:
        start, end = local_day_bounds(day, _zone(site_timezone))
        query = query.where(col(CallAttempt.claimed_at) >= start,
                            col(CallAttempt.claimed_at) < end)
    query = query.order_by(col(CallAttempt.id).desc()).limit(max(1, min(limit, MAX_LIST)))
    rows: list[RecordingRow] = []
    for (attempt_id, claimed, dialed, answered, ended, path, seconds, login, name, slug,
         result, percent) in session.execute(query).all():
        duration: float | None = seconds
        if duration is None and answered is not None and ended is not None:
            duration = max(0.0, (ended - answered).total_seconds())
        rows.append(RecordingRow(
            attempt_id=attempt_id, started_at=dialed or claimed, operator_login=login,
            operator_name=name, campaign_slug=slug, disposition=result,
            duration_s=duration, has_recording=path is not None,
            score_percent=None if percent is None else float(percent)))
    return rows


def _inside(root: Path, path: Path) -> bool:
    try:
        return path.resolve().is_relative_to(root.resolve())
    except OSError:
        return False


def open_recording(*, session: Session, actor: Actor, attempt_id: int,
                   recordings_root: Path | None = None) -> Path:
    """The recording file of ``attempt_id``, for playback; audited ("recording_played")
    in the caller's write transaction. With ``recordings_root``, a row pointing outside
    that folder is refused."""
    require_role(actor, SUPERVISORS)
    attempt = session.get(CallAttempt, attempt_id)
    if attempt is None:
        raise NotFoundError(_("This call does not exist."))
    if not attempt.recording_path:
        raise NotFoundError(_(
            "This call has no recording: it was not recorded, or its recording was purged "
            "after the retention period."))
    path = Path(attempt.recording_path)
    if recordings_root is not None and not _inside(recordings_root, path):
        raise PermissionDeniedError(_(
            "This call's recording is outside the recordings folder; it is not played."))
    if not path.is_file():
        raise NotFoundError(_(
            "The recording file of this call is missing ({name}): it was deleted or moved.")
            .format(name=path.name))
    audit.record(session=session, actor=actor, action="recording_played",
                 target=f"attempt:{attempt_id}",
                 details={"attempt_id": attempt_id, "operator_id": attempt.operator_id,
                          "file": path.name})
    return path


# --- scores -------------------------------------------------------------------------------

def _check_points(criteria: Sequence[Criterion], points: Mapping[str, Any]) -> dict[str, int]:
    if not isinstance(points, Mapping):
        raise ValidationError(_("Score every criterion."))
    by_key = {c.key: c for c in criteria}
    unknown = sorted(set(points) - set(by_key))
    if unknown:
        raise ValidationError(_("Unknown criterion '{key}' for this campaign.").format(
            key=unknown[0]))
    missing = [c.label for c in criteria if c.key not in points]
    if missing:
        raise ValidationError(_("Score every criterion; missing: {labels}.").format(
            labels=", ".join(missing)))
    result: dict[str, int] = {}
    for criterion in criteria:
        value = points[criterion.key]
        if isinstance(value, bool) or not isinstance(value, int) or \
                not 0 <= value <= criterion.max_points:
            raise ValidationError(_("{label}: from 0 to {max} points.").format(
                label=criterion.label, max=criterion.max_points))
        result[criterion.key] = value
    return result


def _check_comments(criteria: Sequence[Criterion], comments: Mapping[str, Any] | None,
                    comment: str) -> tuple[dict[str, str], str]:
    by_key = {c.key: c for c in criteria}
    result: dict[str, str] = {}
    for key, text in (comments or {}).items():
        if key not in by_key:
            raise ValidationError(_("Unknown criterion '{key}' for this campaign.").format(
                key=key))
        if not isinstance(text, str) or len(text) > MAX_CRITERION_COMMENT:
            raise ValidationError(_("{label}: a comment of at most {n} characters.").format(
                label=by_key[key].label, n=MAX_CRITERION_COMMENT))
        if text.strip():
            result[key] = text.strip()
    if not isinstance(comment, str) or len(comment) > MAX_COMMENT:
        raise ValidationError(_("The comment: at most {n} characters.").format(
            n=MAX_COMMENT))
    return result, comment.strip()


def _score_view(session: Session, score: CallScore) -> ScoreView:
    operator = session.get(User, score.operator_id)
    supervisor = session.get(User, score.supervisor_id)
    campaign = session.get(Campaign, score.campaign_id)
    assert score.id is not None
    return ScoreView(
        id=score.id, attempt_id=score.attempt_id,
        operator_login=operator.login if operator else "",
        campaign_slug=campaign.slug if campaign else "",
        supervisor_login=supervisor.login if supervisor else "",
        points=MappingProxyType({str(k): int(v) for k, v in score.points.items()}),
        comments=MappingProxyType({str(k): str(v) for k, v in score.comments.items()}),
        comment=score.comment, percent=score.percent, scored_at=score.scored_at)


def score_call(*, session: Session, actor: Actor, attempt_id: int, points: Mapping[str, int],
               comments: Mapping[str, str] | None = None, comment: str = "",
               now: datetime | None = None) -> ScoreView:
    """Score an answered call on its campaign's criteria (every criterion, 0..max, an
    optional comment per criterion and overall); audited."""
    require_role(actor, SUPERVISORS)
    if actor.user_id is None:
        raise PermissionDeniedError(_("Scoring a call needs a supervisor's own login."))
    attempt = session.get(CallAttempt, attempt_id)
    if attempt is None:
        raise NotFoundError(_("This call does not exist."))
    if attempt.operator_id == actor.user_id:
        raise PermissionDeniedError(_("You cannot score your own call."))
    if attempt.answered_at is None or attempt.ended_at is None:
        raise ValidationError(_("Only a finished call that was answered can be scored."))
    criteria = _criteria(session, attempt.campaign_id)
    checked = _check_points(criteria, points)
    notes, overall = _check_comments(criteria, comments, comment)
    total = sum(c.max_points for c in criteria)
    percent = round(100.0 * sum(checked.values()) / total, 1) if total else 0.0
    assert math.isfinite(percent)
    score = CallScore(attempt_id=attempt_id, operator_id=attempt.operator_id,
                      campaign_id=attempt.campaign_id, supervisor_id=actor.user_id,
                      points=checked, comments=notes, comment=overall, percent=percent,
                      scored_at=now or utcnow())
    session.add(score)
    session.flush()
    audit.record(session=session, actor=actor, action="call.scored",
                 target=f"attempt:{attempt_id}",
                 details={"score_id": score.id, "attempt_id": attempt_id,
                          "operator_id": attempt.operator_id, "percent": percent})
    return _score_view(session, score)


def operator_scores(*, session: Session, actor: Actor, operator_login: str) -> list[ScoreView]:
    """An operator's scores over time, oldest first (for the supervisor's coaching)."""
    require_role(actor, SUPERVISORS)
    operator = session.scalars(select(User).where(
        col(User.login) == operator_login.strip().lower())).first()
    if operator is None:
        raise NotFoundError(_("No user with login '{login}'.").format(login=operator_login))
    scores = session.scalars(select(CallScore).where(
        col(CallScore.operator_id) == operator.id)
        .order_by(col(CallScore.scored_at), col(CallScore.id))).all()
    return [_score_view(session, s) for s in scores]

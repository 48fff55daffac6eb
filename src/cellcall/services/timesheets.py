"""Timesheets: worked time and pauses by reason per operator, per day, week or month, and
the monthly payroll export.

Counted from the time entries, in the site's local calendar (``[site] timezone``): an
entry crossing local midnight counts on both days, an entry still open counts up to now,
and nothing counts in the future. Gross pay is the worked hours (pauses excluded) times
``[site] hourly_wage_eur``, rounded to the cent.

The export is a CSV file for a French payroll spreadsheet: ``;`` between cells, a decimal
comma ("7,50"), UTF-8 with a byte-order mark, so Excel and LibreOffice in a French locale
open it as numbers without an import dialog. Cells are defused against formula injection
like every other export (``tabular.AtomicCsv``), and the file appears only once complete.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import or_, select
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from cellcall.config import Config
from cellcall.db import read_session, run_write
from cellcall.errors import NotFoundError, PermissionDeniedError, ValidationError
from cellcall.i18n import _
from cellcall.models.base import utcnow
from cellcall.models.timeclock import PauseReason, TimeEntry, TimeEntryKind
from cellcall.models.users import Role, User
from cellcall.services import audit
from cellcall.services.actors import Actor, require_role
from cellcall.services.tabular import AtomicCsv
from cellcall.services.timeclock import local_day_bounds

PERIODS = ("day", "week", "month")
CENT = Decimal("0.01")
_MONTH_RE = re.compile(r"^(\d{4})-(\d{2})$")
_WEEK_RE = re.compile(r"^(\d{4})-?W(\d{2})$", re.IGNORECASE)
_DAY_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
MIN_YEAR, MAX_YEAR = 1970, 9998


@dataclass(frozen=True)
class TimesheetRow:
    operator_login: str
    operator_name: str
    period_label: str
    work_seconds: float
    pause_seconds: dict[str, float]
    """Pause reason -> seconds; every known reason is present (0 when none)."""
    gross_pay_eur: float
    first_day: date | None = None
    last_day: date | None = None


@dataclass(frozen=True)
class TimesheetExport:
    month: str
    path: Path
    operators: int
    work_hours: Decimal
    gross_pay_eur: Decimal
    hourly_wage_eur: Decimal = field(default=Decimal(0))


def pause_reason_label(reason: str) -> str:
    labels = {str(PauseReason.BREAK): _("break"), str(PauseReason.MEAL): _("meal"),
              str(PauseReason.TRAINING): _("training"),
              str(PauseReason.TECHNICAL): _("technical")}
    return labels.get(reason, reason)


# --- periods ------------------------------------------------------------------------------

def period_days(period: str, anchor: date) -> tuple[date, date, str]:
    """(first day, day after the last, label) of the period containing ``anchor``."""
    if period == "day":
        return anchor, anchor + timedelta(days=1), anchor.isoformat()
    if period == "week":
        first = anchor - timedelta(days=anchor.weekday())
        year, week, _day = anchor.isocalendar()
        return first, first + timedelta(days=7), f"{year}-W{week:02d}"
    if period == "month":
        first = anchor.replace(day=1)
        after = (first + timedelta(days=32)).replace(day=1)
        return first, after, f"{first:%Y-%m}"
    # ``period`` is a code word from the caller, not something to show in a sentence.
    raise ValidationError(_("Unknown period: choose a day, a week or a month."))


def _plausible(day: date) -> date:
    # Far years would overflow the period arithmetic; payroll never needs them.
    if not MIN_YEAR <= day.year <= MAX_YEAR:
        raise ValueError(day)
    return day


def parse_month(text: str) -> date:
    """'2026-03' -> 2026-03-01; anything else is refused in one line."""
    match = _MONTH_RE.match(text.strip())
    try:
        if match is None:
            raise ValueError(text)
        return _plausible(date(int(match.group(1)), int(match.group(2)), 1))
    except ValueError:
        raise ValidationError(_("Invalid month '{text}': write it as YYYY-MM, e.g. "
                                "2026-03.").format(text=text)) from None


def parse_day(text: str) -> date:
    """'2026-03-25' -> that day."""
    value = text.strip()
    try:
        if not _DAY_RE.match(value):
            raise ValueError(text)
        return _plausible(date.fromisoformat(value))
    except ValueError:
        raise ValidationError(_("Invalid day '{text}': write it as YYYY-MM-DD.").format(
            text=text)) from None


def parse_week(text: str) -> date:
    """'2026-W13' (ISO week) or any day of it ('2026-03-25') -> that week's Monday."""
    value = text.strip()
    match = _WEEK_RE.match(value)
    try:
        if match is not None:
            return _plausible(date.fromisocalendar(int(match.group(1)), int(match.group(2)),
                                                   1))
        day = parse_day(value)
    except (ValueError, ValidationError):
        raise ValidationError(_("Invalid week '{text}': write it as YYYY-Www (e.g. 2026-W13) "
                                "or give a day of the week (YYYY-MM-DD).").format(
                                    text=text)) from None
    return day - timedelta(days=day.weekday())


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(_("Unknown time zone '{zone}' in [site] timezone.").format(
            zone=name)) from None


# --- totals -------------------------------------------------------------------------------

def gross_pay(work_seconds: float, hourly_wage_eur: float) -> Decimal:
    hours = Decimal(str(round(work_seconds, 3))) / Decimal(3600)
    return (hours * Decimal(str(hourly_wage_eur))).quantize(CENT, rounding=ROUND_HALF_UP)


def _operators(session: Session, actor: Actor, login: str | None) -> list[User]:
    if login is not None:
        user = session.scalars(select(User).where(
            col(User.login) == login.strip().lower())).first()
        if user is None:
            raise NotFoundError(_("No user with login '{login}'.").format(login=login))
        if user.role != Role.OPERATOR:
            raise ValidationError(_("{login} is not an operator.").format(login=user.login))
        if actor.role == Role.OPERATOR and actor.user_id != user.id:
            raise PermissionDeniedError(_("You are not allowed to do this."))
        return [user]
    if actor.role == Role.OPERATOR:
        raise PermissionDeniedError(_("You are not allowed to do this."))
    return list(session.scalars(select(User).where(col(User.role) == Role.OPERATOR)
                                .order_by(col(User.login))))


def _totals(session: Session, user_ids: list[int], start: datetime, until: datetime,
            now: datetime) -> dict[int, tuple[float, dict[str, float]]]:
    totals: dict[int, tuple[float, dict[str, float]]] = {}
    if until <= start or not user_ids:
        return totals
    entries = session.scalars(select(TimeEntry).where(
        col(TimeEntry.user_id).in_(user_ids), col(TimeEntry.started_at) < until,
        or_(col(TimeEntry.ended_at).is_(None), col(TimeEntry.ended_at) > start)))
    for entry in entries:
        # Clipped to the period; an open entry runs until now.
        begin = max(entry.started_at, start)
        finish = min(entry.ended_at or now, until)
        if finish <= begin:
            continue
        seconds = (finish - begin).total_seconds()
        work, pauses = totals.setdefault(entry.user_id, (0.0, {}))
        if entry.kind == TimeEntryKind.WORK:
            totals[entry.user_id] = (work + seconds, pauses)
        else:
            reason = entry.reason or ""
            pauses[reason] = pauses.get(reason, 0.0) + seconds
    return totals


def timesheet(*, session: Session, actor: Actor, config: Config, period: str, anchor: date,
              operator_login: str | None = None,
              now: datetime | None = None) -> list[TimesheetRow]:
    """One row per operator for the day, week (Monday to Sunday) or month containing
    ``anchor``. Supervisors and admins see everyone; an operator only their own."""
    require_role(actor, [Role.OPERATOR, Role.SUPERVISOR, Role.ADMIN])
    first, after, label = period_days(period, anchor)
    zone = _zone(config.site.timezone)
    at = (now or utcnow()).astimezone(UTC)
    start = local_day_bounds(first, zone)[0]
    end = local_day_bounds(after, zone)[0]
    users = _operators(session, actor, operator_login)
    totals = _totals(session, [u.id for u in users if u.id is not None], start,
                     min(end, at), at)
    rows: list[TimesheetRow] = []
    for user in users:
        work, pauses = totals.get(user.id or 0, (0.0, {}))
        if user.disabled and not work and not pauses:
            continue  # a former operator with no time in this period
        by_reason = {str(r): 0.0 for r in PauseReason}
        by_reason.update(pauses)
        rows.append(TimesheetRow(
            operator_login=user.login, operator_name=user.display_name, period_label=label,
            work_seconds=work, pause_seconds=by_reason,
            gross_pay_eur=float(gross_pay(work, config.site.hourly_wage_eur)),
            first_day=first, last_day=after - timedelta(days=1)))
    return rows


# --- the payroll export -------------------------------------------------------------------

def decimal_comma(value: Decimal | float, places: int = 2) -> str:
    """7.5 -> '7,50': what a French spreadsheet reads as a number."""
    return f"{Decimal(str(value)).quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP):f}" \
        .replace(".", ",")


def _hours(seconds: float) -> Decimal:
    return (Decimal(str(round(seconds, 3))) / Decimal(3600)).quantize(
        CENT, rounding=ROUND_HALF_UP)


def export_month(*, engine: Engine, actor: Actor, config: Config, month: str, out: Path,
                 now: datetime | None = None) -> TimesheetExport:
    """Write the month's payroll CSV (one row per operator) to ``out``; audited, all or
    nothing. Admins only."""
    require_role(actor, [Role.ADMIN])
    first = parse_month(month)
    label = f"{first:%Y-%m}"
    _zone(config.site.timezone)
    wage = Decimal(str(config.site.hourly_wage_eur)).quantize(CENT, ROUND_HALF_UP)
    target = AtomicCsv(out, delimiter=";")
    try:
        with read_session(engine) as session:
            rows = timesheet(session=session, actor=actor, config=config, period="month",
                             anchor=first, now=now)
        reasons = [str(r) for r in PauseReason]
        extra = sorted({k for r in rows for k, v in r.pause_seconds.items()
                        if k not in reasons and v})
        reasons += extra
        target.writerow(
            [_("login"), _("name"), _("month"), _("work hours")]
            + [_("pause hours: {reason}").format(reason=pause_reason_label(r) or "?")
               for r in reasons]
            + [_("hourly wage (EUR)"), _("gross pay (EUR)")])
        total_hours = Decimal(0)
        total_pay = Decimal(0)
        for row in rows:
            hours = _hours(row.work_seconds)
            pay = gross_pay(row.work_seconds, config.site.hourly_wage_eur)
            total_hours += hours
            total_pay += pay
            target.writerow(
                [row.operator_login, row.operator_name, label, decimal_comma(hours)]
                + [decimal_comma(_hours(row.pause_seconds.get(r, 0.0))) for r in reasons]
                + [decimal_comma(wage), decimal_comma(pay)])
        run_write(engine, lambda s: audit.record(
            session=s, actor=actor, action="timesheet.export", target=label,
            details={"file": out.name, "operators": len(rows),
                     "hourly_wage_eur": str(wage), "gross_pay_eur": str(total_pay)}))
    except BaseException:
        target.discard()
        raise
    target.commit()
    return TimesheetExport(month=label, path=out, operators=len(rows),
                           work_hours=total_hours, gross_pay_eur=total_pay,
                           hourly_wage_eur=wage)
